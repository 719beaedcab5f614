package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// virtualReaderName is the reader the configured virtual card appears in.
const virtualReaderName = "CardBridge Virtual Reader"

// virtualBackend reaches the virtual TEST card directly over loopback
// (config virtualReader), for computers without a smart-card service.
type virtualBackend struct {
	addr string

	mu    sync.Mutex
	inUse int    // connections open has handed out and not yet closed
	atr   []byte // the ATR of the card last opened
}

func newVirtualBackend(addr string) *virtualBackend { return &virtualBackend{addr: addr} }

// probeTimeout bounds how long listing readers waits for the virtual card.
const probeTimeout = 500 * time.Millisecond

func (v *virtualBackend) states() ([]pcsc.ReaderState, error) {
	st := pcsc.ReaderState{Reader: virtualReaderName}
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
	dc, err := softcard.DialDirect(ctx, v.addr)
	if err == nil {
		st.ATR = dc.ATR()
		st.Flags = pcsc.FlagPresent
		dc.Close()
	}
	return []pcsc.ReaderState{st}, nil
}

func (v *virtualBackend) open(reader string, cache *card.Cache) (*card.PIV, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	dc, err := softcard.DialDirect(ctx, v.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", reader, pcsc.ErrNoCard)
	}
	v.mu.Lock()
	v.inUse++
	v.atr = dc.ATR()
	v.mu.Unlock()
	closeCard := func() {
		dc.Close()
		v.mu.Lock()
		v.inUse--
		v.mu.Unlock()
	}
	id := card.Identity{Reader: reader, ATR: dc.ATR()}
	return card.NewPIV(directConn{dc}, id, cache), closeCard, nil
}

// directConn reports a virtual card that went away as a removed card.
type directConn struct{ dc *softcard.DirectConn }

func (d directConn) Transmit(cmd []byte) ([]byte, error) {
	resp, err := d.dc.Transmit(cmd)
	if errors.Is(err, softcard.ErrDirectCardGone) {
		return nil, fmt.Errorf("%w: %w", err, pcsc.ErrCardRemoved)
	}
	return resp, err
}
