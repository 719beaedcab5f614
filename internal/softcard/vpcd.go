package softcard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/vpcd"
)

// DefaultVPCDAddr is slot 0 of Debian's vpcd (reader "Virtual PCD 00 00").
// vpcd listens on every interface; the card only ever dials loopback.
const DefaultVPCDAddr = "127.0.0.1:35963"

// redialDelay is how long the server waits before dialling vpcd again
// after pcscd went away or was not yet up.
const redialDelay = 200 * time.Millisecond

// Server plugs a Card into pcscd's vpcd reader. The card is "inserted" while
// the server holds a connection to vpcd and "removed" when it closes it,
// which pcscd reports to every client as a card removal.
type Server struct {
	card *Card
	addr string
	log  *slog.Logger

	mu        sync.Mutex
	inserted  bool
	conn      net.Conn
	removeOn  int  // INS that removes the card before it is answered; -1 none
	listening bool // serving direct clients (Listen) instead of vpcd
	delayIns  int  // INS answered only after delay; -1 none
	delay     time.Duration
	wake      chan struct{}
	connected chan struct{} // closed and replaced at each connect
}

// NewServer returns a server for card on the vpcd address addr
// (DefaultVPCDAddr when empty). The card starts inserted.
func NewServer(card *Card, addr string, log *slog.Logger) *Server {
	if addr == "" {
		addr = DefaultVPCDAddr
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{card: card, addr: addr, log: log, inserted: true, removeOn: -1, delayIns: -1,
		wake: make(chan struct{}, 1), connected: make(chan struct{})}
}

// Card returns the card the server serves.
func (s *Server) Card() *Card { return s.card }

// Run connects to vpcd whenever the card is inserted and answers it until
// ctx ends. It returns ctx.Err().
func (s *Server) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	var d net.Dialer
	for ctx.Err() == nil {
		s.mu.Lock()
		in := s.inserted
		s.mu.Unlock()
		if !in {
			select {
			case <-s.wake:
			case <-ctx.Done():
			}
			continue
		}
		conn, err := d.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			s.log.Debug("vpcd dial", "addr", s.addr, "err", err)
			select {
			case <-time.After(redialDelay):
			case <-s.wake:
			case <-ctx.Done():
			}
			continue
		}
		s.mu.Lock()
		if !s.inserted || ctx.Err() != nil {
			s.mu.Unlock()
			conn.Close()
			continue
		}
		s.conn = conn
		close(s.connected)
		s.connected = make(chan struct{})
		s.mu.Unlock()
		s.log.Info("card inserted", "vpcd", s.addr)
		err = s.serve(conn)
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		conn.Close()
		s.card.Reset()
		s.log.Info("card removed", "reason", err)
		if errors.Is(err, io.EOF) && ctx.Err() == nil {
			// pcscd went away; do not spin while it restarts.
			select {
			case <-time.After(redialDelay):
			case <-ctx.Done():
			}
		}
	}
	return ctx.Err()
}

// errRemoved ends serve when the card is removed on purpose.
var errRemoved = errors.New("softcard: removed")

func (s *Server) serve(conn net.Conn) error {
	buf := make([]byte, vpcd.MaxMessage)
	for {
		vpcd.QuickAck(conn)
		msg, err := vpcd.ReadMessage(conn, buf)
		if err != nil {
			return err
		}
		n := len(msg)
		var reply []byte
		switch {
		case n == 1:
			switch msg[0] {
			case vpcd.PowerOff, vpcd.PowerOn, vpcd.Reset:
				s.card.Reset()
				continue
			case vpcd.GetATR:
				reply = s.card.ATR()
			default:
				return fmt.Errorf("softcard: unknown vpcd control %02X", msg[0])
			}
		case n >= 4:
			if s.takeRemoval(msg[1]) {
				return errRemoved
			}
			if d := s.delayFor(msg[1]); d > 0 {
				time.Sleep(d)
			}
			reply, _ = s.card.Transmit(msg)
		default:
			return fmt.Errorf("softcard: vpcd message of %d bytes", n)
		}
		if err := vpcd.WriteMessage(conn, reply); err != nil {
			return err
		}
	}
}

func (s *Server) takeRemoval(ins byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removeOn != int(ins) {
		return false
	}
	s.removeOn = -1
	s.inserted = false
	return true
}

// DelayOn makes the card slow: every command APDU with instruction ins is
// answered only after d (0 turns it off). Tests use it to hold a card
// operation open, as a slow card or a PIN pad would.
func (s *Server) DelayOn(ins byte, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delayIns, s.delay = int(ins), d
	if d == 0 {
		s.delayIns = -1
	}
}

func (s *Server) delayFor(ins byte) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delayIns != int(ins) {
		return 0
	}
	return s.delay
}

// Insert puts the card back into the reader.
func (s *Server) Insert() {
	s.mu.Lock()
	s.inserted = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Remove pulls the card out of the reader now.
func (s *Server) Remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inserted = false
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// RemoveOn arms a removal in the middle of an operation: the next command
// APDU with instruction ins is not answered and the card is pulled instead.
func (s *Server) RemoveOn(ins byte) {
	s.mu.Lock()
	s.removeOn = int(ins)
	s.mu.Unlock()
}

// Status is what the control endpoint reports.
type Status struct {
	Inserted  bool   `json:"inserted"`
	Connected bool   `json:"connected"`
	APDUs     uint64 `json:"apdus"`
	PINTries  int    `json:"pinTries"`
	PUKTries  int    `json:"pukTries"`
}

// Status returns the server's state.
func (s *Server) Status() Status {
	s.mu.Lock()
	st := Status{Inserted: s.inserted, Connected: s.conn != nil}
	s.mu.Unlock()
	st.APDUs = s.card.APDUs()
	st.PINTries, st.PUKTries = s.card.Tries()
	return st
}

// WaitConnected blocks until the card is connected to vpcd or ctx ends.
func (s *Server) WaitConnected(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.conn != nil {
			s.mu.Unlock()
			return nil
		}
		ch := s.connected
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ControlHandler serves the test controls over HTTP on loopback:
// POST /insert, POST /remove, POST /remove-on?ins=87 (hex),
// POST /delay-on?ins=87&ms=2000, GET /status.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /insert", func(w http.ResponseWriter, r *http.Request) {
		s.Insert()
		s.mu.Lock()
		direct := s.listening
		s.mu.Unlock()
		if direct { // a direct card has no reader connection to wait for
			writeStatus(w, s.Status())
			return
		}
		if err := s.WaitConnected(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeStatus(w, s.Status())
	})
	mux.HandleFunc("POST /remove", func(w http.ResponseWriter, r *http.Request) {
		s.Remove()
		writeStatus(w, s.Status())
	})
	mux.HandleFunc("POST /remove-on", func(w http.ResponseWriter, r *http.Request) {
		ins, err := strconv.ParseUint(r.URL.Query().Get("ins"), 16, 8)
		if err != nil {
			http.Error(w, "ins: two hex digits", http.StatusBadRequest)
			return
		}
		s.RemoveOn(byte(ins))
		writeStatus(w, s.Status())
	})
	mux.HandleFunc("POST /delay-on", func(w http.ResponseWriter, r *http.Request) {
		ins, err := strconv.ParseUint(r.URL.Query().Get("ins"), 16, 8)
		ms, err2 := strconv.ParseUint(r.URL.Query().Get("ms"), 10, 16)
		if err != nil || err2 != nil {
			http.Error(w, "ins: two hex digits; ms: 0-65535", http.StatusBadRequest)
			return
		}
		s.DelayOn(byte(ins), time.Duration(ms)*time.Millisecond)
		writeStatus(w, s.Status())
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, s.Status())
	})
	return mux
}

// Control calls the control endpoint a served card listens on at addr
// (host:port), as ControlHandler takes it (http.MethodPost, "/insert"), and
// returns the card's status: the bench drivers' way to insert, pull and
// count.
func Control(hc *http.Client, addr, method, path string) (Status, error) {
	var st Status
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		return st, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return st, fmt.Errorf("softcard control %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("softcard control %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("softcard control %s: %w", path, err)
	}
	return st, nil
}

func writeStatus(w http.ResponseWriter, st Status) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
