package softcard

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/vpcd"
)

// ioTimeout bounds every read, write and accept of the fake vpcd, so a
// broken server fails the test instead of hanging it.
const ioTimeout = 5 * time.Second

// fakeVPCD is the reader side of the vpcd protocol: it listens where the
// server dials (a free loopback port, never vpcd's own) and speaks the
// 2-byte big-endian length framing.
type fakeVPCD struct {
	ln *net.TCPListener
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeVPCD{ln: ln.(*net.TCPListener)}
}

func (f *fakeVPCD) addr() string { return f.ln.Addr().String() }

// accept waits for the server to connect.
func (f *fakeVPCD) accept(t *testing.T) *vpcdConn {
	t.Helper()
	f.ln.SetDeadline(time.Now().Add(ioTimeout))
	conn, err := f.ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(ioTimeout))
	return &vpcdConn{conn}
}

type vpcdConn struct{ net.Conn }

func (c *vpcdConn) send(t *testing.T, msg []byte) {
	t.Helper()
	out := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	if _, err := c.Write(append(out, msg...)); err != nil {
		t.Fatalf("vpcd write % X: %v", msg, err)
	}
}

// recv reads one framed message; err is the read error, if any.
func (c *vpcdConn) recv() ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	_, err := io.ReadFull(c, msg)
	return msg, err
}

func (c *vpcdConn) roundTrip(t *testing.T, msg []byte) []byte {
	t.Helper()
	c.send(t, msg)
	r, err := c.recv()
	if err != nil {
		t.Fatalf("vpcd reply to % X: %v", msg, err)
	}
	return r
}

// expectClosed checks that the server closes the connection without a reply.
func (c *vpcdConn) expectClosed(t *testing.T) {
	t.Helper()
	r, err := c.recv()
	if err == nil {
		t.Fatalf("got reply % X, want the connection closed", r)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", ioTimeout)
	}
}

// startServer runs a Server for a fresh test card against f until the
// test ends.
func startServer(t *testing.T, f *fakeVPCD) *Server {
	t.Helper()
	c, _ := newTestCard(t, cardOpts{})
	s := NewServer(c, f.addr(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run() = %v, want context.Canceled", err)
			}
		case <-time.After(ioTimeout):
			t.Errorf("Run did not return after cancel")
		}
	})
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var (
	vpcdGetATRMsg   = []byte{vpcd.GetATR}
	vpcdPowerOffMsg = []byte{vpcd.PowerOff}
	vpcdPowerOnMsg  = []byte{vpcd.PowerOn}
	vpcdResetMsg    = []byte{vpcd.Reset}
)

func TestServerATRAndAPDU(t *testing.T) {
	f := newFakeVPCD(t)
	s := startServer(t, f)
	conn := f.accept(t)

	// Raw bytes on the wire: 00 01 04 asks for the ATR.
	if _, err := conn.Write(h("00 01 04")); err != nil {
		t.Fatal(err)
	}
	atr, err := conn.recv()
	if err != nil {
		t.Fatalf("ATR: %v", err)
	}
	if want := s.Card().ATR(); !bytes.Equal(atr, want) {
		t.Errorf("ATR = % X, want % X", atr, want)
	}

	r := conn.roundTrip(t, selectAID(PIVAID[:9]))
	if !bytes.HasPrefix(r, h("61")) || !bytes.HasSuffix(r, h("90 00")) || !bytes.Equal(r[:len(r)-2], selectTemplate) {
		t.Errorf("SELECT = % X, want % X 90 00", r, selectTemplate)
	}
	r = conn.roundTrip(t, verifyPIN(""))
	if !bytes.Equal(r, h("63 C3")) {
		t.Errorf("VERIFY status = % X, want 63 C3", r)
	}
	if st := s.Status(); !st.Inserted || !st.Connected || st.APDUs != 2 || st.PINTries != 3 || st.PUKTries != 3 {
		t.Errorf("Status() = %+v, want inserted, connected, 2 APDUs, tries 3/3", st)
	}
}

func TestServerPowerControls(t *testing.T) {
	for _, ctl := range []struct {
		name string
		msg  []byte
	}{{"power off", vpcdPowerOffMsg}, {"power on", vpcdPowerOnMsg}, {"reset", vpcdResetMsg}} {
		t.Run(ctl.name, func(t *testing.T) {
			f := newFakeVPCD(t)
			startServer(t, f)
			conn := f.accept(t)
			if r := conn.roundTrip(t, selectAID(PIVAID[:9])); swOf(r) != 0x9000 {
				t.Fatalf("SELECT SW = %04X", swOf(r))
			}
			if r := conn.roundTrip(t, verifyPIN(DefaultPIN)); swOf(r) != 0x9000 {
				t.Fatalf("VERIFY SW = %04X", swOf(r))
			}
			conn.send(t, ctl.msg) // controls get no reply
			if r := conn.roundTrip(t, getData(tagDiscovery, 0)); !bytes.Equal(r, h("6D 00")) {
				t.Errorf("GET DATA after %s = % X, want 6D 00 (PIV deselected)", ctl.name, r)
			}
			conn.roundTrip(t, selectAID(PIVAID[:9]))
			if r := conn.roundTrip(t, verifyPIN("")); !bytes.Equal(r, h("63 C3")) {
				t.Errorf("PIN status after %s = % X, want 63 C3", ctl.name, r)
			}
		})
	}
}

func TestServerBadFramesReconnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"unknown control", []byte{0x07}},
		{"two bytes", []byte{0x00, 0xA4}},
		{"empty", []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVPCD(t)
			s := startServer(t, f)
			conn := f.accept(t)
			conn.send(t, tc.msg)
			conn.expectClosed(t)
			// Still inserted: the server dials again.
			conn = f.accept(t)
			if r := conn.roundTrip(t, vpcdGetATRMsg); !bytes.Equal(r, s.Card().ATR()) {
				t.Errorf("ATR after reconnect = % X", r)
			}
		})
	}
}

func TestServerRemoveOn(t *testing.T) {
	f := newFakeVPCD(t)
	s := startServer(t, f)
	conn := f.accept(t)
	conn.roundTrip(t, selectAID(PIVAID[:9]))
	conn.roundTrip(t, verifyPIN(DefaultPIN))
	before := s.Card().APDUs()

	s.RemoveOn(insGeneralAuth)
	// Other instructions pass.
	if r := conn.roundTrip(t, getData(tagDiscovery, 0)); swOf(r) != 0x9000 {
		t.Fatalf("GET DATA with removal armed: SW %04X", swOf(r))
	}
	conn.send(t, capdu(0, insGeneralAuth, AlgRSA2048, 0x9A, gaData(0x81, make([]byte, 32)), 0))
	conn.expectClosed(t)
	if st := s.Status(); st.Inserted {
		t.Errorf("Status().Inserted = true after the armed removal")
	}
	waitFor(t, "disconnect", func() bool { return !s.Status().Connected })
	if got := s.Card().APDUs() - before; got != 1 {
		t.Errorf("card answered %d APDUs after arming, want 1 (the GENERAL AUTHENTICATE is not answered)", got)
	}

	// Removed: the server does not dial until Insert.
	f.ln.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if c, err := f.ln.Accept(); err == nil {
		c.Close()
		t.Fatalf("server reconnected while removed")
	}

	s.Insert()
	conn = f.accept(t)
	if err := s.WaitConnected(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); !st.Inserted || !st.Connected {
		t.Errorf("Status() after Insert = %+v, want inserted and connected", st)
	}
	// The removal reset the card: PIV is no longer selected, the PIN no
	// longer verified, and the removal is not armed any more.
	if r := conn.roundTrip(t, getData(tagDiscovery, 0)); !bytes.Equal(r, h("6D 00")) {
		t.Errorf("GET DATA after reinsertion = % X, want 6D 00", r)
	}
	conn.roundTrip(t, selectAID(PIVAID[:9]))
	if r := conn.roundTrip(t, capdu(0, insGeneralAuth, AlgRSA2048, 0x9A, gaData(0x81, make([]byte, 32)), 0)); !bytes.Equal(r, h("69 82")) {
		t.Errorf("GENERAL AUTHENTICATE after reinsertion = % X, want 69 82", r)
	}
}

func TestServerRemoveInsert(t *testing.T) {
	f := newFakeVPCD(t)
	s := startServer(t, f)
	conn := f.accept(t)
	conn.roundTrip(t, vpcdGetATRMsg)
	s.Remove()
	if st := s.Status(); st.Inserted {
		t.Errorf("Status() after Remove = %+v, want not inserted", st)
	}
	conn.expectClosed(t)
	waitFor(t, "disconnect", func() bool { return !s.Status().Connected })
	s.Insert()
	conn = f.accept(t)
	if r := conn.roundTrip(t, selectAID(PIVAID)); swOf(r) != 0x9000 {
		t.Errorf("SELECT after Insert: SW %04X", swOf(r))
	}
}

func TestServerReaderGoesAway(t *testing.T) {
	f := newFakeVPCD(t)
	s := startServer(t, f)
	conn := f.accept(t)
	conn.roundTrip(t, selectAID(PIVAID))
	conn.Close() // pcscd stopped
	conn = f.accept(t)
	if st := s.Status(); !st.Inserted {
		t.Errorf("Status().Inserted = false after the reader went away")
	}
	if r := conn.roundTrip(t, getData(tagDiscovery, 0)); !bytes.Equal(r, h("6D 00")) {
		t.Errorf("GET DATA after reconnect = % X, want 6D 00", r)
	}
}

func TestControlHandler(t *testing.T) {
	f := newFakeVPCD(t)
	s := startServer(t, f)
	conn := f.accept(t)
	hs := httptest.NewServer(s.ControlHandler())
	t.Cleanup(hs.Close)
	client := &http.Client{Timeout: ioTimeout}

	do := func(method, path string, wantCode int) Status {
		t.Helper()
		req, err := http.NewRequest(method, hs.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != wantCode {
			t.Fatalf("%s %s: HTTP %d, want %d", method, path, resp.StatusCode, wantCode)
		}
		var st Status
		if wantCode == http.StatusOK {
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
			}
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatalf("%s %s: decode: %v", method, path, err)
			}
		}
		return st
	}

	conn.roundTrip(t, selectAID(PIVAID))
	conn.roundTrip(t, verifyPIN("000000"))
	if st := do("GET", "/status", http.StatusOK); st != (Status{Inserted: true, Connected: true, APDUs: 2, PINTries: 2, PUKTries: 3}) {
		t.Errorf("GET /status = %+v", st)
	}

	// The reply may still say connected: the serving goroutine notices
	// the closed connection a moment later.
	if st := do("POST", "/remove", http.StatusOK); st.Inserted {
		t.Errorf("POST /remove = %+v, want not inserted", st)
	}
	conn.expectClosed(t)
	waitFor(t, "GET /status to show the card disconnected", func() bool {
		return !do("GET", "/status", http.StatusOK).Connected
	})

	// /insert answers once the server is connected again; the listener's
	// backlog completes the connection before Accept.
	if st := do("POST", "/insert", http.StatusOK); !st.Inserted || !st.Connected {
		t.Errorf("POST /insert = %+v, want inserted and connected", st)
	}
	conn = f.accept(t)

	do("POST", "/remove-on?ins=87", http.StatusOK)
	conn.roundTrip(t, selectAID(PIVAID))
	conn.send(t, capdu(0, insGeneralAuth, AlgRSA2048, 0x9A, gaData(0x81, make([]byte, 32)), 0))
	conn.expectClosed(t)
	if st := do("GET", "/status", http.StatusOK); st.Inserted {
		t.Errorf("GET /status after the armed removal = %+v, want not inserted", st)
	}

	for _, bad := range []struct {
		method, path string
		code         int
	}{
		{"POST", "/remove-on", http.StatusBadRequest},
		{"POST", "/remove-on?ins=zz", http.StatusBadRequest},
		{"POST", "/remove-on?ins=187", http.StatusBadRequest},
		{"GET", "/remove", http.StatusMethodNotAllowed},
		{"POST", "/status", http.StatusMethodNotAllowed},
		{"GET", "/nothing", http.StatusNotFound},
	} {
		do(bad.method, bad.path, bad.code)
	}
}

func TestControlInsertCanceled(t *testing.T) {
	// No vpcd: /insert waits for a connection until the request ends.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, _ := newTestCard(t, cardOpts{})
	s := NewServer(c, addr, nil)
	s.Remove()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "/insert", nil)
	rec := httptest.NewRecorder()
	s.ControlHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("POST /insert without vpcd: HTTP %d, want 503", rec.Code)
	}
}
