package diag

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// all is every item, for tables that give most of them the same result.
func all(r Result, except map[string]Result) map[string]Result {
	out := map[string]Result{}
	for _, t := range titles {
		out[t.id] = r
	}
	for id, res := range except {
		out[id] = res
	}
	return out
}

// checkTexts holds the report's promise for every item: both languages,
// and a fix exactly when the item did not pass.
func checkTexts(t *testing.T, rep Report) {
	t.Helper()
	require.Len(t, rep.Items, len(titles))
	for i, it := range rep.Items {
		assert.Equal(t, titles[i].id, it.ID)
		assert.NotEmpty(t, it.Detail.ZH, "%s detail (zh)", it.ID)
		assert.NotEmpty(t, it.Detail.EN, "%s detail (en)", it.ID)
		if it.Result == Pass {
			assert.Equal(t, Text{}, it.Fix, "%s passed but says what to fix", it.ID)
		} else {
			assert.NotEmpty(t, it.Fix.ZH, "%s fix (zh)", it.ID)
			assert.NotEmpty(t, it.Fix.EN, "%s fix (en)", it.ID)
		}
	}
}

// Up to the card, each failure stops the check at its item: the service
// (pcscd or SCardSvr) not running, the readers' state unreadable, no
// reader, no card (or not in the reader named), a mute card. The items
// after it are skipped; the clock is checked regardless.
func TestRunStopsAtFirstFailure(t *testing.T) {
	after := func(id string, res Result) map[string]Result {
		m := all(Skip, map[string]Result{IDClock: Pass})
		for _, t := range titles {
			if t.id == id {
				break
			}
			m[t.id] = Pass
		}
		m[id] = res
		return m
	}
	empty := cardstest.Reader{Name: "Empty Reader 00 00"}
	withCard := cardstest.Reader{Name: "ACS ACR39U 00 00", Card: &cardstest.Card{RefuseKeyOps: true}}
	for _, tc := range []struct {
		name    string
		backend *cardstest.Backend
		opts    Options
		want    map[string]Result
		detail  string // in the failed item's English detail
	}{
		{"service not running", &cardstest.Backend{ReadersErr: fmt.Errorf("establish context: %w", pcsc.ErrNoService)}, Options{},
			after(IDService, Fail), "not running"},
		{"readers unreadable", &cardstest.Backend{ReadersErr: fmt.Errorf("list readers: %w", pcsc.ErrReaderUnavailable)}, Options{},
			after(IDReaders, Fail), "Could not read"},
		{"no reader", &cardstest.Backend{}, Options{}, after(IDReaders, Fail), "No card reader"},
		{"empty reader", &cardstest.Backend{Attached: []cardstest.Reader{empty}}, Options{}, after(IDCard, Fail), "no card"},
		{"named reader empty, another has a card", &cardstest.Backend{Attached: []cardstest.Reader{withCard, empty}}, Options{Reader: empty.Name},
			after(IDCard, Fail), "no card"},
		{"named reader not connected", &cardstest.Backend{Attached: []cardstest.Reader{withCard}}, Options{Reader: "Gone Reader"},
			after(IDCard, Fail), "no card"},
		{"mute card", &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Mute: true}}}, Options{}, after(IDCard, Fail), "does not respond"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := runOver(t, tc.backend, tc.opts)
			assert.Equal(t, tc.want, results(rep))
			assert.Equal(t, Fail, rep.Overall)
			checkTexts(t, rep)
			var failed Item
			for _, it := range rep.Items {
				if it.Result == Fail {
					failed = it
				}
			}
			assert.Contains(t, failed.Detail.EN, tc.detail)
			assert.Empty(t, rep.Certificates)
			assert.Equal(t, -1, rep.PINTriesLeft)
		})
	}
}

// The readers item names the readers found; the card items report the
// reader and ATR of the card checked.
func TestRunReportsReaderAndATR(t *testing.T) {
	rep := runOver(t, &cardstest.Backend{Attached: []cardstest.Reader{{Name: "Empty 00"}, {Name: "Card 01", Card: goodCard(t)}}}, Options{})
	assert.Contains(t, item(t, rep, IDReaders).Detail.EN, "Empty 00, Card 01")
	assert.Contains(t, item(t, rep, IDReaders).Detail.ZH, "Empty 00, Card 01")
	assert.Equal(t, "Card 01", rep.Reader)
	assert.Equal(t, "3B8B0180", rep.ATR)
}

// A second card is a warning (the check might look at the wrong one)
// unless the reader was named: that choice is made already.
func TestRunSeveralCards(t *testing.T) {
	b := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "A", Card: goodCard(t)}, {Name: "B", Card: goodCard(t)}}}
	rep := runOver(t, b, Options{})
	assert.Equal(t, Warn, item(t, rep, IDCard).Result)
	assert.Equal(t, "A", rep.Reader)

	rep = runOver(t, b, Options{Reader: "B"})
	assert.Equal(t, Pass, item(t, rep, IDCard).Result)
	assert.Equal(t, "B", rep.Reader)
}

// Connecting fails for a reason the user can act on: another program holds
// the card, the card went away, or something else.
func TestRunConnectFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		detail string
	}{
		{"held by another program", fmt.Errorf("connect: %w", pcsc.ErrSharingViolation), "exclusively"},
		{"removed", fmt.Errorf("connect: %w", pcsc.ErrCardRemoved), "removed"},
		{"gone before connecting", fmt.Errorf("connect: %w", pcsc.ErrNoCard), "removed"},
		{"other", errors.New("connect: internal error"), "Could not connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := runOver(t, &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", OpenErr: tc.err}}}, Options{})
			assert.Equal(t, all(Skip, map[string]Result{IDService: Pass, IDReaders: Pass, IDCard: Pass, IDConnect: Fail, IDClock: Pass}), results(rep))
			assert.Contains(t, item(t, rep, IDConnect).Detail.EN, tc.detail)
			checkTexts(t, rep)
		})
	}
}

// Reading the certificates tells a card without PIV (a health-insurance
// or bank card) from one whose certificates cannot be read, and from one
// pulled out during the read.
func TestRunApplication(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want map[string]Result
	}{
		{"not a PIV card", fmt.Errorf("select: %w", card.ErrNotPIV), map[string]Result{IDConnect: Pass, IDApplication: Fail}},
		{"certificates unreadable", errors.New("read certificates: malformed"), map[string]Result{IDConnect: Pass, IDApplication: Pass, IDCertificates: Fail}},
		{"removed while reading", fmt.Errorf("read certificates: %w", pcsc.ErrCardRemoved), map[string]Result{IDConnect: Fail}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := runOver(t, &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: &cardstest.Card{CertsErr: tc.err, RefuseKeyOps: true}}}}, Options{})
			want := all(Skip, map[string]Result{IDService: Pass, IDReaders: Pass, IDCard: Pass, IDClock: Pass})
			for id, r := range tc.want {
				want[id] = r
			}
			assert.Equal(t, want, results(rep))
			assert.Equal(t, Fail, rep.Overall)
			checkTexts(t, rep)
		})
	}
}

// A card needs a signing certificate (login and signing) and should have
// an encryption one (receiving documents).
func TestRunCertificates(t *testing.T) {
	valid := func(u testca.Usage) cardstest.Cert {
		return testCert(t, u, testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0))
	}
	for _, tc := range []struct {
		name  string
		certs []cardstest.Cert
		want  Result
	}{
		{"both", []cardstest.Cert{valid(testca.Signature), valid(testca.Encryption)}, Pass},
		{"signature only", []cardstest.Cert{valid(testca.Signature)}, Warn},
		{"encryption only", []cardstest.Cert{valid(testca.Encryption)}, Fail},
		{"one certificate for both", []cardstest.Cert{issuedBy(t, "政府憑證管理中心", x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment)}, Pass},
		{"none", nil, Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := runOver(t, &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: &cardstest.Card{Certs: tc.certs, Status: card.PINStatus{TriesLeft: 3}, RefuseKeyOps: true}}}}, Options{})
			assert.Equal(t, tc.want, item(t, rep, IDCertificates).Result)
			assert.Len(t, rep.Certificates, len(tc.certs))
			// The PIN is checked whatever the certificates are.
			assert.Equal(t, Pass, item(t, rep, IDPIN).Result)
			if len(tc.certs) == 0 {
				assert.Equal(t, Skip, item(t, rep, IDValidity).Result)
				assert.Equal(t, Skip, item(t, rep, IDIssuer).Result)
			}
			checkTexts(t, rep)
		})
	}
}

// Validity is judged by the worst certificate, at the check's clock.
func TestRunValidity(t *testing.T) {
	cert := func(u testca.Usage, from, to int) cardstest.Cert { // days from testNow
		return testCert(t, u, testNow.AddDate(0, 0, from), testNow.AddDate(0, 0, to))
	}
	for _, tc := range []struct {
		name   string
		certs  []cardstest.Cert
		want   Result
		detail string
	}{
		{"valid", []cardstest.Cert{cert(testca.Signature, -30, 365), cert(testca.Encryption, -30, 400)}, Pass, "days left"},
		{"one expiring", []cardstest.Cert{cert(testca.Signature, -300, 20), cert(testca.Encryption, -30, 400)}, Warn, "expires on"},
		{"one expired", []cardstest.Cert{cert(testca.Signature, -30, 365), cert(testca.Encryption, -400, -1)}, Fail, "expired on"},
		{"not yet valid", []cardstest.Cert{cert(testca.Signature, 2, 365), cert(testca.Encryption, -30, 365)}, Fail, "not valid yet"},
		{"expired beats expiring", []cardstest.Cert{cert(testca.Signature, -400, -1), cert(testca.Encryption, -300, 10)}, Fail, "expired on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := runOver(t, &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: &cardstest.Card{Certs: tc.certs, Status: card.PINStatus{TriesLeft: 3}, RefuseKeyOps: true}}}}, Options{})
			it := item(t, rep, IDValidity)
			assert.Equal(t, tc.want, it.Result)
			assert.Contains(t, it.Detail.EN, tc.detail)
			// It names a date of one of the card's certificates.
			named := false
			for _, c := range tc.certs {
				for _, d := range []time.Time{c.Cert.NotBefore, c.Cert.NotAfter} {
					named = named || strings.Contains(it.Detail.EN, d.Local().Format("2006-01-02"))
				}
			}
			assert.True(t, named, "detail %q names no certificate's date", it.Detail.EN)
			checkTexts(t, rep)
		})
	}
}

// A TEST card and a card from an unknown CA are warnings; a government
// CA passes.
func TestRunIssuer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cert   cardstest.Cert
		want   Result
		detail string
	}{
		{"TEST CA", testCert(t, testca.Signature, testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0)), Warn, "TEST card"},
		{"unknown CA", issuedBy(t, "某私人憑證中心", x509.KeyUsageDigitalSignature), Warn, "not a known"},
		{"GCA", issuedBy(t, "政府憑證管理中心", x509.KeyUsageDigitalSignature), Pass, "Issued by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := runOver(t, &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: &cardstest.Card{Certs: []cardstest.Cert{tc.cert}, Status: card.PINStatus{TriesLeft: 3}, RefuseKeyOps: true}}}}, Options{})
			it := item(t, rep, IDIssuer)
			assert.Equal(t, tc.want, it.Result)
			assert.Contains(t, it.Detail.EN, tc.detail)
		})
	}
}

// The PIN item reads the status without a try: blocked fails, one try
// left warns, and the tries are reported.
func TestRunPIN(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status card.PINStatus
		err    error
		want   Result
		tries  int
	}{
		{"three tries", card.PINStatus{TriesLeft: 3}, nil, Pass, 3},
		{"two tries", card.PINStatus{TriesLeft: 2}, nil, Pass, 2},
		{"last try", card.PINStatus{TriesLeft: 1}, nil, Warn, 1},
		{"blocked (or not activated)", card.PINStatus{Blocked: true}, nil, Fail, 0},
		{"verified", card.PINStatus{TriesLeft: -1, Verified: true}, nil, Pass, -1},
		{"unreadable", card.PINStatus{}, errors.New("pin status: 6F00"), Warn, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := &cardstest.Card{Certs: validCerts(t), Status: tc.status, StatusErr: tc.err, RefuseKeyOps: true}
			rep := runOver(t, &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: tok}}}, Options{})
			assert.Equal(t, tc.want, item(t, rep, IDPIN).Result)
			assert.Equal(t, tc.tries, rep.PINTriesLeft)
			checkTexts(t, rep)
		})
	}
}

// A clock before CardBridge existed fails the check even when everything
// else passes, since certificates are judged by it.
func TestRunClockWrong(t *testing.T) {
	b := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: goodCard(t)}}}
	rep := Run(t.Context(), managerOver(b), Options{Now: func() time.Time { return testNow.AddDate(-20, 0, 0) }})
	assert.Equal(t, Fail, item(t, rep, IDClock).Result)
	assert.Equal(t, Fail, rep.Overall)
}

// Overall is the worst item: a check whose only flaw is a TEST card warns.
func TestRunOverall(t *testing.T) {
	rep := runOver(t, &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: goodCard(t)}}}, Options{})
	assert.Equal(t, all(Pass, map[string]Result{IDIssuer: Warn}), results(rep))
	assert.Equal(t, Warn, rep.Overall)
	checkTexts(t, rep)
}
