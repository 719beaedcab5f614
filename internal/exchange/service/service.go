// Package service is the exchange agent as the extension's 「公文交換」 page
// will reach it through the native host (issue 12): requests and answers as
// JSON objects, one a line, and events between them (a document arrived,
// the session ended). It owns the agency's card session: opened with the
// PIN the clerk typed in CardBridge's PIN window, never stored, ended on
// logout, when the card is removed or refuses the PIN, and after IdleAfter
// without a request; while it lasts, the agent watches the centre and says
// what each sync did.
package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/errcode"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Session is the agency's card, open for a session.
type Session interface {
	agent.Card
	Close()
}

// IdleAfter ends a session no page has used for this long.
const IdleAfter = 30 * time.Minute

// MaxLine caps one request (a document to send with its attachments, in
// base64).
const MaxLine = 96 << 20

// Chunk is the most bytes of a file one answer carries: a browser takes at
// most 1 MB a message from a native host, and base64 adds a third.
const Chunk = 512 << 10

// Part is a piece of a file: Data from Offset, of a file of Size bytes.
type Part struct {
	Name   string `json:"name"`
	Size   int    `json:"size"`
	Offset int    `json:"offset"`
	Data   []byte `json:"data"` // base64 in JSON
}

// part cuts b at offset.
func part(name string, b []byte, offset int) (Part, error) {
	if offset < 0 || offset > len(b) {
		return Part{}, fmt.Errorf("%w: offset %d of %d bytes", ErrBadArgs, offset, len(b))
	}
	end := min(offset+Chunk, len(b))
	return Part{Name: name, Size: len(b), Offset: offset, Data: b[offset:end]}, nil
}

// Errors the page shows, in both languages.
var (
	ErrNotLoggedIn = errors.New("請先以憑證卡登入公文交換 / log in to the document exchange with the card first")
	ErrUnknownOp   = errors.New("unknown request")
	ErrBadArgs     = errors.New("bad arguments")
)

// Service answers the page's requests over one agent.
type Service struct {
	Agent *agent.Agent
	// Open opens the card in reader (empty: the one with the agency's
	// certificates) for a session with pin.
	Open func(ctx context.Context, reader string, pin []byte) (Session, error)
	// Event sends an event to the page; it is called from the watch too.
	Event func(name string, data any)
	// Poll is the watch's poll interval (agent.Watch).
	Poll time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Idle ends a session unused this long; zero means IdleAfter.
	Idle time.Duration

	mu      sync.Mutex
	sess    Session
	stop    context.CancelFunc
	idle    *time.Timer
	last    time.Time
	lastErr string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Status is what the page's main view shows.
type Status struct {
	SetUp    bool            `json:"setUp"`
	Agency   string          `json:"agency,omitempty"`
	Centre   string          `json:"centre,omitempty"`
	LoggedIn bool            `json:"loggedIn"`
	LastSync *time.Time      `json:"lastSync,omitempty"`
	Error    string          `json:"error,omitempty"`
	Unread   int             `json:"unread"`
	Queued   int             `json:"queued"`
	Warnings []agent.Warning `json:"warnings,omitempty"`
}

// Do answers one request.
func (s *Service) Do(ctx context.Context, op string, args json.RawMessage) (any, error) {
	s.touch()
	a := s.Agent
	switch op {
	case "status":
		return s.status(ctx)
	case "login":
		var in struct {
			PIN    protocol.Secret `json:"pin"`
			Reader string          `json:"reader"`
		}
		if err := onePIN(args); err != nil {
			return nil, err
		}
		if err := decode(args, &in); err != nil {
			return nil, err
		}
		return s.login(ctx, in.Reader, in.PIN)
	case "logout":
		s.end("logout")
		return map[string]bool{"ok": true}, nil
	case "list":
		var in struct {
			Box  string `json:"box"` // in, out
			From string `json:"from"`
			To   string `json:"to"`
			Text string `json:"text"`
		}
		if err := decode(args, &in); err != nil {
			return nil, err
		}
		from, to, err := DayRange(in.From, in.To, s.now())
		if err != nil {
			return nil, err
		}
		if in.Box == "out" {
			out, err := a.Outbox(ctx, from, to)
			return FilterOut(out, in.Text), err
		}
		in2, err := a.Inbox(ctx, from, to)
		return FilterIn(in2, in.Text), err
	case "show", "letter", "portable", "markRead":
		var in struct {
			ID     string `json:"id"`
			Offset int    `json:"offset"` // portable: the part from here
		}
		if err := decode(args, &in); err != nil || in.ID == "" {
			return nil, fmt.Errorf("%w: id", ErrBadArgs)
		}
		switch op {
		case "show":
			return a.Show(ctx, in.ID)
		case "letter":
			return a.Letter(ctx, in.ID)
		case "markRead":
			return map[string]bool{"ok": true}, a.MarkRead(ctx, in.ID)
		}
		pdf, err := a.Portable(ctx, in.ID, a.Font())
		if err != nil {
			return nil, err
		}
		return part("可攜式公文.pdf", pdf, in.Offset)
	case "file":
		var in struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Offset int    `json:"offset"`
		}
		if err := decode(args, &in); err != nil {
			return nil, err
		}
		b, err := a.File(ctx, in.ID, in.Name)
		if err != nil {
			return nil, err
		}
		return part(in.Name, b, in.Offset)
	case "print":
		var in struct {
			IDs         []string `json:"ids"`
			Attachments bool     `json:"attachments"`
		}
		if err := decode(args, &in); err != nil || len(in.IDs) == 0 || len(in.IDs) > 500 {
			return nil, fmt.Errorf("%w: ids", ErrBadArgs)
		}
		return map[string]any{"printed": a.Print(ctx, in.IDs, in.Attachments)}, nil
	case "send":
		return s.send(ctx, args)
	case "settings":
		return a.Settings(ctx)
	case "setSettings":
		var in agent.Settings
		if err := decode(args, &in); err != nil {
			return nil, err
		}
		return in, a.SetSettings(ctx, in)
	}
	// What needs the card.
	sess, err := s.session()
	if err != nil {
		return nil, err
	}
	switch op {
	case "directory":
		dir, err := a.Directory(ctx, sess)
		return listing(dir), err
	case "sync":
		rep, err := a.Sync(ctx, sess)
		s.synced(rep, err)
		return rep, err
	case "announcements":
		return a.Announcements(ctx, sess)
	case "return":
		var in struct{ ID, Reason string }
		if err := decode(args, &in); err != nil {
			return nil, err
		}
		return map[string]bool{"ok": true}, a.Return(ctx, sess, in.ID, in.Reason)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownOp, op)
}

// send composes a 函 and queues it, signed with the card opened anew with
// the PIN the clerk typed after seeing the letter in CardBridge's PIN
// window (a login session alone never signs a document), then sends it
// at once when a session is open.
func (s *Service) send(ctx context.Context, args json.RawMessage) (any, error) {
	var in struct {
		To      []string        `json:"to"`
		Subject string          `json:"subject"`
		Number  string          `json:"number"`
		Body    string          `json:"body"`
		PIN     protocol.Secret `json:"pin"`
		Reader  string          `json:"reader"`
		Files   []struct {
			Name string `json:"name"`
			Data []byte `json:"data"` // base64 in JSON
		} `json:"files"`
	}
	if err := onePIN(args); err != nil {
		return nil, err
	}
	if err := decode(args, &in); err != nil {
		return nil, err
	}
	if len(in.To) == 0 {
		return nil, fmt.Errorf("%w: to", ErrBadArgs)
	}
	defer clear(in.PIN)
	if len(in.PIN) == 0 {
		return nil, fmt.Errorf("%w: pin", ErrBadArgs)
	}
	reader := in.Reader
	s.mu.Lock()
	login := s.sess
	s.mu.Unlock()
	if r, ok := login.(interface{ Reader() string }); ok && reader == "" {
		reader = r.Reader()
	}
	card, err := s.Open(ctx, reader, in.PIN)
	if err != nil {
		return nil, err
	}
	defer card.Close()
	d := agent.Draft{To: in.To, Subject: in.Subject, Number: in.Number, Body: in.Body}
	for _, f := range in.Files {
		d.Files = append(d.Files, parcel.File{Name: f.Name, Role: parcel.RoleAttachment, Data: f.Data})
	}
	id, err := s.Agent.Queue(ctx, card, d)
	if err != nil {
		return nil, err
	}
	if login != nil {
		go func() {
			rep, err := s.Agent.Sync(context.Background(), login)
			s.synced(rep, err)
		}()
	}
	return map[string]string{"sendId": id, "state": agent.Queued}, nil
}

// onePIN refuses args that name the PIN more than once: encoding/json
// would take the last, matched regardless of case ("PIN", "Pin"), and the
// host puts the PIN typed in CardBridge's PIN window first.
func onePIN(args json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(args))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil // not an object: decode says so
	}
	n := 0
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil
		}
		if key, _ := k.(string); strings.EqualFold(key, "pin") {
			n++
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: the PIN given twice", ErrBadArgs)
	}
	return nil
}

// decode reads args into v strictly. From the bytes, not a string of them:
// args may hold the PIN, and a Go string cannot be cleared.
func decode(args json.RawMessage, v any) error {
	if len(args) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadArgs, err)
	}
	return nil
}

func (s *Service) status(ctx context.Context) (Status, error) {
	set, err := s.Agent.Settings(ctx)
	if err != nil {
		return Status{}, err
	}
	s.mu.Lock()
	st := Status{SetUp: set.Centre != "" && set.Agency != "", Agency: set.Agency, Centre: set.Centre, LoggedIn: s.sess != nil, Error: s.lastErr}
	if !s.last.IsZero() {
		t := s.last
		st.LastSync = &t
	}
	if s.sess != nil {
		sign, _ := s.sess.Signer()
		enc, _ := s.sess.Decrypter()
		st.Warnings = agent.ExpiryWarnings(s.now(), sign, enc)
	}
	s.mu.Unlock()
	far := time.Unix(1<<40, 0)
	in, err := s.Agent.Inbox(ctx, time.Unix(0, 0), far)
	if err != nil {
		return st, err
	}
	for _, i := range in {
		if i.Unread && i.State == "completed" {
			st.Unread++
		}
	}
	out, err := s.Agent.Outbox(ctx, time.Unix(0, 0), far)
	for _, o := range out {
		if o.State != agent.Sent && o.State != agent.Failed { // failed ones are shown in the 發文匣, not as waiting
			st.Queued++
		}
	}
	return st, err
}

// login opens the card once for the session (a PIN the card refuses is
// the card's answer, never tried again) and starts watching the centre.
func (s *Service) login(ctx context.Context, reader string, pin []byte) (any, error) {
	defer clear(pin)
	// The card is opened once: a session already open ends first. When the
	// new login then fails, the page must hear that the old one is gone.
	ended := s.end("login")
	failed := func(err error) (any, error) {
		if ended && s.Event != nil {
			s.Event("sessionEnded", map[string]string{"reason": "login failed"})
		}
		return nil, err
	}
	sess, err := s.Open(ctx, reader, pin)
	if err != nil {
		return failed(err)
	}
	if _, err := s.Agent.Directory(ctx, sess); err != nil { // the centre's login, with the card
		sess.Close()
		return failed(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.sess, s.stop = sess, cancel
	s.idle = time.AfterFunc(s.idleAfter(), func() { s.end("idle") })
	s.mu.Unlock()
	go func() {
		err := s.Agent.Watch(wctx, sess, s.Poll, s.synced)
		if err != nil && wctx.Err() == nil {
			s.end("error: " + err.Error())
		}
	}()
	_, agency, _ := s.Agent.Centre(ctx)
	return map[string]string{"agency": agency}, nil
}

func (s *Service) session() (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, ErrNotLoggedIn
	}
	return s.sess, nil
}

// synced records a sync and tells the page.
func (s *Service) synced(rep agent.Report, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	s.mu.Lock()
	s.last, s.lastErr = s.now(), msg
	s.mu.Unlock()
	if s.Event != nil && (err != nil || !rep.Empty()) {
		s.Event("synced", map[string]any{"report": rep, "error": msg})
	}
}

func (s *Service) idleAfter() time.Duration {
	if s.Idle > 0 {
		return s.Idle
	}
	return IdleAfter
}

// touch keeps a session in use from ending as idle.
func (s *Service) touch() {
	s.mu.Lock()
	if s.idle != nil {
		s.idle.Reset(s.idleAfter())
	}
	s.mu.Unlock()
}

// end ends the session (logout, idle, the card gone, a new login) and
// says why, when there was one.
func (s *Service) end(why string) (ended bool) {
	s.mu.Lock()
	sess, stop, idle := s.sess, s.stop, s.idle
	s.sess, s.stop, s.idle = nil, nil, nil
	s.mu.Unlock()
	if sess == nil {
		return false
	}
	if idle != nil {
		idle.Stop()
	}
	stop()
	_ = s.Agent.Logout(context.Background())
	sess.Close()
	if s.Event != nil && why != "login" {
		s.Event("sessionEnded", map[string]string{"reason": why})
	}
	return true
}

// Close ends the session.
func (s *Service) Close() { s.end("closed") }

// line is a request line.
type line struct {
	ID   json.RawMessage `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

// Serve answers the requests read from r, one JSON object a line, on w:
// {"id":…,"result":…} or {"id":…,"error":{"message":…}}; events are
// {"event":…,"data":…}. Requests are answered in order.
func (s *Service) Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	var wmu sync.Mutex
	enc := json.NewEncoder(w)
	send := func(v any) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = enc.Encode(v)
	}
	if s.Event == nil {
		s.Event = func(name string, data any) { send(map[string]any{"event": name, "data": data}) }
	}
	defer s.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	for sc.Scan() {
		var req line
		err := json.Unmarshal(sc.Bytes(), &req)
		clear(sc.Bytes()) // the line holds the PIN of a login or send; req has its own copy
		if err != nil || req.Op == "" {
			send(map[string]any{"id": req.ID, "error": ErrorLine{Code: string(protocol.ErrBadMessage), Message: "a request is {\"id\":…,\"op\":…,\"args\":{…}}"}})
			continue
		}
		res, err := s.Do(ctx, req.Op, req.Args)
		clear(req.Args)
		if err != nil {
			send(map[string]any{"id": req.ID, "error": WireError(err)})
			continue
		}
		send(map[string]any{"id": req.ID, "result": res})
	}
	return sc.Err()
}

// ErrorLine is an answer's error: the protocol's code (docs/protocol.md
// §5) that the native host passes on, its details, and the agent's own
// words in both languages.
type ErrorLine struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// WireError classifies err for the page: card errors keep the codes the
// rest of CardBridge gives them (a wrong PIN with its tries left), a
// request that needs the card session says so, and anything else the
// agent refused carries its reason.
func WireError(err error) ErrorLine {
	msg := err.Error()
	switch {
	case errors.Is(err, ErrNotLoggedIn):
		return ErrorLine{Code: string(protocol.ErrExchangeLoginNeeded), Message: msg}
	case errors.Is(err, ErrBadArgs), errors.Is(err, ErrUnknownOp):
		return ErrorLine{Code: string(protocol.ErrBadArgument), Message: msg, Details: map[string]any{"reason": msg}}
	}
	mapped := errcode.Map(err)
	switch code := protocol.CodeFor(mapped); code {
	case protocol.ErrInternal, protocol.ErrTimeout, protocol.ErrCancelled:
		return ErrorLine{Code: string(protocol.ErrExchangeFailed), Message: msg, Details: map[string]any{"reason": msg}}
	default:
		return ErrorLine{Code: string(code), Message: msg, Details: protocol.Details(mapped)}
	}
}

// Agency is a directory entry as the page lists it: without the
// encryption certificate, which the agent alone needs, so that a city's
// thousands of agencies fit in the 1 MB a browser takes a message.
type Agency struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Suspended bool      `json:"suspended,omitempty"`
	Expires   time.Time `json:"expires"`
	Expired   bool      `json:"expired,omitempty"`
}

func listing(dir []api.DirectoryEntry) []Agency {
	out := make([]Agency, 0, len(dir))
	for _, e := range dir {
		out = append(out, Agency{Code: e.Code, Name: e.Name, Suspended: e.Suspended, Expires: e.Expires, Expired: e.Expired})
	}
	return out
}
