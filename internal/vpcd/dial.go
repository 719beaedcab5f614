package vpcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// The direct transport serves the virtual card without pcscd: the card
// listens on a loopback address and the host dials it and plays the
// reader's part of the protocol. Only the roles of dialling and listening
// differ from vpcd; the messages are the same.

// ErrNoCard reports that nothing answers at the virtual reader's address,
// or that its card is removed.
var ErrNoCard = errors.New("vpcd: no card at the virtual reader")

// ErrCardGone reports that the card went away during a command.
var ErrCardGone = errors.New("vpcd: virtual card removed")

// Conn is the reader side of a direct connection to a card.
type Conn struct {
	conn net.Conn
	atr  []byte
	buf  []byte
	// until, when set, is the deadline of the handshake (the caller's
	// context); afterwards each exchange gets exchangeTimeout.
	until time.Time
}

// exchangeTimeout bounds each exchange with the virtual card, so a stuck
// card process cannot hang the host.
const exchangeTimeout = 10 * time.Second

// Dial connects to the card listening at addr, powers it on and reads its
// ATR, all within ctx.
func Dial(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCard, err)
	}
	quickAck(conn)
	c := &Conn{conn: conn}
	if dl, ok := ctx.Deadline(); ok {
		c.until = dl
	}
	defer func() { c.until = time.Time{} }()
	if err := c.send([]byte{PowerOn}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %w", ErrNoCard, err)
	}
	atr, err := c.exchange([]byte{GetATR})
	if err != nil || len(atr) == 0 {
		conn.Close()
		return nil, fmt.Errorf("%w: no ATR", ErrNoCard)
	}
	c.atr = append([]byte(nil), atr...)
	return c, nil
}

// ATR returns the card's answer-to-reset.
func (c *Conn) ATR() []byte { return c.atr }

// Transmit sends one command APDU and returns the response.
func (c *Conn) Transmit(cmd []byte) ([]byte, error) {
	if len(cmd) < 4 || len(cmd) > MaxMessage {
		return nil, fmt.Errorf("vpcd: command of %d bytes", len(cmd))
	}
	resp, err := c.exchange(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCardGone, err)
	}
	return append([]byte(nil), resp...), nil
}

// Close ends the connection (the card is not powered off: other clients
// share it, as with a PC/SC shared connection).
func (c *Conn) Close() error { return c.conn.Close() }

func (c *Conn) send(msg []byte) error {
	if c.until.IsZero() {
		c.conn.SetDeadline(time.Now().Add(exchangeTimeout))
	} else {
		c.conn.SetDeadline(c.until)
	}
	return WriteMessage(c.conn, msg)
}

func (c *Conn) exchange(msg []byte) ([]byte, error) {
	if err := c.send(msg); err != nil {
		return nil, err
	}
	resp, err := ReadMessage(c.conn, c.buf)
	if err != nil {
		return nil, err
	}
	c.buf = resp[:0]
	quickAck(c.conn)
	return resp, nil
}
