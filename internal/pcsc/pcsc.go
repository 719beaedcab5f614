package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ebfe/scard"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

// pnpReader is the PC/SC pseudo reader whose state changes when a reader is
// added or removed (pcsc-lite and Windows alike).
const pnpReader = `\\?PnP?\Notification`

// Context is a connection to the smart card service. A Context is used by
// one goroutine at a time, except Cancel-based waits (see WaitChange).
type Context struct {
	c *scard.Context
}

// Establish connects to the smart card service.
func Establish() (*Context, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, wrap("establish context", err)
	}
	return &Context{c: c}, nil
}

// Close releases the context.
func (x *Context) Close() error {
	return wrap("release context", x.c.Release())
}

// Readers lists the connected readers; none is an empty list, not an error.
func (x *Context) Readers() ([]string, error) {
	r, err := x.c.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("list readers", err)
	}
	return r, nil
}

// ReaderState is a reader and the card in it as PC/SC last reported.
type ReaderState struct {
	Reader string
	// Flags are the raw SCARD_STATE_* bits without the event counter.
	Flags scard.StateFlag
	// Events is pcsc-lite's per-reader event counter (upper 16 bits of the
	// event state); it changes on every insertion and removal, so together
	// with the ATR it tells "the same card still in" from "another card".
	// Windows keeps no such counter; it stays 0 there.
	Events int
	ATR    []byte
}

// FlagPresent is the Flags bit of a present card, for readers that are not
// PC/SC's (the host's virtual reader) to describe themselves.
const FlagPresent = scard.StatePresent

// Present reports a card in the reader.
func (s ReaderState) Present() bool { return s.Flags&scard.StatePresent != 0 }

// Mute reports a card that did not answer reset.
func (s ReaderState) Mute() bool { return s.Flags&scard.StateMute != 0 }

// Exclusive reports a card held exclusively by another program.
func (s ReaderState) Exclusive() bool { return s.Flags&scard.StateExclusive != 0 }

// Unavailable reports a reader PC/SC cannot use.
func (s ReaderState) Unavailable() bool {
	return s.Flags&(scard.StateUnavailable|scard.StateUnknown) != 0
}

// Status returns the current state of each reader without waiting.
func (x *Context) Status(readers []string) ([]ReaderState, error) {
	if len(readers) == 0 {
		return nil, nil
	}
	rs := make([]scard.ReaderState, len(readers))
	for i, r := range readers {
		rs[i] = scard.ReaderState{Reader: r, CurrentState: scard.StateUnaware}
	}
	if err := x.c.GetStatusChange(rs, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return nil, wrap("get status", err)
	}
	out := make([]ReaderState, len(rs))
	for i, r := range rs {
		out[i] = toState(r)
	}
	return out, nil
}

// ReaderStates lists the readers with their state: the one "readers, then
// their status" of the code base. No reader is an empty list.
func (x *Context) ReaderStates() ([]ReaderState, error) {
	names, err := x.Readers()
	if err != nil || len(names) == 0 {
		return nil, err
	}
	return x.Status(names)
}

func toState(r scard.ReaderState) ReaderState {
	return ReaderState{
		Reader: r.Reader,
		Flags:  r.EventState & 0xFFFF &^ scard.StateChanged,
		Events: int(uint32(r.EventState) >> 16),
		ATR:    bytes.Clone(r.Atr),
	}
}

// EventKind says what changed.
type EventKind string

// Event kinds, as pushed to the browser later.
const (
	ReaderAdded   EventKind = "readerAdded"
	ReaderRemoved EventKind = "readerRemoved"
	CardInserted  EventKind = "cardInserted"
	CardRemoved   EventKind = "cardRemoved"
)

// Event is one change seen by a Watcher.
type Event struct {
	Kind  EventKind
	State ReaderState
}

// Watcher follows readers and cards with GetStatusChange. It owns its own
// PC/SC context so that cancelling its wait never disturbs card I/O.
type Watcher struct {
	ctx   *Context
	mu    sync.Mutex
	known map[string]ReaderState
}

// NewWatcher establishes the watcher's context and records the current
// state, so that the first Next reports only changes after this call.
func NewWatcher() (*Watcher, error) {
	x, err := Establish()
	if err != nil {
		return nil, err
	}
	w := &Watcher{ctx: x, known: map[string]ReaderState{}}
	readers, err := x.Readers()
	if err != nil {
		x.Close()
		return nil, err
	}
	states, err := x.Status(readers)
	if err != nil {
		x.Close()
		return nil, err
	}
	for _, s := range states {
		w.known[s.Reader] = s
	}
	return w, nil
}

// Close releases the watcher's context.
func (w *Watcher) Close() error { return w.ctx.Close() }

// Known returns the readers as last seen, sorted by name.
func (w *Watcher) Known() []ReaderState {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ReaderState, 0, len(w.known))
	for _, s := range w.known {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ReaderState) int { return strings.Compare(a.Reader, b.Reader) })
	return out
}

// Next blocks until readers or cards change, then returns the changes in
// reader-name order. It returns ctx.Err() when ctx ends: the wait is
// interrupted with SCardCancel, not polled.
func (w *Watcher) Next(ctx context.Context) ([]Event, error) {
	for {
		rs := []scard.ReaderState{{Reader: pnpReader, CurrentState: scard.StateUnaware}}
		for _, s := range w.Known() {
			rs = append(rs, scard.ReaderState{Reader: s.Reader, CurrentState: s.Flags | scard.StateFlag(s.Events<<16)})
		}
		if err := w.wait(ctx, rs); err != nil {
			return nil, err
		}
		evs, err := w.diff()
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 {
			return evs, nil
		}
	}
}

// waitSlice bounds one GetStatusChange of the watcher, so a cancel that
// comes too early to interrupt the call is noticed within this time.
const waitSlice = 500 * time.Millisecond

// wait runs one GetStatusChange. The PnP pseudo reader is first read with
// StateUnaware (which returns at once) and then waited on with its event
// state, as pcsc-lite expects.
func (w *Watcher) wait(ctx context.Context, rs []scard.ReaderState) error {
	if err := w.ctx.c.GetStatusChange(rs[:1], 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return wrap("get status", err)
	}
	rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
	stop := context.AfterFunc(ctx, func() { _ = w.ctx.c.Cancel() })
	defer stop()
	// SCardCancel only stops a call already waiting: a cancel that lands
	// just before GetStatusChange starts would be lost, so the wait is cut
	// into slices and ctx checked between them.
	var err error
	for {
		err = w.ctx.c.GetStatusChange(rs, waitSlice)
		if ctx.Err() != nil || !errors.Is(err, scard.ErrTimeout) {
			break
		}
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, scard.ErrUnknownReader), errors.Is(err, scard.ErrReaderUnavailable):
		return nil // a reader went away while we waited: rescan
	case errors.Is(err, scard.ErrNoReadersAvailable):
		// pcsc-lite answers at once when it has no reader at all; wait
		// for the PnP reader alone (with a bounded pause, since some
		// pcsc-lite builds answer that at once too).
		t := time.NewTimer(250 * time.Millisecond)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		return nil
	case err != nil:
		return wrap("wait for status change", err)
	}
	return nil
}

// diff re-reads the readers and reports what differs from the known state.
func (w *Watcher) diff() ([]Event, error) {
	readers, err := w.ctx.Readers()
	if err != nil {
		return nil, err
	}
	states, err := w.ctx.Status(readers)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var evs []Event
	seen := map[string]bool{}
	for _, s := range states {
		seen[s.Reader] = true
		old, ok := w.known[s.Reader]
		w.known[s.Reader] = s
		if !ok {
			evs = append(evs, Event{Kind: ReaderAdded, State: s})
			if s.Present() {
				evs = append(evs, Event{Kind: CardInserted, State: s})
			}
			continue
		}
		switch {
		case old.Present() && !s.Present():
			evs = append(evs, Event{Kind: CardRemoved, State: s})
		case !old.Present() && s.Present():
			evs = append(evs, Event{Kind: CardInserted, State: s})
		case old.Present() && s.Present() && old.Events != s.Events && (s.Events-old.Events) >= 2:
			// Removed and inserted again between two waits.
			evs = append(evs, Event{Kind: CardRemoved, State: old}, Event{Kind: CardInserted, State: s})
		}
	}
	for name, old := range w.known {
		if seen[name] {
			continue
		}
		delete(w.known, name)
		if old.Present() {
			evs = append(evs, Event{Kind: CardRemoved, State: old})
		}
		evs = append(evs, Event{Kind: ReaderRemoved, State: old})
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return strings.Compare(a.State.Reader, b.State.Reader) })
	return evs, nil
}

// Card is a shared connection to the card in one reader.
type Card struct {
	c      *scard.Card
	ctx    *Context
	reader string
	inTx   bool
}

// Connect opens the card in reader in shared mode with T=0 or T=1, so other
// programs (the Windows minidriver, OpenSC, another browser) can use it too.
func (x *Context) Connect(reader string) (*Card, error) {
	c, err := x.c.Connect(reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return nil, wrap("connect "+reader, err)
	}
	if p := c.ActiveProtocol(); p != scard.ProtocolT0 && p != scard.ProtocolT1 {
		c.Disconnect(scard.LeaveCard)
		return nil, fmt.Errorf("pcsc: connect %s: protocol %d: %w", reader, p, ErrUnresponsiveCard)
	}
	return &Card{c: c, ctx: x, reader: reader}, nil
}

// removalGrace bounds how long removed waits for PC/SC to notice a card
// that vanished in the middle of a command: pcsc-lite polls readers about
// every 400 ms.
const removalGrace = 1500 * time.Millisecond

// removed reports whether the reader turns empty within removalGrace. It
// waits on GetStatusChange, so it returns as soon as PC/SC knows.
func (k *Card) removed() bool {
	rs := []scard.ReaderState{{Reader: k.reader, CurrentState: scard.StateUnaware}}
	if err := k.ctx.c.GetStatusChange(rs, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return true
	}
	if rs[0].EventState&scard.StatePresent == 0 {
		return true
	}
	rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
	if err := k.ctx.c.GetStatusChange(rs, removalGrace); err != nil {
		return !errors.Is(err, scard.ErrTimeout)
	}
	return rs[0].EventState&scard.StatePresent == 0
}

// Reader returns the reader name the card was connected in.
func (k *Card) Reader() string { return k.reader }

// Status returns the card's ATR and the reader's current name.
func (k *Card) ATR() ([]byte, error) {
	st, err := k.c.Status()
	if err != nil {
		return nil, wrap("status", err)
	}
	return bytes.Clone(st.Atr), nil
}

// Transmit sends one raw command APDU. When another program reset the card
// it reconnects and returns ErrCardReset, so the caller selects its
// application again and retries the whole operation (never a PIN VERIFY on
// its own).
func (k *Card) Transmit(cmd []byte) ([]byte, error) {
	r, err := k.c.Transmit(cmd)
	if errors.Is(err, scard.ErrResetCard) {
		if rerr := k.Reconnect(false); rerr != nil {
			return nil, rerr
		}
	}
	if err != nil {
		return nil, wrap("transmit", err)
	}
	if len(r) < 2 {
		// Some reader drivers (vpcd among them) answer a card pulled in
		// the middle of a command with an empty response and no error;
		// ask PC/SC what happened instead of passing garbage up.
		if _, serr := k.c.Status(); serr != nil {
			return nil, wrap("transmit", serr)
		}
		if k.removed() {
			return nil, &Error{Op: "transmit", Code: scard.ErrRemovedCard, kind: ErrCardRemoved}
		}
		return nil, &Error{Op: "transmit", Code: scard.ErrUnresponsiveCard, kind: ErrUnresponsiveCard}
	}
	return r, nil
}

// Exchange sends a command with chaining, GET RESPONSE and 6Cxx handled.
func (k *Card) Exchange(c apdu.Command) (apdu.Response, error) {
	return apdu.Transceive(k, c)
}

// Begin starts a transaction: no other program's APDU comes between this
// and End. Keep transactions to one logical operation.
func (k *Card) Begin() error {
	err := k.c.BeginTransaction()
	if errors.Is(err, scard.ErrResetCard) {
		if err = k.Reconnect(false); err == nil {
			err = k.c.BeginTransaction()
		}
	}
	if err != nil {
		return wrap("begin transaction", err)
	}
	k.inTx = true
	return nil
}

// End ends the transaction, leaving the card as it is.
func (k *Card) End() error {
	if !k.inTx {
		return nil
	}
	k.inTx = false
	return wrap("end transaction", k.c.EndTransaction(scard.LeaveCard))
}

// Reconnect re-establishes the connection after a reset; with reset true it
// resets the card itself (which also clears its PIN status).
func (k *Card) Reconnect(reset bool) error {
	disp := scard.LeaveCard
	if reset {
		disp = scard.ResetCard
	}
	return wrap("reconnect", k.c.Reconnect(scard.ShareShared, scard.ProtocolAny, disp))
}

// Close ends any transaction and disconnects, leaving the card powered.
func (k *Card) Close() error {
	_ = k.End()
	return wrap("disconnect", k.c.Disconnect(scard.LeaveCard))
}
