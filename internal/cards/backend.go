package cards

import (
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// Token is a card as the operations use it, whatever backend reached it.
type Token interface {
	card.Token
	// Serial is the card's own number (the PIV CHUID's GUID), "" when the
	// card does not say.
	Serial() string
}

// Backend is where readers and cards come from.
type Backend interface {
	// Readers lists the readers with their state; none is an empty list.
	Readers() ([]pcsc.ReaderState, error)
	// Open connects to the card in reader; close releases it.
	Open(reader string, cache *card.Cache) (t Token, close func(), err error)
}

// Source says where a backend's cards come from, for people and logs:
// Kind is "pcsc", "virtual" or "pkcs11", Module the PKCS#11 module's path.
type Source struct {
	Kind   string
	Module string
}

// Sourced is a Backend that names its source; one that does not is
// reported as Source{Kind: "other"}.
type Sourced interface {
	Source() Source
}

// sourceOf names b's source.
func sourceOf(b Backend) Source {
	if s, ok := b.(Sourced); ok {
		return s.Source()
	}
	return Source{Kind: "other"}
}

// Source implements Sourced.
func (PCSC) Source() Source { return Source{Kind: "pcsc"} }

// PCSC reaches cards through the smart-card service. It takes a fresh
// PC/SC context per call: pcsc-lite serialises calls on one context, and a
// separate one lets readers answer while a card works.
type PCSC struct{}

// Readers implements Backend.
func (PCSC) Readers() ([]pcsc.ReaderState, error) {
	x, err := pcsc.Establish()
	if err != nil {
		return nil, err
	}
	defer x.Close()
	return x.ReaderStates()
}

// Open implements Backend.
func (PCSC) Open(reader string, cache *card.Cache) (Token, func(), error) {
	x, err := pcsc.Establish()
	if err != nil {
		return nil, nil, err
	}
	p, conn, err := card.Open(x, reader, cache)
	if err != nil {
		x.Close()
		return nil, nil, err
	}
	return openToken(conn, p.Identity(), cache), func() { conn.Close(); x.Close() }, nil
}

// pivToken is a PIV card as a Token.
type pivToken struct{ *card.PIV }

func (t pivToken) Serial() string {
	chuid, err := t.CHUID()
	if err != nil {
		return ""
	}
	return card.GUIDOf(chuid)
}
