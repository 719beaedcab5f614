package diag

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// The fakes put the check in front of situations a real card cannot be
// made to show on demand: no smart-card service, a mute card, a card held
// by another program, an expired or foreign certificate. The whole check
// against the virtual card is in virtual_test.go.

// testNow is the clock of every check here.
var testNow = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// fakeToken is a card: its certificates (or why they cannot be read) and
// its PIN status. It refuses every key and PIN operation: the check must
// never use one.
type fakeToken struct {
	certs     []card.Certificate
	certsErr  error
	status    card.PINStatus
	statusErr error
}

var errNoKeyOps = errors.New("the environment check used a key or PIN operation")

func (t *fakeToken) Certificates() ([]card.Certificate, error) { return t.certs, t.certsErr }
func (t *fakeToken) PINStatus() (card.PINStatus, error)        { return t.status, t.statusErr }
func (t *fakeToken) VerifyPIN([]byte) error                    { return errNoKeyOps }
func (t *fakeToken) ChangePIN(_, _ []byte) error               { return errNoKeyOps }
func (t *fakeToken) UnblockPIN(_, _ []byte) error              { return errNoKeyOps }
func (t *fakeToken) Serial() string                            { return "" }
func (t *fakeToken) Sign(string, []byte, crypto.SignerOpts, []byte) ([]byte, error) {
	return nil, errNoKeyOps
}
func (t *fakeToken) Decrypt(string, []byte, crypto.DecrypterOpts, []byte) ([]byte, error) {
	return nil, errNoKeyOps
}

// fakeReader is a reader: empty, a card, a card that cannot be opened, or
// a mute card.
type fakeReader struct {
	name    string
	card    *fakeToken
	openErr error
	mute    bool
}

// fakeBackend is a cards.Backend over fake readers.
type fakeBackend struct {
	readers    []fakeReader
	readersErr error
}

var fakeATR = []byte{0x3B, 0x8B, 0x01, 0x80}

func (b *fakeBackend) Readers() ([]pcsc.ReaderState, error) {
	if b.readersErr != nil {
		return nil, b.readersErr
	}
	out := []pcsc.ReaderState{}
	for _, r := range b.readers {
		st := pcsc.ReaderState{Reader: r.name}
		if r.card != nil || r.openErr != nil || r.mute {
			st.Flags = pcsc.FlagPresent
			st.ATR = fakeATR
		}
		if r.mute {
			st.Flags |= scard.StateMute
		}
		out = append(out, st)
	}
	return out, nil
}

func (b *fakeBackend) Open(reader string, _ *card.Cache) (cards.Token, func(), error) {
	for _, r := range b.readers {
		switch {
		case r.name != reader:
		case r.openErr != nil:
			return nil, nil, r.openErr
		case r.card != nil:
			return r.card, func() {}, nil
		default:
			return nil, nil, fmt.Errorf("open %s: %w", reader, pcsc.ErrNoCard)
		}
	}
	return nil, nil, fmt.Errorf("open %s: %w", reader, pcsc.ErrUnknownReader)
}

// managerOver returns a Manager over backends, judging by testNow.
func managerOver(backends ...cards.Backend) *cards.Manager {
	return cards.New(cards.Options{Backends: backends, Now: func() time.Time { return testNow }})
}

// run checks with the fake readers at testNow.
func runOver(t *testing.T, b *fakeBackend, o Options) Report {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	return Run(t.Context(), managerOver(b), o)
}

// results maps item ids to their results.
func results(rep Report) map[string]Result {
	out := map[string]Result{}
	for _, it := range rep.Items {
		out[it.ID] = it.Result
	}
	return out
}

// item returns the item with id.
func item(t *testing.T, rep Report, id string) Item {
	t.Helper()
	for _, it := range rep.Items {
		if it.ID == id {
			return it
		}
	}
	t.Fatalf("no item %s", id)
	return Item{}
}

// Certificates for fake cards. ECDSA keys are instant to make.
var (
	testCA  = sync.OnceValues(func() (*testca.Hierarchy, error) { return testca.New(nil, testNow.AddDate(-1, 0, 0)) })
	certKey = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// testCert is a certificate of the TEST CA for usage, valid from notBefore
// to notAfter.
func testCert(t *testing.T, u testca.Usage, notBefore, notAfter time.Time) card.Certificate {
	t.Helper()
	ca, err := testCA()
	require.NoError(t, err)
	c, err := ca.Issue(rand.Reader, certKey().Public(), testca.Org{Name: "測試幼兒園", CardSerial: "TEST000000000001"}, u, notBefore, notAfter)
	require.NoError(t, err)
	slot := card.SlotAuthentication
	if u == testca.Encryption {
		slot = card.SlotKeyManagement
	}
	return card.Certificate{Slot: slot, Cert: c, ID: card.CertID(c.Raw), Usage: certinfo.UsageOf(c)}
}

// validCerts are a TEST card's two certificates, valid for a year.
func validCerts(t *testing.T) []card.Certificate {
	return []card.Certificate{
		testCert(t, testca.Signature, testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0)),
		testCert(t, testca.Encryption, testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0)),
	}
}

// issuedBy is a self-signed certificate whose issuer is ou, as a CA that
// is not CardBridge's TEST CA would issue it.
func issuedBy(t *testing.T, ou string, ku x509.KeyUsage) card.Certificate {
	t.Helper()
	name := pkix.Name{Country: []string{"TW"}, Organization: []string{"行政院"}, OrganizationalUnit: []string{ou}, CommonName: "某機關"}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: name, NotBefore: testNow.AddDate(0, -1, 0), NotAfter: testNow.AddDate(1, 0, 0), KeyUsage: ku}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, certKey().Public(), certKey())
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return card.Certificate{Slot: card.SlotAuthentication, Cert: c, ID: card.CertID(der), Usage: certinfo.UsageOf(c)}
}

// goodCard is a usable TEST card with its PIN at three tries.
func goodCard(t *testing.T) *fakeToken {
	return &fakeToken{certs: validCerts(t), status: card.PINStatus{TriesLeft: 3}}
}
