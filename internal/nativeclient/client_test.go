package nativeclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// The test binary is its own fake host when fakeHostEnv is set: it writes
// hello, then answers each request by its command (see fakeHost).
const fakeHostEnv = "NATIVECLIENT_FAKE_HOST"

func TestMain(m *testing.M) {
	if os.Getenv(fakeHostEnv) == "1" {
		os.Exit(fakeHost())
	}
	os.Exit(m.Run())
}

// fakeHost: "echo" replies with its args; "event" writes an event named
// by args.name, then the reply; "twice" writes the reply for id+1000
// first; "exit" exits with status args.status without replying.
func fakeHost() int {
	write := func(v any) {
		b, _ := json.Marshal(v)
		os.Stdout.Write(Frame(b))
	}
	write(map[string]any{"event": "hello", "data": map[string]any{"version": "fake", "protocol": 1, "args": os.Args[1:]}})
	for {
		f, err := protocol.ReadFrame(os.Stdin)
		if err != nil {
			return 0
		}
		var req struct {
			ID      any            `json:"id"`
			Command string         `json:"command"`
			Args    map[string]any `json:"args"`
		}
		if json.Unmarshal(f, &req) != nil {
			write(map[string]any{"id": nil, "error": map[string]any{"code": "ERR_BAD_FRAME", "message": "bad JSON"}})
			continue
		}
		switch req.Command {
		case "echo":
			write(map[string]any{"id": req.ID, "result": req.Args})
		case "event":
			write(map[string]any{"event": req.Args["name"]})
			write(map[string]any{"id": req.ID, "result": map[string]any{}})
		case "twice":
			write(map[string]any{"id": req.ID.(float64) + 1000, "result": map[string]any{}})
		case "exit":
			return int(req.Args["status"].(float64))
		default:
			write(map[string]any{"id": req.ID, "error": map[string]any{"code": "ERR_UNKNOWN_COMMAND", "message": req.Command}})
		}
	}
}

func start(t *testing.T) *Host {
	t.Helper()
	h, err := Start(os.Args[0], Options{Args: ChromeArgs("abc"), Env: append(os.Environ(), fakeHostEnv+"=1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Kill)
	return h
}

func TestSession(t *testing.T) {
	h := start(t)
	hello, err := h.Hello(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if args := fmt.Sprint(hello.Fields["data"].(map[string]any)["args"]); args != "[chrome-extension://abc/]" {
		t.Errorf("host argv = %s, want Chrome's", args)
	}
	if hello.At.Before(h.Started()) {
		t.Errorf("hello read at %v, before the start %v", hello.At, h.Started())
	}

	m, d, err := h.Call("echo", "https://a.test", map[string]any{"n": 1}, 5*time.Second)
	if err != nil || d <= 0 {
		t.Fatalf("Call = %v, %v, %v", m, d, err)
	}
	var res struct{ N int }
	if err := m.DecodeResult(&res); err != nil || res.N != 1 || m.Err() != nil {
		t.Errorf("result %s: %+v, %v, %v", m.Raw, res, err, m.Err())
	}

	// Events before a reply are set aside and found by WaitEvent.
	if _, _, err := h.Call("event", "", map[string]any{"name": "cardInserted"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := h.EventsSetAside(); n != 1 {
		t.Errorf("EventsSetAside = %d, want 1", n)
	}
	if e, err := h.WaitEvent("cardInserted", time.Second); err != nil || e.Event() != "cardInserted" {
		t.Errorf("WaitEvent = %v, %v", e.Fields, err)
	}

	// An error reply is a reply; Err turns it into an error.
	m, _, err = h.Call("nope", "", nil, 5*time.Second)
	var re *ReplyError
	if err != nil || !errors.As(m.Err(), &re) || re.Code != "ERR_UNKNOWN_COMMAND" {
		t.Errorf("error reply: %s, %v", m.Raw, err)
	}

	// Ids match as JSON values, strings included; others are an error.
	body, _ := Request("req-<1>&", "echo", "", nil)
	if err := h.WriteRaw(Frame(body)); err != nil {
		t.Fatal(err)
	}
	if m, err := h.Reply("req-<1>&", 5*time.Second); err != nil || m.ID() != "req-<1>&" {
		t.Errorf("Reply(string id) = %s, %v", m.Raw, err)
	}
	if _, _, err := h.Call("twice", "", nil, 5*time.Second); err == nil {
		t.Error("a reply for another id was taken")
	}

	if runtime.GOOS == "linux" {
		if rss, err := h.PeakRSS(); err != nil || rss < 1<<20 {
			t.Errorf("PeakRSS = %d, %v", rss, err)
		}
	}
	if st, err := h.Exit(5 * time.Second); err != nil || st != 0 {
		t.Errorf("Exit = %d, %v", st, err)
	}
	if _, err := h.Next(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after exit = %v, want ErrClosed", err)
	}
}

func TestExitStatusAndTimeouts(t *testing.T) {
	h := start(t)
	if _, err := h.Hello(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Next(10 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("Next on a quiet host = %v, want ErrTimeout", err)
	}
	if _, err := h.WaitExit(10 * time.Millisecond); !errors.Is(err, ErrNoExit) {
		t.Errorf("WaitExit on a running host = %v, want ErrNoExit", err)
	}
	if _, err := h.Send("exit", "", map[string]any{"status": 3}); err != nil {
		t.Fatal(err)
	}
	if st, err := h.WaitExit(5 * time.Second); err != nil || st != 3 {
		t.Errorf("WaitExit = %d, %v, want 3", st, err)
	}
	if err := h.Close(time.Second); err == nil {
		t.Error("Close of a host that exited 3 = nil")
	}
}
