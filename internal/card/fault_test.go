package card

import (
	"bytes"
	"crypto"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

var errInjected = errors.New("injected transport failure")

// faulty passes commands to conn until fault returns a response or an
// error for one of them.
type faulty struct {
	conn  Conn
	mu    sync.Mutex
	sent  int
	fault func(n int, cmd []byte) (resp []byte, err error, inject bool)
}

func (f *faulty) Transmit(cmd []byte) ([]byte, error) {
	f.mu.Lock()
	f.sent++
	n := f.sent
	f.mu.Unlock()
	if resp, err, ok := f.fault(n, cmd); ok {
		return resp, err
	}
	return f.conn.Transmit(cmd)
}

// failOnINS injects err at the first command with instruction ins.
func failOnINS(ins byte, err error) func(int, []byte) ([]byte, error, bool) {
	done := false
	return func(_ int, cmd []byte) ([]byte, error, bool) {
		if !done && len(cmd) >= 2 && cmd[1] == ins {
			done = true
			return nil, err, true
		}
		return nil, nil, false
	}
}

// withTimeout runs f and fails the test if it does not return in time.
func withTimeout(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("operation did not return within %v", d)
	}
}

func TestTransportErrorMidGetResponse(t *testing.T) {
	tests := []struct {
		name string
		do   func(t *testing.T, p *PIV, ids map[Slot]string) error
	}{
		{"Certificates", func(t *testing.T, p *PIV, _ map[Slot]string) error {
			_, err := p.Certificates()
			return err
		}},
		{"Sign", func(t *testing.T, p *PIV, ids map[Slot]string) error {
			_, err := p.Sign(ids[SlotAuthentication], digestOf(crypto.SHA256, "x"), crypto.SHA256, goodPIN)
			return err
		}},
		{"Decrypt", func(t *testing.T, p *PIV, ids map[Slot]string) error {
			_, err := p.Decrypt(ids[SlotKeyManagement], make([]byte, 256), nil, goodPIN)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, p0, _ := newTestCard(t, cardOpts{})
			ids := map[Slot]string{}
			for _, s := range []Slot{SlotAuthentication, SlotKeyManagement} {
				ids[s] = certBySlot(t, p0, s).ID
			}
			f := &faulty{conn: sc, fault: failOnINS(0xC0, errInjected)}
			cache := p0.cache
			if tc.name == "Certificates" {
				cache = nil
			}
			p := NewPIV(f, p0.Identity(), cache)
			err := tc.do(t, p, ids)
			if !errors.Is(err, errInjected) {
				t.Errorf("%s with a transport failure in GET RESPONSE = %v, want the injected error", tc.name, err)
			}
			if errors.Is(err, ErrNotPIV) || errors.Is(err, ErrDecrypt) {
				t.Errorf("%s = %v: a transport failure must not look like a card answer", tc.name, err)
			}
		})
	}
}

func TestTransportErrorAtSelect(t *testing.T) {
	s := newScript(t, exchange{cmd: selectCmd, err: errInjected})
	_, err := NewPIV(s, Identity{}, nil).Certificates()
	if !errors.Is(err, errInjected) || errors.Is(err, ErrNotPIV) {
		t.Errorf("Certificates() = %v, want the injected error and not ErrNotPIV", err)
	}
	s.finish()
}

// forever answers SELECT with 9000 and everything else with data and 61 00.
type forever struct {
	data  []byte
	mu    sync.Mutex
	count int
}

func (f *forever) Transmit(cmd []byte) ([]byte, error) {
	f.mu.Lock()
	f.count++
	f.mu.Unlock()
	if len(cmd) > 1 && cmd[1] == insSelect {
		return []byte{0x90, 0x00}, nil
	}
	return append(bytes.Clone(f.data), 0x61, 0x00), nil
}

func TestEndlessGetResponse(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		maxSent int
	}{
		{"no data", nil, 1 + 1 + 512},
		{"256 bytes each", bytes.Repeat([]byte{0xAB}, 256), 1 + 1 + apdu.MaxResponse/256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &forever{data: tc.data}
			var err error
			withTimeout(t, 10*time.Second, func() {
				_, err = NewPIV(f, Identity{}, nil).Certificates()
			})
			if !errors.Is(err, apdu.ErrMalformed) {
				t.Errorf("Certificates() from a card that answers 61 00 forever = %v, want apdu.ErrMalformed", err)
			}
			if f.count > tc.maxSent {
				t.Errorf("client sent %d commands, want at most %d", f.count, tc.maxSent)
			}
		})
	}
}

func TestWrongLeResend(t *testing.T) {
	chuid := "30 02 D4 D4 34 10 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF 3E 00 FE 00"
	obj := "53 1A " + chuid
	s := newScript(t,
		exchange{cmd: selectCmd, resp: "90 00"},
		exchange{cmd: "00 CB 3F FF 05 5C 03 5F C1 02 00", resp: "6C 1C"},
		exchange{cmd: "00 CB 3F FF 05 5C 03 5F C1 02 1C", resp: obj + "90 00"},
	)
	got, err := NewPIV(s, Identity{}, nil).CHUID()
	if err != nil {
		t.Fatalf("CHUID() error: %v", err)
	}
	if !bytes.Equal(got, h(chuid)) {
		t.Errorf("CHUID() = % X, want %s", got, chuid)
	}
	if g := GUIDOf(got); g != "00112233445566778899aabbccddeeff" {
		t.Errorf("GUIDOf = %q", g)
	}
	s.finish()
}

func TestWrongLeThenMoreData(t *testing.T) {
	// 6Cxx, then the resent command is answered in part with 61xx.
	s := newScript(t,
		exchange{cmd: selectCmd, resp: "90 00"},
		exchange{cmd: "00 CB 3F FF 05 5C 03 5F C1 02 00", resp: "6C 06"},
		exchange{cmd: "00 CB 3F FF 05 5C 03 5F C1 02 06", resp: "53 04 34 02 61 02"},
		exchange{cmd: "00 C0 00 00 02", resp: "AB CD 90 00"},
	)
	got, err := NewPIV(s, Identity{}, nil).CHUID()
	if err != nil || !bytes.Equal(got, h("34 02 AB CD")) {
		t.Errorf("CHUID() = % X, %v, want 34 02 AB CD", got, err)
	}
	s.finish()
}

func TestMalformedResponses(t *testing.T) {
	tests := []struct {
		name string
		resp string
		want error
	}{
		{"one byte", "90", apdu.ErrMalformed},
		{"empty", "", apdu.ErrMalformed},
		{"no 53", "7E 00 90 00", apdu.ErrMalformed},
		{"truncated TLV", "53 10 00 90 00", apdu.ErrMalformed},
		{"not found", "6A 82", apdu.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t,
				exchange{cmd: selectCmd, resp: "90 00"},
				exchange{cmd: "00 CB 3F FF 05 5C 03 5F C1 02 00", resp: tc.resp},
			)
			if _, err := NewPIV(s, Identity{}, nil).CHUID(); !errors.Is(err, tc.want) {
				t.Errorf("CHUID() with response %q = %v, want %v", tc.resp, err, tc.want)
			}
			s.finish()
		})
	}
}

func TestChainRefused(t *testing.T) {
	// The card refuses the first part of a chained GENERAL AUTHENTICATE:
	// the client stops there and reports the card's word.
	sc, p0, _ := newTestCard(t, cardOpts{})
	id := certBySlot(t, p0, SlotAuthentication).ID
	var cmds [][]byte
	f := &faulty{conn: sc, fault: func(_ int, cmd []byte) ([]byte, error, bool) {
		cmds = append(cmds, bytes.Clone(cmd))
		if cmd[0] == 0x10 {
			return []byte{0x6A, 0x80}, nil, true
		}
		return nil, nil, false
	}}
	_, err := NewPIV(f, p0.Identity(), p0.cache).Sign(id, digestOf(crypto.SHA256, "x"), crypto.SHA256, goodPIN)
	if !errors.Is(err, apdu.ErrWrongData) {
		t.Errorf("Sign() with the chain refused = %v, want apdu.ErrWrongData", err)
	}
	// The PIN's verified state is reset even though the signature failed.
	if got, want := insList(cmds), "A4 20 87 20"; got != want {
		t.Errorf("commands sent: %s, want %s (nothing after the refused part but the PIN reset)", got, want)
	}
}

func TestBadGeneralAuthenticateResponse(t *testing.T) {
	sc, p0, _ := newTestCard(t, cardOpts{})
	id := certBySlot(t, p0, SlotAuthentication).ID
	for _, resp := range []string{"90 00", "7C 00 90 00", "82 02 01 02 90 00", "7C 04 81 02 01 02 90 00", "7C 05 82 04 01 90 00"} {
		t.Run(resp, func(t *testing.T) {
			f := &faulty{conn: sc, fault: func(_ int, cmd []byte) ([]byte, error, bool) {
				if cmd[0] == 0x00 && cmd[1] == insGeneralAuth {
					return h(resp), nil, true
				}
				return nil, nil, false
			}}
			_, err := NewPIV(f, p0.Identity(), p0.cache).Sign(id, digestOf(crypto.SHA256, "x"), crypto.SHA256, goodPIN)
			if !errors.Is(err, apdu.ErrMalformed) {
				t.Errorf("Sign() with GENERAL AUTHENTICATE answered %s = %v, want apdu.ErrMalformed", resp, err)
			}
		})
	}
}

// Transactor support: each operation is one transaction.
type txConn struct {
	Conn
	log []string
	err error
}

func (c *txConn) Begin() error { c.log = append(c.log, "begin"); return c.err }
func (c *txConn) End() error   { c.log = append(c.log, "end"); return nil }

func TestTransactions(t *testing.T) {
	sc, _, _ := newTestCard(t, cardOpts{})
	t.Run("one per operation", func(t *testing.T) {
		c := &txConn{Conn: sc}
		p := NewPIV(c, Identity{Reader: testReader, Events: 1}, nil)
		if _, err := p.PINStatus(); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyPIN(badPIN); err == nil {
			t.Fatal("VerifyPIN(bad) succeeded")
		}
		if got := len(c.log); got != 4 || c.log[0] != "begin" || c.log[3] != "end" {
			t.Errorf("transactions: %v, want begin end begin end", c.log)
		}
	})
	t.Run("begin fails", func(t *testing.T) {
		before := sc.APDUs()
		c := &txConn{Conn: sc, err: errInjected}
		if _, err := NewPIV(c, Identity{}, nil).PINStatus(); !errors.Is(err, errInjected) {
			t.Errorf("PINStatus() with Begin failing = %v, want the injected error", err)
		}
		if n := sc.APDUs() - before; n != 0 {
			t.Errorf("%d APDUs sent after Begin failed", n)
		}
		if len(c.log) != 1 {
			t.Errorf("transactions: %v, want only begin", c.log)
		}
	})
}
