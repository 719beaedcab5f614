//go:build !cgo

package p11

import (
	"errors"
	"log/slog"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// ErrNoCgo reports a build without cgo, which cannot load C modules.
var ErrNoCgo = errors.New("PKCS#11 modules need a build with cgo")

// Options configures a Backend.
type Options struct {
	// Log receives why a certificate or slot was skipped; nil discards.
	Log *slog.Logger
}

// Backend is the PKCS#11 backend; without cgo it cannot be made.
type Backend struct{}

// New returns ErrNoCgo: this build cannot load modules.
func New(module string, o Options) (*Backend, error) {
	return nil, errors.Join(ErrNoCgo, errors.New("PKCS#11 module "+module))
}

// Readers implements cards.Backend.
func (*Backend) Readers() ([]pcsc.ReaderState, error) { return nil, ErrNoCgo }

// Open implements cards.Backend.
func (*Backend) Open(string, *card.Cache) (cards.Token, func(), error) { return nil, nil, ErrNoCgo }

// ReaderFor reaches nothing: this build cannot load modules.
func (*Backend) ReaderFor(string) (string, bool) { return "", false }

// Source implements cards.Sourced.
func (*Backend) Source() cards.Source { return cards.Source{Kind: "pkcs11"} }

// Backends returns none: this build cannot load modules. Each path is
// named in a warning.
func Backends(paths []string, log *slog.Logger) []cards.Backend {
	for _, p := range paths {
		if log != nil {
			log.Warn("PKCS#11 module not used", "module", p, "err", ErrNoCgo)
		}
	}
	return nil
}
