package cms

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/smallstep/pkcs7"
)

// The algorithms of an envelope, set here rather than left to the
// library's defaults (DES-CBC and PKCS#1 v1.5 key transport):
//   - content: AES-256-GCM. Authenticated, so a tampered envelope fails to
//     decrypt as a whole and a receiver's answer cannot serve as a padding
//     oracle. It sits in EnvelopedData as github.com/smallstep/pkcs7 places
//     it (RFC 5083's AuthEnvelopedData would be the standard container).
//   - key transport: RSA-OAEP with SHA-256 (RFC 4055) for every recipient.
//     Cards that decrypt only with PKCS#1 v1.5 still open it: CardBridge
//     decodes OAEP itself over the raw RSA operation (internal/card).
var (
	contentAlgorithm = pkcs7.EncryptionAlgorithmAES256GCM
	keyTransport     = pkcs7.OIDEncryptionAlgorithmRSAESOAEP
	keyTransportHash = crypto.SHA256
)

// envelopeMu serialises Encrypt: the library takes its algorithms from
// package variables.
var envelopeMu sync.Mutex

// ErrRecipient reports a certificate that cannot receive an envelope (not
// RSA, or not allowed to encipher keys).
var ErrRecipient = errors.New("cms: certificate cannot receive an envelope")

// ErrNotForUs reports an envelope with no recipient entry for the
// certificate it is opened with.
var ErrNotForUs = errors.New("cms: envelope not addressed to this certificate")

// ErrDecrypt reports an envelope that does not open: its key transport or
// its content does not decrypt, or it was changed. The reasons are not
// told apart, on purpose.
var ErrDecrypt = errors.New("cms: envelope does not decrypt")

// MaxEnvelope caps what Open parses.
const MaxEnvelope = 512 << 20

// Encrypt makes an EnvelopedData of content for each recipient (their
// encryption certificates, cert2): AES-256-GCM content, RSA-OAEP-SHA-256
// key transport. A certificate whose key is not RSA or whose key usage
// does not allow keyEncipherment is refused.
func Encrypt(content []byte, recipients []*x509.Certificate) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrRecipient)
	}
	for _, c := range recipients {
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("%w: %s has a %s key", ErrRecipient, c.Subject, c.PublicKeyAlgorithm)
		}
		if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			return nil, fmt.Errorf("%w: %s does not allow keyEncipherment", ErrRecipient, c.Subject)
		}
	}
	envelopeMu.Lock()
	defer envelopeMu.Unlock()
	pkcs7.ContentEncryptionAlgorithm = contentAlgorithm
	pkcs7.KeyEncryptionAlgorithm = keyTransport
	pkcs7.KeyEncryptionHash = keyTransportHash
	der, err := pkcs7.Encrypt(content, recipients)
	if err != nil {
		return nil, fmt.Errorf("cms: encrypt: %w", err)
	}
	return der, nil
}

// Open decrypts an envelope for cert with key (a card's crypto.Decrypter
// for cert2). Only what Encrypt makes is opened: an envelope whose key
// transport (any recipient's) is not RSA-OAEP with SHA-256, or whose
// content is not AES-256-GCM, is ErrDecrypt before the key is used, so
// that a sender cannot choose PKCS#1 v1.5 or CBC and use the receiver's
// answers as a padding oracle. The key's own errors (a wrong PIN, a
// removed card) stay reachable with errors.Is/As, except crypto/rsa's
// decryption error, which is ErrDecrypt; every other failure is
// ErrNotForUs or ErrDecrypt.
func Open(envelope []byte, cert *x509.Certificate, key crypto.Decrypter) ([]byte, error) {
	if len(envelope) > MaxEnvelope {
		return nil, fmt.Errorf("%w: envelope of %d bytes", ErrDecrypt, len(envelope))
	}
	if err := checkAlgorithms(envelope); err != nil {
		return nil, err
	}
	p7, err := pkcs7.Parse(envelope)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	k := &watched{Decrypter: key}
	pt, err := p7.Decrypt(cert, k)
	switch {
	case err == nil:
		return pt, nil
	case k.err != nil && errors.Is(k.err, rsa.ErrDecryption):
		return nil, fmt.Errorf("%w: key transport", ErrDecrypt)
	case k.err != nil: // the card's own answer: PIN, removal …
		return nil, k.err
	case !k.called:
		return nil, fmt.Errorf("%w: %v", ErrNotForUs, err)
	}
	return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
}

// The envelope's outer structure (RFC 5652), as far as checkAlgorithms
// reads it: DER only, which is what Encrypt writes.
type (
	envContentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
	}
	envEnvelopedData struct {
		Version              int
		RecipientInfos       []envRecipientInfo `asn1:"set"`
		EncryptedContentInfo envEncryptedContentInfo
	}
	envRecipientInfo struct {
		Version                int
		IssuerAndSerialNumber  asn1.RawValue
		KeyEncryptionAlgorithm pkix.AlgorithmIdentifier
		EncryptedKey           []byte
	}
	envEncryptedContentInfo struct {
		ContentType                asn1.ObjectIdentifier
		ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
		EncryptedContent           asn1.RawValue `asn1:"tag:0,optional"`
	}
	envOAEPParameters struct {
		HashFunc    pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
		MaskGenFunc pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
		PSourceFunc pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:2"`
	}
)

// checkAlgorithms refuses, as ErrDecrypt, an envelope that is not an
// EnvelopedData with RSA-OAEP-SHA-256 for every recipient and AES-256-GCM
// content.
func checkAlgorithms(envelope []byte) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrDecrypt, why) }
	var ci envContentInfo
	if rest, err := asn1.Unmarshal(envelope, &ci); err != nil || len(rest) > 0 || !ci.ContentType.Equal(pkcs7.OIDEnvelopedData) {
		return bad("not a DER EnvelopedData")
	}
	var ed envEnvelopedData
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil || len(rest) > 0 {
		return bad("not a DER EnvelopedData")
	}
	if len(ed.RecipientInfos) == 0 {
		return bad("no recipients")
	}
	for _, ri := range ed.RecipientInfos {
		if !ri.KeyEncryptionAlgorithm.Algorithm.Equal(pkcs7.OIDEncryptionAlgorithmRSAESOAEP) {
			return bad("key transport " + ri.KeyEncryptionAlgorithm.Algorithm.String() + ", not RSA-OAEP")
		}
		var p envOAEPParameters
		if rest, err := asn1.Unmarshal(ri.KeyEncryptionAlgorithm.Parameters.FullBytes, &p); err != nil || len(rest) > 0 ||
			!p.HashFunc.Algorithm.Equal(pkcs7.OIDDigestAlgorithmSHA256) {
			return bad("RSA-OAEP not over SHA-256")
		}
	}
	if alg := ed.EncryptedContentInfo.ContentEncryptionAlgorithm.Algorithm; !alg.Equal(pkcs7.OIDEncryptionAlgorithmAES256GCM) {
		return bad("content encryption " + alg.String() + ", not AES-256-GCM")
	}
	return nil
}

// watched remembers whether the key was asked and what it answered, so
// Open can tell the card's errors from the envelope's.
type watched struct {
	crypto.Decrypter
	called bool
	err    error
}

func (w *watched) Decrypt(r io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	w.called = true
	pt, err := w.Decrypter.Decrypt(r, msg, opts)
	if err != nil {
		w.err = err
	}
	return pt, err
}
