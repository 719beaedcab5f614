package cards_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// sigKU is cert1's key usage on Taiwan cards.
const sigKU = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment

// newSigCert and newEncCert are a card's two certificates.
func newSigCert(tb testing.TB) fakeCert {
	return newFakeCert(tb, card.SlotAuthentication, fakeRSAKey(), sigKU, "")
}

func newEncCert(tb testing.TB) fakeCert {
	return newFakeCert(tb, card.SlotKeyManagement, fakeRSAKey(), x509.KeyUsageKeyEncipherment|x509.KeyUsageDataEncipherment, "")
}

// managerOver returns a Manager over the given fake backends.
func managerOver(backends ...*fakeBackend) *cards.Manager {
	bs := make([]cards.Backend, len(backends))
	for i, b := range backends {
		bs[i] = b
	}
	return cards.New(cards.Options{Backends: bs})
}

// An unusable card in one reader (held by another program, or not a
// certificate card) must not hide the certificate card in another: the
// search skips it, opens each reader once, and closes every card it opened.
func TestEachCardSkipsUnusableCards(t *testing.T) {
	want := newSigCert(t)
	holder := func() fakeReader {
		return fakeReader{name: "holder", card: &fakeToken{certs: []fakeCert{newEncCert(t), want}}}
	}
	unopenable := fakeReader{name: "in use", openErr: errOpen}
	unreadable := fakeReader{name: "health card", card: &fakeToken{certsErr: errRead}}
	empty := fakeReader{name: "empty"}
	for _, tc := range []struct {
		name    string
		readers []fakeReader
		opened  []string
	}{
		{"open fails first", []fakeReader{unopenable, holder()}, []string{"in use", "holder"}},
		{"certificates fail first", []fakeReader{unreadable, holder()}, []string{"health card", "holder"}},
		{"both fail first", []fakeReader{unopenable, unreadable, holder()}, []string{"in use", "health card", "holder"}},
		{"empty reader is not opened", []fakeReader{empty, holder()}, []string{"holder"}},
		{"search stops at the holder", []fakeReader{holder(), unopenable, unreadable}, []string{"holder"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{readers: tc.readers}
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
			assert.Equal(t, tc.opened, b.openedReaders())
			assert.Zero(t, b.leaked(), "cards opened and not closed")
		})
	}
}

// With no reader at all the answer is ErrNoReader, whichever way a card is
// asked for, so the user is told to plug in a reader, not to insert a card.
func TestNoReader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		backends []*fakeBackend
	}{
		{"one backend without readers", []*fakeBackend{{}}},
		{"two backends without readers", []*fakeBackend{{}, {}}},
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
	b := &fakeBackend{readers: []fakeReader{{name: "holder", card: &fakeToken{certs: []fakeCert{newSigCert(t)}}}}}
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
	assert.Empty(t, b.openedReaders())
}

// WithCertificate says why the certificate was not found: changed cards
// (ErrUnknownCertificate), the only card's own failure, no card, no
// reader, no service. f never runs then.
func TestWithCertificateNotFound(t *testing.T) {
	want := newSigCert(t)
	other := func() fakeReader {
		return fakeReader{name: "other card", card: &fakeToken{certs: []fakeCert{newSigCert(t)}}}
	}
	removed := fakeReader{name: "removed", openErr: pcsc.ErrCardRemoved}
	for _, tc := range []struct {
		name    string
		backend *fakeBackend
		want    error
		notWant error
	}{
		{"cards read, none holds it", &fakeBackend{readers: []fakeReader{other()}}, card.ErrUnknownCertificate, pcsc.ErrNoCard},
		{"one card read, another failed", &fakeBackend{readers: []fakeReader{removed, other()}}, card.ErrUnknownCertificate, pcsc.ErrCardRemoved},
		{"failed card after a read one", &fakeBackend{readers: []fakeReader{other(), removed}}, card.ErrUnknownCertificate, pcsc.ErrCardRemoved},
		{"only card could not be opened", &fakeBackend{readers: []fakeReader{{name: "in use", openErr: errOpen}}}, pcsc.ErrSharingViolation, card.ErrUnknownCertificate},
		{"only card could not be read", &fakeBackend{readers: []fakeReader{{name: "health card", card: &fakeToken{certsErr: errRead}}}}, card.ErrNotPIV, card.ErrUnknownCertificate},
		{"two failed cards: the last one's error", &fakeBackend{readers: []fakeReader{{name: "in use", openErr: errOpen}, {name: "health card", card: &fakeToken{certsErr: errRead}}}}, card.ErrNotPIV, pcsc.ErrSharingViolation},
		{"no card present", &fakeBackend{readers: []fakeReader{{name: "empty"}}}, pcsc.ErrNoCard, card.ErrUnknownCertificate},
		{"no reader", &fakeBackend{}, pcsc.ErrNoReader, pcsc.ErrNoCard},
		{"no service", &fakeBackend{readersErr: fmtErr("establish", pcsc.ErrNoService)}, pcsc.ErrNoService, pcsc.ErrNoCard},
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
			assert.Zero(t, tc.backend.leaked())
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
	b := &fakeBackend{readers: []fakeReader{
		{name: "first", card: &fakeToken{certs: []fakeCert{want}}},
		{name: "second", card: &fakeToken{certs: []fakeCert{want}}},
	}}
	m := managerOver(b)
	calls := 0
	err := m.WithCertificate(context.Background(), want.ID, func(cards.Token, cards.Certificate) error {
		calls++
		return sentinel
	})
	assert.ErrorIs(t, err, sentinel)
	assert.NotErrorIs(t, err, card.ErrUnknownCertificate)
	assert.Equal(t, 1, calls)
	assert.Equal(t, []string{"first"}, b.openedReaders())
	assert.Zero(t, b.leaked())
}

// A request waiting for a reader that another request holds gives up when
// its context ends, with the context's error, and does not go on to open
// other readers; a request for another reader is not held up.
func TestLockTimeout(t *testing.T) {
	want := newSigCert(t)
	b := &fakeBackend{readers: []fakeReader{
		{name: "busy", card: &fakeToken{certs: []fakeCert{newSigCert(t)}}},
		{name: "holder", card: &fakeToken{certs: []fakeCert{want}}},
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
	assert.Equal(t, []string{"busy"}, b.openedReaders(), "the timed-out search opened a card")

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
	assert.Equal(t, []string{"busy"}, b.openedReaders())

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
	assert.Zero(t, b.leaked())
}

// A backend that fails (no PC/SC service on a computer that uses the
// virtual card) must not hide the readers of one that answers; its error
// is reported only when no backend answered.
func TestReadersReportsErrorOnlyWhenNoBackendAnswered(t *testing.T) {
	noService := &fakeBackend{readersErr: fmtErr("establish", pcsc.ErrNoService)}
	unavailable := &fakeBackend{readersErr: fmtErr("list", pcsc.ErrReaderUnavailable)}
	answering := &fakeBackend{readers: []fakeReader{{name: "A", card: &fakeToken{}}, {name: "B"}}}
	noReaders := &fakeBackend{}
	for _, tc := range []struct {
		name     string
		backends []*fakeBackend
		readers  []string
		err      error
	}{
		{"failing then answering", []*fakeBackend{noService, answering}, []string{"A", "B"}, nil},
		{"answering then failing", []*fakeBackend{answering, noService}, []string{"A", "B"}, nil},
		{"failing and answering with no reader", []*fakeBackend{noService, noReaders}, nil, nil},
		{"all fail: the first error", []*fakeBackend{noService, unavailable}, nil, pcsc.ErrNoService},
		{"all fail, other order", []*fakeBackend{unavailable, noService}, nil, pcsc.ErrReaderUnavailable},
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
	first := &fakeBackend{readers: []fakeReader{{name: "pcsc reader", card: &fakeToken{certs: []fakeCert{newSigCert(t)}}}}}
	second := &fakeBackend{readers: []fakeReader{{name: "virtual reader", card: &fakeToken{certs: []fakeCert{want}}}}}
	m := managerOver(first, second)
	var reader string
	require.NoError(t, m.WithCertificate(context.Background(), want.ID, func(_ cards.Token, k cards.Certificate) error {
		reader = k.Reader
		return nil
	}))
	assert.Equal(t, "virtual reader", reader)
	assert.Equal(t, []string{"pcsc reader"}, first.openedReaders())
	assert.Equal(t, []string{"virtual reader"}, second.openedReaders())
}

// Certificates lists every readable card's certificates with their reader
// and capabilities; unusable cards are skipped unless none could be read.
func TestCertificates(t *testing.T) {
	sigA, encA, sigB := newSigCert(t), newEncCert(t), newSigCert(t)
	cardA := fakeReader{name: "A", card: &fakeToken{certs: []fakeCert{sigA, encA}}}
	cardB := fakeReader{name: "B", card: &fakeToken{certs: []fakeCert{sigB}}}
	unopenable := fakeReader{name: "in use", openErr: errOpen}
	unreadable := fakeReader{name: "health card", card: &fakeToken{certsErr: errRead}}
	type listed struct {
		id, reader string
		caps       []cards.Capability
	}
	for _, tc := range []struct {
		name    string
		readers []fakeReader
		reader  string
		want    []listed
		err     error
	}{
		{"all cards", []fakeReader{cardA, unopenable, cardB}, "", []listed{
			{sigA.ID, "A", []cards.Capability{cards.CapSign, cards.CapAuthenticate}},
			{encA.ID, "A", []cards.Capability{cards.CapDecrypt}},
			{sigB.ID, "B", []cards.Capability{cards.CapSign, cards.CapAuthenticate}},
		}, nil},
		{"one reader", []fakeReader{cardA, cardB}, "B", []listed{{sigB.ID, "B", []cards.Capability{cards.CapSign, cards.CapAuthenticate}}}, nil},
		{"unusable cards before and after", []fakeReader{unreadable, cardB, unopenable}, "", []listed{{sigB.ID, "B", []cards.Capability{cards.CapSign, cards.CapAuthenticate}}}, nil},
		{"only unusable cards: the last error", []fakeReader{unopenable, unreadable}, "", nil, card.ErrNotPIV},
		{"the named reader's card is unusable", []fakeReader{cardA, unopenable}, "in use", nil, pcsc.ErrSharingViolation},
		{"no card", []fakeReader{{name: "empty"}}, "", nil, pcsc.ErrNoCard},
		{"named reader empty", []fakeReader{cardA, {name: "empty"}}, "empty", nil, pcsc.ErrNoCard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{readers: tc.readers}
			certs, err := managerOver(b).Certificates(context.Background(), tc.reader)
			assert.Zero(t, b.leaked())
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
	b := &fakeBackend{readers: []fakeReader{
		{name: "empty"},
		{name: "A", card: &fakeToken{certs: []fakeCert{newSigCert(t)}}},
		{name: "B", card: &fakeToken{certs: []fakeCert{sigB}}},
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
	assert.Zero(t, b.leaked())

	// The only card failing to open is reported as itself.
	only := &fakeBackend{readers: []fakeReader{{name: "in use", openErr: errOpen}}}
	err := managerOver(only).WithCard(context.Background(), cards.Ref{}, func(string, cards.Token) error { return nil })
	assert.ErrorIs(t, err, pcsc.ErrSharingViolation)
}

// When no visit finished, EachCard ends with a *SearchEnd that carries
// the last card's error (and unwraps to it), so callers can say why.
func TestEachCardSearchEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		readers []fakeReader
		visit   error
		last    error
	}{
		{"every card visited", []fakeReader{{name: "A", card: &fakeToken{}}}, nil, nil},
		{"only empty readers", []fakeReader{{name: "empty"}}, nil, nil},
		{"a card failed to open", []fakeReader{{name: "in use", openErr: errOpen}, {name: "A", card: &fakeToken{}}}, nil, pcsc.ErrSharingViolation},
		{"a visit failed", []fakeReader{{name: "A", card: &fakeToken{}}}, sentinel, sentinel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := managerOver(&fakeBackend{readers: tc.readers}).EachCard(context.Background(), "", func(string, cards.Token) (bool, error) {
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
