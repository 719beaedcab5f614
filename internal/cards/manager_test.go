package cards_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// sigKU is cert1's key usage on Taiwan cards.
const sigKU = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment

// newSigCert and newEncCert are a card's two certificates.
func newSigCert(tb testing.TB) cardstest.Cert {
	return cardstest.NewCert(tb, card.SlotAuthentication, cardstest.RSAKey(), sigKU, "")
}

func newEncCert(tb testing.TB) cardstest.Cert {
	return cardstest.NewCert(tb, card.SlotKeyManagement, cardstest.RSAKey(), x509.KeyUsageKeyEncipherment|x509.KeyUsageDataEncipherment, "")
}

// errOpen is what a reader whose card cannot be opened reports (a card
// held exclusively by another program).
var errOpen = fmt.Errorf("connect: %w", pcsc.ErrSharingViolation)

// errRead is what a card that cannot be read reports (a health-insurance
// card has no PIV application).
var errRead = fmt.Errorf("read certificates: %w", card.ErrNotPIV)

// sentinel is an error a test passes through and looks for.
var sentinel = errors.New("sentinel from the test")

// managerOver returns a Manager over the given fake backends.
func managerOver(backends ...*cardstest.Backend) *cards.Manager {
	bs := make([]cards.Backend, len(backends))
	for i, b := range backends {
		bs[i] = b
	}
	return cards.New(cards.Options{Backends: bs})
}

// An unusable card in one reader (held by another program, or not a
// certificate card) must not hide the certificate card in another: the
// search skips it and closes every card it opened. With cards in more than
// one reader, each is first opened once to make sure no other card shows
// the same certificate (unique), then the search opens them in turn.
func TestEachCardSkipsUnusableCards(t *testing.T) {
	want := newSigCert(t)
	holder := func() cardstest.Reader {
		return cardstest.Reader{Name: "holder", Card: &cardstest.Card{Certs: []cardstest.Cert{newEncCert(t), want}}}
	}
	unopenable := cardstest.Reader{Name: "in use", OpenErr: errOpen}
	unreadable := cardstest.Reader{Name: "health card", Card: &cardstest.Card{CertsErr: errRead}}
	empty := cardstest.Reader{Name: "empty"}
	for _, tc := range []struct {
		name    string
		readers []cardstest.Reader
		opened  []string
	}{
		{"open fails first", []cardstest.Reader{unopenable, holder()}, []string{"in use", "holder", "in use", "holder"}},
		{"certificates fail first", []cardstest.Reader{unreadable, holder()}, []string{"health card", "holder", "health card", "holder"}},
		{"both fail first", []cardstest.Reader{unopenable, unreadable, holder()}, []string{"in use", "health card", "holder", "in use", "health card", "holder"}},
		{"empty reader is not opened; one card is not checked twice", []cardstest.Reader{empty, holder()}, []string{"holder"}},
		{"search stops at the holder", []cardstest.Reader{holder(), unopenable, unreadable}, []string{"holder", "in use", "health card", "holder"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &cardstest.Backend{Attached: tc.readers}
			m := managerOver(b)
			calls := 0
			err := m.WithCertificate(context.Background(), want.ID, func(tok cards.Token, k cards.Certificate) error {
				calls++
				assert.Equal(t, "holder", k.Reader)
				assert.Equal(t, want.ID, k.ID)
				assert.Equal(t, []cards.Capability{cards.CapSign, cards.CapAuthenticate}, k.Capabilities)
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, 1, calls)
			assert.Equal(t, tc.opened, b.Opened())
			assert.Zero(t, b.Leaked(), "cards opened and not closed")
		})
	}
}

// With no reader at all the answer is ErrNoReader, whichever way a card is
// asked for, so the user is told to plug in a reader, not to insert a card.
func TestNoReader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		backends []*cardstest.Backend
	}{
		{"one backend without readers", []*cardstest.Backend{{}}},
		{"two backends without readers", []*cardstest.Backend{{}, {}}},
		{"no backend", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := managerOver(tc.backends...)
			ctx := context.Background()
			st, err := m.Readers(ctx)
			require.NoError(t, err)
			assert.Empty(t, st)
			visit := func(string, cards.Token) (bool, error) {
				t.Error("visit called without a reader")
				return true, nil
			}
			assert.ErrorIs(t, m.EachCard(ctx, "", visit), pcsc.ErrNoReader)
			_, err = m.Certificates(ctx, "")
			assert.ErrorIs(t, err, pcsc.ErrNoReader)
			assert.ErrorIs(t, m.WithCertificate(ctx, "00", nil), pcsc.ErrNoReader)
			assert.ErrorIs(t, m.WithCard(ctx, cards.Ref{}, nil), pcsc.ErrNoReader)
		})
	}
}

// A reader name that is not (or no longer) connected is an unknown
// reader, not "no card": the page asked for a reader that does not exist.
func TestUnknownReader(t *testing.T) {
	b := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "holder", Card: &cardstest.Card{Certs: []cardstest.Cert{newSigCert(t)}}}}}
	m := managerOver(b)
	ctx := context.Background()
	err := m.EachCard(ctx, "gone", func(string, cards.Token) (bool, error) {
		t.Error("visit called for another reader")
		return true, nil
	})
	assert.ErrorIs(t, err, pcsc.ErrUnknownReader)
	_, err = m.Certificates(ctx, "gone")
	assert.ErrorIs(t, err, pcsc.ErrUnknownReader)
	_, err = m.PINStatus(ctx, cards.Ref{Reader: "gone"})
	assert.ErrorIs(t, err, pcsc.ErrUnknownReader)
	assert.Empty(t, b.Opened())
}

// WithCertificate says why the certificate was not found: changed cards
// (ErrUnknownCertificate), the only card's own failure, no card, no
// reader, no service. f never runs then.
func TestWithCertificateNotFound(t *testing.T) {
	want := newSigCert(t)
	other := func() cardstest.Reader {
		return cardstest.Reader{Name: "other card", Card: &cardstest.Card{Certs: []cardstest.Cert{newSigCert(t)}}}
	}
	removed := cardstest.Reader{Name: "removed", OpenErr: pcsc.ErrCardRemoved}
	for _, tc := range []struct {
		name    string
		backend *cardstest.Backend
		want    error
		notWant error
	}{
		{"cards read, none holds it", &cardstest.Backend{Attached: []cardstest.Reader{other()}}, card.ErrUnknownCertificate, pcsc.ErrNoCard},
		{"one card read, another failed", &cardstest.Backend{Attached: []cardstest.Reader{removed, other()}}, card.ErrUnknownCertificate, pcsc.ErrCardRemoved},
		{"failed card after a read one", &cardstest.Backend{Attached: []cardstest.Reader{other(), removed}}, card.ErrUnknownCertificate, pcsc.ErrCardRemoved},
		{"only card could not be opened", &cardstest.Backend{Attached: []cardstest.Reader{{Name: "in use", OpenErr: errOpen}}}, pcsc.ErrSharingViolation, card.ErrUnknownCertificate},
		{"only card could not be read", &cardstest.Backend{Attached: []cardstest.Reader{{Name: "health card", Card: &cardstest.Card{CertsErr: errRead}}}}, card.ErrNotPIV, card.ErrUnknownCertificate},
		{"two failed cards: the last one's error", &cardstest.Backend{Attached: []cardstest.Reader{{Name: "in use", OpenErr: errOpen}, {Name: "health card", Card: &cardstest.Card{CertsErr: errRead}}}}, card.ErrNotPIV, pcsc.ErrSharingViolation},
		{"no card present", &cardstest.Backend{Attached: []cardstest.Reader{{Name: "empty"}}}, pcsc.ErrNoCard, card.ErrUnknownCertificate},
		{"no reader", &cardstest.Backend{}, pcsc.ErrNoReader, pcsc.ErrNoCard},
		{"no service", &cardstest.Backend{ReadersErr: fmtErr("establish", pcsc.ErrNoService)}, pcsc.ErrNoService, pcsc.ErrNoCard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := managerOver(tc.backend)
			err := m.WithCertificate(context.Background(), want.ID, func(cards.Token, cards.Certificate) error {
				t.Error("f called without the certificate")
				return nil
			})
			require.ErrorIs(t, err, tc.want)
			assert.NotErrorIs(t, err, tc.notWant)
			var end *cards.SearchEnd
			assert.False(t, errors.As(err, &end), "a *cards.SearchEnd leaked to the caller: %v", err)
			assert.Zero(t, tc.backend.Leaked())
		})
	}
}

// fmtErr wraps err as a backend would.
func fmtErr(op string, err error) error { return errors.Join(errors.New(op), err) }

// f's own error (a wrong PIN, a removed card) ends the search as it is:
// the search neither goes on to another card holding the same certificate
// nor turns the error into "unknown certificate".
func TestWithCertificateReturnsFError(t *testing.T) {
	want := newSigCert(t)
	b := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "first", Card: &cardstest.Card{Certs: []cardstest.Cert{want}}}}}
	// The same card through a PKCS#11 module.
	mod := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "second", Card: &cardstest.Card{Certs: []cardstest.Cert{want}}}}}
	m := cards.New(cards.Options{Backends: []cards.Backend{b}, Extra: []cards.Backend{mod}})
	calls := 0
	err := m.WithCertificate(context.Background(), want.ID, func(cards.Token, cards.Certificate) error {
		calls++
		return sentinel
	})
	assert.ErrorIs(t, err, sentinel)
	assert.NotErrorIs(t, err, card.ErrUnknownCertificate)
	assert.Equal(t, 1, calls)
	assert.Equal(t, []string{"first"}, b.Opened())
	assert.Empty(t, mod.Opened())
	assert.Zero(t, b.Leaked())
}

// A request waiting for a reader that another request holds gives up when
// its context ends, with the context's error, and does not go on to open
// other readers; a request for another reader is not held up.
func TestLockTimeout(t *testing.T) {
	want := newSigCert(t)
	b := &cardstest.Backend{Attached: []cardstest.Reader{
		{Name: "busy", Card: &cardstest.Card{Certs: []cardstest.Cert{newSigCert(t)}}},
		{Name: "holder", Card: &cardstest.Card{Certs: []cardstest.Cert{want}}},
	}}
	m := managerOver(b)

	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- m.WithCard(context.Background(), cards.Ref{Reader: "busy"}, func(string, cards.Token) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.WithCertificate(ctx, want.ID, func(cards.Token, cards.Certificate) error {
		t.Error("f ran although the first reader was held")
		return nil
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, []string{"busy"}, b.Opened(), "the timed-out search opened a card")

	// The search itself ends with the context's error, not as a search
	// that found nothing (which callers would report as "no card").
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	err = m.EachCard(ctx2, "", func(string, cards.Token) (bool, error) {
		t.Error("visited a card after the context ended")
		return true, nil
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var end *cards.SearchEnd
	assert.False(t, errors.As(err, &end), "timeout reported as the end of the search: %v", err)
	assert.Equal(t, []string{"busy"}, b.Opened())

	// Another reader is free meanwhile.
	ran := false
	require.NoError(t, m.WithCard(context.Background(), cards.Ref{Reader: "holder"}, func(r string, _ cards.Token) error {
		ran = r == "holder"
		return nil
	}))
	assert.True(t, ran)

	close(release)
	require.NoError(t, <-done)
	// Released, the reader serves the next request.
	require.NoError(t, m.WithCertificate(context.Background(), want.ID, func(cards.Token, cards.Certificate) error { return nil }))
	assert.Zero(t, b.Leaked())
}

// A backend that fails (no PC/SC service on a computer that uses the
// virtual card) must not hide the readers of one that answers; its error
// is reported only when no backend answered.
func TestReadersReportsErrorOnlyWhenNoBackendAnswered(t *testing.T) {
	noService := &cardstest.Backend{ReadersErr: fmtErr("establish", pcsc.ErrNoService)}
	unavailable := &cardstest.Backend{ReadersErr: fmtErr("list", pcsc.ErrReaderUnavailable)}
	answering := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "A", Card: &cardstest.Card{}}, {Name: "B"}}}
	noReaders := &cardstest.Backend{}
	for _, tc := range []struct {
		name     string
		backends []*cardstest.Backend
		readers  []string
		err      error
	}{
		{"failing then answering", []*cardstest.Backend{noService, answering}, []string{"A", "B"}, nil},
		{"answering then failing", []*cardstest.Backend{answering, noService}, []string{"A", "B"}, nil},
		{"failing and answering with no reader", []*cardstest.Backend{noService, noReaders}, nil, nil},
		{"all fail: the first error", []*cardstest.Backend{noService, unavailable}, nil, pcsc.ErrNoService},
		{"all fail, other order", []*cardstest.Backend{unavailable, noService}, nil, pcsc.ErrReaderUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := managerOver(tc.backends...).Readers(context.Background())
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Nil(t, st)
				return
			}
			require.NoError(t, err)
			var names []string
			for _, s := range st {
				names = append(names, s.Reader)
			}
			assert.Equal(t, tc.readers, names)
		})
	}
}

// Each card is opened through the backend that listed its reader.
func TestEachCardOpensThroughOwningBackend(t *testing.T) {
	want := newSigCert(t)
	first := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "pcsc reader", Card: &cardstest.Card{Certs: []cardstest.Cert{newSigCert(t)}}}}}
	second := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "virtual reader", Card: &cardstest.Card{Certs: []cardstest.Cert{want}}}}}
	m := managerOver(first, second)
	var reader string
	require.NoError(t, m.WithCertificate(context.Background(), want.ID, func(_ cards.Token, k cards.Certificate) error {
		reader = k.Reader
		return nil
	}))
	assert.Equal(t, "virtual reader", reader)
	// Twice each: the check that no other card shows the certificate, then the search.
	assert.Equal(t, []string{"pcsc reader", "pcsc reader"}, first.Opened())
	assert.Equal(t, []string{"virtual reader", "virtual reader"}, second.Opened())
}

// Certificates lists every readable card's certificates with their reader
// and capabilities; unusable cards are skipped unless none could be read.
func TestCertificates(t *testing.T) {
	sigA, encA, sigB := newSigCert(t), newEncCert(t), newSigCert(t)
	cardA := cardstest.Reader{Name: "A", Card: &cardstest.Card{Certs: []cardstest.Cert{sigA, encA}}}
	cardB := cardstest.Reader{Name: "B", Card: &cardstest.Card{Certs: []cardstest.Cert{sigB}}}
	unopenable := cardstest.Reader{Name: "in use", OpenErr: errOpen}
	unreadable := cardstest.Reader{Name: "health card", Card: &cardstest.Card{CertsErr: errRead}}
	type listed struct {
		id, reader string
		caps       []cards.Capability
	}
	for _, tc := range []struct {
		name    string
		readers []cardstest.Reader
		reader  string
		want    []listed
		err     error
	}{
		{"all cards", []cardstest.Reader{cardA, unopenable, cardB}, "", []listed{
			{sigA.ID, "A", []cards.Capability{cards.CapSign, cards.CapAuthenticate}},
			{encA.ID, "A", []cards.Capability{cards.CapDecrypt}},
			{sigB.ID, "B", []cards.Capability{cards.CapSign, cards.CapAuthenticate}},
		}, nil},
		{"one reader", []cardstest.Reader{cardA, cardB}, "B", []listed{{sigB.ID, "B", []cards.Capability{cards.CapSign, cards.CapAuthenticate}}}, nil},
		{"unusable cards before and after", []cardstest.Reader{unreadable, cardB, unopenable}, "", []listed{{sigB.ID, "B", []cards.Capability{cards.CapSign, cards.CapAuthenticate}}}, nil},
		{"only unusable cards: the last error", []cardstest.Reader{unopenable, unreadable}, "", nil, card.ErrNotPIV},
		{"the named reader's card is unusable", []cardstest.Reader{cardA, unopenable}, "in use", nil, pcsc.ErrSharingViolation},
		{"no card", []cardstest.Reader{{Name: "empty"}}, "", nil, pcsc.ErrNoCard},
		{"named reader empty", []cardstest.Reader{cardA, {Name: "empty"}}, "empty", nil, pcsc.ErrNoCard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &cardstest.Backend{Attached: tc.readers}
			certs, err := managerOver(b).Certificates(context.Background(), tc.reader)
			assert.Zero(t, b.Leaked())
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Empty(t, certs)
				return
			}
			require.NoError(t, err)
			var got []listed
			for _, c := range certs {
				got = append(got, listed{c.ID, c.Reader, c.Capabilities})
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// WithCard picks the card of a certificate, the card in a reader, or the
// first card, and reports an empty reader as no card.
func TestWithCard(t *testing.T) {
	sigB := newSigCert(t)
	b := &cardstest.Backend{Attached: []cardstest.Reader{
		{Name: "empty"},
		{Name: "A", Card: &cardstest.Card{Certs: []cardstest.Cert{newSigCert(t)}}},
		{Name: "B", Card: &cardstest.Card{Certs: []cardstest.Cert{sigB}}},
	}}
	for _, tc := range []struct {
		name   string
		ref    cards.Ref
		reader string
		err    error
	}{
		{"first card", cards.Ref{}, "A", nil},
		{"by reader", cards.Ref{Reader: "B"}, "B", nil},
		{"by certificate", cards.Ref{CertificateID: sigB.ID}, "B", nil},
		{"empty reader", cards.Ref{Reader: "empty"}, "", pcsc.ErrNoCard},
		{"unknown certificate", cards.Ref{CertificateID: newSigCert(t).ID}, "", card.ErrUnknownCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			err := managerOver(b).WithCard(context.Background(), tc.ref, func(r string, _ cards.Token) error {
				got = r
				return nil
			})
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.reader, got)
		})
	}
	assert.Zero(t, b.Leaked())

	// The only card failing to open is reported as itself.
	only := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "in use", OpenErr: errOpen}}}
	err := managerOver(only).WithCard(context.Background(), cards.Ref{}, func(string, cards.Token) error { return nil })
	assert.ErrorIs(t, err, pcsc.ErrSharingViolation)
}

// When no visit finished, EachCard ends with a *SearchEnd that carries
// the last card's error (and unwraps to it), so callers can say why.
func TestEachCardSearchEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		readers []cardstest.Reader
		visit   error
		last    error
	}{
		{"every card visited", []cardstest.Reader{{Name: "A", Card: &cardstest.Card{}}}, nil, nil},
		{"only empty readers", []cardstest.Reader{{Name: "empty"}}, nil, nil},
		{"a card failed to open", []cardstest.Reader{{Name: "in use", OpenErr: errOpen}, {Name: "A", Card: &cardstest.Card{}}}, nil, pcsc.ErrSharingViolation},
		{"a visit failed", []cardstest.Reader{{Name: "A", Card: &cardstest.Card{}}}, sentinel, sentinel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := managerOver(&cardstest.Backend{Attached: tc.readers}).EachCard(context.Background(), "", func(string, cards.Token) (bool, error) {
				return false, tc.visit
			})
			var end *cards.SearchEnd
			require.ErrorAs(t, err, &end)
			if tc.last == nil {
				assert.NoError(t, end.Last)
				assert.Equal(t, "no card matched", end.Error())
				return
			}
			assert.ErrorIs(t, end.Last, tc.last)
			assert.ErrorIs(t, err, tc.last)
			assert.Contains(t, end.Error(), tc.last.Error())
		})
	}
}
