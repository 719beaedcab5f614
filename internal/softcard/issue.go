package softcard

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"time"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// IssueOptions describes a TEST card to provision. The zero value of every
// field but Org has a documented default.
type IssueOptions struct {
	// Org is the organisation the certificates are issued to.
	Org testca.Org
	// PIN (6 to 8 characters) and PUK (8); defaults "123456" and "12345678",
	// the test-only values OpenSC's PIV examples use.
	PIN, PUK string
	// SignAlg is cert1's key: "rsa2048" (default) or "p256". cert2 is always
	// RSA-2048, since PIV decryption (key management) is an RSA operation.
	SignAlg string
	// SignSlot holds cert1: SlotAuthentication (default) or SlotSignature.
	SignSlot Slot
	// NotActivated issues the card with its PIN blocked, as a new XCA card
	// is until it is activated (開卡) with the PUK.
	NotActivated bool
	// NotBefore and NotAfter bound the certificates; defaults one hour ago
	// and two years from Now.
	NotBefore, NotAfter time.Time
	// Now is the issuing time; zero means time.Now.
	Now time.Time
	// Rand is the key and serial randomness; nil means crypto/rand.
	Rand io.Reader
}

// DefaultPIN and DefaultPUK are the test card's reference data unless
// IssueOptions says otherwise. Test cards only.
const (
	DefaultPIN = "123456"
	DefaultPUK = "12345678"
)

// Issue provisions a TEST card: new keys generated in software, cert1
// (signature) and cert2 (encryption) issued by ca, a CHUID and a PIV ATR.
func Issue(ca *testca.Hierarchy, o IssueOptions) (*State, error) {
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = o.Now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.Now.AddDate(2, 0, 0)
	}
	if o.PIN == "" {
		o.PIN = DefaultPIN
	}
	if o.PUK == "" {
		o.PUK = DefaultPUK
	}
	if o.SignSlot == 0 {
		o.SignSlot = SlotAuthentication
	}
	if o.SignSlot != SlotAuthentication && o.SignSlot != SlotSignature {
		return nil, fmt.Errorf("softcard: cert1 slot must be 9A or 9C, not %02X", byte(o.SignSlot))
	}
	var signKey crypto.Signer
	var err error
	switch o.SignAlg {
	case "", "rsa2048":
		signKey, err = rsa.GenerateKey(o.Rand, 2048)
	case "p256":
		signKey, err = ecdsa.GenerateKey(elliptic.P256(), o.Rand)
	default:
		return nil, fmt.Errorf("softcard: unknown key algorithm %q (rsa2048, p256)", o.SignAlg)
	}
	if err != nil {
		return nil, fmt.Errorf("softcard: generate cert1 key: %w", err)
	}
	encKey, err := rsa.GenerateKey(o.Rand, 2048)
	if err != nil {
		return nil, fmt.Errorf("softcard: generate cert2 key: %w", err)
	}
	st := &State{
		Label:    "CardBridge TEST card",
		ATR:      pivATR(),
		PIN:      []byte(o.PIN),
		PUK:      []byte(o.PUK),
		PINTries: MaxTries,
		PUKTries: MaxTries,
		Serial:   o.Org.CardSerial,
	}
	if o.NotActivated {
		st.PINTries = 0
	}
	for _, k := range []struct {
		slot  Slot
		key   crypto.Signer
		usage testca.Usage
	}{
		{o.SignSlot, signKey, testca.Signature},
		{SlotKeyManagement, encKey, testca.Encryption},
	} {
		cert, err := ca.Issue(o.Rand, k.key.Public(), o.Org, k.usage, o.NotBefore, o.NotAfter)
		if err != nil {
			return nil, fmt.Errorf("softcard: issue certificate for %02X: %w", byte(k.slot), err)
		}
		if err := st.SetKey(k.slot, k.key, cert.Raw); err != nil {
			return nil, err
		}
	}
	st.CACerts = [][]byte{ca.Root.Cert.Raw, ca.Issuing.Cert.Raw}
	st.CHUID, err = newCHUID(o.Rand, o.NotAfter)
	if err != nil {
		return nil, err
	}
	if err := st.validate(); err != nil {
		return nil, err
	}
	return st, nil
}

// pivATR builds a T=1 ATR whose historical bytes carry the PIV AID in a
// compact-TLV object with tag F (ISO 7816-4 §8.1.1.2.6), which OpenSC's PIV
// driver recognises: TS 3B, T0 8B (TD1 follows, 11 historical bytes),
// TD1 01 (T=1), category 80, F9 + the 9-byte AID, then TCK.
func pivATR() []byte {
	atr := []byte{0x3B, 0x8B, 0x01, 0x80, 0xF9}
	atr = append(atr, PIVAID[:9]...)
	var tck byte
	for _, b := range atr[1:] {
		tck ^= b
	}
	return append(atr, tck)
}

// newCHUID builds the CHUID content: FASC-N (30), GUID (34), expiration
// date (35), an empty issuer signature (3E) and the error-detection code
// (FE), SP 800-73-4 Part 1 Table 9.
func newCHUID(r io.Reader, expiry time.Time) ([]byte, error) {
	fascn := make([]byte, 25)
	guid := make([]byte, 16)
	if _, err := io.ReadFull(r, fascn); err != nil {
		return nil, fmt.Errorf("softcard: CHUID: %w", err)
	}
	if _, err := io.ReadFull(r, guid); err != nil {
		return nil, fmt.Errorf("softcard: CHUID: %w", err)
	}
	b := apdu.TLVBytes(0x30, fascn)
	b = apdu.AppendTLV(b, 0x34, guid)
	b = apdu.AppendTLV(b, 0x35, []byte(expiry.UTC().Format("20060102")))
	b = apdu.AppendTLV(b, 0x3E, nil)
	return apdu.AppendTLV(b, 0xFE, nil), nil
}
