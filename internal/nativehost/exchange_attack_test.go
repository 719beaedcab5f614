package nativehost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/errcode"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// attackExchangeEnv makes the test binary act as a broken or hostile
// cardbridge-exchange; its value is the way it misbehaves. It is read in
// init, before TestMain (exchange_test.go), so that the tests here need no
// change to the fake there. When fakeExchangeEnv names a file, the program
// writes "started" into it.
const attackExchangeEnv = "CARDBRIDGE_TEST_ATTACK_EXCHANGE"

func init() {
	if mode := os.Getenv(attackExchangeEnv); mode != "" {
		attackExchange(mode)
		os.Exit(0)
	}
}

func attackExchange(mode string) {
	if rec := os.Getenv(fakeExchangeEnv); rec != "" {
		if f, err := os.OpenFile(rec, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
			fmt.Fprintln(f, "started")
			f.Close()
		}
	}
	switch mode {
	case "exit":
		return
	case "deaf": // reads nothing, answers nothing
		time.Sleep(time.Hour)
		return
	case "closeout": // closes its output at once, reads on
		os.Stdout.Close()
		io.Copy(io.Discard, os.Stdin)
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var req struct {
			ID   int64
			Op   string
			Args map[string]any
		}
		if json.Unmarshal(sc.Bytes(), &req) != nil {
			continue
		}
		switch mode {
		case "mute": // reads every request, answers none
		case "bytes": // not UTF-8, in an event and in an answer
			fmt.Printf("{\"event\":\"synced\",\"data\":{\"error\":\"\xff\xfe bad\"}}\n")
			fmt.Printf("{\"id\":%d,\"result\":{\"subject\":\"\xc3\x28 \xe6\xb8\"}}\n", req.ID)
		case "unreadable": // details that are not an object
			fmt.Printf("{\"id\":%d,\"error\":{\"code\":\"ERR_EXCHANGE_FAILED\",\"message\":\"m\",\"details\":[1]}}\n", req.ID)
		case "codes": // the error code the request asks for
			b, _ := json.Marshal(map[string]any{"id": req.ID, "error": map[string]any{"code": req.Args["code"], "message": "說什麼都行 / anything", "details": map[string]any{"triesLeft": 1}}})
			fmt.Println(string(b))
		case "late": // answers after a second
			time.Sleep(time.Second)
			fmt.Printf("{\"id\":%d,\"result\":{\"sendId\":\"S1\",\"state\":\"queued\"}}\n", req.ID)
		}
	}
}

// attackRelay is a relay whose program is this test binary in mode.
func attackRelay(t *testing.T, mode string) (*exchangeRelay, *eventLog, string) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	rec := filepath.Join(t.TempDir(), "lines")
	t.Setenv(fakeExchangeEnv, rec)
	t.Setenv(attackExchangeEnv, mode)
	ev := &eventLog{}
	r := &exchangeRelay{program: func() (string, error) { return self, nil }, log: slog.New(slog.DiscardHandler), emit: ev.add}
	return r, ev, rec
}

// eventLog keeps the relay's events.
type eventLog struct {
	mu   sync.Mutex
	list []string
	data []any
}

func (e *eventLog) add(name string, data any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, name)
	e.data = append(e.data, data)
}

func (e *eventLog) names() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

// within runs f and fails the test when it has not returned after d.
func within[T any](t *testing.T, d time.Duration, what string, f func() T) T {
	t.Helper()
	got := make(chan T, 1)
	go func() { got <- f() }()
	select {
	case v := <-got:
		return v
	case <-time.After(d):
		t.Fatalf("%s: still waiting after %s", what, d)
	}
	var zero T
	return zero
}

type doResult struct {
	res any
	err error
}

func doArgs(t *testing.T, raw string) *protocol.ExchangeArgs {
	t.Helper()
	var a protocol.ExchangeArgs
	require.NoError(t, protocol.DecodeArgs(json.RawMessage(raw), &a))
	return &a
}

// Finding 1: line breaks inside args (valid JSON between tokens, which a
// frame may carry) cut the relay's line: the rest of args became a request
// of its own, a login with a PIN nobody typed in the PIN window, and its
// answer, under the id the sender chose (the relay's first id is 1), was
// delivered to the relay's own request 1.
func TestAttackExchangeInjectedLine(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	rec := filepath.Join(t.TempDir(), "lines")
	t.Setenv(fakeExchangeEnv, rec)
	r := &exchangeRelay{program: func() (string, error) { return self, nil }, log: slog.New(slog.DiscardHandler), emit: func(string, any) {}}
	defer r.Close()
	a := doArgs(t, "{\"op\":\"list\",\"args\":{\"a\":\n{\"id\":1,\"op\":\"login\",\"args\":{\"pin\":\"999999\"}}\n}}")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.Do(ctx, a)
	require.NoError(t, err, "the list's answer, not the injected login's")
	assert.NotNil(t, res)
	r.Close()
	lines, err := os.ReadFile(rec)
	require.NoError(t, err)
	var requests []string
	for _, l := range strings.Split(string(lines), "\n") {
		if l != "started" && l != "input closed" && l != "" {
			requests = append(requests, l)
		}
	}
	require.Len(t, requests, 1, "one request, one line:\n%s", lines)
	var got struct{ Op string }
	require.NoError(t, json.Unmarshal([]byte(requests[0]), &got))
	assert.Equal(t, "list", got.Op)
}

// Finding 2: a pin inside args (any case, escaped or not) never reaches the
// program, where encoding/json would take it over the PIN typed in the PIN
// window.
func TestAttackExchangePINInArgsStopsAtTheHost(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	s := startRelaySession(t, func() (string, error) { return self, nil })
	r, _ := s.ask(`{"id":1,"command":"exchange","args":{"op":"status"}}`)
	require.Empty(t, codeOf(r))
	for _, line := range []string{
		`{"id":2,"command":"exchange","args":{"op":"login","args":{"pin":"999999"},"pin":"123456"}}`,
		`{"id":3,"command":"exchange","args":{"op":"login","args":{"PIN":"999999"},"pin":"123456"}}`,
		`{"id":4,"command":"exchange","args":{"op":"login","args":{"p\u0069n":"999999"},"pin":"123456"}}`,
		`{"id":5,"command":"exchange","args":{"op":"list","args":{"pin":"999999"}}}`,
	} {
		r, _ = s.ask(line)
		assert.Equal(t, "ERR_BAD_ARGUMENT", codeOf(r), line)
	}
	s.in.Close()
	require.Equal(t, 0, <-s.done)
	lines, err := os.ReadFile(s.rec)
	require.NoError(t, err)
	assert.NotContains(t, string(lines), "999999")
	assert.NotContains(t, string(lines), "123456")
	assert.NotContains(t, s.errb.String(), "999999")
	assert.NotContains(t, s.errb.String(), "123456")
}

// Finding 3: two answers with one id (a broken program, or one that
// answers a request the host gave up on twice) blocked the reader for
// ever on a channel nobody read: no answer or event after it, and Close,
// which waits for the reader after killing the program, hung the host's
// exit.
func TestAttackExchangeDuplicateAnswers(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	t.Setenv(attackExchangeEnv, "exit")
	cmd := exec.Command(self)
	require.NoError(t, cmd.Start())
	ev := &eventLog{}
	r := &exchangeRelay{log: slog.New(slog.DiscardHandler), emit: ev.add}
	// A request whose Do has stopped waiting (its deadline) and whose
	// deferred delete has not run yet: its channel is still registered.
	ch := make(chan exchangeAnswer, 1)
	p := &exchangeProc{cmd: cmd, wsem: make(chan struct{}, 1), pending: map[int64]chan exchangeAnswer{7: ch}, done: make(chan struct{})}
	out := `{"id":7,"result":{"n":1}}` + "\n" + `{"id":7,"result":{"n":2}}` + "\n" + `{"event":"synced","data":{}}` + "\n"
	go r.read(p, strings.NewReader(out))
	within(t, 10*time.Second, "the reader after two answers with one id", func() bool { <-p.done; return true })
	// sessionEnded is said just after done closes.
	assert.Eventually(t, func() bool { return len(ev.names()) == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"synced", "sessionEnded"}, ev.names(), "the event after them still came")
	assert.JSONEq(t, `{"n":1}`, string((<-ch).Result), "the first answer is the one")
}

// Finding 4: bytes that are not UTF-8 in the program's answers and events
// went into the host's frames as they were (json.RawMessage is not
// checked): a frame the browser must take as UTF-8 JSON.
func TestAttackExchangeNotUTF8(t *testing.T) {
	r, ev, _ := attackRelay(t, "bytes")
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.Do(ctx, &protocol.ExchangeArgs{Op: "show"})
	require.NoError(t, err)
	b, err := protocol.ResultReply(json.RawMessage("1"), res)
	require.NoError(t, err)
	assert.True(t, utf8.Valid(b), "the reply frame: %q", b)
	ev.mu.Lock()
	require.NotEmpty(t, ev.data)
	e, err := protocol.EventMessage(protocol.EventExchange, map[string]any{"name": ev.list[0], "data": ev.data[0]})
	ev.mu.Unlock()
	require.NoError(t, err)
	assert.True(t, utf8.Valid(e), "the event frame: %q", e)
}

// Finding 5: an answer the host cannot decode (details that are not an
// object) was dropped, and its request waited for its deadline (two
// minutes in a session) instead of failing at once.
func TestAttackExchangeUnreadableAnswer(t *testing.T) {
	r, _, _ := attackRelay(t, "unreadable")
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	_, err := r.Do(ctx, &protocol.ExchangeArgs{Op: "status"})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 4*time.Second, "failed at once, not at the deadline")
	assert.Equal(t, protocol.ErrExchangeFailed, protocol.CodeFor(err))
}

// Finding 6: the program's codes were passed on when they were any of the
// protocol's, so it could answer with the session's own codes: "reinstall
// CardBridge" (ERR_CALLER_NOT_ALLOWED), "too many requests" (ERR_BUSY),
// "this site may not" (ERR_NOT_ALLOWED) for a request the host relayed.
func TestAttackExchangeSessionCodes(t *testing.T) {
	r, _, _ := attackRelay(t, "codes")
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range sessionCodes {
		_, err := r.Do(ctx, doArgs(t, `{"op":"status","args":{"code":"`+string(c)+`"}}`))
		require.Error(t, err)
		assert.Equal(t, protocol.ErrExchangeFailed, protocol.CodeFor(err), c)
		assert.Contains(t, protocol.Details(err)["reason"], "anything")
	}
	// The card's codes keep theirs, with their details.
	for _, c := range []protocol.Code{protocol.ErrPINIncorrect, protocol.ErrNoCard, protocol.ErrExchangeLoginNeeded, protocol.ErrBadArgument} {
		_, err := r.Do(ctx, doArgs(t, `{"op":"status","args":{"code":"`+string(c)+`"}}`))
		assert.Equal(t, c, protocol.CodeFor(err))
	}
}

// Finding 7: a program that closed its output but lived on was waited
// for: every request ran to its deadline and no new run started, for the
// rest of the session.
func TestAttackExchangeOutputClosed(t *testing.T) {
	r, ev, rec := attackRelay(t, "closeout")
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	_, err := r.Do(ctx, &protocol.ExchangeArgs{Op: "status"})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 4*time.Second, "failed at once, not at the deadline")
	assert.Equal(t, protocol.ErrExchangeUnavailable, protocol.CodeFor(err))
	assert.Contains(t, ev.names(), "sessionEnded")
	_, err = r.Do(ctx, &protocol.ExchangeArgs{Op: "status"})
	require.Error(t, err)
	lines, _ := os.ReadFile(rec)
	assert.Equal(t, 2, strings.Count(string(lines), "started"), "started again")
}

// Finding 8 (fixed part): a program that reads nothing (it answers one
// request at a time; a long sync, a hung centre) blocked the write of a
// line larger than the pipe; every request behind it waited on the
// relay's write lock past its own deadline, holding a session slot.
func TestAttackExchangeQueuedRequestKeepsItsDeadline(t *testing.T) {
	r, _, _ := attackRelay(t, "deaf")
	big := doArgs(t, `{"op":"setSettings","args":{"archive":"`+strings.Repeat("A", 1<<20)+`"}}`)
	first := make(chan error, 1)
	go func() {
		_, err := r.Do(context.Background(), big)
		first <- err
	}()
	time.Sleep(300 * time.Millisecond) // the big line is in the pipe and stuck
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := within(t, 3*time.Second, "a small request behind a stuck line", func() error {
		_, err := r.Do(ctx, &protocol.ExchangeArgs{Op: "status"})
		return err
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	r.Close() // closes the program's input: the stuck write ends too
	err = within(t, 10*time.Second, "the stuck write after Close", func() error { return <-first })
	assert.Equal(t, protocol.ErrExchangeUnavailable, protocol.CodeFor(err))
}

// Finding 8 (fixed: the write runs beside, and a deadline in the middle
// of a line ends the program, whose input is no longer whole): a stuck
// write held its request and its session slot past the deadline, until
// the program read or the session ended.
func TestAttackExchangeStuckWriteKeepsItsDeadline(t *testing.T) {
	r, _, _ := attackRelay(t, "deaf")
	defer r.Close()
	big := doArgs(t, `{"op":"setSettings","args":{"archive":"`+strings.Repeat("A", 1<<20)+`"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := within(t, 3*time.Second, "a big request the program does not read", func() error {
		_, err := r.Do(ctx, big)
		return err
	})
	assert.Error(t, err)
}

// Finding 9 (fixed: the relay's own cap): the exchange's requests shared the session's 8
// slots with the pages' card requests. The program answers one at a time,
// and a sync against a slow or hostile centre takes up to the agent's
// HTTP timeout (5 minutes); meanwhile eight requests of the exchange page
// (its polls, parts of a file) hold every slot for up to 2 minutes each,
// and every web page's sign or authenticate gets ERR_BUSY.
func TestAttackExchangeRequestsTakeEverySlot(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	t.Setenv(attackExchangeEnv, "mute")
	s := startRelaySession(t, func() (string, error) { return self, nil })
	for i := range maxInFlight {
		_, err := io.WriteString(s.in, fmt.Sprintf(`{"id":%d,"command":"exchange","args":{"op":"status"}}`+"\n", i+1))
		require.NoError(t, err)
	}
	time.Sleep(500 * time.Millisecond)
	r, _ := s.ask(`{"id":"page","command":"version","origin":"https://edoc.example.gov.tw"}`)
	busy := 0
	for r["id"] != "page" { // the exchange requests beyond the relay's cap come back first
		if _, event := r["event"]; !event {
			assert.Equal(t, "ERR_BUSY", codeOf(r), "%v", r)
			busy++
		}
		r = s.next()
	}
	assert.Empty(t, codeOf(r), "a page's request while the exchange page waits on a busy program")
	assert.Equal(t, maxInFlight-maxExchangeInFlight, busy, "the exchange's own cap")
}

// Finding 10 (fixed: ERR_EXCHANGE_FAILED saying to look first): a send the program completes after the
// request's deadline is queued and sent, but the page is told ERR_TIMEOUT,
// whose advice is "try again": the clerk types the PIN again and the
// letter goes twice.
func TestAttackExchangeLateSendSaysTryAgain(t *testing.T) {
	r, _, _ := attackRelay(t, "late")
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := r.Do(ctx, doArgs(t, `{"op":"send","args":{"to":["XC10458570"]},"pin":"123456"}`))
	require.Error(t, err)
	assert.NotEqual(t, protocol.ErrTimeout, protocol.CodeFor(errcode.Map(err)))
}

// A check of the tests' own fake: the helper process modes exist and the
// plain ones answer, so a skipped finding's test fails for its reason.
func TestAttackExchangeFakeAnswers(t *testing.T) {
	r, _, _ := attackRelay(t, "late")
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.Do(ctx, &protocol.ExchangeArgs{Op: "status"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"sendId":"S1","state":"queued"}`, string(res.(json.RawMessage)))
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}
