package integration

import (
	"bytes"
	endian "encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/install"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// chromeOrigin is how Chrome names the development extension to the host.
var chromeOrigin = "chrome-extension://" + install.DevExtensionID + "/"

// host is the real cardbridge binary started the way a browser starts it,
// talking native messaging over pipes.
type host struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	frames chan []byte
	stderr *syncBuffer
	done   chan struct{}
	status int

	mu     sync.Mutex
	events []map[string]any
	nextID int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hostOptions configure startHost.
type hostOptions struct {
	args   []string // default: the Chrome development extension's origin
	config string   // config.json content; empty for none
}

// startHost starts the host with a private HOME and configuration and
// returns once it has written hello (which it checks).
func startHost(t *testing.T, o hostOptions) *host {
	t.Helper()
	dir := t.TempDir()
	if o.args == nil {
		o.args = []string{chromeOrigin}
	}
	cfg := filepath.Join(dir, "config.json")
	if o.config != "" {
		if err := os.WriteFile(cfg, []byte(o.config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := &host{t: t, frames: make(chan []byte, 64), stderr: &syncBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(binary, o.args...)
	h.cmd.Env = append(os.Environ(), "HOME="+dir, "CARDBRIDGE_CONFIG="+cfg, "XDG_CONFIG_HOME="+filepath.Join(dir, ".config"))
	h.cmd.Stderr = h.stderr
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(h.frames)
		for {
			f, err := protocol.ReadFrame(stdout)
			if err != nil {
				return
			}
			h.frames <- f
		}
	}()
	go func() {
		err := h.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			h.status = ee.ExitCode()
		}
		close(h.done)
	}()
	t.Cleanup(func() {
		h.stdin.Close()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			h.cmd.Process.Kill()
			t.Errorf("host did not exit within 10 s of stdin closing")
		}
		if t.Failed() {
			t.Logf("host stderr:\n%s", h.stderr.String())
		}
	})
	return h
}

// hello reads the first message and checks it is the hello event.
func (h *host) hello() map[string]any {
	h.t.Helper()
	m := h.next(5 * time.Second)
	if m["event"] != "hello" {
		h.t.Fatalf("first message = %v, want the hello event", m)
	}
	return m
}

// next returns the next message, failing after timeout.
func (h *host) next(timeout time.Duration) map[string]any {
	h.t.Helper()
	select {
	case f, ok := <-h.frames:
		if !ok {
			h.t.Fatalf("host closed stdout; stderr:\n%s", h.stderr.String())
		}
		var m map[string]any
		if err := json.Unmarshal(f, &m); err != nil {
			h.t.Fatalf("host wrote invalid JSON %q: %v", f, err)
		}
		return m
	case <-time.After(timeout):
		h.t.Fatalf("no message from the host within %v", timeout)
	}
	return nil
}

// sendRaw writes bytes to the host's stdin as they are.
func (h *host) sendRaw(b []byte) {
	h.t.Helper()
	if _, err := h.stdin.Write(b); err != nil {
		h.t.Fatalf("write to host: %v", err)
	}
}

// frame returns body as a native-messaging frame.
func frame(body []byte) []byte {
	out := make([]byte, 4+len(body))
	endian.NativeEndian.PutUint32(out, uint32(len(body)))
	copy(out[4:], body)
	return out
}

// send writes one request and returns its id.
func (h *host) send(command, origin string, args any) float64 {
	h.t.Helper()
	h.mu.Lock()
	h.nextID++
	id := h.nextID
	h.mu.Unlock()
	h.sendRaw(frame(request(h.t, id, command, origin, args)))
	return float64(id)
}

// request encodes one request; origin and args are left out when empty.
func request(t *testing.T, id any, command, origin string, args any) []byte {
	t.Helper()
	req := map[string]any{"id": id, "command": command}
	if origin != "" {
		req["origin"] = origin
	}
	if args != nil {
		req["args"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reply waits for the reply with id, keeping events that come first.
func (h *host) reply(id any, timeout time.Duration) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := h.next(time.Until(deadline))
		if _, ok := m["event"]; ok {
			h.mu.Lock()
			h.events = append(h.events, m)
			h.mu.Unlock()
			continue
		}
		if m["id"] == id {
			return m
		}
		h.t.Fatalf("reply for id %v while waiting for %v: %v", m["id"], id, m)
	}
}

// call sends a request and returns its result, failing on an error reply.
func (h *host) call(command, origin string, args any) map[string]any {
	h.t.Helper()
	m := h.reply(h.send(command, origin, args), 30*time.Second)
	res, ok := m["result"].(map[string]any)
	if !ok {
		h.t.Fatalf("%s: reply %v, want a result", command, m)
	}
	return res
}

// callErr sends a request and returns its error object, failing on a result.
func (h *host) callErr(command, origin string, args any) map[string]any {
	h.t.Helper()
	m := h.reply(h.send(command, origin, args), 30*time.Second)
	e, ok := m["error"].(map[string]any)
	if !ok {
		h.t.Fatalf("%s: reply %v, want an error", command, m)
	}
	return e
}

// wantCode checks an error object's code and that both messages are there.
func wantCode(t *testing.T, e map[string]any, code protocol.Code) {
	t.Helper()
	if e["code"] != string(code) {
		t.Fatalf("error = %v, want code %s", e, code)
	}
	if s, _ := e["message"].(string); s == "" {
		t.Errorf("error %s has no English message", code)
	}
	if s, _ := e["messageZh"].(string); s == "" {
		t.Errorf("error %s has no Chinese message", code)
	}
}

// waitEvent waits for an event with name (kept or new) about reader.
func (h *host) waitEvent(name string, timeout time.Duration) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h.mu.Lock()
		for i, e := range h.events {
			if e["event"] == name {
				h.events = append(h.events[:i], h.events[i+1:]...)
				h.mu.Unlock()
				return e
			}
		}
		h.mu.Unlock()
		m := h.next(time.Until(deadline))
		if m["event"] == name {
			return m
		}
		if _, ok := m["event"]; ok {
			h.mu.Lock()
			h.events = append(h.events, m)
			h.mu.Unlock()
			continue
		}
		h.t.Fatalf("unexpected reply %v while waiting for event %s", m, name)
	}
}

// exit closes stdin and returns the exit status.
func (h *host) exit() int {
	h.t.Helper()
	h.stdin.Close()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("host did not exit within 10 s of stdin closing")
	}
	return h.status
}

// noPIN fails if the host's log contains any of the secrets.
func (h *host) noPIN(secrets ...string) {
	h.t.Helper()
	log := h.stderr.String()
	for _, s := range secrets {
		if strings.Contains(log, s) {
			h.t.Errorf("host log contains a secret %q:\n%s", s, log)
		}
	}
}
