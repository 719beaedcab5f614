package nativeclient

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Errors a Host reports; test them with errors.Is.
var (
	// ErrClosed: the host closed its stdout (it exited, or its stream
	// broke) and every frame before that has been read.
	ErrClosed = errors.New("host closed stdout")
	// ErrTimeout: nothing the caller waited for came in time.
	ErrTimeout = errors.New("timed out")
	// ErrNoExit: the host still ran when the wait for its exit ended.
	ErrNoExit = errors.New("did not exit")
)

// ChromeArgs is the argv a Chrome-family browser passes a host after its
// path: the calling extension's origin.
func ChromeArgs(extensionID string) []string {
	return []string{"chrome-extension://" + extensionID + "/"}
}

// FirefoxArgs is the argv Firefox passes a host after its path: the path
// of the host's manifest and the calling add-on's ID.
func FirefoxArgs(manifest, addonID string) []string {
	return []string{manifest, addonID}
}

// Options configure Start.
type Options struct {
	// Args follow the program's path, as a browser passes them: ChromeArgs
	// or FirefoxArgs (tests pass others on purpose).
	Args []string
	// Env is the host's environment; nil means the caller's.
	Env []string
}

// Message is one frame from the host, a reply or an event.
type Message struct {
	// Raw is the frame's JSON as the host wrote it.
	Raw []byte
	// At is when the client read the frame.
	At time.Time
	// Fields is Raw decoded (numbers as float64).
	Fields map[string]any
}

// IsEvent reports whether m is an event (has an "event" member).
func (m Message) IsEvent() bool {
	_, ok := m.Fields["event"]
	return ok
}

// Event is the event's name, "" for a reply.
func (m Message) Event() string {
	s, _ := m.Fields["event"].(string)
	return s
}

// ID is the reply's id as decoded (float64, string or nil).
func (m Message) ID() any { return m.Fields["id"] }

// Result is the reply's result object, if it has one.
func (m Message) Result() (map[string]any, bool) {
	r, ok := m.Fields["result"].(map[string]any)
	return r, ok
}

// ErrorObject is the reply's error object, if it has one.
func (m Message) ErrorObject() (map[string]any, bool) {
	e, ok := m.Fields["error"].(map[string]any)
	return e, ok
}

// ReplyError is an error reply as a Go error.
type ReplyError struct {
	Code, Message string
}

func (e *ReplyError) Error() string { return e.Code + ": " + e.Message }

// Err returns the reply's error as a *ReplyError, nil when it has none.
func (m Message) Err() error {
	e, ok := m.ErrorObject()
	if !ok {
		return nil
	}
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	return &ReplyError{Code: code, Message: msg}
}

// DecodeResult decodes the reply's result into v (a struct, for typed
// fields such as base64 []byte).
func (m Message) DecodeResult(v any) error {
	var r struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(m.Raw, &r); err != nil {
		return err
	}
	if r.Result == nil {
		return fmt.Errorf("reply %.200s has no result", m.Raw)
	}
	return json.Unmarshal(r.Result, v)
}

// frameRead is one frame as the reading goroutine got it.
type frameRead struct {
	body []byte
	at   time.Time
}

// Host is one host process with its stdin and stdout on pipes. Its methods
// may be called from several goroutines; frames written concurrently never
// interleave.
type Host struct {
	cmd     *exec.Cmd
	stdin   *os.File // our end of the host's stdin
	started time.Time
	stderr  SyncBuffer

	frames  chan frameRead // closed after the last frame
	readErr error          // why reading stopped; set before frames is closed

	done    chan struct{} // closed once the process has been waited for
	waitErr error         // cmd.Wait's error; set before done is closed

	closeStdin sync.Once

	mu       sync.Mutex
	nextID   int
	kept     []Message // events set aside, oldest first
	setAside int       // events ever set aside
}

// Start starts bin with o.Args and returns at once; the host's first frame
// (hello, or a refusal) is read with Hello or Next.
func Start(bin string, o Options) (*Host, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	h := &Host{stdin: inW, frames: make(chan frameRead, 64), done: make(chan struct{})}
	h.cmd = exec.Command(bin, o.Args...)
	h.cmd.Env = o.Env
	h.cmd.Stdin, h.cmd.Stdout, h.cmd.Stderr = inR, outW, &h.stderr
	h.started = time.Now()
	err = h.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	go h.read(outR)
	go func() {
		h.waitErr = h.cmd.Wait()
		close(h.done)
	}()
	return h, nil
}

// read reads frames until stdout ends or breaks, then closes it.
func (h *Host) read(stdout *os.File) {
	defer stdout.Close()
	for {
		f, err := protocol.ReadFrame(stdout)
		at := time.Now()
		if err != nil {
			h.readErr = err
			close(h.frames)
			return
		}
		h.frames <- frameRead{f, at}
	}
}

// Started is when Start began: just before fork/exec.
func (h *Host) Started() time.Time { return h.started }

// Pid is the host's process id.
func (h *Host) Pid() int { return h.cmd.Process.Pid }

// Path is the host's program.
func (h *Host) Path() string { return h.cmd.Path }

// Stderr is what the host wrote to stderr so far.
func (h *Host) Stderr() string { return h.stderr.String() }

// Next returns the next frame, whatever it is, waiting at most timeout.
func (h *Host) Next(timeout time.Duration) (Message, error) {
	var f frameRead
	var ok bool
	select { // a frame already read wins over a timeout already past
	case f, ok = <-h.frames:
	default:
		t := time.NewTimer(max(timeout, 0))
		select {
		case f, ok = <-h.frames:
			t.Stop()
		case <-t.C:
			return Message{}, fmt.Errorf("no message from the host within %v: %w", timeout, ErrTimeout)
		}
	}
	if !ok {
		if h.readErr != nil && !errors.Is(h.readErr, io.EOF) {
			return Message{}, fmt.Errorf("%w: %v", ErrClosed, h.readErr)
		}
		return Message{}, ErrClosed
	}
	m := Message{Raw: f.body, At: f.at}
	if err := json.Unmarshal(f.body, &m.Fields); err != nil {
		return Message{}, fmt.Errorf("host wrote invalid JSON %q: %w", f.body, err)
	}
	if m.Fields == nil { // the JSON null
		return Message{}, fmt.Errorf("host wrote %q, not an object", f.body)
	}
	return m, nil
}

// Hello reads the first frame and checks it is the hello event.
func (h *Host) Hello(timeout time.Duration) (Message, error) {
	m, err := h.Next(timeout)
	if err != nil {
		return Message{}, fmt.Errorf("hello: %w", err)
	}
	if m.Event() != protocol.EventHello {
		return m, fmt.Errorf("first message = %s, want the hello event", m.Raw)
	}
	return m, nil
}

// Frame returns body as a native-messaging frame, whatever its size.
func Frame(body []byte) []byte {
	out := make([]byte, 4+len(body))
	binary.NativeEndian.PutUint32(out, uint32(len(body)))
	copy(out[4:], body)
	return out
}

// Request encodes one request; origin and args are left out when empty.
func Request(id any, command, origin string, args any) ([]byte, error) {
	req := map[string]any{"id": id, "command": command}
	if origin != "" {
		req["origin"] = origin
	}
	if args != nil {
		req["args"] = args
	}
	return json.Marshal(req)
}

// WriteRaw writes b to the host's stdin as it is, in one write.
func (h *Host) WriteRaw(b []byte) error {
	if _, err := h.stdin.Write(b); err != nil {
		return fmt.Errorf("write to host: %w", err)
	}
	return nil
}

// NextID returns the next request id: 1, 2, …
func (h *Host) NextID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	return h.nextID
}

// Send writes one request with the next id and returns the id.
func (h *Host) Send(command, origin string, args any) (int, error) {
	id := h.NextID()
	body, err := Request(id, command, origin, args)
	if err != nil {
		return 0, err
	}
	return id, h.WriteRaw(Frame(body))
}

// Call sends a request and waits for its reply; d runs from just before
// the request is written to the reply's read. An error reply is returned
// as a reply, not an error: see Message.Err.
func (h *Host) Call(command, origin string, args any, timeout time.Duration) (reply Message, d time.Duration, err error) {
	id := h.NextID()
	body, err := Request(id, command, origin, args)
	if err != nil {
		return Message{}, 0, err
	}
	start := time.Now()
	if err := h.WriteRaw(Frame(body)); err != nil {
		return Message{}, 0, err
	}
	if reply, err = h.Reply(id, timeout); err != nil {
		return Message{}, 0, err
	}
	return reply, reply.At.Sub(start), nil
}

// Reply waits for the reply with id, setting aside events that come
// first. A reply for another id is an error.
func (h *Host) Reply(id any, timeout time.Duration) (Message, error) {
	r, err := h.Replies(timeout, id)
	if err != nil {
		return Message{}, err
	}
	return r[0], nil
}

// Replies waits for the replies to ids, setting aside events, and returns
// them in the order they came. A reply for any other id is an error. Ids
// compare as JSON values: 1 matches a reply's 1 whatever Go type it has.
func (h *Host) Replies(timeout time.Duration, ids ...any) ([]Message, error) {
	want := make([]any, len(ids))
	for i, id := range ids {
		want[i] = jsonValue(id)
	}
	deadline := time.Now().Add(timeout)
	var out []Message
	for len(want) > 0 {
		m, err := h.Next(time.Until(deadline))
		if err != nil {
			return out, fmt.Errorf("waiting for the reply to id %v: %w", fmtIDs(want), err)
		}
		if m.IsEvent() {
			h.keep(m)
			continue
		}
		i := indexOf(want, m.ID())
		if i < 0 {
			return out, fmt.Errorf("reply for id %v while waiting for %v: %s", fmtID(m.ID()), fmtIDs(want), m.Raw)
		}
		want = append(want[:i], want[i+1:]...)
		out = append(out, m)
	}
	return out, nil
}

// WaitEvent waits for the event name, set aside earlier or new; other
// events are set aside, a reply meanwhile is an error.
func (h *Host) WaitEvent(name string, timeout time.Duration) (Message, error) {
	deadline := time.Now().Add(timeout)
	h.mu.Lock()
	for i, e := range h.kept {
		if e.Event() == name {
			h.kept = append(h.kept[:i], h.kept[i+1:]...)
			h.mu.Unlock()
			return e, nil
		}
	}
	h.mu.Unlock()
	for {
		m, err := h.Next(time.Until(deadline))
		if err != nil {
			return Message{}, fmt.Errorf("waiting for event %s: %w", name, err)
		}
		switch {
		case m.Event() == name:
			return m, nil
		case m.IsEvent():
			h.keep(m)
		default:
			return Message{}, fmt.Errorf("unexpected reply %s while waiting for event %s", m.Raw, name)
		}
	}
}

func (h *Host) keep(m Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kept = append(h.kept, m)
	h.setAside++
}

// EventsSetAside counts the events set aside while waiting for replies or
// other events, including those WaitEvent has since returned.
func (h *Host) EventsSetAside() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.setAside
}

// jsonValue is v as it comes back from JSON (int 1 → float64 1).
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

func indexOf(ids []any, id any) int {
	for i, w := range ids {
		if reflect.DeepEqual(w, id) {
			return i
		}
	}
	return -1
}

func fmtID(id any) string {
	if f, ok := id.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprintf("%v", id)
}

func fmtIDs(ids []any) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmtID(id)
	}
	return strings.Join(s, ", ")
}

// CloseStdin ends the host's stdin, as a browser does when the port
// closes. Later calls do nothing.
func (h *Host) CloseStdin() {
	h.closeStdin.Do(func() { h.stdin.Close() })
}

// Done is closed once the host has exited and been waited for.
func (h *Host) Done() <-chan struct{} { return h.done }

// ExitStatus is the exit status once Done is closed: -1 when a signal
// ended the host.
func (h *Host) ExitStatus() int {
	<-h.done
	var ee *exec.ExitError
	if errors.As(h.waitErr, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// WaitExit waits at most timeout for the host to exit by itself and
// returns its status; ErrNoExit when it still runs (it is not killed).
func (h *Host) WaitExit(timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-h.done:
		return h.ExitStatus(), nil
	case <-t.C:
		return 0, fmt.Errorf("%w within %v", ErrNoExit, timeout)
	}
}

// Exit closes stdin and waits at most timeout for the exit status;
// ErrNoExit when the host still runs (it is not killed).
func (h *Host) Exit(timeout time.Duration) (int, error) {
	h.CloseStdin()
	st, err := h.WaitExit(timeout)
	if err != nil {
		return st, fmt.Errorf("%w of stdin closing", err)
	}
	return st, nil
}

// Close ends the session as a browser does and expects exit status 0
// within grace; a host still running then is killed and ErrNoExit
// returned. Errors carry the host's stderr.
func (h *Host) Close(grace time.Duration) error {
	st, err := h.Exit(grace)
	if errors.Is(err, ErrNoExit) {
		h.Kill()
	} else if err == nil && st != 0 {
		err = fmt.Errorf("exit status %d", st)
	}
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", h.cmd.Path, err, h.Stderr())
	}
	return nil
}

// Kill ends the host at once and waits for it.
func (h *Host) Kill() {
	h.cmd.Process.Kill()
	h.CloseStdin()
	<-h.done
}

// PeakRSS returns the host's VmHWM (peak resident set) in bytes, from
// /proc/PID/status (Linux only). Read it while the host runs.
func (h *Host) PeakRSS() (uint64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.Pid()))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status (has the host exited?)")
}

// SyncBuffer is a bytes.Buffer safe for a writer goroutine and a reader
// (a process's stderr, a server's output in a test).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
