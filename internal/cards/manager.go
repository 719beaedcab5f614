package cards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// Options configures a Manager. The zero value reaches PC/SC cards only.
type Options struct {
	// VirtualReader is the loopback address of the virtual TEST card to
	// offer beside the PC/SC readers; empty for none.
	VirtualReader string
	// Log receives why a card was skipped; nil discards.
	Log *slog.Logger
	// Now is the clock certificates are judged by; nil means time.Now.
	Now func() time.Time
	// Backends replaces the backends Options would choose (tests, and
	// an empty non-nil list for "PKCS#11 modules only").
	Backends []Backend
	// Extra backends are offered after the ones Options chooses (or
	// Backends): PKCS#11 modules (internal/cards/p11), one backend each.
	// Empty changes nothing.
	Extra []Backend
	// Fallback backends (OpenSC's module) are asked only about a card a
	// reader of the others holds but no backend could read (neither PIV nor
	// HiCOS): through the fallback's reader for that PC/SC reader
	// (FallbackReader). They list no readers of their own, and one that is
	// never needed is never loaded (see p11.NewFallback).
	Fallback []Backend
}

// FallbackReader is a backend that can say which of its readers reaches
// the card in a PC/SC reader.
type FallbackReader interface {
	Backend
	// ReaderFor returns the backend's reader for the card in pcscReader.
	ReaderFor(pcscReader string) (string, bool)
}

// Manager finds cards, serialises operations per reader and keeps the
// certificate cache warm between operations. It is safe for concurrent use.
type Manager struct {
	backends []Backend
	direct   map[Backend]bool // the backends that reach physical readers themselves (not Extra, not Fallback)
	fallback []Backend
	cache    *card.Cache
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	locks   map[string]chan struct{}
	sources map[string]Source // reader → where it came from, as last listed
}

// New returns a Manager.
func New(o Options) *Manager {
	m := &Manager{backends: o.Backends, fallback: o.Fallback, cache: card.NewCache(), log: o.Log, now: o.Now, locks: map[string]chan struct{}{}}
	if m.backends == nil {
		m.backends = []Backend{PCSC{}}
		if o.VirtualReader != "" {
			m.backends = append(m.backends, NewVirtual(o.VirtualReader))
		}
	}
	m.direct = map[Backend]bool{}
	for _, b := range m.backends {
		m.direct[b] = true
	}
	if len(o.Extra) > 0 {
		m.backends = append(append([]Backend(nil), m.backends...), o.Extra...)
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Now is the Manager's clock.
func (m *Manager) Now() time.Time { return m.now() }

// lock takes reader's lock, waiting no longer than ctx.
func (m *Manager) lock(ctx context.Context, reader string) (func(), error) {
	m.mu.Lock()
	l, ok := m.locks[reader]
	if !ok {
		l = make(chan struct{}, 1)
		m.locks[reader] = l
	}
	m.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Readers lists the readers of every backend. An error of one backend is
// reported only when no backend answered.
func (m *Manager) Readers(ctx context.Context) ([]pcsc.ReaderState, error) {
	st, _, err := m.readers()
	return st, err
}

func (m *Manager) readers() ([]pcsc.ReaderState, map[string]Backend, error) {
	var all []pcsc.ReaderState
	owner := map[string]Backend{}
	var firstErr error
	answered := false
	for _, b := range m.backends {
		st, err := b.Readers()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		answered = true
		for _, s := range st {
			owner[s.Reader] = b
		}
		all = append(all, st...)
	}
	if !answered {
		return nil, nil, firstErr
	}
	sources := make(map[string]Source, len(owner))
	for r, b := range owner {
		sources[r] = sourceOf(b)
	}
	m.mu.Lock()
	m.sources = sources
	m.mu.Unlock()
	return all, owner, nil
}

// Visit is called with each card a search reaches; done ends the search.
type Visit func(reader string, t Token) (done bool, err error)

// EachCard calls f with the card in each reader that has one (only reader,
// when given), holding that reader's lock, until f returns done. A card
// that cannot be opened or read (f returns an error without done) is
// skipped: an unusable card in one reader (a health-insurance card, a card
// held by another program) must not hide the certificate card in another.
// When no call finished, EachCard returns a *SearchEnd carrying the last
// such error, and pcsc.ErrNoReader when there is no reader at all.
func (m *Manager) EachCard(ctx context.Context, reader string, f Visit) error {
	st, owner, err := m.readers()
	if err != nil {
		return err
	}
	return m.eachCardIn(ctx, st, owner, reader, f)
}

// eachCardIn is EachCard over readers already listed (st, owned by owner),
// so that one request lists the readers once: listing a PKCS#11 module's
// slots asks each token for its state, which can cost the card a command.
func (m *Manager) eachCardIn(ctx context.Context, st []pcsc.ReaderState, owner map[string]Backend, reader string, f Visit) error {
	if len(st) == 0 {
		return fmt.Errorf("find card: %w", pcsc.ErrNoReader)
	}
	found := false
	var last error
	for _, s := range st {
		if reader != "" && s.Reader != reader {
			continue
		}
		found = true
		if !s.Present() {
			continue
		}
		done, err := m.withCard(ctx, owner[s.Reader], s.Reader, f)
		if err != nil && !done && ctx.Err() == nil && unreadable(err) {
			if fdone, used, ferr := m.withFallback(ctx, s.Reader, f); used {
				done, err = fdone, ferr
			}
		}
		switch {
		case done:
			return err
		case err != nil && ctx.Err() != nil: // timed out waiting for the reader
			return err
		case err != nil:
			m.log.Info("card skipped", "reader", s.Reader, "err", err)
			last = err
		}
	}
	if reader != "" && !found {
		return fmt.Errorf("reader %q: %w", reader, pcsc.ErrUnknownReader)
	}
	return &SearchEnd{Last: last}
}

// unreadable reports a card that answered but is neither PIV nor HiCOS:
// what a fallback module may know.
func unreadable(err error) bool {
	return errors.Is(err, card.ErrNotPIV) || errors.Is(err, apdu.ErrClaNotSupported) || errors.Is(err, apdu.ErrInsNotSupported)
}

// withFallback runs f on the card in pcscReader through the first fallback
// backend that reaches it; used is false when none does.
func (m *Manager) withFallback(ctx context.Context, pcscReader string, f Visit) (done, used bool, err error) {
	for _, b := range m.fallback {
		fb, ok := b.(FallbackReader)
		if !ok {
			continue
		}
		r, ok := fb.ReaderFor(pcscReader)
		if !ok {
			continue
		}
		m.mu.Lock()
		if m.sources != nil {
			m.sources[r] = sourceOf(b)
		}
		m.mu.Unlock()
		done, err := m.withCard(ctx, b, r, f)
		return done, true, err
	}
	return false, false, nil
}

// SearchEnd ends EachCard when f never finished. Callers turn it into the
// error that fits: the last card's own error (card removed, unsupported
// card), or no card, or unknown certificate.
type SearchEnd struct{ Last error }

func (e *SearchEnd) Error() string {
	if e.Last == nil {
		return "no card matched"
	}
	return "no card matched; last card: " + e.Last.Error()
}

func (e *SearchEnd) Unwrap() error { return e.Last }

// endOfSearch returns the *SearchEnd in err, or nil.
func endOfSearch(err error) *SearchEnd {
	var end *SearchEnd
	if errors.As(err, &end) {
		return end
	}
	return nil
}

func (m *Manager) withCard(ctx context.Context, b Backend, reader string, f Visit) (bool, error) {
	unlock, err := m.lock(ctx, reader)
	if err != nil {
		return false, err
	}
	defer unlock()
	t, closeCard, err := b.Open(reader, m.cache)
	if err != nil {
		return false, err
	}
	defer closeCard()
	return f(reader, t)
}

// Certificate is a certificate on a card, with where it is and what it may
// be used for.
type Certificate struct {
	card.Certificate
	Reader       string
	Capabilities []Capability
	// Source is the backend (and PKCS#11 module) the card was reached by.
	Source Source
}

// Describe is k, read from the card in reader, with what it may be used
// for and how the card was reached: the one way every listing builds a
// Certificate.
func (m *Manager) Describe(reader string, k card.Certificate) Certificate {
	return Certificate{Certificate: k, Reader: reader, Capabilities: CapabilitiesOf(k), Source: m.SourceOf(reader)}
}

// SourceOf is the source of reader as last listed.
func (m *Manager) SourceOf(reader string) Source {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sources[reader]
}

// Certificates lists the certificates of the cards in every reader (only
// reader, when given). Cards that cannot be read are skipped unless none
// could be. A certificate seen more than once (a card reached both
// directly and through a PKCS#11 module, or a HiCOS card read natively and
// through the vendor's module) is listed once, as reached by the way that
// can use it: see preferred.
func (m *Manager) Certificates(ctx context.Context, reader string) ([]Certificate, error) {
	var out []Certificate
	err := m.EachCard(ctx, reader, func(r string, t Token) (bool, error) {
		certs, err := t.Certificates()
		if err != nil {
			return false, err
		}
		for _, k := range certs {
			out = append(out, m.Describe(r, k))
		}
		return false, nil
	})
	end := endOfSearch(err)
	switch {
	case end == nil:
		return nil, err
	case len(out) > 0:
		return preferred(out), nil
	case end.Last != nil:
		return nil, end.Last
	}
	return nil, fmt.Errorf("certificates: %w", pcsc.ErrNoCard)
}

// preferred keeps one of each certificate id: the first view that can use
// its key, else the first. Backends are asked in a fixed order (PC/SC and
// the virtual reader, then the configured and discovered PKCS#11 modules),
// so a PIV card keeps its direct path and a HiCOS card its vendor module.
func preferred(all []Certificate) []Certificate {
	at := map[string]int{}
	var out []Certificate
	for _, k := range all {
		i, seen := at[k.ID]
		switch {
		case !seen:
			at[k.ID] = len(out)
			out = append(out, k)
		case out[i].ReadOnly && !k.ReadOnly:
			out[i] = k
		}
	}
	return out
}

// WithCertificate runs f on the card holding the certificate with id,
// holding its reader's lock. Where the certificate is seen more than once,
// the first view that can use its key is taken (as Certificates lists it);
// a read-only view only when there is no other.
func (m *Manager) WithCertificate(ctx context.Context, id string, f func(t Token, k Certificate) error) error {
	short := id
	if len(short) > 8 {
		short = short[:8]
	}
	st, owner, err := m.readers()
	if err != nil {
		return err
	}
	if err := m.unique(ctx, st, owner, id); err != nil {
		return fmt.Errorf("certificate %s: %w", short, err)
	}
	readOne := false
	readOnlyIn := ""
	search := func(reader string, acceptReadOnly bool) error {
		return m.eachCardIn(ctx, st, owner, reader, func(r string, t Token) (bool, error) {
			certs, err := t.Certificates()
			if err != nil {
				return false, err
			}
			readOne = true
			for _, k := range certs {
				if k.ID != id {
					continue
				}
				if k.ReadOnly && !acceptReadOnly {
					readOnlyIn = r
					return false, nil
				}
				return true, f(t, m.Describe(r, k))
			}
			return false, nil
		})
	}
	err = search("", false)
	end := endOfSearch(err)
	if end != nil && readOnlyIn != "" {
		err = search(readOnlyIn, true)
		end = endOfSearch(err)
	}
	switch {
	case end == nil:
		return err
	case readOne: // cards were read, none holds it: it was changed
		return fmt.Errorf("certificate %s: %w", short, card.ErrUnknownCertificate)
	case end.Last != nil: // the only card(s) failed: say why (removed, unsupported…)
		return fmt.Errorf("certificate %s: %w", short, end.Last)
	}
	return fmt.Errorf("certificate %s: %w", short, pcsc.ErrNoCard)
}

// ErrAmbiguousCertificate reports a certificate that cards in two readers
// both show. Certificates are public: a second card can carry a copy of the
// holder's over a key of its own, and the PIN typed for the holder's card
// must not reach it. The edge reports it as ERR_CERTIFICATE_AMBIGUOUS
// (take out the card you do not use).
var ErrAmbiguousCertificate = errors.New("the same certificate is on cards in two readers")

// unique returns ErrAmbiguousCertificate when the cards in two readers of
// the direct backends (each reader a physical card) show the certificate
// id. PKCS#11 modules are not counted: their tokens mirror the cards of
// the same readers (the HiCOS module shows the HiCOS card CardBridge also
// reads natively). With at most one card in the direct readers, which is
// the usual case, nothing is opened.
func (m *Manager) unique(ctx context.Context, st []pcsc.ReaderState, owner map[string]Backend, id string) error {
	cards := 0
	for _, s := range st {
		if s.Present() && m.direct[owner[s.Reader]] {
			cards++
		}
	}
	if cards < 2 {
		return nil
	}
	var holders []string
	for _, s := range st {
		if !s.Present() || !m.direct[owner[s.Reader]] {
			continue
		}
		_, err := m.withCard(ctx, owner[s.Reader], s.Reader, func(r string, t Token) (bool, error) {
			certs, err := t.Certificates()
			if err != nil {
				return false, err
			}
			for _, k := range certs {
				if k.ID == id {
					holders = append(holders, r)
					break
				}
			}
			return false, nil
		})
		if err != nil && ctx.Err() != nil {
			return err
		}
	}
	if len(holders) > 1 {
		return fmt.Errorf("readers %q: %w", holders, ErrAmbiguousCertificate)
	}
	return nil
}

// Ref picks a card: the card of a certificate, the card in a reader, or
// (both empty) the first card.
type Ref struct {
	Reader        string
	CertificateID string
}

// WithCard runs f on the card ref picks, holding its reader's lock.
func (m *Manager) WithCard(ctx context.Context, ref Ref, f func(reader string, t Token) error) error {
	if ref.CertificateID != "" {
		return m.WithCertificate(ctx, ref.CertificateID, func(t Token, k Certificate) error {
			if k.ReadOnly { // shown only: no PIN operation reaches it either
				return fmt.Errorf("certificate %.8s: %w", k.ID, ErrClientNeeded)
			}
			return f(k.Reader, t)
		})
	}
	err := m.EachCard(ctx, ref.Reader, func(r string, t Token) (bool, error) {
		return true, f(r, t)
	})
	if end := endOfSearch(err); end != nil {
		if end.Last != nil {
			return end.Last
		}
		return fmt.Errorf("find card: %w", pcsc.ErrNoCard)
	}
	return err
}

// Watch reports reader and card changes of the PC/SC service until ctx
// ends or the service fails. (The direct virtual reader sends no events.)
func (m *Manager) Watch(ctx context.Context, emit func(pcsc.Event)) error {
	w, err := pcsc.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	for {
		evs, err := w.Next(ctx)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			emit(ev)
		}
	}
}
