package cardstest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/certinfo"
)

// PIN is the PIN every Card accepts.
const PIN = "123456"

// ErrRefused is what a Card with RefuseKeyOps returns for every key and
// PIN operation.
var ErrRefused = errors.New("cardstest: the card refuses key and PIN operations")

// Keys for certificates. Generating RSA keys is slow, so each is made once
// per test binary.
var (
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	ecKey = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// RSAKey is a 2048-bit RSA key, the same one for the whole test binary.
func RSAKey() *rsa.PrivateKey { return rsaKey() }

// ECKey is a P-256 ECDSA key, the same one for the whole test binary.
func ECKey() *ecdsa.PrivateKey { return ecKey() }

// Cert is a certificate on a Card with the private key the card signs and
// decrypts with; without Key, both are card.ErrUnsupported.
type Cert struct {
	card.Certificate
	Key crypto.Signer
}

var certSerial atomic.Int64

// NewCert makes a self-signed certificate for key with key usage ku,
// valid from an hour ago for a day, placed in slot. Its id is unique in
// the test binary. serial, when not empty, is written as the card serial
// subject directory attribute the way Taiwan's CAs do.
func NewCert(tb testing.TB, slot card.Slot, key crypto.Signer, ku x509.KeyUsage, serial string) Cert {
	tb.Helper()
	n := certSerial.Add(1)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(n),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("fake card certificate %d", n)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     ku,
	}
	if serial != "" {
		ext, err := cardSerialExtension(serial)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl.ExtraExtensions = []pkix.Extension{ext}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return Cert{
		Certificate: card.Certificate{Slot: slot, Cert: cert, ID: card.CertID(der), Usage: certinfo.UsageOf(cert)},
		Key:         key,
	}
}

// cardSerialExtension is a subject directory attributes extension carrying
// only the card serial (PrintableString), as certinfo reads it.
func cardSerialExtension(serial string) (pkix.Extension, error) {
	v, err := asn1.MarshalWithParams(serial, "printable")
	if err != nil {
		return pkix.Extension{}, err
	}
	type attribute struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}
	der, err := asn1.Marshal([]attribute{{Type: certinfo.OIDCardSerial, Values: []asn1.RawValue{{FullBytes: v}}}})
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: certinfo.OIDSubjectDirectoryAttributes, Value: der}, nil
}

// Card is a card: its certificates (or the error reading them gives), the
// keys behind them, its PIN status, and a record of the key operations
// asked. It accepts PIN and signs and decrypts with a Cert's Key. Use it
// by pointer.
type Card struct {
	Certs    []Cert
	CertsErr error // what Certificates returns instead of Certs
	// GUID is what Serial reports, "" for a card that does not say.
	GUID      string
	Status    card.PINStatus
	StatusErr error // what PINStatus returns with Status
	// RefuseKeyOps makes every key and PIN operation (VerifyPIN,
	// ChangePIN, UnblockPIN, Sign, Decrypt) fail with ErrRefused, for code
	// that must never use one.
	RefuseKeyOps bool

	mu  sync.Mutex
	ops []string // "sign <id>", "decrypt <id>", "status", "change", "unblock"
}

var _ cards.Token = (*Card)(nil)

func (t *Card) record(op string) {
	t.mu.Lock()
	t.ops = append(t.ops, op)
	t.mu.Unlock()
}

// KeyOps returns the operations the card was asked for, in order: "sign
// <id>", "decrypt <id>", "status", "change" and "unblock".
func (t *Card) KeyOps() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ops)
}

// Certificates implements cards.Token.
func (t *Card) Certificates() ([]card.Certificate, error) {
	if t.CertsErr != nil {
		return nil, t.CertsErr
	}
	out := make([]card.Certificate, len(t.Certs))
	for i, c := range t.Certs {
		out[i] = c.Certificate
	}
	return out, nil
}

// PINStatus implements cards.Token.
func (t *Card) PINStatus() (card.PINStatus, error) {
	t.record("status")
	return t.Status, t.StatusErr
}

// VerifyPIN implements cards.Token.
func (t *Card) VerifyPIN(pin []byte) error {
	if t.RefuseKeyOps {
		return ErrRefused
	}
	return checkPIN(pin)
}

// ChangePIN implements cards.Token.
func (t *Card) ChangePIN(oldPIN, newPIN []byte) error {
	t.record("change")
	if t.RefuseKeyOps {
		return ErrRefused
	}
	return checkPIN(oldPIN)
}

// UnblockPIN implements cards.Token.
func (t *Card) UnblockPIN(puk, newPIN []byte) error {
	t.record("unblock")
	if t.RefuseKeyOps {
		return ErrRefused
	}
	return nil
}

func checkPIN(pin []byte) error {
	if !bytes.Equal(pin, []byte(PIN)) {
		return &card.AuthError{Ref: card.RefPIN, TriesLeft: 2}
	}
	return nil
}

func (t *Card) keyOf(id string) (crypto.Signer, error) {
	for _, c := range t.Certs {
		if c.ID == id && c.Key == nil {
			return nil, card.ErrUnsupported
		}
		if c.ID == id {
			return c.Key, nil
		}
	}
	return nil, card.ErrUnknownCertificate
}

// Sign implements cards.Token.
func (t *Card) Sign(id string, digest []byte, opts crypto.SignerOpts, pin []byte) ([]byte, error) {
	t.record("sign " + id)
	if t.RefuseKeyOps {
		return nil, ErrRefused
	}
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	k, err := t.keyOf(id)
	if err != nil {
		return nil, err
	}
	return k.Sign(rand.Reader, digest, opts)
}

// Decrypt implements cards.Token.
func (t *Card) Decrypt(id string, ciphertext []byte, opts crypto.DecrypterOpts, pin []byte) ([]byte, error) {
	t.record("decrypt " + id)
	if t.RefuseKeyOps {
		return nil, ErrRefused
	}
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	k, err := t.keyOf(id)
	if err != nil {
		return nil, err
	}
	d, ok := k.(crypto.Decrypter)
	if !ok {
		return nil, card.ErrUnsupported
	}
	return d.Decrypt(rand.Reader, ciphertext, opts)
}

// Serial implements cards.Token.
func (t *Card) Serial() string { return t.GUID }
