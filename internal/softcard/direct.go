package softcard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The direct transport serves the card without pcscd: the card listens on
// a loopback address and the host (configured with virtualReader) dials it
// and plays the reader's part of the vpcd protocol. It is how the demo
// runs on a computer without a smart-card service. Only the roles of
// dialling and listening differ from vpcd; the messages are the same.

// Listen serves the card on ln to one direct client at a time, which gives
// each connection the exclusive use a PC/SC transaction would. While the
// card is removed a client's connection is closed at once, which the
// client reads as "no card". Listen returns when ctx ends.
func (s *Server) Listen(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.listening = true
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		s.mu.Lock()
		if !s.inserted {
			s.mu.Unlock()
			conn.Close()
			continue
		}
		s.conn = conn
		s.mu.Unlock()
		err = s.serve(conn)
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		conn.Close()
		s.log.Debug("direct client done", "reason", err)
		if errors.Is(err, errRemoved) {
			s.card.Reset()
		}
	}
}

// ErrNoDirectCard reports that nothing answers at the virtual reader's
// address, or that its card is removed.
var ErrNoDirectCard = errors.New("softcard: no card at the virtual reader")

// ErrDirectCardGone reports that the card went away during a command.
var ErrDirectCardGone = errors.New("softcard: virtual card removed")

// DirectConn is the reader side of a direct connection to a card.
type DirectConn struct {
	conn net.Conn
	atr  []byte
	// until, when set, is the deadline of the handshake (the caller's
	// context); afterwards each exchange gets directTimeout.
	until time.Time
}

// directTimeout bounds each exchange with the virtual card, so a stuck
// card process cannot hang the host.
const directTimeout = 10 * time.Second

// DialDirect connects to the card listening at addr, powers it on and
// reads its ATR.
func DialDirect(ctx context.Context, addr string) (*DirectConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDirectCard, err)
	}
	quickAck(conn)
	dc := &DirectConn{conn: conn}
	if dl, ok := ctx.Deadline(); ok {
		dc.until = dl
	}
	defer func() { dc.until = time.Time{} }()
	if err := dc.send([]byte{vpcdPowerOn}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %w", ErrNoDirectCard, err)
	}
	atr, err := dc.exchange([]byte{vpcdGetATR})
	if err != nil || len(atr) == 0 {
		conn.Close()
		return nil, fmt.Errorf("%w: no ATR", ErrNoDirectCard)
	}
	dc.atr = atr
	return dc, nil
}

// ATR returns the card's answer-to-reset.
func (d *DirectConn) ATR() []byte { return d.atr }

// Transmit sends one command APDU and returns the response.
func (d *DirectConn) Transmit(cmd []byte) ([]byte, error) {
	if len(cmd) < 4 || len(cmd) > 0xFFFF {
		return nil, fmt.Errorf("softcard: command of %d bytes", len(cmd))
	}
	resp, err := d.exchange(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDirectCardGone, err)
	}
	return resp, nil
}

// Close ends the connection (the card is not powered off: other clients
// share it, as with a PC/SC shared connection).
func (d *DirectConn) Close() error { return d.conn.Close() }

func (d *DirectConn) send(msg []byte) error {
	if d.until.IsZero() {
		d.conn.SetDeadline(time.Now().Add(directTimeout))
	} else {
		d.conn.SetDeadline(d.until)
	}
	out := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(out, uint16(len(msg)))
	copy(out[2:], msg)
	_, err := d.conn.Write(out)
	return err
}

func (d *DirectConn) exchange(msg []byte) ([]byte, error) {
	if err := d.send(msg); err != nil {
		return nil, err
	}
	var hdr [2]byte
	if _, err := io.ReadFull(d.conn, hdr[:]); err != nil {
		return nil, err
	}
	resp := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(d.conn, resp); err != nil {
		return nil, err
	}
	quickAck(d.conn)
	return resp, nil
}
