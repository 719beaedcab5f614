package diag

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// The fake readers and cards (cardstest) put the check in front of
// situations a real card cannot be made to show on demand: no smart-card
// service, a mute card, a card held by another program, an expired or
// foreign certificate. Their cards refuse every key and PIN operation
// (RefuseKeyOps): the check must never use one. The whole check against
// the virtual card is in virtual_test.go.

// testNow is the clock of every check here.
var testNow = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// managerOver returns a Manager over backends, judging by testNow.
func managerOver(backends ...cards.Backend) *cards.Manager {
	return cards.New(cards.Options{Backends: backends, Now: func() time.Time { return testNow }})
}

// run checks with the fake readers at testNow.
func runOver(t *testing.T, b *cardstest.Backend, o Options) Report {
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

// testCA issues the certificates of fake TEST cards.
var testCA = sync.OnceValues(func() (*testca.Hierarchy, error) { return testca.New(nil, testNow.AddDate(-1, 0, 0)) })

// testCert is a certificate of the TEST CA for usage, valid from notBefore
// to notAfter, for cardstest.ECKey.
func testCert(t *testing.T, u testca.Usage, notBefore, notAfter time.Time) cardstest.Cert {
	t.Helper()
	ca, err := testCA()
	require.NoError(t, err)
	c, err := ca.Issue(rand.Reader, cardstest.ECKey().Public(), testca.Org{Name: "測試幼兒園", CardSerial: "TEST000000000001"}, u, notBefore, notAfter)
	require.NoError(t, err)
	slot := card.SlotAuthentication
	if u == testca.Encryption {
		slot = card.SlotKeyManagement
	}
	return cardstest.Cert{Certificate: card.Certificate{Slot: slot, Cert: c, ID: card.CertID(c.Raw), Usage: certinfo.UsageOf(c)}, Key: cardstest.ECKey()}
}

// validCerts are a TEST card's two certificates, valid for a year.
func validCerts(t *testing.T) []cardstest.Cert {
	return []cardstest.Cert{
		testCert(t, testca.Signature, testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0)),
		testCert(t, testca.Encryption, testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0)),
	}
}

// issuedBy is a self-signed certificate whose issuer is ou, as a CA that
// is not CardBridge's TEST CA would issue it, for cardstest.ECKey.
func issuedBy(t *testing.T, ou string, ku x509.KeyUsage) cardstest.Cert {
	t.Helper()
	name := pkix.Name{Country: []string{"TW"}, Organization: []string{"行政院"}, OrganizationalUnit: []string{ou}, CommonName: "某機關"}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: name, NotBefore: testNow.AddDate(0, -1, 0), NotAfter: testNow.AddDate(1, 0, 0), KeyUsage: ku}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, cardstest.ECKey().Public(), cardstest.ECKey())
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cardstest.Cert{Certificate: card.Certificate{Slot: card.SlotAuthentication, Cert: c, ID: card.CertID(der), Usage: certinfo.UsageOf(c)}, Key: cardstest.ECKey()}
}

// goodCard is a usable TEST card with its PIN at three tries.
func goodCard(t *testing.T) *cardstest.Card {
	return &cardstest.Card{Certs: validCerts(t), Status: card.PINStatus{TriesLeft: 3}, RefuseKeyOps: true}
}
