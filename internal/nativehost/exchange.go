package nativehost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Exchange relay limits.
const (
	// maxExchangeLine caps one line from the exchange program: a part of
	// a file is 512 KiB (700 KB in base64), a list of a busy day's
	// documents a few hundred KB. A longer line ends the program.
	maxExchangeLine = 8 << 20
	// exchangeStopWait is how long the program has to log out and end
	// after its input closes, before it is killed.
	exchangeStopWait = 5 * time.Second
	// maxExchangeInFlight caps the exchange requests waiting at once, so
	// that a busy program (a sync against a slow centre) leaves the
	// session's other slots to the pages' card requests.
	maxExchangeInFlight = maxInFlight / 2
	// maxExchangeLogLine caps a line of the program's stderr in the log.
	maxExchangeLogLine = 512
)

// exchangeRelay passes the extension's `exchange` requests to the document
// exchange program (cardbridge-exchange exchange serve) and its answers
// and events back. The program is not linked into the host, which every
// browser starts (host/deps_test.go): it is started at the session's
// first exchange request, started again after it stopped, and ended with
// the session, when its card session logs out.
type exchangeRelay struct {
	program func() (string, error)
	log     *slog.Logger
	emit    func(name string, data any)

	mu    sync.Mutex
	proc  *exchangeProc
	next  int64
	slots chan struct{} // maxExchangeInFlight
}

// exchangeProc is one run of the program.
type exchangeProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	// wsem lets one line at a time onto in. A channel, not a mutex: while
	// the program reads nothing (it answers one request at a time, and a
	// line larger than the pipe waits for it), the requests queued behind
	// that line still end at their deadline and give back their slots.
	wsem chan struct{}

	mu       sync.Mutex
	pending  map[int64]chan exchangeAnswer
	closing  bool
	done     chan struct{}
	exitText string
}

// exchangeAnswer is an answer line of the program (internal/exchange/service).
type exchangeAnswer struct {
	ID     *int64          `json:"id"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
	Result json.RawMessage `json:"result"`
	Error  *exchangeError  `json:"error"`
}

// exchangeError is an answer's error (service.ErrorLine).
type exchangeError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// Do relays one request and returns the program's result as it is.
func (r *exchangeRelay) Do(ctx context.Context, a *protocol.ExchangeArgs) (any, error) {
	r.mu.Lock()
	if r.slots == nil {
		r.slots = make(chan struct{}, maxExchangeInFlight)
	}
	slots := r.slots
	r.mu.Unlock()
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	default:
		return nil, protocol.Errorf(protocol.ErrBusy, "%d exchange requests in flight", maxExchangeInFlight)
	}
	p, err := r.running()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.next++
	id := r.next
	r.mu.Unlock()
	ch := make(chan exchangeAnswer, 1)
	p.mu.Lock()
	if p.pending == nil {
		p.mu.Unlock()
		return nil, unavailable(errors.New("the exchange program stopped"))
	}
	p.pending[id] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.pending != nil {
			delete(p.pending, id)
		}
		p.mu.Unlock()
	}()

	line := exchangeLine(id, a)
	err = p.write(ctx, line)
	clear(line) // the PIN, for login and send
	if err != nil {
		return nil, err
	}
	select {
	case ans := <-ch:
		if ans.Error != nil {
			return nil, answerError(ans)
		}
		if len(ans.Result) == 0 {
			return json.RawMessage("null"), nil
		}
		return ans.Result, nil
	case <-p.done:
		return nil, unavailable(errors.New(p.exitText))
	case <-ctx.Done():
		return nil, lateAnswer(a.Op, ctx.Err())
	}
}

// lateAnswer is the error of a request whose deadline passed while the
// program worked on it. A letter sent or a document returned may still go
// out after that: "try again" (ERR_TIMEOUT) would send it twice, so the
// clerk is told to look first.
func lateAnswer(op string, err error) error {
	if op != "send" && op != "return" {
		return err
	}
	return &protocol.Error{Code: protocol.ErrExchangeFailed, Err: err, Details: map[string]any{
		"reason": "公文交換程式沒有及時回應，這份公文可能仍會送出。請先到「收發文狀態表」查看，確定沒有送出後再重送。 / The exchange program did not answer in time and the document may still go out. Look in the document list first, and send it again only if it is not there.",
	}}
}

// write puts one line on the program's input, after the lines before it.
func (p *exchangeProc) write(ctx context.Context, line []byte) error {
	select {
	case p.wsem <- struct{}{}:
	case <-p.done:
		return unavailable(errors.New(p.exitText))
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.wsem }()
	// A program that reads nothing must not hold the request past its
	// deadline: the write runs beside, and a deadline that passes in the
	// middle of a line ends the program (its input is no longer whole).
	wrote := make(chan error, 1)
	go func() {
		_, err := p.in.Write(line)
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			return unavailable(err)
		}
		return nil
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		p.in.Close()
		<-wrote // the line is the caller's to clear once the write has ended
		return ctx.Err()
	}
}

// exchangeLine is the request line {"id":…,"op":…,"args":{…}} with the PIN
// put into args: the Secret is printable ASCII without quotes or
// backslashes (protocol.Secret), so it is written as it is.
func exchangeLine(id int64, a *protocol.ExchangeArgs) []byte {
	args := []byte(a.Args)
	if len(args) == 0 {
		args = []byte("{}")
	}
	b := make([]byte, 0, len(args)+len(a.PIN)+64)
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"op":`...)
	op, _ := json.Marshal(a.Op)
	b = append(b, op...)
	b = append(b, `,"args":`...)
	if len(a.PIN) > 0 {
		b = append(b, `{"pin":"`...)
		b = append(b, a.PIN...)
		b = append(b, '"')
		rest := args[1:] // after the object's {
		if t := bytes.TrimSpace(rest); len(t) > 0 && t[0] != '}' {
			b = append(b, ',')
		}
		b = append(b, rest...)
	} else {
		b = append(b, args...)
	}
	return append(b, '}', '\n')
}

// sessionCodes speak of the host's session and of the page's request as
// the host read it, which the program never sees: from the program they
// would tell the page something false (reinstall CardBridge, send less,
// the site is not allowed, too many requests).
var sessionCodes = []protocol.Code{protocol.ErrMessageTooLarge, protocol.ErrBadMessage, protocol.ErrUnknownCommand,
	protocol.ErrBadOrigin, protocol.ErrCallerNotAllowed, protocol.ErrBusy, protocol.ErrResponseTooLarge, protocol.ErrNotAllowed}

// answerError is the protocol error of an answer: the program's code when
// it is one of the protocol's (card errors keep theirs) and not one of the
// session's, else ERR_EXCHANGE_FAILED with the program's words as the
// reason.
func answerError(ans exchangeAnswer) error {
	e := ans.Error
	code := protocol.Code(e.Code)
	details := e.Details
	if !slices.Contains(protocol.Codes, code) || slices.Contains(sessionCodes, code) {
		code = protocol.ErrExchangeFailed
	}
	if code == protocol.ErrExchangeFailed {
		if details == nil {
			details = map[string]any{}
		}
		if _, ok := details["reason"]; !ok {
			details["reason"] = e.Message
		}
	}
	return &protocol.Error{Code: code, Details: details, Err: errors.New(e.Message)}
}

func unavailable(err error) error {
	return &protocol.Error{Code: protocol.ErrExchangeUnavailable, Err: err}
}

// running returns the program's run, starting it when there is none.
func (r *exchangeRelay) running() (*exchangeProc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		select {
		case <-r.proc.done:
		default:
			return r.proc, nil
		}
	}
	path, err := r.program()
	if err != nil {
		return nil, unavailable(err)
	}
	cmd := exec.Command(path, "exchange", "serve")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, unavailable(err)
	}
	errOut, err := cmd.StderrPipe()
	if err != nil {
		return nil, unavailable(err)
	}
	if err := cmd.Start(); err != nil {
		return nil, unavailable(fmt.Errorf("start %s: %w", path, err))
	}
	p := &exchangeProc{cmd: cmd, in: in, wsem: make(chan struct{}, 1), pending: map[int64]chan exchangeAnswer{}, done: make(chan struct{})}
	r.proc = p
	r.log.Info("exchange program started", "path", path, "pid", cmd.Process.Pid)
	go r.logStderr(errOut)
	go r.read(p, out)
	return p, nil
}

// read delivers the program's answers and events until its output ends,
// then ends the run: pending requests fail and the page hears that the
// exchange session ended, unless the host is closing it.
func (r *exchangeRelay) read(p *exchangeProc, out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), maxExchangeLine)
	for sc.Scan() {
		r.deliver(p, sc.Bytes())
	}
	scanErr := sc.Err()
	p.mu.Lock()
	closing := p.closing
	p.mu.Unlock()
	if scanErr != nil || !closing {
		// A line too long, or the output closed while the host still
		// expects answers: the program is broken. Waiting for it to end by
		// itself would leave every request to its deadline, and no new
		// run would start.
		_ = p.cmd.Process.Kill()
	}
	waitErr := p.cmd.Wait()
	p.mu.Lock()
	p.pending = nil
	closing = p.closing
	p.exitText = "the exchange program stopped"
	if waitErr != nil {
		p.exitText += ": " + waitErr.Error()
	}
	p.mu.Unlock()
	close(p.done)
	if closing {
		return
	}
	r.log.Warn("exchange program stopped", "err", waitErr, "read", scanErr)
	r.emit("sessionEnded", map[string]string{"reason": "stopped"})
}

// deliver handles one line of the program's output: an event goes to the
// page, an answer to its request (once), anything else is logged and
// dropped.
func (r *exchangeRelay) deliver(p *exchangeProc, line []byte) {
	if !utf8.Valid(line) {
		// Passed on as they are, the bytes would reach the browser in a
		// frame that is not UTF-8 JSON.
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	var ans exchangeAnswer
	if err := json.Unmarshal(line, &ans); err != nil {
		r.log.Warn("exchange program wrote a line that is not JSON", "err", err)
		// An answer the host cannot read (details that are not an object,
		// say) still ends its request, now and not at its deadline.
		var idOnly struct {
			ID *int64 `json:"id"`
		}
		if json.Unmarshal(line, &idOnly) != nil || idOnly.ID == nil {
			return
		}
		ans = exchangeAnswer{ID: idOnly.ID, Error: &exchangeError{Message: "the exchange program's answer could not be read"}}
	}
	if ans.Event != "" {
		r.emit(ans.Event, ans.Data)
		return
	}
	if ans.ID == nil {
		return
	}
	// One answer a request: a second line with the same id finds nothing
	// to deliver to, and never blocks the reader on a channel nobody reads.
	p.mu.Lock()
	ch := p.pending[*ans.ID]
	delete(p.pending, *ans.ID)
	p.mu.Unlock()
	if ch != nil {
		ch <- ans // buffered, and its only send
	}
}

// logStderr copies the program's diagnostics into the host's log.
func (r *exchangeRelay) logStderr(errOut io.Reader) {
	sc := bufio.NewScanner(errOut)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > maxExchangeLogLine {
			line = line[:maxExchangeLogLine] + "…"
		}
		r.log.Info("exchange program", "says", line)
	}
}

// Close ends the program: its input closes, so it logs out and ends; it is
// killed when it has not after exchangeStopWait.
func (r *exchangeRelay) Close() {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.in.Close()
	select {
	case <-p.done:
	case <-time.After(exchangeStopWait):
		r.log.Warn("exchange program did not end; killed")
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
