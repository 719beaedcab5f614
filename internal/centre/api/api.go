// Package api is the exchange centre's HTTP API (docs/exchange.md): agents
// log in by signing a centre challenge with their card (authtoken, the
// centre's own origin bound into the signature, cert1 chained to the
// configured roots, the 機關代碼 taken from the certificate and looked up in
// the directory), then upload sealed packages, fetch the ones addressed to
// them, report each outcome, and learn of changes by a WebSocket push
// channel or by polling an event cursor.
//
// Every request after login carries "Authorization: Bearer <session>"; a
// session belongs to one agency, and the store answers only what that
// agency may see (its own packages and deliveries). Errors are JSON
// {"error": {"code", "message", "messageZh"}} with stable codes.
package api

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
)

// Limits of the API.
const (
	// MaxUpload caps one package (the store's own cap).
	MaxUpload = store.MaxEnvelope
	// MaxJSON caps a JSON request body.
	MaxJSON = 128 << 10
	// SessionIdle and SessionMax bound a login.
	SessionIdle = time.Hour
	SessionMax  = 12 * time.Hour
	// MaxSessions is how many live sessions an agency keeps: a login
	// beyond it ends the agency's oldest.
	MaxSessions = 16
	// MaxPush is how many push connections an agency holds at once.
	MaxPush = 4
	// MaxTransfers is how many uploads and envelope downloads an agency
	// runs at once (each may hold a whole envelope in memory).
	MaxTransfers = 2
	// MaxRecipients is the most recipients of one package (the store's).
	MaxRecipients = store.MaxRecipients
)

// challengesPerClient bounds the login challenges one address holds.
const challengesPerClient = 1024

// Read deadlines: a login's body arrives within loginBodyTimeout, an
// envelope's within uploadTimeout, so that a slow client cannot hold a
// connection (and its goroutine) for ever.
var (
	loginBodyTimeout = 30 * time.Second
	uploadTimeout    = 30 * time.Minute
)

// Server serves the API over a store.
type Server struct {
	Store *store.Store
	// Verifier checks login tokens; its Origin is the centre's public
	// origin and its Roots the CAs agencies' certificates chain to.
	Verifier *authtoken.Verifier
	// Retention is how long an envelope is kept (default 90 days).
	Retention time.Duration
	Log       *slog.Logger

	once       sync.Once
	challenges *authtoken.Challenges
	mu         sync.Mutex
	sessions   map[string]*session
	transfers  map[string]int // per agency, uploads and downloads running
	hub        hub
	now        func() time.Time
}

type session struct {
	agency        string
	start, active time.Time
}

func (s *Server) init() {
	s.once.Do(func() {
		s.challenges = authtoken.NewChallenges(5 * time.Minute)
		// Agencies behind one NAT, and every agent of a centre behind a
		// reverse proxy, share an address: at the default of 8 per
		// client, more than 8 logins at once evicted each other's
		// challenges (found by the bench's 50 agents).
		s.challenges.PerClient = challengesPerClient
		s.sessions = map[string]*session{}
		s.transfers = map[string]int{}
		s.hub.subs = map[string]map[chan struct{}]bool{}
		if s.Retention == 0 {
			s.Retention = 90 * 24 * time.Hour
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		if s.now == nil {
			s.now = time.Now
		}
	})
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	s.init()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/login/challenge", s.challenge)
	mux.HandleFunc("POST /v1/login", s.login)
	mux.HandleFunc("POST /v1/logout", s.auth(s.logout))
	mux.HandleFunc("GET /v1/directory", s.auth(s.directory))
	mux.HandleFunc("POST /v1/packages", s.auth(s.upload))
	mux.HandleFunc("GET /v1/packages/{sender}/{id}", s.auth(s.pkg))
	mux.HandleFunc("GET /v1/packages/{sender}/{id}/envelope", s.auth(s.envelope))
	mux.HandleFunc("POST /v1/packages/{sender}/{id}/report", s.auth(s.report))
	mux.HandleFunc("GET /v1/events", s.auth(s.events))
	mux.HandleFunc("GET /v1/announcements", s.auth(s.announcements))
	mux.HandleFunc("GET /v1/push", s.auth(s.push))
	return mux
}

// apiError is an answer's error: a stable code and messages.
type apiError struct {
	status    int
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageZh string `json:"messageZh"`
}

func fail(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

var (
	errLogin     = apiError{http.StatusUnauthorized, "LOGIN_FAILED", "The card login was not accepted: the certificate is not from a trusted CA, has expired, or the signature does not match.", "憑證卡登入沒有通過：憑證不是受信任的憑證機構所發、已過期，或簽章不符。"}
	errChallenge = apiError{http.StatusUnauthorized, "CHALLENGE_EXPIRED", "The login took too long or its challenge was used already; log in again.", "登入逾時或已使用過，請重新登入。"}
	errSession   = apiError{http.StatusUnauthorized, "NOT_LOGGED_IN", "Log in with the card first.", "請先以憑證卡登入。"}
	errNotListed = apiError{http.StatusForbidden, "AGENCY_NOT_REGISTERED", "This card's agency is not registered at this exchange centre; ask the centre to add it.", "這張憑證卡的機關尚未在交換中心註冊，請洽交換中心加入。"}
	errSuspended = apiError{http.StatusForbidden, "AGENCY_SUSPENDED", "This agency's exchange is suspended (for example, its card expired); renew the card and ask the centre to resume it.", "這個機關的交換服務已暫停（例如憑證已過期），請更新憑證卡並洽交換中心恢復。"}
	errForbidden = apiError{http.StatusForbidden, "FORBIDDEN", "This document is not addressed to your agency.", "這份公文不是給貴機關的。"}
	errNotFound  = apiError{http.StatusNotFound, "NOT_FOUND", "No such document, or it is past its retention.", "找不到這份公文，或已超過保存期限。"}
	errBad       = apiError{http.StatusBadRequest, "BAD_REQUEST", "The request is not valid.", "要求的內容不正確。"}
	errConflict  = apiError{http.StatusConflict, "CONFLICT", "Another document was already sent under this send id.", "這個發送編號已經送過另一份公文。"}
	errState     = apiError{http.StatusConflict, "WRONG_STATE", "That is not possible in the document's current state.", "公文目前的狀態不能這樣處理。"}
	errTooLarge  = apiError{http.StatusRequestEntityTooLarge, "TOO_LARGE", "The document is larger than the centre accepts.", "公文超過交換中心接受的大小。"}
	errInternal  = apiError{http.StatusInternalServerError, "INTERNAL", "The centre could not do this; try again later.", "交換中心暫時無法處理，請稍後再試。"}
	errBusy      = apiError{http.StatusTooManyRequests, "TOO_MANY", "Too many transfers or connections of this agency at once; wait for one to end.", "貴機關同時進行的傳輸或連線太多，請待其中之一結束再試。"}
)

// storeError maps the store's errors to answers.
func (s *Server) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrForbidden):
		fail(w, errForbidden)
	case errors.Is(err, store.ErrNotFound):
		fail(w, errNotFound)
	case errors.Is(err, store.ErrExists):
		fail(w, errConflict)
	case errors.Is(err, store.ErrSuspended):
		fail(w, errSuspended)
	case errors.Is(err, store.ErrUnknownAgent):
		fail(w, apiError{http.StatusUnprocessableEntity, "UNKNOWN_RECIPIENT", "A recipient is not registered at this centre.", "有受文機關未在交換中心註冊。"})
	case errors.Is(err, store.ErrState):
		fail(w, errState)
	default:
		s.Log.Error("store", "err", err)
		fail(w, errInternal)
	}
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, MaxJSON))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (s *Server) challenge(w http.ResponseWriter, r *http.Request) {
	c, err := s.challenges.Issue(authtoken.ClientFromAddr(r.RemoteAddr))
	if err != nil {
		fail(w, errInternal)
		return
	}
	reply(w, map[string]string{"challenge": c})
}

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	Challenge string          `json:"challenge"`
	Token     authtoken.Token `json:"token"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(loginBodyTimeout))
	var req LoginRequest
	if err := decode(r, &req); err != nil {
		fail(w, errBad)
		return
	}
	// Used up even when the login fails: one try per challenge.
	if err := s.challenges.Consume(req.Challenge); err != nil {
		s.Log.Info("login refused: challenge unknown, used or expired", "addr", r.RemoteAddr)
		fail(w, errChallenge)
		return
	}
	cert, err := s.Verifier.Verify(&req.Token, req.Challenge)
	if err != nil {
		s.Log.Info("login refused", "err", err)
		fail(w, errLogin)
		return
	}
	code := parcel.AgencyCodeOf(cert)
	a, err := s.Store.AgencyByCode(r.Context(), code)
	switch {
	case code == "" || errors.Is(err, store.ErrUnknownAgent):
		fail(w, errNotListed)
		return
	case err != nil:
		s.storeError(w, err)
		return
	case a.Suspended:
		fail(w, errSuspended)
		return
	}
	tok := make([]byte, 32)
	rand.Read(tok)
	id := base64.RawURLEncoding.EncodeToString(tok)
	now := s.now()
	s.mu.Lock()
	s.sessions[id] = &session{agency: code, start: now, active: now}
	s.prune(code, now)
	s.mu.Unlock()
	s.Log.Info("login", "agency", code)
	reply(w, map[string]any{"session": id, "agency": code, "name": a.Name, "expires": now.Add(SessionMax).UTC()})
}

// prune drops the expired sessions, and the oldest of agency's beyond
// MaxSessions; s.mu is held. Without it every login stayed in memory
// until its token was used again, which an expired one never is.
func (s *Server) prune(agency string, now time.Time) {
	var mine []string
	for id, sess := range s.sessions {
		switch {
		case now.Sub(sess.active) > SessionIdle || now.Sub(sess.start) > SessionMax:
			delete(s.sessions, id)
		case sess.agency == agency:
			mine = append(mine, id)
		}
	}
	for len(mine) > MaxSessions {
		oldest := 0
		for i, id := range mine {
			if s.sessions[id].start.Before(s.sessions[mine[oldest]].start) {
				oldest = i
			}
		}
		delete(s.sessions, mine[oldest])
		mine = append(mine[:oldest], mine[oldest+1:]...)
	}
}

type ctxKey struct{}
type sessionKey struct{}

// live returns the agency of session id if it is live (not ended, not
// idle beyond SessionIdle, not older than SessionMax), marking it active
// when touch.
func (s *Server) live(id string, touch bool) (string, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess != nil && (now.Sub(sess.active) > SessionIdle || now.Sub(sess.start) > SessionMax) {
		delete(s.sessions, id)
		sess = nil
	}
	if sess == nil {
		return "", false
	}
	if touch {
		sess.active = now
	}
	return sess.agency, true
}

// endSessions ends every session of agency.
func (s *Server) endSessions(agency string) {
	s.mu.Lock()
	for id, sess := range s.sessions {
		if sess.agency == agency {
			delete(s.sessions, id)
		}
	}
	s.mu.Unlock()
	s.hub.notify(agency) // its push connections look again, and close
}

// suspended reports whether agency may no longer use its sessions: it was
// suspended, or removed from the directory, after it logged in.
func (s *Server) suspended(ctx context.Context, agency string) (apiError, bool) {
	a, err := s.Store.AgencyByCode(ctx, agency)
	switch {
	case errors.Is(err, store.ErrUnknownAgent):
		return errNotListed, true
	case err != nil:
		return errInternal, true
	case a.Suspended:
		return errSuspended, true
	}
	return apiError{}, false
}

// auth runs h for a live session of an agency still registered and not
// suspended, with its agency (and the session) in the context. A
// suspension (cardbridge-centre agency suspend, from another process)
// ends the agency's sessions at their next request.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		agency, live := s.live(id, true)
		if !ok || !live {
			fail(w, errSession)
			return
		}
		if e, stop := s.suspended(r.Context(), agency); stop {
			if e.Code != errInternal.Code {
				s.endSessions(agency)
			}
			fail(w, e)
			return
		}
		ctx := context.WithValue(context.WithValue(r.Context(), ctxKey{}, agency), sessionKey{}, id)
		h(w, r.WithContext(ctx))
	}
}

func agencyOf(r *http.Request) string { return r.Context().Value(ctxKey{}).(string) }

func sessionOf(r *http.Request) string { return r.Context().Value(sessionKey{}).(string) }

// transfer takes one of agency's MaxTransfers slots; done gives it back.
func (s *Server) transfer(agency string) (done func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transfers[agency] >= MaxTransfers {
		return nil, false
	}
	s.transfers[agency]++
	return func() {
		s.mu.Lock()
		if s.transfers[agency]--; s.transfers[agency] <= 0 {
			delete(s.transfers, agency)
		}
		s.mu.Unlock()
	}, true
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	delete(s.sessions, sessionOf(r))
	s.mu.Unlock()
	s.hub.notify(agencyOf(r)) // a push connection of this session closes
	reply(w, map[string]bool{"ok": true})
}

// DirectoryEntry is an agency as agents see it.
type DirectoryEntry struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	EncCert   []byte `json:"encCert"`
	Suspended bool   `json:"suspended"`
	// Expires is when the agency's card certificate expires; Expired
	// says it has, so its exchange is paused until the card is renewed.
	Expires time.Time `json:"expires"`
	Expired bool      `json:"expired,omitempty"`
}

// RemovedAfter is how long an agency whose card certificate expired stays
// in the directory: the exchange's rule removes it from the address book
// after three months, and it must apply again (docs/exchange.md).
const RemovedAfter = 90 * 24 * time.Hour

func (s *Server) directory(w http.ResponseWriter, r *http.Request) {
	as, err := s.Store.Agencies(r.Context())
	if err != nil {
		s.storeError(w, err)
		return
	}
	out := []DirectoryEntry{}
	now := time.Now()
	for _, a := range as {
		e := DirectoryEntry{Code: a.Code, Name: a.Name, EncCert: a.EncCert, Suspended: a.Suspended}
		if c, err := x509.ParseCertificate(a.EncCert); err == nil {
			if now.After(c.NotAfter.Add(RemovedAfter)) {
				continue
			}
			e.Expires, e.Expired = c.NotAfter, now.After(c.NotAfter)
		}
		out = append(out, e)
	}
	reply(w, map[string]any{"agencies": out})
}

// PackageView is a package as an agency sees it.
type PackageView struct {
	ID         string          `json:"id"`
	Sender     string          `json:"sender"`
	SendID     string          `json:"sendId"`
	SHA256     string          `json:"sha256"`
	Size       int64           `json:"size"`
	AcceptedAt time.Time       `json:"acceptedAt"`
	Recipients []RecipientView `json:"recipients"`
}

// RecipientView is one recipient's delivery.
type RecipientView struct {
	Recipient  string    `json:"recipient"`
	State      string    `json:"state"`
	SenderView string    `json:"senderState"`
	Reason     string    `json:"reason,omitempty"`
	Receipt    []byte    `json:"receipt,omitempty"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

func view(p store.Package) PackageView {
	v := PackageView{ID: p.ID, Sender: p.Sender, SendID: p.SendID, SHA256: p.SHA256, Size: p.Size, AcceptedAt: p.AcceptedAt.UTC(), Recipients: []RecipientView{}}
	for _, d := range p.Recipients {
		v.Recipients = append(v.Recipients, RecipientView{Recipient: d.Recipient, State: d.State, SenderView: store.SenderView(d.State), Reason: d.Reason, Receipt: d.Receipt, UpdatedAt: d.UpdatedAt.UTC()})
	}
	return v
}

// upload accepts a sealed package: the body is the envelope, the headers
// X-Send-Id (the sender's stable id) and X-Recipients (機關代碼, comma
// separated). The sender is the session's agency.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	sender := agencyOf(r)
	sendID := r.Header.Get("X-Send-Id")
	var recipients []string
	for _, c := range strings.Split(r.Header.Get("X-Recipients"), ",") {
		if c = strings.TrimSpace(c); c != "" {
			recipients = append(recipients, c)
		}
	}
	if r.ContentLength > MaxUpload {
		fail(w, errTooLarge)
		return
	}
	// What the headers say is checked before the body is read: a bad
	// request does not cost the centre a 256 MB read first.
	if !store.ValidSendID(sendID) || len(recipients) == 0 || len(recipients) > MaxRecipients {
		fail(w, errBad)
		return
	}
	done, ok := s.transfer(sender)
	if !ok {
		fail(w, errBusy)
		return
	}
	defer done()
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(uploadTimeout))
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxUpload+1))
	if err != nil {
		fail(w, errBad)
		return
	}
	if len(body) > MaxUpload {
		fail(w, errTooLarge)
		return
	}
	if len(body) == 0 {
		fail(w, errBad)
		return
	}
	p, err := s.Store.Accept(r.Context(), sender, sendID, body, recipients, s.Retention)
	if err != nil {
		s.storeError(w, err)
		return
	}
	s.hub.notify(append([]string{sender}, recipients...)...)
	reply(w, view(p))
}

// pkgID is the package the path names. A name no package can have (a NUL
// byte, a slash, text beyond 128 bytes) is answered "not found" here,
// before the store sees it: PostgreSQL answers a NUL in text with an error,
// not a miss, which was a 500 (found by running this suite on PostgreSQL).
func pkgID(w http.ResponseWriter, r *http.Request) (string, bool) {
	sender, id := r.PathValue("sender"), r.PathValue("id")
	if !store.ValidSendID(sender) || !store.ValidSendID(id) {
		fail(w, errNotFound)
		return "", false
	}
	return sender + "/" + id, true
}

func (s *Server) pkg(w http.ResponseWriter, r *http.Request) {
	id, ok := pkgID(w, r)
	if !ok {
		return
	}
	p, err := s.Store.Package(r.Context(), id, agencyOf(r))
	if err != nil {
		s.storeError(w, err)
		return
	}
	reply(w, view(p))
}

func (s *Server) envelope(w http.ResponseWriter, r *http.Request) {
	id, ok := pkgID(w, r)
	if !ok {
		return
	}
	done, ok := s.transfer(agencyOf(r))
	if !ok {
		fail(w, errBusy)
		return
	}
	defer done()
	env, err := s.Store.Fetch(r.Context(), id, agencyOf(r))
	if err != nil {
		s.storeError(w, err)
		return
	}
	s.hub.notify(agencyOf(r), r.PathValue("sender"))
	w.Header().Set("Content-Type", "application/pkcs7-mime")
	w.Header().Set("Content-Length", strconv.Itoa(len(env)))
	_, _ = w.Write(env)
}

// ReportRequest is the body of POST …/report.
type ReportRequest struct {
	State   string `json:"state"` // completed, failed, returned
	Reason  string `json:"reason,omitempty"`
	Receipt []byte `json:"receipt,omitempty"`
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	id, ok := pkgID(w, r)
	if !ok {
		return
	}
	var req ReportRequest
	if err := decode(r, &req); err != nil {
		fail(w, errBad)
		return
	}
	if err := s.Store.Report(r.Context(), id, agencyOf(r), req.State, req.Reason, req.Receipt); err != nil {
		s.storeError(w, err)
		return
	}
	s.hub.notify(agencyOf(r), r.PathValue("sender"))
	reply(w, map[string]bool{"ok": true})
}

// EventView is an event as agents read it.
type EventView struct {
	Seq         int64     `json:"seq"`
	Package     string    `json:"package"`
	Recipient   string    `json:"recipient"`
	State       string    `json:"state"`
	SenderState string    `json:"senderState"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
}

// eventPage is how many events one answer (or push message) holds.
const eventPage = 1000

func (s *Server) eventsAfter(ctx context.Context, agency string, after int64) ([]EventView, error) {
	evs, err := s.Store.Events(ctx, agency, after, eventPage)
	if err != nil {
		return nil, err
	}
	out := []EventView{}
	for _, e := range evs {
		out = append(out, EventView{Seq: e.Seq, Package: e.Package, Recipient: e.Recipient, State: e.State, SenderState: store.SenderView(e.State), Reason: e.Reason, At: e.At.UTC()})
	}
	return out, nil
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	evs, err := s.eventsAfter(r.Context(), agencyOf(r), after)
	if err != nil {
		s.storeError(w, err)
		return
	}
	reply(w, map[string]any{"events": evs})
}

func (s *Server) announcements(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	as, err := s.Store.Announcements(r.Context(), after)
	if err != nil {
		s.storeError(w, err)
		return
	}
	type av struct {
		Seq  int64     `json:"seq"`
		Text string    `json:"text"`
		At   time.Time `json:"at"`
	}
	out := []av{}
	for _, a := range as {
		out = append(out, av{a.Seq, a.Text, a.At.UTC()})
	}
	reply(w, map[string]any{"announcements": out})
}

// hub wakes the push connections of agencies whose events changed.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]bool
}

// subscribe registers one of agency's push connections, at most MaxPush
// (ok false beyond them).
func (h *hub) subscribe(agency string) (c chan struct{}, unsubscribe func(), ok bool) {
	c = make(chan struct{}, 1)
	h.mu.Lock()
	if len(h.subs[agency]) >= MaxPush {
		h.mu.Unlock()
		return nil, nil, false
	}
	if h.subs[agency] == nil {
		h.subs[agency] = map[chan struct{}]bool{}
	}
	h.subs[agency][c] = true
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.subs[agency], c)
		if len(h.subs[agency]) == 0 {
			delete(h.subs, agency)
		}
		h.mu.Unlock()
	}, true
}

func (h *hub) notify(agencies ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range agencies {
		for c := range h.subs[a] {
			select {
			case c <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}
}

// checkOrigin accepts every WebSocket client: agents are programs, not
// pages, and the session token, not a cookie, authenticates them, so a
// page elsewhere cannot ride on a login.
func checkOrigin(*http.Request) bool { return true }
