package nativehost

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// fakeExchangeEnv makes the test binary act as cardbridge-exchange
// `exchange serve` for the relay's fault injection: it records every line
// it reads into the file the variable names and answers by op. The real
// program is tested end to end in internal/integration.
const fakeExchangeEnv = "CARDBRIDGE_TEST_FAKE_EXCHANGE"

func TestMain(m *testing.M) {
	if rec := os.Getenv(fakeExchangeEnv); rec != "" {
		fakeExchange(rec)
		return
	}
	os.Exit(m.Run())
}

func fakeExchange(rec string) {
	f, err := os.OpenFile(rec, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		os.Exit(2)
	}
	defer f.Close()
	fmt.Fprintln(f, "started")
	out := json.NewEncoder(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		f.Write(append(sc.Bytes(), '\n'))
		var req struct {
			ID   int64
			Op   string
			Args map[string]any
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			out.Encode(map[string]any{"error": map[string]any{"code": "ERR_BAD_MESSAGE", "message": err.Error()}})
			continue
		}
		answer := func(v any) { out.Encode(map[string]any{"id": req.ID, "result": v}) }
		fail := func(code, msg string, details map[string]any) {
			out.Encode(map[string]any{"id": req.ID, "error": map[string]any{"code": code, "message": msg, "details": details}})
		}
		fmt.Fprintln(os.Stderr, "op", req.Op)
		switch req.Op {
		case "status":
			answer(map[string]any{"loggedIn": false})
		case "login":
			if req.Args["pin"] != "123456" {
				fail("ERR_PIN_INCORRECT", "wrong PIN", map[string]any{"triesLeft": 2})
				continue
			}
			answer(map[string]any{"agency": "XC04595252"})
		case "sync":
			out.Encode(map[string]any{"event": "synced", "data": map[string]any{"report": map[string]any{"received": []string{"P1"}}}})
			answer(map[string]any{"received": []string{"P1"}})
		case "list":
			answer([]string{strings.Repeat("x", 2<<20)}) // larger than a browser takes
		case "markRead":
			fail("ERR_SOMETHING_NEW", "收文資料夾不存在 / the archive folder is gone", nil)
		case "show":
			fmt.Println("not json")
			answer(map[string]any{"ok": true})
		case "print":
			os.Exit(3) // a crash in the middle of a request
		case "settings":
			time.Sleep(time.Hour) // a hang: the request's own deadline ends it
		default:
			fail("ERR_BAD_ARGUMENT", "unknown request", nil)
		}
	}
	fmt.Fprintln(f, "input closed")
}

// relaySession is a plain-mode session with the fake exchange program.
type relaySession struct {
	t    *testing.T
	in   *io.PipeWriter
	msgs chan map[string]any
	done chan int
	rec  string
	errb *strings.Builder
}

func startRelaySession(t *testing.T, program func() (string, error)) *relaySession {
	t.Helper()
	t.Setenv("CARDBRIDGE_CONFIG", filepath.Join(t.TempDir(), "none.json"))
	rec := filepath.Join(t.TempDir(), "lines")
	t.Setenv(fakeExchangeEnv, rec)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &relaySession{t: t, in: inW, msgs: make(chan map[string]any, 64), done: make(chan int, 1), rec: rec, errb: &strings.Builder{}}
	o := Options{Caller: Terminal, Plain: true, Version: "test", ExchangeProgram: program,
		NewAgent: func(cfg config.Config, log *slog.Logger) Agent {
			return NewCardAgent(cards.New(cards.Options{Backends: []cards.Backend{}}), cfg, "test", false)
		}}
	var errMu syncWriter
	errMu.b = s.errb
	go func() { s.done <- Serve(o, inR, outW, &errMu); outW.Close() }()
	go func() {
		dec := json.NewDecoder(outR)
		for {
			var m map[string]any
			if dec.Decode(&m) != nil {
				close(s.msgs)
				return
			}
			s.msgs <- m
		}
	}()
	require.Equal(t, "hello", s.next()["event"])
	return s
}

// syncWriter is a strings.Builder several goroutines may write.
type syncWriter struct {
	mu chan struct{}
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	if w.mu == nil {
		w.mu = make(chan struct{}, 1)
	}
	w.mu <- struct{}{}
	defer func() { <-w.mu }()
	return w.b.Write(p)
}

func (s *relaySession) next() map[string]any {
	s.t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(30 * time.Second):
		s.t.Fatal("no message from the host")
	}
	return nil
}

// ask sends a request and returns its reply, and the events before it.
func (s *relaySession) ask(line string) (reply map[string]any, events []map[string]any) {
	s.t.Helper()
	_, err := io.WriteString(s.in, line+"\n")
	require.NoError(s.t, err)
	for {
		m := s.next()
		if _, ok := m["event"]; ok {
			events = append(events, m)
			continue
		}
		return m, events
	}
}

func codeOf(m map[string]any) string {
	if e, ok := m["error"].(map[string]any); ok {
		return e["code"].(string)
	}
	return ""
}

func TestExchangeRelay(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	s := startRelaySession(t, func() (string, error) { return self, nil })

	r, _ := s.ask(`{"id":1,"command":"exchange","args":{"op":"status"}}`)
	assert.Equal(t, map[string]any{"loggedIn": false}, r["result"])

	// The PIN goes into the request's own args, and nowhere else.
	r, _ = s.ask(`{"id":2,"command":"exchange","args":{"op":"login","args":{"reader":"R 00"},"pin":"654321"}}`)
	assert.Equal(t, "ERR_PIN_INCORRECT", codeOf(r))
	assert.EqualValues(t, 2, r["error"].(map[string]any)["details"].(map[string]any)["triesLeft"])
	r, _ = s.ask(`{"id":3,"command":"exchange","args":{"op":"login","args":{},"pin":"123456"}}`)
	assert.Equal(t, map[string]any{"agency": "XC04595252"}, r["result"])

	// Events arrive as the host's exchange event.
	r, ev := s.ask(`{"id":4,"command":"exchange","args":{"op":"sync"}}`)
	require.Len(t, ev, 1)
	assert.Equal(t, "exchange", ev[0]["event"])
	assert.Equal(t, "synced", ev[0]["data"].(map[string]any)["name"])
	assert.NotNil(t, r["result"])

	// An answer larger than a browser takes; a code the host does not
	// know; a line that is not JSON before the answer.
	r, _ = s.ask(`{"id":5,"command":"exchange","args":{"op":"list"}}`)
	assert.Equal(t, "ERR_RESPONSE_TOO_LARGE", codeOf(r))
	r, _ = s.ask(`{"id":6,"command":"exchange","args":{"op":"markRead","args":{"id":"P1"}}}`)
	assert.Equal(t, "ERR_EXCHANGE_FAILED", codeOf(r))
	assert.Contains(t, r["error"].(map[string]any)["details"].(map[string]any)["reason"], "收文資料夾不存在")
	r, _ = s.ask(`{"id":7,"command":"exchange","args":{"op":"show","args":{"id":"P1"}}}`)
	assert.Equal(t, map[string]any{"ok": true}, r["result"])

	// Refused before the program sees them: a page's origin, an op not on
	// the list, a PIN where none is asked.
	for _, line := range []string{
		`{"id":8,"command":"exchange","origin":"https://evil.example","args":{"op":"status"}}`,
		`{"id":8,"command":"exchange","args":{"op":"rm -rf"}}`,
		`{"id":8,"command":"exchange","args":{"op":"list","pin":"123456"}}`,
		`{"id":8,"command":"exchange","args":{"op":"list","args":"x"}}`,
	} {
		r, _ = s.ask(line)
		assert.Contains(t, []string{"ERR_UNKNOWN_COMMAND", "ERR_BAD_ARGUMENT"}, codeOf(r), line)
	}

	// The program crashes during a request: that request fails, the page
	// hears the session ended, and the next request starts it again.
	r, ev = s.ask(`{"id":9,"command":"exchange","args":{"op":"print","args":{"ids":["P1"]}}}`)
	assert.Equal(t, "ERR_EXCHANGE_UNAVAILABLE", codeOf(r))
	if len(ev) == 0 { // the event may follow the reply
		ev = append(ev, s.next())
	}
	assert.Equal(t, map[string]any{"name": "sessionEnded", "data": map[string]any{"reason": "stopped"}}, ev[0]["data"])
	r, _ = s.ask(`{"id":10,"command":"exchange","args":{"op":"status"}}`)
	assert.Equal(t, map[string]any{"loggedIn": false}, r["result"])

	// The session's end closes the program's input (it logs out then).
	s.in.Close()
	require.Equal(t, 0, <-s.done)
	lines, err := os.ReadFile(s.rec)
	require.NoError(t, err)
	text := string(lines)
	assert.Equal(t, 2, strings.Count(text, "started\n"), "started again after the crash")
	assert.True(t, strings.HasSuffix(text, "input closed\n"), "the program saw its input end:\n%s", text)
	assert.Contains(t, text, `"op":"login","args":{"pin":"654321","reader":"R 00"}`)
	assert.Contains(t, text, `"op":"login","args":{"pin":"123456"}`)
	assert.NotContains(t, text, `"op":"rm -rf"`)
	assert.NotContains(t, s.errb.String(), "654321", "no PIN in the host's log")
	assert.NotContains(t, s.errb.String(), "123456", "no PIN in the host's log")
	assert.Contains(t, s.errb.String(), "exchange program started")
}

// Without the program installed, exchange requests say so; other commands
// go on.
func TestExchangeRelayProgramMissing(t *testing.T) {
	s := startRelaySession(t, func() (string, error) {
		return "", fmt.Errorf("找不到公文交換程式 / not installed")
	})
	r, _ := s.ask(`{"id":1,"command":"exchange","args":{"op":"status"}}`)
	assert.Equal(t, "ERR_EXCHANGE_UNAVAILABLE", codeOf(r))
	r, _ = s.ask(`{"id":2,"command":"version"}`)
	assert.Empty(t, codeOf(r))
	s.in.Close()
	require.Equal(t, 0, <-s.done)
}

// A program that never answers holds only its request, until the
// request's deadline; closing the relay kills it after exchangeStopWait.
func TestExchangeRelayHungProgram(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	t.Setenv(fakeExchangeEnv, filepath.Join(t.TempDir(), "lines"))
	var events []string
	r := &exchangeRelay{program: func() (string, error) { return self, nil }, log: slog.New(slog.DiscardHandler),
		emit: func(name string, _ any) { events = append(events, name) }}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = r.Do(ctx, &protocol.ExchangeArgs{Op: "settings"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	start := time.Now()
	r.Close()
	assert.Less(t, time.Since(start), exchangeStopWait+5*time.Second)
	assert.GreaterOrEqual(t, time.Since(start), exchangeStopWait, "killed only after the wait")
	assert.Empty(t, events, "a stop the host asked for is no news to the page")
}
