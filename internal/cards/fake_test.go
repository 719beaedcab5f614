package cards_test

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
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// The fakes below stand in for readers and cards where a test injects a
// fault (a card that cannot be opened or read, a backend without service)
// or needs certificates with key usages no TEST card carries. The real
// card is exercised end to end in virtual_test.go.

// fakePIN is the PIN every fake card accepts.
const fakePIN = "123456"

// Keys for fake certificates. Generating RSA keys is slow, so each is made
// once per test binary.
var (
	fakeRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	fakeECKey = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// fakeCert is a self-signed certificate for key with key usage ku, placed
// in slot, with the private key that a fake card signs with.
type fakeCert struct {
	card.Certificate
	key crypto.Signer
}

var fakeSerial struct {
	sync.Mutex
	n int64
}

// newFakeCert makes a certificate whose id is unique in the test binary.
// serial, when not empty, is written as the card serial subject directory
// attribute the way Taiwan's CAs do.
func newFakeCert(tb testing.TB, slot card.Slot, key crypto.Signer, ku x509.KeyUsage, serial string) fakeCert {
	tb.Helper()
	fakeSerial.Lock()
	fakeSerial.n++
	n := fakeSerial.n
	fakeSerial.Unlock()
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
	return fakeCert{
		Certificate: card.Certificate{Slot: slot, Cert: cert, ID: card.CertID(der), Usage: certinfo.UsageOf(cert)},
		key:         key,
	}
}

// fakeToken is a card: its certificates (or the error reading them
// gives), the keys behind them, and a record of the key operations asked.
type fakeToken struct {
	certs    []fakeCert
	certsErr error
	serial   string

	mu     sync.Mutex
	ops    []string // "sign <id>", "decrypt <id>", "status", "change", "unblock"
	status card.PINStatus
}

func (t *fakeToken) record(op string) {
	t.mu.Lock()
	t.ops = append(t.ops, op)
	t.mu.Unlock()
}

// keyOps returns the key operations the card was asked for.
func (t *fakeToken) keyOps() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ops)
}

func (t *fakeToken) Certificates() ([]card.Certificate, error) {
	if t.certsErr != nil {
		return nil, t.certsErr
	}
	out := make([]card.Certificate, len(t.certs))
	for i, c := range t.certs {
		out[i] = c.Certificate
	}
	return out, nil
}

func (t *fakeToken) PINStatus() (card.PINStatus, error) {
	t.record("status")
	return t.status, nil
}

func (t *fakeToken) VerifyPIN(pin []byte) error { return t.checkPIN(pin) }

func (t *fakeToken) ChangePIN(oldPIN, newPIN []byte) error {
	t.record("change")
	return t.checkPIN(oldPIN)
}

func (t *fakeToken) UnblockPIN(puk, newPIN []byte) error {
	t.record("unblock")
	return nil
}

func (t *fakeToken) checkPIN(pin []byte) error {
	if !bytes.Equal(pin, []byte(fakePIN)) {
		return &card.AuthError{Ref: card.RefPIN, TriesLeft: 2}
	}
	return nil
}

func (t *fakeToken) keyOf(id string) (crypto.Signer, error) {
	for _, c := range t.certs {
		if c.ID == id {
			return c.key, nil
		}
	}
	return nil, card.ErrUnknownCertificate
}

func (t *fakeToken) Sign(id string, digest []byte, opts crypto.SignerOpts, pin []byte) ([]byte, error) {
	t.record("sign " + id)
	if err := t.checkPIN(pin); err != nil {
		return nil, err
	}
	k, err := t.keyOf(id)
	if err != nil {
		return nil, err
	}
	return k.Sign(rand.Reader, digest, opts)
}

func (t *fakeToken) Decrypt(id string, ciphertext []byte, opts crypto.DecrypterOpts, pin []byte) ([]byte, error) {
	t.record("decrypt " + id)
	if err := t.checkPIN(pin); err != nil {
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

func (t *fakeToken) Serial() string { return t.serial }

// fakeReader is a reader of a fakeBackend: empty (no card), a card, or a
// card that cannot be opened.
type fakeReader struct {
	name    string
	card    *fakeToken // nil: no card in the reader
	openErr error
}

// fakeBackend is a Backend over fake readers. It counts the connections
// it hands out and takes back, so a test can tell none leaks.
type fakeBackend struct {
	readers    []fakeReader
	readersErr error

	mu     sync.Mutex
	opened []string
	closed int
}

func (b *fakeBackend) Readers() ([]pcsc.ReaderState, error) {
	if b.readersErr != nil {
		return nil, b.readersErr
	}
	out := []pcsc.ReaderState{}
	for _, r := range b.readers {
		st := pcsc.ReaderState{Reader: r.name}
		if r.card != nil || r.openErr != nil {
			st.Flags = pcsc.FlagPresent
			st.ATR = []byte{0x3B, 0x00}
		}
		out = append(out, st)
	}
	return out, nil
}

func (b *fakeBackend) Open(reader string, _ *card.Cache) (cards.Token, func(), error) {
	b.mu.Lock()
	b.opened = append(b.opened, reader)
	b.mu.Unlock()
	for _, r := range b.readers {
		if r.name != reader {
			continue
		}
		if r.openErr != nil {
			return nil, nil, r.openErr
		}
		if r.card == nil {
			return nil, nil, fmt.Errorf("open %s: %w", reader, pcsc.ErrNoCard)
		}
		return r.card, func() {
			b.mu.Lock()
			b.closed++
			b.mu.Unlock()
		}, nil
	}
	return nil, nil, fmt.Errorf("open %s: %w", reader, pcsc.ErrUnknownReader)
}

// openedReaders returns the readers Open was asked for, in order.
func (b *fakeBackend) openedReaders() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.opened)
}

// leaked reports connections opened successfully and never closed.
func (b *fakeBackend) leaked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	ok := 0
	for _, name := range b.opened {
		for _, r := range b.readers {
			if r.name == name && r.card != nil && r.openErr == nil {
				ok++
			}
		}
	}
	return ok - b.closed
}

// errOpen is what a reader whose card cannot be opened reports (a card
// held exclusively by another program).
var errOpen = fmt.Errorf("connect: %w", pcsc.ErrSharingViolation)

// errRead is what a card that cannot be read reports (a health-insurance
// card has no PIV application).
var errRead = fmt.Errorf("read certificates: %w", card.ErrNotPIV)

// sentinel is an error a test passes through and looks for.
var sentinel = errors.New("sentinel from the test")

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
