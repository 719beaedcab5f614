package cards

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/vpcd"
)

// VirtualReaderName is the reader the configured virtual card appears in.
const VirtualReaderName = "CardBridge Virtual Reader"

// IsVirtualReader reports whether reader is a virtual reader: the direct
// virtual reader, or a reader of vsmartcard's vpcd driver ("Virtual PCD
// 00 00"), whose card is whatever program connects to it. A card there is
// a TEST card, and the PIN window says so.
func IsVirtualReader(reader string) bool {
	return reader == VirtualReaderName || strings.HasPrefix(reader, "Virtual PCD ")
}

// Virtual reaches the virtual TEST card directly over loopback
// (configuration virtualReader), for computers without a smart-card
// service. It dials the card with internal/vpcd and never links the
// virtual card itself.
type Virtual struct {
	addr string

	mu    sync.Mutex
	inUse int    // connections Open is opening or has handed out and not yet closed
	atr   []byte // the ATR of the card last opened
}

// Source implements Sourced.
func (v *Virtual) Source() Source { return Source{Kind: "virtual"} }

// NewVirtual returns the backend of the virtual card listening at addr.
func NewVirtual(addr string) *Virtual { return &Virtual{addr: addr} }

// probeTimeout bounds how long listing readers waits for the virtual card.
const probeTimeout = 500 * time.Millisecond

// Readers implements Backend: one reader, with a card when the virtual
// card answers.
func (v *Virtual) Readers() ([]pcsc.ReaderState, error) {
	st := pcsc.ReaderState{Reader: VirtualReaderName}
	// The card serves one connection at a time, so a probe would wait for
	// the request that holds it; that request shows the card is there.
	v.mu.Lock()
	if v.inUse > 0 {
		st.ATR, st.Flags = v.atr, pcsc.FlagPresent
		v.mu.Unlock()
		return []pcsc.ReaderState{st}, nil
	}
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if c, err := vpcd.Dial(ctx, v.addr); err == nil {
		st.ATR = c.ATR()
		st.Flags = pcsc.FlagPresent
		c.Close()
		return []pcsc.ReaderState{st}, nil
	}
	// The probe may have queued behind a request that took the card
	// meanwhile: that request shows the card is there.
	v.mu.Lock()
	if v.inUse > 0 {
		st.ATR, st.Flags = v.atr, pcsc.FlagPresent
	}
	v.mu.Unlock()
	return []pcsc.ReaderState{st}, nil
}

// Open implements Backend.
func (v *Virtual) Open(reader string, cache *card.Cache) (Token, func(), error) {
	// Counted from before the dial, so a listing that starts meanwhile
	// does not take a card being opened for a missing one.
	v.mu.Lock()
	v.inUse++
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	c, err := vpcd.Dial(ctx, v.addr)
	if err != nil {
		v.mu.Lock()
		v.inUse--
		v.mu.Unlock()
		return nil, nil, fmt.Errorf("open %s: %w", reader, pcsc.ErrNoCard)
	}
	v.mu.Lock()
	v.atr = c.ATR()
	v.mu.Unlock()
	closeCard := func() {
		c.Close()
		v.mu.Lock()
		v.inUse--
		v.mu.Unlock()
	}
	id := card.Identity{Reader: reader, ATR: c.ATR()}
	return openToken(virtualConn{c}, id, cache), closeCard, nil
}

// virtualConn reports a virtual card that went away as a removed card.
type virtualConn struct{ c *vpcd.Conn }

func (d virtualConn) Transmit(cmd []byte) ([]byte, error) {
	resp, err := d.c.Transmit(cmd)
	if errors.Is(err, vpcd.ErrCardGone) {
		return nil, fmt.Errorf("%w: %w", err, pcsc.ErrCardRemoved)
	}
	return resp, err
}
