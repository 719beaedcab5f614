package api_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/pgtest"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/testca"
)

type agency = *exchangetest.Agency

var (
	once                                    sync.Once
	ca, otherCA                             *testca.Hierarchy
	kindergarten, bureau, stranger, foreign agency
)

func issue(t *testing.T, h *testca.Hierarchy, name, ubn string) agency {
	return exchangetest.Valid(t, h, name, ubn)
}

// centre is a running centre with the kindergarten, the bureau and a
// stranger registered; foreign's certificates come from another CA.
type centre struct {
	url   string
	store *store.Store
}

func start(t *testing.T) *centre {
	t.Helper()
	once.Do(func() {
		var err error
		ca, err = testca.New(nil, time.Now())
		require.NoError(t, err)
		otherCA, err = testca.New(nil, time.Now())
		require.NoError(t, err)
		kindergarten = issue(t, ca, "測試幼兒園", "04595252")
		bureau = issue(t, ca, "測試市教育局", "10458570")
		stranger = issue(t, ca, "他園", "22099131")
		foreign = issue(t, otherCA, "外地", "10458575")
	})
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st := openStore(t, key)
	for _, a := range []agency{kindergarten, bureau, stranger, foreign} {
		require.NoError(t, st.AddAgency(context.Background(), store.Agency{Code: a.Code, Name: a.Code, EncCert: a.Enc.Raw}))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root.Cert)
	inter := x509.NewCertPool()
	inter.AddCert(ca.Issuing.Cert)
	srv := &api.Server{Store: st, Verifier: &authtoken.Verifier{Roots: roots, Intermediates: inter}}
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	srv.Verifier.Origin = ts.URL
	ts.Config.Handler = srv.Handler()
	t.Cleanup(ts.Close)
	return &centre{url: ts.URL, store: st}
}

func (c *centre) call(t *testing.T, method, path, session string, body io.Reader, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, c.url+path, body)
	require.NoError(t, err)
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// token signs the centre's challenge as the agent does with its card
// (cards.Manager.Authenticate): PS256 over SignedDigest(origin, challenge).
func token(t *testing.T, a agency, origin, challenge string) authtoken.Token {
	d := authtoken.SignedDigest(origin, challenge)
	sig, err := rsa.SignPSS(rand.Reader, a.SignKey, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	require.NoError(t, err)
	return authtoken.Token{Format: authtoken.Format, Certificate: base64.StdEncoding.EncodeToString(a.Sign.Raw), Algorithm: "PS256", Signature: base64.StdEncoding.EncodeToString(sig)}
}

func (c *centre) challenge(t *testing.T) string {
	code, out := c.call(t, "POST", "/v1/login/challenge", "", nil, nil)
	require.Equal(t, 200, code)
	return out["challenge"].(string)
}

func (c *centre) login(t *testing.T, a agency) string {
	t.Helper()
	ch := c.challenge(t)
	code, out := c.call(t, "POST", "/v1/login", "", jsonBody(api.LoginRequest{Challenge: ch, Token: token(t, a, c.url, ch)}), nil)
	require.Equal(t, 200, code, "%v", out)
	assert.Equal(t, a.Code, out["agency"])
	return out["session"].(string)
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestLogin(t *testing.T) {
	c := start(t)
	c.login(t, kindergarten)

	for name, tc := range map[string]struct {
		tok  func(ch string) authtoken.Token
		ch   func() string
		want string
	}{
		"another CA":                 {func(ch string) authtoken.Token { return token(t, foreign, c.url, ch) }, func() string { return c.challenge(t) }, "LOGIN_FAILED"},
		"a token for another origin": {func(ch string) authtoken.Token { return token(t, kindergarten, "https://other.example", ch) }, func() string { return c.challenge(t) }, "LOGIN_FAILED"},
		"a challenge never issued":   {func(ch string) authtoken.Token { return token(t, kindergarten, c.url, ch) }, func() string { return strings.Repeat("A", 43) + "=" }, "CHALLENGE_EXPIRED"},
	} {
		ch := tc.ch()
		code, out := c.call(t, "POST", "/v1/login", "", jsonBody(api.LoginRequest{Challenge: ch, Token: tc.tok(ch)}), nil)
		assert.Equal(t, 401, code, name)
		assert.Equal(t, tc.want, errCode(out), name)
	}
	// A challenge is good once, even after a failed login.
	ch := c.challenge(t)
	code, _ := c.call(t, "POST", "/v1/login", "", jsonBody(api.LoginRequest{Challenge: ch, Token: token(t, foreign, c.url, ch)}), nil)
	assert.Equal(t, 401, code)
	code, out := c.call(t, "POST", "/v1/login", "", jsonBody(api.LoginRequest{Challenge: ch, Token: token(t, kindergarten, c.url, ch)}), nil)
	assert.Equal(t, 401, code, "replayed challenge")
	assert.Equal(t, "CHALLENGE_EXPIRED", errCode(out))

	// Suspended.
	require.NoError(t, c.store.SetSuspended(context.Background(), stranger.Code, true))
	ch = c.challenge(t)
	code, out = c.call(t, "POST", "/v1/login", "", jsonBody(api.LoginRequest{Challenge: ch, Token: token(t, stranger, c.url, ch)}), nil)
	assert.Equal(t, 403, code)
	assert.Equal(t, "AGENCY_SUSPENDED", errCode(out))

	// Without a session nothing answers.
	code, out = c.call(t, "GET", "/v1/directory", "", nil, nil)
	assert.Equal(t, 401, code)
	assert.Equal(t, "NOT_LOGGED_IN", errCode(out))
	code, _ = c.call(t, "GET", "/v1/directory", "made-up", nil, nil)
	assert.Equal(t, 401, code)
}

func TestExchangeThroughTheAPI(t *testing.T) {
	c := start(t)
	sb, sk, sx := c.login(t, bureau), c.login(t, kindergarten), c.login(t, stranger)

	code, dir := c.call(t, "GET", "/v1/directory", sk, nil, nil)
	require.Equal(t, 200, code)
	assert.Len(t, dir["agencies"], 4)

	// Push: the kindergarten's agent listens.
	dialer := websocket.Dialer{}
	ws, _, err := dialer.Dial(strings.Replace(c.url, "http", "ws", 1)+"/v1/push?after=0", http.Header{"Authorization": {"Bearer " + sk}})
	require.NoError(t, err)
	defer ws.Close()

	env := bytes.Repeat([]byte("sealed"), 1000)
	code, p := c.call(t, "POST", "/v1/packages", sb, bytes.NewReader(env), map[string]string{"X-Send-Id": "s-1", "X-Recipients": kindergarten.Code})
	require.Equal(t, 200, code, "%v", p)
	id := p["id"].(string)
	assert.Equal(t, bureau.Code+"/s-1", id)
	// A retry is the same package.
	code, p2 := c.call(t, "POST", "/v1/packages", sb, bytes.NewReader(env), map[string]string{"X-Send-Id": "s-1", "X-Recipients": kindergarten.Code})
	require.Equal(t, 200, code)
	assert.Equal(t, p["sha256"], p2["sha256"])

	// The push says it arrived.
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var msg struct{ Events []api.EventView }
	require.NoError(t, ws.ReadJSON(&msg))
	require.NotEmpty(t, msg.Events)
	assert.Equal(t, id, msg.Events[0].Package)
	assert.Equal(t, store.Arrived, msg.Events[0].State)

	// Another agency can neither read, fetch nor report it.
	code, out := c.call(t, "GET", "/v1/packages/"+id, sx, nil, nil)
	assert.Equal(t, 403, code)
	assert.Equal(t, "FORBIDDEN", errCode(out))
	code, _ = c.call(t, "GET", "/v1/packages/"+id+"/envelope", sx, nil, nil)
	assert.Equal(t, 403, code)
	code, _ = c.call(t, "POST", "/v1/packages/"+id+"/report", sx, jsonBody(api.ReportRequest{State: "completed", Receipt: []byte("r")}), nil)
	assert.Equal(t, 403, code)
	code, _ = c.call(t, "GET", "/v1/packages/"+id+"/envelope", sb, nil, nil)
	assert.Equal(t, 403, code, "the sender reads its own copy from its own archive")

	// The recipient fetches and reports.
	req, _ := http.NewRequest("GET", c.url+"/v1/packages/"+id+"/envelope", nil)
	req.Header.Set("Authorization", "Bearer "+sk)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, env, got)
	code, _ = c.call(t, "POST", "/v1/packages/"+id+"/report", sk, jsonBody(api.ReportRequest{State: "completed", Receipt: []byte("signed receipt")}), nil)
	require.Equal(t, 200, code)

	// The sender sees 使用者確認, by polling its cursor.
	code, evs := c.call(t, "GET", "/v1/events?after=0", sb, nil, nil)
	require.Equal(t, 200, code)
	last := evs["events"].([]any)[len(evs["events"].([]any))-1].(map[string]any)
	assert.Equal(t, "completed", last["state"])
	assert.Equal(t, "user-confirmed", last["senderState"])
	code, pv := c.call(t, "GET", "/v1/packages/"+id, sb, nil, nil)
	require.Equal(t, 200, code)
	r0 := pv["recipients"].([]any)[0].(map[string]any)
	assert.Equal(t, "user-confirmed", r0["senderState"])

	// Bad uploads.
	code, out = c.call(t, "POST", "/v1/packages", sb, bytes.NewReader(env), map[string]string{"X-Send-Id": "s-2", "X-Recipients": "XC00000000"})
	assert.Equal(t, 422, code)
	assert.Equal(t, "UNKNOWN_RECIPIENT", errCode(out))
	code, _ = c.call(t, "POST", "/v1/packages", sb, bytes.NewReader(env), map[string]string{"X-Recipients": kindergarten.Code})
	assert.Equal(t, 400, code, "no send id")
	code, out = c.call(t, "POST", "/v1/packages", sb, bytes.NewReader(append(bytes.Clone(env), 1)), map[string]string{"X-Send-Id": "s-1", "X-Recipients": kindergarten.Code})
	assert.Equal(t, 409, code)
	assert.Equal(t, "CONFLICT", errCode(out))
	code, _ = c.call(t, "POST", "/v1/packages/"+id+"/report", sk, strings.NewReader(`{"state":"completed","extra":1}`), nil)
	assert.Equal(t, 400, code, "unknown fields refused")

	// Announcements.
	require.NoError(t, c.store.Announce(context.Background(), "12月31日系統維護"))
	code, an := c.call(t, "GET", "/v1/announcements?after=0", sk, nil, nil)
	require.Equal(t, 200, code)
	assert.Equal(t, "12月31日系統維護", an["announcements"].([]any)[0].(map[string]any)["text"])

	// Logout ends the session.
	code, _ = c.call(t, "POST", "/v1/logout", sk, nil, nil)
	require.Equal(t, 200, code)
	code, _ = c.call(t, "GET", "/v1/events", sk, nil, nil)
	assert.Equal(t, 401, code)
}

func TestPushNeedsASession(t *testing.T) {
	c := start(t)
	_, resp, err := websocket.DefaultDialer.Dial(strings.Replace(c.url, "http", "ws", 1)+"/v1/push", nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, 401, resp.StatusCode)
}

// The API's suite runs on SQLite, and with CARDBRIDGE_CENTRE_DB=postgres
// (make unit runs it so a second time) on a throwaway PostgreSQL server.
var pg struct {
	srv *pgtest.Server
	err error
}

func TestMain(m *testing.M) {
	if os.Getenv("CARDBRIDGE_CENTRE_DB") == "postgres" {
		pg.srv, pg.err = pgtest.Start()
	}
	code := m.Run()
	if pg.srv != nil {
		pg.srv.Stop()
	}
	os.Exit(code)
}

// openStore opens a fresh store on the suite's database.
func openStore(t *testing.T, key ed25519.PrivateKey) *store.Store {
	t.Helper()
	ctx := context.Background()
	if os.Getenv("CARDBRIDGE_CENTRE_DB") == "postgres" {
		require.NoError(t, pg.err, "PostgreSQL for the API suite")
		dsn, err := pg.srv.NewDatabase(ctx)
		require.NoError(t, err)
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		st, err := store.Open(ctx, db, store.Postgres, key)
		require.NoError(t, err)
		return st
	}
	db, err := sql.Open("sqlite", store.SQLiteDSN(filepath.Join(t.TempDir(), "c.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := store.Open(ctx, db, store.SQLite, key)
	require.NoError(t, err)
	return st
}

// The directory follows the exchange's certificate rule: an agency whose
// card expired is listed as expired (its exchange paused), and three months
// on it is no longer listed at all.
func TestDirectoryExpiry(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	day := 24 * time.Hour
	lapsed := exchangetest.NewAgency(t, ca, "逾期園", "12345675", time.Now().Add(-400*day), time.Now().Add(-10*day))
	gone := exchangetest.NewAgency(t, ca, "除名園", "24536806", time.Now().Add(-500*day), time.Now().Add(-100*day))
	for _, a := range []agency{lapsed, gone} {
		require.NoError(t, c.store.AddAgency(ctx, store.Agency{Code: a.Code, Name: a.Code, EncCert: a.Enc.Raw}))
	}
	status, out := c.call(t, "GET", "/v1/directory", c.login(t, kindergarten), nil, nil)
	require.Equal(t, http.StatusOK, status)
	listed := map[string]map[string]any{}
	for _, e := range out["agencies"].([]any) {
		m := e.(map[string]any)
		listed[m["code"].(string)] = m
	}
	require.Contains(t, listed, lapsed.Code)
	assert.Equal(t, true, listed[lapsed.Code]["expired"])
	assert.NotContains(t, listed, gone.Code, "removed from the address book after three months")
	assert.Nil(t, listed[kindergarten.Code]["expired"])
	assert.NotEmpty(t, listed[kindergarten.Code]["expires"])
}

// Fifty agencies behind one address (a NAT, the centre's reverse proxy)
// log in at the same moment: every challenge survives until it is used.
func TestManyLoginsFromOneAddress(t *testing.T) {
	c := start(t)
	chs := make([]string, 50)
	for i := range chs {
		chs[i] = c.challenge(t)
	}
	for _, ch := range chs {
		code, out := c.call(t, "POST", "/v1/login", "", jsonBody(api.LoginRequest{Challenge: ch, Token: token(t, kindergarten, c.url, ch)}), nil)
		require.Equal(t, 200, code, "%v", out)
	}
}
