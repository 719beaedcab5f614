package protocol

import (
	"crypto"
	"encoding/json"
	"slices"
	"time"
)

// Command names. docs/protocol.md documents each one.
const (
	CmdVersion      = "version"
	CmdReaders      = "readers"
	CmdCheck        = "check"
	CmdCertificates = "certificates"
	CmdSign         = "sign"
	CmdAuthenticate = "authenticate"
	CmdDecrypt      = "decrypt"
	CmdPINStatus    = "pinStatus"
	CmdChangePIN    = "changePin"
	CmdUnblockPIN   = "unblockPin"
	// CmdConfig is for the extension itself (refused when a page origin is
	// given): the settings it acts on, such as pre-approved origins.
	CmdConfig = "config"
	// CmdExchange is for the extension's 「公文交換」 page only: one request
	// to the document exchange agent (cardbridge-exchange), relayed.
	CmdExchange = "exchange"
	// CmdHiPKI reads a request a government page sent the way HiPKI's
	// local server takes it (internal/hipki), for the sites the
	// configuration lists (legacySites) and the built-in government ones.
	CmdHiPKI = "hipki"
)

// Commands lists every command, in documentation order.
var Commands = []string{CmdVersion, CmdReaders, CmdCheck, CmdCertificates, CmdSign, CmdAuthenticate, CmdDecrypt, CmdPINStatus, CmdChangePIN, CmdUnblockPIN, CmdConfig, CmdExchange, CmdHiPKI}

// Event names pushed by the host.
const (
	EventHello         = "hello"
	EventReaderAdded   = "readerAdded"
	EventReaderRemoved = "readerRemoved"
	EventCardInserted  = "cardInserted"
	EventCardRemoved   = "cardRemoved"
	// EventExchange carries an event of the exchange agent: {"name":…,
	// "data":…} (a sync that did something, the exchange session ended).
	EventExchange = "exchange"
)

// Argument caps shared by several commands.
const (
	// MaxDataSize caps data to sign (decoded): a 公文 attachment-sized
	// document; larger ones are hashed by the page and sent as a digest.
	MaxDataSize = 4 << 20
)

// NoArgs is the argument struct of commands without arguments.
type NoArgs struct{}

// ReaderArgs picks a reader; empty means the first reader with a card.
type ReaderArgs struct {
	Reader string `json:"reader" arg:"max=128"`
}

// HiPKIArgs is a request of a page that speaks HiPKI's protocol: what it
// posted to the popup, or the body (Payload), path and query of its HTTP
// request to the local server.
type HiPKIArgs struct {
	Payload string `json:"payload" arg:"max=6291456"`
	Path    string `json:"path" arg:"max=64"`
	Query   string `json:"query" arg:"max=512"`
}

// CardArgs picks the card of a PIN command: by reader, or by one of its
// certificates; neither means the first reader with a card.
type CardArgs struct {
	Reader        string `json:"reader" arg:"max=128"`
	CertificateID string `json:"certificateId" arg:"hex=64"`
}

// Check refuses both at once: they could name different cards.
func (a *CardArgs) Check() error {
	if a.Reader != "" && a.CertificateID != "" {
		return BadArg("reader", "give reader or certificateId, not both")
	}
	return nil
}

// SignArgs are the arguments of sign. A raw signature is RSA PKCS#1 v1.5
// only: RSA-PSS and ECDSA are what authentication tokens use, and a page
// that could get them over a digest of its choice could forge a token for
// another site (ECDSA keys sign with format cms).
type SignArgs struct {
	CertificateID string `json:"certificateId" arg:"required,hex=64"`
	PIN           Secret `json:"pin" arg:"required,max=16"`
	HashAlgorithm string `json:"hashAlgorithm" arg:"required,oneof=SHA-256|SHA-384|SHA-512"`
	// Digest is the hash to sign (raw format only); exactly one of Digest
	// and Data is given.
	Digest Bytes `json:"digest" arg:"min=1,max=64"`
	// Data is the content: hashed by the host for raw, signed detached
	// for cms.
	Data Bytes `json:"data" arg:"max=4194304"`
	// Format is "raw" (default: a bare signature) or "cms" (a detached
	// CMS/PKCS#7 SignedData).
	Format string `json:"format" arg:"oneof=raw|cms"`
	// Nonce is placed in the CMS signed attribute randomNonce
	// (1.2.840.113549.1.9.25.3) as its UTF-8 bytes; cms only.
	Nonce string `json:"nonce" arg:"min=4,max=128"`
	// WithCardSerial adds the card serial signed attribute
	// (2.16.886.1.100.2.204) to a CMS signature; default true.
	WithCardSerial *bool `json:"withCardSerial"`
}

// Check applies the rules across sign's arguments.
func (a *SignArgs) Check() error {
	switch {
	case (a.Digest == nil) == (a.Data == nil):
		return BadArg("digest", "give exactly one of digest and data")
	case a.Format == "cms" && a.Data == nil:
		return BadArg("data", "format cms signs data, not a digest")
	case a.Format != "cms" && a.Nonce != "":
		return BadArg("nonce", "nonce is for format cms only")
	case a.Format != "cms" && a.WithCardSerial != nil:
		return BadArg("withCardSerial", "withCardSerial is for format cms only")
	case a.Digest != nil && len(a.Digest) != HashSize(a.HashAlgorithm):
		return BadArg("digest", "length does not match hashAlgorithm")
	}
	return nil
}

// HashFunc is the hash a hashAlgorithm name stands for; 0 for none.
func HashFunc(name string) crypto.Hash {
	switch name {
	case "SHA-256":
		return crypto.SHA256
	case "SHA-384":
		return crypto.SHA384
	case "SHA-512":
		return crypto.SHA512
	}
	return 0
}

// HashSize is the digest length of a hashAlgorithm name; 0 for none.
func HashSize(name string) int {
	if h := HashFunc(name); h != 0 {
		return h.Size()
	}
	return 0
}

// AuthenticateArgs are the arguments of authenticate. The origin is the
// request's, as the browser reported it.
type AuthenticateArgs struct {
	CertificateID string `json:"certificateId" arg:"required,hex=64"`
	PIN           Secret `json:"pin" arg:"required,max=16"`
	// Challenge is the server's nonce: standard base64 of 32–64 random
	// bytes (44–88 characters). It is signed as its text.
	Challenge string `json:"challenge" arg:"required,min=44,max=88"`
}

// Check requires the challenge to be base64 of 32–64 bytes.
func (a *AuthenticateArgs) Check() error {
	// Decode the text itself: it is what gets signed, so it must not be
	// re-read as JSON (a backslash in it would be unescaped a second time).
	b, err := decodeBase64(a.Challenge)
	if err != nil || len(b) < 32 || len(b) > 64 {
		return BadArg("challenge", "must be standard base64 of 32 to 64 random bytes")
	}
	return nil
}

// DecryptArgs are the arguments of decrypt.
type DecryptArgs struct {
	CertificateID string `json:"certificateId" arg:"required,hex=64"`
	PIN           Secret `json:"pin" arg:"required,max=16"`
	Ciphertext    Bytes  `json:"ciphertext" arg:"required,min=1,max=512"`
	// Padding is "PKCS1.5" (default) or "OAEP".
	Padding string `json:"padding" arg:"oneof=PKCS1.5|OAEP"`
	// OAEPHash is the OAEP hash and MGF1 hash: "SHA-256" (default) or "SHA-1".
	OAEPHash string `json:"oaepHash" arg:"oneof=SHA-1|SHA-256"`
}

// Check refuses oaepHash without OAEP.
func (a *DecryptArgs) Check() error {
	if a.OAEPHash != "" && a.Padding != "OAEP" {
		return BadArg("oaepHash", "only with padding OAEP")
	}
	return nil
}

// ChangePINArgs are the arguments of changePin.
type ChangePINArgs struct {
	CardArgs
	PIN    Secret `json:"pin" arg:"required,max=16"`
	NewPIN Secret `json:"newPin" arg:"required,max=16"`
}

// UnblockPINArgs are the arguments of unblockPin (also how a new card is
// activated: its PIN starts blocked until set with the PUK).
type UnblockPINArgs struct {
	CardArgs
	PUK    Secret `json:"puk" arg:"required,max=16"`
	NewPIN Secret `json:"newPin" arg:"required,max=16"`
}

// Results.

// VersionResult is the result of version.
type VersionResult struct {
	Version  string   `json:"version"`
	Protocol int      `json:"protocol"`
	OS       string   `json:"os"`
	Arch     string   `json:"arch"`
	Commands []string `json:"commands"`
}

// Reader is one reader in readers and in reader events.
type Reader struct {
	Name string `json:"name"`
	Card bool   `json:"card"`
	// ATR is the card's answer-to-reset in upper-case hex.
	ATR string `json:"atr,omitempty"`
	// InUse: another program holds the card exclusively.
	InUse bool `json:"inUse,omitempty"`
	// Mute: a card is present but does not answer.
	Mute bool `json:"mute,omitempty"`
	// Virtual: a virtual reader (the development virtual card, or
	// vsmartcard's vpcd): whatever card it holds is a TEST card.
	Virtual bool `json:"virtual,omitempty"`
}

// Certificate is one certificate in certificates: where it is, its DER,
// and the facts a clerk needs (holder, 統一編號, CA, validity).
type Certificate struct {
	// ID is the lower-case hex SHA-256 of the DER: the certificateId of
	// sign, authenticate and decrypt.
	ID          string `json:"id"`
	Reader      string `json:"reader"`
	Slot        string `json:"slot"`
	Certificate Bytes  `json:"certificate"`
	Info        any    `json:"info"`
	// Capabilities says what the key may be used for, a subset of sign,
	// authenticate and decrypt, chosen by key usage. Callers use it as it
	// is instead of deriving it again from info.usage.
	Capabilities []string `json:"capabilities"`
	// VirtualReader: the card is in a virtual reader (a TEST card); the
	// PIN and consent windows say so.
	VirtualReader bool `json:"virtualReader,omitempty"`
	// Backend is how the card was reached: "pcsc" (CardBridge's own PIV
	// over the smart-card service), "virtual" or "pkcs11" (a vendor's
	// module, named in Module).
	Backend string `json:"backend"`
	Module  string `json:"module,omitempty"`
	// ReadOnly: the card shows this certificate but CardBridge cannot use
	// its key (a HiCOS card read without the vendor's module); capabilities
	// is empty and key operations answer ERR_HICOS_CLIENT_NEEDED.
	ReadOnly bool `json:"readOnly,omitempty"`
}

// PINStatusResult is the result of pinStatus.
type PINStatusResult struct {
	Reader string `json:"reader"`
	// TriesLeft is -1 when the PIN is verified in this card session (the
	// card then does not tell).
	TriesLeft int  `json:"triesLeft"`
	Blocked   bool `json:"blocked"`
	MinLength int  `json:"minLength"`
	MaxLength int  `json:"maxLength"`
	PUKLength int  `json:"pukLength"`
	// Characters names the characters a PIN and PUK may have: "alnum" is
	// ASCII letters and digits. The PIN window enforces what it is told.
	Characters string `json:"characters"`
}

// SignResult is the result of sign.
type SignResult struct {
	// Signature is the raw signature (format raw): RSA PKCS#1 v1.5.
	Signature Bytes `json:"signature,omitempty"`
	// Algorithm names the signature: RS256/384/512 for RSA PKCS#1 v1.5,
	// ECDSA-SHA-256/384/512 for an ECDSA key's CMS (DER signature).
	Algorithm string `json:"algorithm"`
	// CMS is the detached SignedData (format cms), DER.
	CMS         Bytes      `json:"cms,omitempty"`
	SigningTime *time.Time `json:"signingTime,omitempty"`
	CardSerial  string     `json:"cardSerial,omitempty"`
	Certificate Bytes      `json:"certificate"`
}

// DecryptResult is the result of decrypt.
type DecryptResult struct {
	Plaintext Bytes `json:"plaintext"`
}

// PINResult is the result of changePin and unblockPin.
type PINResult struct {
	Reader string `json:"reader"`
	// TriesLeft after the change: the card's full count.
	TriesLeft int `json:"triesLeft"`
}

// ExchangeOps are the requests the exchange agent answers
// (docs/protocol.md §4.17); anything else is refused before the agent is
// started.
var ExchangeOps = []string{"status", "login", "logout", "list", "show", "letter", "file", "portable", "print",
	"settings", "setSettings", "directory", "sync", "return", "announcements", "markRead", "send"}

// MaxExchangeArgs caps an exchange request's arguments: a 函 to send with
// its attachments, in base64, inside the 8 MiB a request may have.
const MaxExchangeArgs = 7 << 20

// ExchangeArgs are the arguments of exchange. The PIN travels beside the
// request's own arguments, as a Secret, so that it is wiped after it is
// passed on and never logged; only login and send take one (send: the
// clerk saw the letter in the PIN window and signs it with the PIN).
type ExchangeArgs struct {
	Op   string `json:"op" arg:"required,max=16"`
	Args Object `json:"args" arg:"max=7340032"`
	PIN  Secret `json:"pin" arg:"max=16"`
}

// Check refuses unknown requests, a PIN where none is asked for, and a
// PIN inside args.
func (a *ExchangeArgs) Check() error {
	if !slices.Contains(ExchangeOps, a.Op) {
		return BadArg("op", "unknown exchange request")
	}
	// The relay puts the typed PIN into args as "pin"; the agent decodes
	// args with encoding/json, which takes the last of two keys and matches
	// them regardless of case and escapes ("PIN", "p\u0069n"). A pin in
	// args would override the one typed in the PIN window, or log in
	// without it. Decoded here the way the agent decodes it.
	if len(a.Args) > 0 {
		var inner struct {
			PIN json.RawMessage `json:"pin"`
		}
		if err := json.Unmarshal(a.Args, &inner); err != nil || inner.PIN != nil {
			return BadArg("args", "the PIN goes in pin, never in args")
		}
	}
	needsPIN := a.Op == "login" || a.Op == "send"
	switch {
	case needsPIN && len(a.PIN) == 0:
		return &ArgError{Arg: "pin", Missing: true}
	case !needsPIN && a.PIN != nil:
		return BadArg("pin", "only login and send take a PIN")
	}
	return nil
}
