package p11

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// Lazy is a module loaded at its first use: a fallback module (OpenSC's)
// that no card needs costs nothing, neither at start (the host answers
// hello before any module loads) nor while every card is PIV or HiCOS.
type Lazy struct {
	path string
	o    Options

	once   sync.Once
	loaded atomic.Bool
	b      *Backend
	err    error
}

var _ cards.FallbackReader = (*Lazy)(nil)

// NewFallback returns the module at path as a lazily loaded fallback for
// cards.Options.Fallback.
func NewFallback(path string, o Options) *Lazy { return &Lazy{path: path, o: o} }

// Loaded reports whether the module was loaded (tests: a fallback never
// needed is never loaded).
func (l *Lazy) Loaded() bool { return l.loaded.Load() }

func (l *Lazy) load() (*Backend, error) {
	l.once.Do(func() {
		l.b, l.err = New(l.path, l.o)
		l.loaded.Store(l.err == nil)
		if l.err != nil && l.o.Log != nil {
			l.o.Log.Warn("PKCS#11 fallback module not used", "module", l.path, "err", l.err)
		}
	})
	return l.b, l.err
}

// Source implements cards.Sourced.
func (l *Lazy) Source() cards.Source { return cards.Source{Kind: "pkcs11", Module: l.path} }

// Readers implements cards.Backend.
func (l *Lazy) Readers() ([]pcsc.ReaderState, error) {
	b, err := l.load()
	if err != nil {
		return nil, err
	}
	return b.Readers()
}

// Open implements cards.Backend.
func (l *Lazy) Open(reader string, cache *card.Cache) (cards.Token, func(), error) {
	b, err := l.load()
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", reader, err)
	}
	return b.Open(reader, cache)
}

// ReaderFor implements cards.FallbackReader.
func (l *Lazy) ReaderFor(pcscReader string) (string, bool) {
	b, err := l.load()
	if err != nil {
		return "", false
	}
	return b.ReaderFor(pcscReader)
}
