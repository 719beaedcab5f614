package cardstest

import (
	"fmt"
	"slices"
	"sync"

	"github.com/ebfe/scard"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// atr is the answer to reset of every card a Backend lists.
var atr = []byte{0x3B, 0x8B, 0x01, 0x80}

// Reader is a reader of a Backend. With neither Card, OpenErr nor Mute it
// is empty; with any of them a card is present (ATR 3B8B0180).
type Reader struct {
	Name string
	// Card is the card in the reader; nil for none.
	Card *Card
	// OpenErr is what opening the card returns, as for a card held
	// exclusively by another program.
	OpenErr error
	// Mute marks the card as not answering reset. Opening a mute reader
	// without Card reports no card.
	Mute bool
}

func (r Reader) present() bool { return r.Card != nil || r.OpenErr != nil || r.Mute }

// Backend is a cards.Backend over Attached. It counts the connections it
// hands out and takes back, so a test can tell none leaks. Use it by
// pointer, and do not change Attached once it is in use.
type Backend struct {
	// Attached are the readers, in the order Readers lists them.
	Attached []Reader
	// ReadersErr, when set, is what Readers returns, as when there is no
	// smart-card service.
	ReadersErr error

	mu     sync.Mutex
	opened []string
	closed int
}

var _ cards.Backend = (*Backend)(nil)

// Readers implements cards.Backend.
func (b *Backend) Readers() ([]pcsc.ReaderState, error) {
	if b.ReadersErr != nil {
		return nil, b.ReadersErr
	}
	out := []pcsc.ReaderState{}
	for _, r := range b.Attached {
		st := pcsc.ReaderState{Reader: r.Name}
		if r.present() {
			st.Flags = pcsc.FlagPresent
			st.ATR = slices.Clone(atr)
		}
		if r.Mute {
			st.Flags |= scard.StateMute
		}
		out = append(out, st)
	}
	return out, nil
}

// Open implements cards.Backend. Every call is recorded (see Opened); a
// reader not attached reports pcsc.ErrUnknownReader, an empty one
// pcsc.ErrNoCard.
func (b *Backend) Open(reader string, _ *card.Cache) (cards.Token, func(), error) {
	b.mu.Lock()
	b.opened = append(b.opened, reader)
	b.mu.Unlock()
	for _, r := range b.Attached {
		switch {
		case r.Name != reader:
		case r.OpenErr != nil:
			return nil, nil, r.OpenErr
		case r.Card != nil:
			return r.Card, func() {
				b.mu.Lock()
				b.closed++
				b.mu.Unlock()
			}, nil
		default:
			return nil, nil, fmt.Errorf("open %s: %w", reader, pcsc.ErrNoCard)
		}
	}
	return nil, nil, fmt.Errorf("open %s: %w", reader, pcsc.ErrUnknownReader)
}

// Opened returns the readers Open was asked for, in order, whether or not
// the card opened.
func (b *Backend) Opened() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.opened)
}

// Closed returns how many times a connection Open handed out was closed.
func (b *Backend) Closed() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Leaked returns the connections opened successfully and never closed.
func (b *Backend) Leaked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	ok := 0
	for _, name := range b.opened {
		for _, r := range b.Attached {
			if r.Name == name && r.Card != nil && r.OpenErr == nil {
				ok++
			}
		}
	}
	return ok - b.closed
}
