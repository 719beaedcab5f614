package softcard

import (
	"context"
	"errors"
	"net"
)

// The direct transport serves the card without pcscd: the card listens on
// a loopback address and the host (configured with virtualReader) dials it
// with vpcd.Dial and plays the reader's part of the vpcd protocol. It is
// how the demo runs on a computer without a smart-card service.

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
