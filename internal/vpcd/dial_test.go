package vpcd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testATR is what the fake card answers to GetATR.
var testATR = []byte{0x3B, 0x8B, 0x01, 0x80, 0xF9, 0xA0, 0x00, 0x00, 0x03, 0x08}

// fakeCard is the card's side of the direct transport, played by the test:
// it listens on loopback, records every message, and answers as its
// handler says.
type fakeCard struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs [][]byte
}

// handler answers one message: reply is sent unless it is nil; close ends
// the connection instead.
type handler func(msg []byte) (reply []byte, close bool)

// answering is a well-behaved card: silent on power control, its ATR on
// GetATR, and the command back with 90 00 to an APDU.
func answering(msg []byte) ([]byte, bool) {
	switch {
	case len(msg) == 1 && msg[0] == GetATR:
		return testATR, false
	case len(msg) == 1:
		return nil, false
	}
	return append(bytes.Clone(msg), 0x90, 0x00), false
}

// listenCard serves h on 127.0.0.1:0 until the test ends.
func listenCard(t *testing.T, h handler) (*fakeCard, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &fakeCard{ln: ln}
	var wg sync.WaitGroup
	var connsMu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, conn)
			connsMu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				for {
					msg, err := ReadMessage(conn, nil)
					if err != nil {
						return
					}
					c.mu.Lock()
					c.msgs = append(c.msgs, bytes.Clone(msg))
					c.mu.Unlock()
					reply, closeIt := h(msg)
					if closeIt {
						return
					}
					if reply != nil {
						if err := WriteMessage(conn, reply); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	return c, ln.Addr().String()
}

// received returns the messages the card has read so far.
func (c *fakeCard) received() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.msgs...)
}

// waitReceived waits until the card has read n messages.
func (c *fakeCard) waitReceived(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.received()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return c.received()
}

func dial(t *testing.T, addr string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// Dial plays the reader: it powers the card on, reads its ATR, and then
// exchanges APDUs; each response belongs to the caller, untouched by the
// next exchange.
func TestDialAndTransmit(t *testing.T) {
	card, addr := listenCard(t, answering)
	c := dial(t, addr)
	assert.Equal(t, testATR, c.ATR())
	assert.Equal(t, [][]byte{{PowerOn}, {GetATR}}, card.received(), "handshake")

	first, err := c.Transmit([]byte{0x00, 0xA4, 0x04, 0x00, 0x01, 0xAA})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x00, 0xA4, 0x04, 0x00, 0x01, 0xAA, 0x90, 0x00}, first)
	second, err := c.Transmit([]byte{0x00, 0xCB, 0x3F, 0xFF, 0x01, 0xBB})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x00, 0xCB, 0x3F, 0xFF, 0x01, 0xBB, 0x90, 0x00}, second)
	assert.Equal(t, []byte{0x00, 0xA4, 0x04, 0x00, 0x01, 0xAA, 0x90, 0x00}, first, "first response changed by the second exchange")

	long := append([]byte{0x00, 0x87, 0x07, 0x9A}, pattern(4000)...)
	resp, err := c.Transmit(long)
	require.NoError(t, err)
	assert.Equal(t, append(bytes.Clone(long), 0x90, 0x00), resp)
	assert.Equal(t, testATR, c.ATR(), "ATR changed by an exchange")
}

// A command shorter than an APDU header or longer than a message can be is
// refused without being sent, and the connection stays usable.
func TestTransmitBadLength(t *testing.T) {
	card, addr := listenCard(t, answering)
	c := dial(t, addr)
	for _, cmd := range [][]byte{nil, {0x00}, {0x00, 0xA4, 0x04}, make([]byte, MaxMessage+1)} {
		_, err := c.Transmit(cmd)
		require.Error(t, err, "command of %d bytes", len(cmd))
		assert.NotErrorIs(t, err, ErrCardGone)
	}
	_, err := c.Transmit([]byte{0x00, 0xA4, 0x04, 0x00})
	require.NoError(t, err)
	assert.Len(t, card.received(), 3, "handshake and the one valid APDU")
}

// Every way the handshake can fail is ErrNoCard: nobody listens, the card
// hangs up (a removed softcard does), answers an empty ATR, or never
// answers within the caller's deadline.
func TestDialNoCard(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	nobody := closed.Addr().String()
	require.NoError(t, closed.Close())

	_, hangsUp := listenCard(t, func([]byte) ([]byte, bool) { return nil, true })
	_, emptyATR := listenCard(t, func(msg []byte) ([]byte, bool) {
		if msg[0] == GetATR {
			return []byte{}, false
		}
		return nil, false
	})
	_, hangsUpAtATR := listenCard(t, func(msg []byte) ([]byte, bool) { return nil, msg[0] == GetATR })
	_, silent := listenCard(t, func([]byte) ([]byte, bool) { return nil, false })

	for _, tc := range []struct {
		name    string
		addr    string
		timeout time.Duration
	}{
		{"nothing listening", nobody, 2 * time.Second},
		{"hangs up", hangsUp, 2 * time.Second},
		{"hangs up at GetATR", hangsUpAtATR, 2 * time.Second},
		{"empty ATR", emptyATR, 2 * time.Second},
		{"never answers", silent, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			c, err := Dial(ctx, tc.addr)
			require.ErrorIs(t, err, ErrNoCard)
			assert.Nil(t, c)
			assert.Less(t, time.Since(start), tc.timeout+time.Second, "the handshake outlived the caller's deadline")
		})
	}
}

// The caller's deadline bounds a card that accepts the connection and
// never speaks at all.
func TestDialDeadlineAcceptsAndNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // held open, never read or written
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Dial(ctx, ln.Addr().String())
	require.ErrorIs(t, err, ErrNoCard)
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 100*time.Millisecond, "gave up before the deadline")
	assert.Less(t, elapsed, 2*time.Second)
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(time.Second):
		t.Error("the listener never accepted")
	}
}

// A cancelled context ends Dial before anything is exchanged.
func TestDialCancelled(t *testing.T) {
	card, addr := listenCard(t, answering)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Dial(ctx, addr)
	require.ErrorIs(t, err, ErrNoCard)
	assert.Empty(t, card.received())
}

// The caller's deadline bounds the handshake only: a connection made with
// a short deadline still exchanges APDUs after it has passed.
func TestDialDeadlineEndsWithHandshake(t *testing.T) {
	_, addr := listenCard(t, answering)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	c, err := Dial(ctx, addr)
	require.NoError(t, err)
	defer c.Close()
	<-ctx.Done()
	time.Sleep(20 * time.Millisecond)
	resp, err := c.Transmit([]byte{0x00, 0xA4, 0x04, 0x00})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x00, 0xA4, 0x04, 0x00, 0x90, 0x00}, resp)
}

// A card that goes away during an exchange (before answering, or in the
// middle of its answer) is ErrCardGone, which the host reports as a
// removed card; so is using the connection after Close.
func TestTransmitCardGone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(msg []byte) ([]byte, bool)
	}{
		{"closes before answering", func([]byte) ([]byte, bool) { return nil, true }},
		// A reply whose length promises more than follows, then the end.
		{"closes mid-answer", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addr string
			if tc.answer != nil {
				_, addr = listenCard(t, func(msg []byte) ([]byte, bool) {
					if len(msg) >= 4 {
						return tc.answer(msg)
					}
					return answering(msg)
				})
			} else {
				addr = truncatingCard(t)
			}
			c := dial(t, addr)
			resp, err := c.Transmit([]byte{0x00, 0x87, 0x07, 0x9A})
			require.ErrorIs(t, err, ErrCardGone)
			assert.NotErrorIs(t, err, ErrNoCard)
			assert.Nil(t, resp)
		})
	}

	_, addr := listenCard(t, answering)
	c := dial(t, addr)
	require.NoError(t, c.Close())
	_, err := c.Transmit([]byte{0x00, 0xA4, 0x04, 0x00})
	assert.ErrorIs(t, err, ErrCardGone)
}

// truncatingCard completes the handshake, then answers the first APDU
// with a length of 10 and only 3 bytes, and hangs up.
func truncatingCard(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			msg, err := ReadMessage(conn, nil)
			if err != nil {
				return
			}
			switch {
			case len(msg) == 1 && msg[0] == GetATR:
				WriteMessage(conn, testATR)
			case len(msg) >= 4:
				conn.Write([]byte{0x00, 0x0A, 0x61, 0x00, 0x90})
				return
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// Close hangs up: the card reads the end of the stream.
func TestCloseHangsUp(t *testing.T) {
	gone := make(chan error, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			gone <- err
			return
		}
		defer conn.Close()
		for {
			msg, err := ReadMessage(conn, nil)
			if err != nil {
				gone <- err
				return
			}
			if len(msg) == 1 && msg[0] == GetATR {
				WriteMessage(conn, testATR)
			}
		}
	}()
	c, err := Dial(context.Background(), ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, c.Close())
	select {
	case err := <-gone:
		assert.True(t, errors.Is(err, io.EOF), "card read %v, want the end of the stream", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the card did not see the connection close")
	}
}
