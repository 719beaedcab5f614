package softcard

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Slot is a PIV key reference (NIST SP 800-73-4 Part 1, Table 4b).
type Slot byte

// PIV key references the virtual card implements.
const (
	SlotAuthentication Slot = 0x9A // PIV Authentication: cert1 on a CardBridge test card
	SlotSignature      Slot = 0x9C // Digital Signature: PIN "always" before each use
	SlotKeyManagement  Slot = 0x9D // Key Management: cert2, decryption
	SlotCardAuth       Slot = 0x9E // Card Authentication: no PIN
)

// Slots lists the key references in the order a client reads them.
var Slots = []Slot{SlotAuthentication, SlotSignature, SlotKeyManagement, SlotCardAuth}

// CertTag returns the BER-TLV tag of the certificate object for s
// (SP 800-73-4 Part 1, Table 3).
func (s Slot) CertTag() uint32 {
	switch s {
	case SlotAuthentication:
		return 0x5FC105
	case SlotSignature:
		return 0x5FC10A
	case SlotKeyManagement:
		return 0x5FC10B
	case SlotCardAuth:
		return 0x5FC101
	}
	return 0
}

// PIN and PUK rules of the virtual card, matching an XCA card: 6 to 8
// characters, three tries each (MOICA: https://moica.nat.gov.tw/en/tenMajorFaq.html, https://ee-moica.moi.gov.tw/mdbs/changePin_other.html).
const (
	MinPINLen = 6
	MaxPINLen = 8
	PUKLen    = 8
	MaxTries  = 3
)

// State is everything the card remembers between runs. It is stored as JSON
// in a file that only the test or demo user reads; it holds the private keys
// of a TEST card and must never hold anything else.
type State struct {
	// Label names the card in logs ("CardBridge TEST card").
	Label string `json:"label"`
	// ATR is the answer to reset; a T=1 ATR whose historical bytes carry
	// the PIV AID, so OpenSC recognises the card as PIV from the ATR alone.
	ATR []byte `json:"atr"`
	// PIN and PUK are the reference data, ASCII. PINTries and PUKTries are
	// the tries left; zero means blocked.
	PIN      []byte `json:"pin"`
	PUK      []byte `json:"puk"`
	PINTries int    `json:"pinTries"`
	PUKTries int    `json:"pukTries"`
	// CHUID is the Card Holder Unique Identifier object content (inside 53).
	CHUID []byte `json:"chuid"`
	// Keys and Certs by slot ("9a", "9c", "9d", "9e"): PKCS#8 keys and
	// X.509 DER certificates.
	Keys  map[string][]byte `json:"keys"`
	Certs map[string][]byte `json:"certs"`
	// Serial is the printed card number (e.g. TEST000000000001).
	Serial string `json:"serial"`
	// CACerts are the TEST root and issuing CA certificates (DER), which a
	// HiCOS-profile card keeps beside the holder's.
	CACerts [][]byte `json:"caCerts,omitempty"`
}

func slotKey(s Slot) string { return fmt.Sprintf("%02x", byte(s)) }

// Key returns the private key in slot s, or nil if the slot is empty.
func (st *State) Key(s Slot) (crypto.Signer, error) {
	der, ok := st.Keys[slotKey(s)]
	if !ok {
		return nil, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("softcard: key %02X: %w", byte(s), err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("softcard: key %02X has unsupported type %T", byte(s), k)
	}
	return signer, nil
}

// SetKey stores a private key and its certificate in slot s.
func (st *State) SetKey(s Slot, key crypto.Signer, certDER []byte) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("softcard: marshal key: %w", err)
	}
	if st.Keys == nil {
		st.Keys = map[string][]byte{}
	}
	if st.Certs == nil {
		st.Certs = map[string][]byte{}
	}
	st.Keys[slotKey(s)] = der
	st.Certs[slotKey(s)] = certDER
	return nil
}

// Cert returns the certificate DER in slot s, or nil.
func (st *State) Cert(s Slot) []byte { return st.Certs[slotKey(s)] }

// algorithmOf returns the PIV algorithm identifier of a key
// (SP 800-78-4 Table 6-2).
func algorithmOf(k crypto.Signer) byte {
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		switch pub.N.BitLen() {
		case 1024:
			return AlgRSA1024
		case 2048:
			return AlgRSA2048
		case 3072:
			return AlgRSA3072
		}
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return AlgECCP256
		case elliptic.P384():
			return AlgECCP384
		}
	}
	return 0
}

// validate checks the invariants a loaded or issued state must hold.
func (st *State) validate() error {
	if len(st.ATR) < 2 || len(st.ATR) > 33 {
		return errors.New("softcard: ATR must be 2 to 33 bytes")
	}
	if len(st.PIN) < MinPINLen || len(st.PIN) > MaxPINLen {
		return fmt.Errorf("softcard: PIN must be %d to %d characters", MinPINLen, MaxPINLen)
	}
	if len(st.PUK) != PUKLen {
		return fmt.Errorf("softcard: PUK must be %d characters", PUKLen)
	}
	if st.PINTries < 0 || st.PINTries > MaxTries || st.PUKTries < 0 || st.PUKTries > MaxTries {
		return fmt.Errorf("softcard: tries must be 0 to %d", MaxTries)
	}
	for name := range st.Keys {
		if _, ok := st.Certs[name]; !ok {
			return fmt.Errorf("softcard: key %s has no certificate", name)
		}
	}
	return nil
}

// maxStateFile caps what LoadState reads: a card with four RSA-3072 keys and
// certificates is far below it.
const maxStateFile = 1 << 20

// LoadState reads a state file written by SaveState.
func LoadState(path string) (*State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("softcard: %w", err)
	}
	defer f.Close()
	var st State
	dec := json.NewDecoder(io.LimitReader(f, maxStateFile))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("softcard: state %s: %w", path, err)
	}
	if err := st.validate(); err != nil {
		return nil, err
	}
	return &st, nil
}

// SaveState writes st atomically (temporary file, then rename) with
// owner-only permissions, so a crash never leaves half a card behind.
func SaveState(path string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("softcard: encode state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".softcard-*")
	if err != nil {
		return fmt.Errorf("softcard: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("softcard: write state: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("softcard: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("softcard: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("softcard: %w", err)
	}
	return nil
}
