package main

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// web holds the page, its script and its style sheet.
//
//go:embed web
var web embed.FS

// Limits on what a client may send or hold.
const (
	// maxDocument bounds the document /api/verify-signature accepts: a
	// 公文 is a few KB; the host itself takes up to 4 MiB.
	maxDocument = 512 << 10
	// maxCMS bounds the signature: one certificate and one SignerInfo.
	maxCMS = 64 << 10
	// maxVerifyBody bounds the JSON body of /api/verify-signature: both
	// in base64 plus the field names.
	maxVerifyBody = (maxDocument+maxCMS)*4/3 + 1024
	// maxAcceptBody bounds the body of /api/accepted-certificates: the
	// certificates of a few cards.
	maxAcceptBody = 128 << 10
	// maxPageLib bounds the page library file served at /cardbridge.js.
	maxPageLib = 1 << 20

	sessionCookie = "cardbridge_demo"
	// sessionIdle is how long an unused session is kept.
	sessionIdle = time.Hour
	// maxSessions caps the sessions held at once, so that a flood of
	// requests without cookies cannot exhaust memory.
	maxSessions = 10000
	// nonceTTL is how long a signing nonce may wait for its signature:
	// time to find the card and type the PIN.
	nonceTTL = 5 * time.Minute
)

// siteConfig is what newSite needs.
type siteConfig struct {
	// CA is the TEST hierarchy: its root is the only trusted root and its
	// issuing CA the only intermediate. The keys are not used.
	CA *testca.Hierarchy
	// PageLib is the path of the extension's page/cardbridge.js, read on
	// each request so that edits show on reload.
	PageLib string
	// Addr is the bound loopback host:port. The site answers only to the
	// Host values (and page origins) it implies.
	Addr string
	// Log receives one line per refused request; nil discards.
	Log *slog.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// site is the demo site's state: trust, challenges and sessions.
type site struct {
	roots, intermediates *x509.CertPool
	issuing              []*x509.Certificate
	pageLib              string
	// hosts are the Host header values the site answers to, e.g.
	// "127.0.0.1:8080" and "localhost:8080"; the page's origin is
	// "http://" + one of them.
	hosts      map[string]bool
	challenges *authtoken.Challenges
	now        func() time.Time
	log        *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
}

// session is one browser's server-side state, found by its cookie.
type session struct {
	// challenge is the last login challenge issued to this browser. It
	// stays after a login attempt; authtoken.Challenges knows it is spent
	// and refuses it as a replay.
	challenge string
	// nonce is the signing nonce waiting for its signature; it is
	// cleared by the first signature check, whatever the outcome.
	nonce        string
	nonceExpires time.Time
	// cert is the logged-in card certificate, nil before login.
	cert *x509.Certificate
	seen time.Time
}

func newSite(c siteConfig) (*site, error) {
	if c.CA == nil || c.CA.Root == nil || c.CA.Issuing == nil {
		return nil, errors.New("no TEST CA")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("bound address %q: %w", c.Addr, err)
	}
	s := &site{
		roots:         x509.NewCertPool(),
		intermediates: x509.NewCertPool(),
		issuing:       []*x509.Certificate{c.CA.Issuing.Cert},
		pageLib:       c.PageLib,
		hosts: map[string]bool{
			net.JoinHostPort(host, port):        true,
			net.JoinHostPort("localhost", port): true,
		},
		challenges: authtoken.NewChallenges(authtoken.ChallengeTTL),
		now:        c.Now,
		log:        c.Log,
		sessions:   make(map[string]*session),
	}
	s.roots.AddCert(c.CA.Root.Cert)
	s.intermediates.AddCert(c.CA.Issuing.Cert)
	if s.now == nil {
		s.now = time.Now
	}
	s.challenges.Now = s.now
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// handler returns the site's routes behind guard.
func (s *site) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.static("web/index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /app.js", s.static("web/app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /app.css", s.static("web/app.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /cardbridge.js", s.pageLibrary)
	mux.HandleFunc("GET /api/challenge", s.challenge)
	mux.HandleFunc("POST /api/challenge", s.challenge)
	mux.HandleFunc("POST /api/login", s.login)
	mux.HandleFunc("GET /api/session", s.sessionInfo)
	mux.HandleFunc("GET /api/nonce", s.nonce)
	mux.HandleFunc("POST /api/nonce", s.nonce)
	mux.HandleFunc("POST /api/verify-signature", s.verifySignature)
	mux.HandleFunc("POST /api/accepted-certificates", s.acceptedCertificates)
	return s.guard(mux)
}

// guard sets the security headers and refuses requests for another host
// (DNS rebinding) and state-changing requests from another origin.
func (s *site) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !s.hosts[r.Host] {
			s.fail(w, errHost, fmt.Errorf("host %.64q", r.Host))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Browsers send Origin with every POST; curl and tests may not.
			if o := r.Header.Get("Origin"); o != "" && o != pageOrigin(r) {
				s.fail(w, errCrossOrigin, fmt.Errorf("origin %.64q", o))
				return
			}
			if f := r.Header.Get("Sec-Fetch-Site"); f != "" && f != "same-origin" {
				s.fail(w, errCrossOrigin, fmt.Errorf("sec-fetch-site %.32q", f))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// pageOrigin is the origin of the page that made r, as the browser writes
// it: guard has checked r.Host, and the Origin header when present equals
// this.
func pageOrigin(r *http.Request) string {
	return "http://" + r.Host
}

func (s *site) static(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := web.ReadFile(name)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Write(b)
	}
}

// pageLibrary serves the extension's page library, so that the page can
// import it from its own origin as a site would.
func (s *site) pageLibrary(w http.ResponseWriter, r *http.Request) {
	b, err := readLimited(s.pageLib, maxPageLib)
	if err != nil {
		s.log.Warn("page library not served", "path", s.pageLib, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "page library not available: %s\n", s.pageLib)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write(b)
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("larger than %d bytes", max)
	}
	return b, err
}

// challenge issues a login challenge and keeps it in the session.
func (s *site) challenge(w http.ResponseWriter, r *http.Request) {
	c, err := s.challenges.Issue(authtoken.ClientFromAddr(r.RemoteAddr))
	if err != nil {
		s.fail(w, errBusy, err)
		return
	}
	if err := s.update(w, r, func(ss *session) { ss.challenge = c }); err != nil {
		s.fail(w, errBusy, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"challenge": c})
}

// login verifies the posted token against the session's challenge and
// the page's origin, and on success starts a new logged-in session.
func (s *site) login(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, authtoken.MaxTokenSize)
	if err != nil {
		s.fail(w, bodyError(err), err)
		return
	}
	var challenge string
	id, ok := s.read(r, func(ss *session) { challenge = ss.challenge })
	if !ok || challenge == "" {
		s.fail(w, errNoChallenge, nil)
		return
	}
	// Spend the challenge first, so that even a failed login uses it up.
	if err := s.challenges.Consume(challenge); err != nil {
		s.fail(w, loginError(err), err)
		return
	}
	tok, err := authtoken.Parse(body)
	if err != nil {
		s.fail(w, loginError(err), err)
		return
	}
	v := &authtoken.Verifier{Roots: s.roots, Intermediates: s.intermediates, AllowedIssuers: s.issuing, Origin: pageOrigin(r), Now: s.now}
	cert, err := v.Verify(tok, challenge)
	if err != nil {
		s.fail(w, loginError(err), err)
		return
	}
	if err := s.startSession(w, id, cert); err != nil {
		s.fail(w, errBusy, err)
		return
	}
	info := certinfo.Describe(cert, s.now())
	s.log.Info("login", "holder", info.Holder, "ubn", info.UBN, "serial", info.SerialHex)
	writeJSON(w, http.StatusOK, map[string]any{"certificate": info})
}

// sessionInfo tells the page whether its session is logged in, and as
// whom, so that a reload keeps showing it.
func (s *site) sessionInfo(w http.ResponseWriter, r *http.Request) {
	var cert *x509.Certificate
	s.read(r, func(ss *session) { cert = ss.cert })
	if cert == nil {
		writeJSON(w, http.StatusOK, map[string]any{"loggedIn": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"loggedIn": true, "certificate": certinfo.Describe(cert, s.now())})
}

// nonce issues the signing nonce the next signature must carry.
func (s *site) nonce(w http.ResponseWriter, r *http.Request) {
	var b [18]byte
	rand.Read(b[:]) // never fails
	n := base64.RawURLEncoding.EncodeToString(b[:])
	exp := s.now().Add(nonceTTL)
	if err := s.update(w, r, func(ss *session) { ss.nonce, ss.nonceExpires = n, exp }); err != nil {
		s.fail(w, errBusy, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"nonce": n, "expiresAt": exp.UTC().Format(time.RFC3339)})
}

// verifyRequest is the body of /api/verify-signature.
type verifyRequest struct {
	// Data is the signed document, standard base64.
	Data string `json:"data"`
	// CMS is the detached SignedData the extension's sign returned,
	// standard base64.
	CMS string `json:"cms"`
}

// verifySignature checks a detached CMS signature over the posted
// document: the TEST chain, the session's nonce and, after login, that
// the logged-in certificate signed.
func (s *site) verifySignature(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, maxVerifyBody)
	if err != nil {
		s.fail(w, bodyError(err), err)
		return
	}
	var req verifyRequest
	if err := decodeStrict(body, &req); err != nil {
		s.fail(w, errBadRequest, err)
		return
	}
	data, err := decodeBase64(req.Data, maxDocument)
	if err != nil {
		s.fail(w, errBadRequest, fmt.Errorf("data: %w", err))
		return
	}
	der, err := decodeBase64(req.CMS, maxCMS)
	if err != nil || len(der) == 0 {
		s.fail(w, errBadRequest, fmt.Errorf("cms: %w", err))
		return
	}
	var nonce string
	var loggedIn *x509.Certificate
	now := s.now()
	_, ok := s.read(r, func(ss *session) {
		if ss.nonce != "" && now.Before(ss.nonceExpires) {
			nonce = ss.nonce
		}
		ss.nonce = "" // single use, even when the check below fails
		loggedIn = ss.cert
	})
	if !ok || nonce == "" {
		s.fail(w, errNoNonce, nil)
		return
	}
	facts, apiErr, err := s.checkCMS(der, data, nonce, pageOrigin(r), loggedIn)
	if apiErr != nil {
		s.fail(w, apiErr, err)
		return
	}
	s.log.Info("signature verified", "holder", facts.Signer.Holder, "bytes", facts.DocumentBytes)
	writeJSON(w, http.StatusOK, facts)
}

// acceptedCertificates tells the page which of the card certificates it
// lists this site would accept for login and signing (issued under the
// TEST CA, valid now, able to sign), so that with several cards inserted
// the page picks one the server takes. It is a convenience for the page:
// login and verify-signature check everything again.
func (s *site) acceptedCertificates(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, maxAcceptBody)
	if err != nil {
		s.fail(w, bodyError(err), err)
		return
	}
	var req struct {
		Certificates []string `json:"certificates"`
	}
	if err := decodeStrict(body, &req); err != nil || len(req.Certificates) > 32 {
		s.fail(w, errBadRequest, err)
		return
	}
	accepted := make([]bool, len(req.Certificates))
	for i, b64 := range req.Certificates {
		der, err := decodeBase64(b64, authtoken.MaxCertificateSize)
		if err != nil {
			continue
		}
		cert, err := x509.ParseCertificate(der)
		accepted[i] = err == nil && s.canSign(cert) == nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"accepted": accepted})
}

// canSign checks that cert chains to the TEST root now, is not a CA and
// may sign (digitalSignature or nonRepudiation).
func (s *site) canSign(cert *x509.Certificate) error {
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:         s.roots,
		Intermediates: s.intermediates,
		CurrentTime:   s.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return err
	}
	if cert.IsCA || cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return errors.New("certificate may not sign")
	}
	return nil
}

// readBody reads at most max bytes of r's body.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, max))
}

func bodyError(err error) *apiError {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errTooLarge
	}
	return errBadRequest
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}

// decodeBase64 decodes standard base64 of at most max bytes, checking the
// length before decoding.
func decodeBase64(s string, max int) ([]byte, error) {
	if len(s) > base64.StdEncoding.EncodedLen(max) {
		return nil, fmt.Errorf("more than %d bytes", max)
	}
	return base64.StdEncoding.DecodeString(s)
}

// Sessions.

// read runs fn on r's session under the lock. It reports false, without
// calling fn, when r has no session.
func (s *site) read(r *http.Request, fn func(*session)) (id string, ok bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[c.Value]
	if !ok || s.now().Sub(ss.seen) > sessionIdle {
		return "", false
	}
	ss.seen = s.now()
	fn(ss)
	return c.Value, true
}

// update runs fn on r's session, creating one (and its cookie) when r has
// none.
func (s *site) update(w http.ResponseWriter, r *http.Request, fn func(*session)) error {
	if _, ok := s.read(r, fn); ok {
		return nil
	}
	ss := &session{}
	fn(ss)
	return s.add(w, ss)
}

// startSession replaces the session id after a login, so that an id
// known before the login (session fixation) is worth nothing after it.
func (s *site) startSession(w http.ResponseWriter, oldID string, cert *x509.Certificate) error {
	s.mu.Lock()
	delete(s.sessions, oldID)
	s.mu.Unlock()
	return s.add(w, &session{cert: cert})
}

// add stores ss under a new id and sets the cookie.
func (s *site) add(w http.ResponseWriter, ss *session) error {
	var b [32]byte
	rand.Read(b[:]) // never fails
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	ss.seen = now
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= maxSessions {
		for k, v := range s.sessions {
			if now.Sub(v.seen) > sessionIdle {
				delete(s.sessions, k)
			}
		}
		if len(s.sessions) >= maxSessions {
			return fmt.Errorf("%d sessions held", len(s.sessions))
		}
	}
	s.sessions[id] = ss
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// Responses.

// apiError is a refusal the page shows: a stable code and a message in
// Traditional Chinese and English. It never carries the internal cause,
// which goes to the log.
type apiError struct {
	Status int    `json:"-"`
	Code   string `json:"code"`
	Zh     string `json:"messageZh"`
	En     string `json:"message"`
}

var (
	errHost        = &apiError{http.StatusMisdirectedRequest, "DEMO_WRONG_HOST", "請用 http://127.0.0.1 或 http://localhost 開啟示範網站。", "Open the demo site at http://127.0.0.1 or http://localhost."}
	errCrossOrigin = &apiError{http.StatusForbidden, "DEMO_CROSS_ORIGIN", "這個要求不是來自示範網站本身，已拒絕。", "The request did not come from the demo site itself and was refused."}
	errBadRequest  = &apiError{http.StatusBadRequest, "DEMO_BAD_REQUEST", "網頁送出的資料格式不正確。", "The page sent malformed data."}
	errTooLarge    = &apiError{http.StatusRequestEntityTooLarge, "DEMO_TOO_LARGE", "資料太大，示範網站不接受。", "The data is too large for the demo site."}
	errBusy        = &apiError{http.StatusServiceUnavailable, "DEMO_BUSY", "伺服器忙碌中，請稍後再試。", "The server is busy. Please try again later."}

	errNoChallenge      = &apiError{http.StatusForbidden, "DEMO_NO_CHALLENGE", "沒有待驗證的登入要求，請重新按「以憑證登入」。", "There is no login in progress. Press the login button again."}
	errLoginReplay      = &apiError{http.StatusForbidden, "DEMO_LOGIN_REPLAY", "這份登入資料已經用過，不能再用一次。請重新登入。", "This login token was already used and cannot be used again. Log in again."}
	errLoginChallenge   = &apiError{http.StatusForbidden, "DEMO_LOGIN_EXPIRED", "登入要求已逾時（5 分鐘），請重新登入。", "The login request timed out (5 minutes). Log in again."}
	errLoginMalformed   = &apiError{http.StatusBadRequest, "DEMO_LOGIN_MALFORMED", "登入資料格式不正確。", "The login token is malformed."}
	errLoginCertificate = &apiError{http.StatusForbidden, "DEMO_LOGIN_CERTIFICATE", "這張憑證不是本網站信任的憑證管理中心所發，或不能用於登入。", "The certificate is not from a CA this site trusts, or may not be used to log in."}
	errLoginCertExpired = &apiError{http.StatusForbidden, "DEMO_LOGIN_CERT_EXPIRED", "憑證已過期或尚未生效。", "The certificate has expired or is not yet valid."}
	errLoginSignature   = &apiError{http.StatusForbidden, "DEMO_LOGIN_SIGNATURE", "登入簽章不符：這份登入資料不是為本網站的這次登入所產生。", "The login signature does not match: the token was not made for this login on this site."}
	errLoginFailed      = &apiError{http.StatusForbidden, "DEMO_LOGIN_FAILED", "憑證登入失敗。", "Card login failed."}

	errNoNonce           = &apiError{http.StatusForbidden, "DEMO_NO_NONCE", "沒有待驗證的簽署要求（或已逾時），請重新按「簽署公文」。", "No signature is expected (or it timed out). Press the sign button again."}
	errNonceMismatch     = &apiError{http.StatusForbidden, "DEMO_NONCE_MISMATCH", "簽章中的隨機碼與伺服器發出的不符，可能是舊的簽章。", "The signature's nonce is not the one the server issued; it may be an old signature."}
	errCMSOrigin         = &apiError{http.StatusForbidden, "DEMO_CMS_ORIGIN", "這份簽章不是為本網站製作的（可能是別的網站取得的簽章），不予接受。", "This signature was not made for this site (another site may have obtained it), so it is refused."}
	errCMSMalformed      = &apiError{http.StatusBadRequest, "DEMO_CMS_MALFORMED", "簽章檔格式不正確。", "The signature is not a valid CMS SignedData."}
	errCMSAlgorithm      = &apiError{http.StatusForbidden, "DEMO_CMS_ALGORITHM", "簽章使用的雜湊演算法不被接受（需 SHA-256 以上）。", "The signature's hash algorithm is not accepted (SHA-256 or stronger)."}
	errCMSCertificate    = &apiError{http.StatusForbidden, "DEMO_CMS_CERTIFICATE", "簽章憑證不是本網站信任的憑證管理中心所發，或不能用於簽章。", "The signing certificate is not from a CA this site trusts, or may not sign."}
	errCMSCertExpired    = &apiError{http.StatusForbidden, "DEMO_CMS_CERT_EXPIRED", "簽章憑證已過期或尚未生效。", "The signing certificate has expired or is not yet valid."}
	errCMSDigest         = &apiError{http.StatusForbidden, "DEMO_CMS_DIGEST", "文件內容與簽章不符：文件在簽署後被改過。", "The document does not match the signature: it was changed after signing."}
	errCMSSigningTime    = &apiError{http.StatusForbidden, "DEMO_CMS_SIGNING_TIME", "簽章時間不在憑證有效期間內。", "The signing time is outside the certificate's validity."}
	errCMSSignature      = &apiError{http.StatusForbidden, "DEMO_CMS_SIGNATURE", "簽章驗證失敗。", "The signature does not verify."}
	errSignerNotLoggedIn = &apiError{http.StatusForbidden, "DEMO_SIGNER_MISMATCH", "簽署的憑證不是目前登入的憑證。", "The document was signed with a certificate other than the logged-in one."}
)

// loginError maps an authtoken error to what the page shows. The cause
// (which may name certificates) goes only to the log.
func loginError(err error) *apiError {
	switch {
	case errors.Is(err, authtoken.ErrReplay):
		return errLoginReplay
	case errors.Is(err, authtoken.ErrChallenge):
		return errLoginChallenge
	case errors.Is(err, authtoken.ErrMalformed), errors.Is(err, authtoken.ErrFormat), errors.Is(err, authtoken.ErrAlgorithm):
		return errLoginMalformed
	case errors.Is(err, authtoken.ErrCertificate):
		return errLoginCertificate
	case errors.Is(err, authtoken.ErrExpired):
		return errLoginCertExpired
	case errors.Is(err, authtoken.ErrSignature):
		return errLoginSignature
	}
	return errLoginFailed
}

// fail logs cause and answers with e.
func (s *site) fail(w http.ResponseWriter, e *apiError, cause error) {
	s.log.Info("refused", "code", e.Code, "err", cause)
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
