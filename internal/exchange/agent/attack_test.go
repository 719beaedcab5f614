package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/di"
	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
)

// hostileCentre stands between an agent and the test centre as a centre
// that is not to be trusted beyond carrying envelopes: it logs the agent
// in itself (whatever the card signs), forwards the other requests to the
// real centre under a session it opened there with who's card, and lets a
// test answer or rewrite any of them.
type hostileCentre struct {
	URL string
	// real and session are the real centre and the session opened there.
	real, session string
	// answer, when it returns true, has answered the request itself.
	answer atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
	// rewrite, when set, changes a forwarded answer's body.
	rewrite atomic.Pointer[func(r *http.Request, body []byte) []byte]
}

func (h *hostileCentre) answering(f func(w http.ResponseWriter, r *http.Request) bool) {
	h.answer.Store(&f)
}

func (h *hostileCentre) rewriting(f func(r *http.Request, body []byte) []byte) { h.rewrite.Store(&f) }

// realSession logs who in at the real centre and returns the bearer.
func realSession(t *testing.T, c *exchangetest.Centre, who *exchangetest.Agency) string {
	t.Helper()
	post := func(path string, body []byte, out any) {
		resp, err := http.Post(c.URL+path, "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, path)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	var ch struct{ Challenge string }
	post("/v1/login/challenge", nil, &ch)
	tok, err := who.Token(context.Background(), c.URL, ch.Challenge)
	require.NoError(t, err)
	b, _ := json.Marshal(api.LoginRequest{Challenge: ch.Challenge, Token: tok})
	var out struct{ Session string }
	post("/v1/login", b, &out)
	require.NotEmpty(t, out.Session)
	return out.Session
}

func startHostile(t *testing.T, c *exchangetest.Centre, who *exchangetest.Agency) *hostileCentre {
	t.Helper()
	h := &hostileCentre{}
	var session string
	if c != nil {
		session = realSession(t, c, who)
		h.real, h.session = c.URL, session
	}
	var proxy *httputil.ReverseProxy
	if c != nil {
		u, err := url.Parse(c.URL)
		require.NoError(t, err)
		proxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.Out.Header.Set("Authorization", "Bearer "+session)
			},
			ModifyResponse: func(resp *http.Response) error {
				f := h.rewrite.Load()
				if f == nil {
					return nil
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				b = (*f)(resp.Request, b)
				resp.Body = io.NopCloser(bytes.NewReader(b))
				resp.ContentLength = int64(len(b))
				resp.Header.Set("Content-Length", fmt.Sprint(len(b)))
				return nil
			},
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := h.answer.Load(); f != nil && (*f)(w, r) {
			return
		}
		switch r.URL.Path {
		case "/v1/login/challenge":
			_ = json.NewEncoder(w).Encode(map[string]string{"challenge": "hostile"})
			return
		case "/v1/login":
			_ = json.NewEncoder(w).Encode(map[string]string{"session": "hostile", "agency": who.Code})
			return
		}
		if proxy == nil {
			http.Error(w, `{"error":{"code":"NOT_FOUND"}}`, http.StatusNotFound)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// get is the real centre's answer to GET path.
func (h *hostileCentre) get(t *testing.T, path string) []byte {
	req, err := http.NewRequest("GET", h.real+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+h.session)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, path)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// openAgentAt is openAgent against the centre at url.
// sentThroughHostile starts a centre with the bureau's agent on it and the
// kindergarten's behind a hostile proxy of it (answering as the centre
// until told otherwise), and has the bureau send a letter for each subject;
// it returns their send ids.
func sentThroughHostile(t *testing.T, subjects ...string) (h *hostileCentre, ak *agent.Agent, clk *clock, ids []string) {
	t.Helper()
	c := startCentre(t)
	clk = &clock{t: time.Now()}
	ab, _ := openAgent(t, c, bureau, clk)
	h = startHostile(t, c, kindergarten)
	ak, _ = openAgentAt(t, h.URL, kindergarten, clk)
	for _, s := range subjects {
		id, err := ab.Queue(context.Background(), bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: s, DI: letter(t, bureau)})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	_, err := ab.Sync(context.Background(), bureau)
	require.NoError(t, err)
	return h, ak, clk, ids
}

func openAgentAt(t *testing.T, url string, who *exchangetest.Agency, clk *clock) (*agent.Agent, string) {
	t.Helper()
	home := t.TempDir()
	archive := filepath.Join(home, "archive")
	a, err := agent.Open(context.Background(), agent.Options{Home: home, Trust: parcel.Trust{Roots: roots(), Intermediates: inter()}, Now: clk.now})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.Setup(context.Background(), url, who.Code, archive, nil))
	return a, archive
}

func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// plainForTerminal reports whether s is safe to print on a terminal: no
// control characters (escape sequences, carriage returns that overwrite a
// line) and no invisible formatting (bidirectional overrides).
func plainForTerminal(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

// Finding: an arrival whose envelope the centre no longer holds (past its
// retention: the centre purged it and failed the delivery as expired)
// stopped every later Sync at that event. The agent fetched it, got 404,
// returned the error without moving the cursor, and so never reached the
// documents that came after: an agency whose agent was off longer than the
// retention (a kindergarten closed over the summer) received nothing again.
func TestAttackExpiredArrivalDoesNotBlockTheInbox(t *testing.T) {
	ctx := context.Background()
	c, clk, ab, ak, _ := bureauAndKindergarten(t)
	old, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "暑假前的公文", DI: letter(t, bureau)})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)

	later := time.Now().Add(91 * 24 * time.Hour)
	c.Store.SetClock(func() time.Time { return later })
	n, err := c.Store.Purge(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	fresh, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "開學後的公文", DI: letter(t, bureau)})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)

	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Equal(t, []string{bureau.Code + "/" + fresh}, rep.Received, "the document after the expired one")
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	states := map[string]string{}
	for _, i := range in {
		states[i.PackageID] = i.State + " " + i.Reason
	}
	assert.True(t, strings.HasPrefix(states[bureau.Code+"/"+old], "failed expired:"), states[bureau.Code+"/"+old])
	rep, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.True(t, rep.Empty(), "%+v", rep)
}

// sendAsEvil uploads evil's package for the kindergarten under id.
func sendAsEvil(t *testing.T, c *exchangetest.Centre, id string, env []byte) string {
	t.Helper()
	ctx := context.Background()
	cl, err := agent.NewClient(c.URL, nil)
	require.NoError(t, err)
	_, err = cl.Login(ctx, evil.Token)
	require.NoError(t, err)
	_, err = cl.Upload(ctx, id, []string{kindergarten.Code}, env)
	require.NoError(t, err)
	return evil.Code + "/" + id
}

// evilPackage is evil's well-formed package for the kindergarten, its
// manifest changed by change before it is signed.
func evilPackage(t *testing.T, id string, change func(d *parcel.Draft), fs ...parcel.File) []byte {
	t.Helper()
	d := parcel.Draft{ID: id, Sender: evil.Code, Recipients: []string{kindergarten.Code}, Subject: "來文", Created: time.Now(), Files: fs}
	if change != nil {
		change(&d)
	}
	inner, err := parcel.Build(d, parcel.Signer{Cert: evil.Sign, Key: evil.SignKey})
	require.NoError(t, err)
	return sealKG(t, inner)
}

// folderContents maps each file of a folder to its content.
func folderContents(t *testing.T, folder string) map[string]string {
	t.Helper()
	es, err := os.ReadDir(folder)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(folder, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

// Finding: with 「不修改DI檔名」 off the DI is archived under its 發文字號,
// which the sender writes in the manifest and nothing checked against the
// package's other names: a sender declares an attachment 1150012345.di
// holding a letter in the bureau's name and gives the 發文字號 第1150012345號.
// The DI (checked by Opened.Letter: evil's own) was written as
// 1150012345.di, then the attachment over it, so the archive held, as the
// received DI, a letter of the bureau that no check had seen; in the other
// order the attachment was lost.
func TestAttackRenamedDIOverwritesAnAttachment(t *testing.T) {
	ctx := context.Background()
	c := startCentre(t)
	clk := &clock{t: time.Now()}
	ak, _ := openAgent(t, c, kindergarten, clk)
	require.NoError(t, ak.KeepDINames(ctx, false))
	doc := letter(t, evil, "1150012345.di")
	forged := parcel.File{Name: "1150012345.di", Role: parcel.RoleAttachment, Data: letter(t, bureau).Data}
	id := sendAsEvil(t, c, "rename-1", evilPackage(t, "rename-1", func(d *parcel.Draft) { d.Number = "府教字第1150012345號" },
		parcel.File{Name: "letter.di", Role: parcel.RoleDI, Data: doc.Data}, forged))
	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	require.Equal(t, []string{id}, rep.Received)
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	got := folderContents(t, in[0].Folder)
	assert.Len(t, got, 2, "both files archived: %v", got)
	assert.Equal(t, string(forged.Data), got["1150012345.di"], "the attachment under its own name")
	var hasDI bool
	for _, data := range got {
		hasDI = hasDI || data == string(doc.Data)
	}
	assert.True(t, hasDI, "the signed DI is in the archive")
}

// Finding: a 發文字號 of a few hundred digits made the renamed DI's file name
// longer than a file system allows (255 bytes): writing it failed as if the
// disk were full (ErrArchive), the event was taken again at every Sync and
// failed again, and no document after it was ever received.
func TestAttackLongNumberDoesNotBlockTheInbox(t *testing.T) {
	ctx := context.Background()
	c, clk, ab, ak, _ := bureauAndKindergarten(t)
	require.NoError(t, ak.KeepDINames(ctx, false))
	doc := letter(t, evil)
	bad := sendAsEvil(t, c, "long-number", evilPackage(t, "long-number", func(d *parcel.Draft) { d.Number = "第" + strings.Repeat("1", 300) + "號" },
		parcel.File{Name: doc.Name, Role: parcel.RoleDI, Data: doc.Data}))
	for _, number := range []string{"CON", "nul"} { // Windows device names
		id := "device-" + number
		sendAsEvil(t, c, id, evilPackage(t, id, func(d *parcel.Draft) { d.Number = number }, parcel.File{Name: doc.Name, Role: parcel.RoleDI, Data: doc.Data}))
	}
	good, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "後來的公文", DI: letter(t, bureau)})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)

	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Contains(t, rep.Received, bad)
	assert.Contains(t, rep.Received, bureau.Code+"/"+good)
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	for _, i := range in {
		for name := range folderContents(t, i.Folder) {
			assert.Nil(t, di.CheckFileName(name), "%s: %s", i.PackageID, name)
		}
	}
}

// Finding: the archive folder is DATE/SENDER_ID with the send id's
// characters other than letters, digits, '-', '_' and '.' made '_', so two
// send ids of one sender, dup:1 and dup_1, shared a folder, as dup and DUP
// share one on Windows and macOS: the second package written into it
// replaced the first's files, after the first had been acknowledged with a
// receipt, and the first's record pointed at the second's content.
func TestAttackPackagesShareAnArchiveFolder(t *testing.T) {
	ctx := context.Background()
	c := startCentre(t)
	clk := &clock{t: time.Now()}
	ak, _ := openAgent(t, c, kindergarten, clk)
	doc := letter(t, evil, "a.pdf")
	pairs := [][2]string{{"dup:1", "dup_1"}, {"dup", "DUP"}}
	content := map[string]string{}
	for _, p := range pairs {
		for _, id := range p {
			pdf := parcel.File{Name: "a.pdf", Role: parcel.RoleAttachment, Data: []byte("%PDF " + id)}
			content[evil.Code+"/"+id] = string(pdf.Data)
			sendAsEvil(t, c, id, evilPackage(t, id, nil, parcel.File{Name: doc.Name, Role: parcel.RoleDI, Data: doc.Data}, pdf))
		}
	}
	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	require.Len(t, rep.Received, 4)
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	folders := map[string]string{}
	for _, i := range in {
		for id, f := range folders {
			assert.False(t, strings.EqualFold(f, i.Folder), "%s and %s share %s", id, i.PackageID, f)
		}
		folders[i.PackageID] = i.Folder
		assert.Equal(t, content[i.PackageID], folderContents(t, i.Folder)["a.pdf"], i.PackageID)
	}
	// The agent's own send ids (UUIDs in lower case) keep the folder name
	// docs/exchange.md gives, SENDER_ID.
	ab, _ := openAgent(t, c, bureau, clk)
	id, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "x", DI: letter(t, bureau)})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	_, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	in, err = ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	for _, i := range in {
		if i.PackageID == bureau.Code+"/"+id {
			assert.Equal(t, bureau.Code+"_"+id, filepath.Base(i.Folder))
		}
	}
}

// hostileText is what a sender or a centre may write where a clerk reads
// it on a terminal: escape sequences that clear the screen, set the
// window title and colour the rest, a carriage return that overwrites the
// line, a right-to-left override and a zero-width space.
const hostileText = "\x1b]0;公文\x07\x1b[2J\x1b[31m研習計畫\r收文完成\u202egpj.exe\u200b\u009b1m\n偽"

// Finding: the manifest's subject and 發文字號 are the sender's text, and
// went into the inbox as they were: `exchange list` and `show` printed
// them on the clerk's terminal, where a sender's escape sequences clear the
// screen, rewrite the window's title or what is shown next to them (a
// document reads 收文完成 when it is not), and bidirectional overrides show
// one name as another. What the agent hands out to be shown (Inbox,
// Outbox, Show) holds no control or formatting characters.
func TestAttackTerminalEscapesFromTheSender(t *testing.T) {
	ctx := context.Background()
	c := startCentre(t)
	clk := &clock{t: time.Now()}
	ak, _ := openAgent(t, c, kindergarten, clk)
	doc := letter(t, evil)
	id := sendAsEvil(t, c, "escapes", evilPackage(t, "escapes", func(d *parcel.Draft) { d.Subject, d.Number = hostileText, hostileText },
		parcel.File{Name: doc.Name, Role: parcel.RoleDI, Data: doc.Data}))
	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	require.Equal(t, []string{id}, rep.Received)
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, in, 1)
	for _, s := range []string{in[0].Subject, in[0].Number} {
		assert.True(t, plainForTerminal(s), "%q", s)
		assert.Contains(t, s, "研習計畫", "the text itself is kept")
	}
	d, err := ak.Show(ctx, id)
	require.NoError(t, err)
	assert.True(t, plainForTerminal(d.Incoming.Subject), "%q", d.Incoming.Subject)
	assert.True(t, plainForTerminal(d.Incoming.Number), "%q", d.Incoming.Number)
}

// The same from a hostile centre: the states and reasons of our sent
// documents, the package id the centre gives an upload, its error
// messages and its announcements.
func TestAttackTerminalEscapesFromTheCentre(t *testing.T) {
	ctx := context.Background()
	c := startCentre(t)
	clk := &clock{t: time.Now()}
	h := startHostile(t, c, kindergarten)
	ak, _ := openAgentAt(t, h.URL, kindergarten, clk)
	h.rewriting(func(r *http.Request, body []byte) []byte {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return body
		}
		poison := func(v any) {
			if o, ok := v.(map[string]any); ok {
				for _, k := range []string{"state", "senderState", "reason", "id"} {
					if _, ok := o[k]; ok || k == "reason" {
						o[k] = hostileText
					}
				}
			}
		}
		if evs, ok := m["events"].([]any); ok {
			for _, e := range evs {
				poison(e)
			}
		}
		if rs, ok := m["recipients"].([]any); ok {
			poison(m)
			for _, r := range rs {
				poison(r)
			}
		}
		b, _ := json.Marshal(m)
		return b
	})
	_, err := ak.Queue(ctx, kindergarten, agent.Draft{To: []string{bureau.Code}, Subject: "回覆", DI: letter(t, kindergarten)})
	require.NoError(t, err)
	_, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	// A second document the centre refuses with a message of its own.
	h.answering(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v1/packages" {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": hostileText, "message": hostileText}})
			return true
		}
		if r.URL.Path == "/v1/announcements" {
			_ = json.NewEncoder(w).Encode(map[string]any{"announcements": []map[string]any{{"seq": 1, "text": hostileText}}})
			return true
		}
		return false
	})
	_, err = ak.Queue(ctx, kindergarten, agent.Draft{To: []string{bureau.Code}, Subject: "第二份", DI: letter(t, kindergarten)})
	require.NoError(t, err)
	_, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)

	out, err := ak.Outbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, out, 2)
	var poisoned int
	for _, o := range out {
		for _, s := range []string{o.Subject, o.State, o.Label, o.LastError, o.PackageID} {
			assert.True(t, plainForTerminal(s), "%q", s)
			poisoned += strings.Count(s, "研習計畫")
		}
		for _, r := range o.Recipients {
			for _, s := range []string{r.Code, r.State, r.Label, r.Reason} {
				assert.True(t, plainForTerminal(s), "%q", s)
				poisoned += strings.Count(s, "研習計畫")
			}
		}
		d, err := ak.Show(ctx, o.SendID)
		require.NoError(t, err)
		assert.True(t, plainForTerminal(d.Outgoing.LastError), "%q", d.Outgoing.LastError)
	}
	assert.Positive(t, poisoned, "the hostile text reached the outbox")
	// The centre's error, as `sync` prints it.
	cl, err := agent.NewClient(h.URL, nil)
	require.NoError(t, err)
	_, err = cl.Upload(ctx, "x", []string{bureau.Code}, []byte("x"))
	require.Error(t, err)
	assert.True(t, plainForTerminal(err.Error()), "%q", err.Error())
	as, err := ak.Announcements(ctx, kindergarten)
	require.NoError(t, err)
	require.Len(t, as, 1)
	// The agency the centre says the card is.
	h.answering(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v1/login" {
			_ = json.NewEncoder(w).Encode(map[string]string{"session": "s", "agency": hostileText})
			return true
		}
		return false
	})
	other, _ := openAgentAt(t, h.URL, kindergarten, clk)
	_, err = other.Sync(ctx, kindergarten)
	require.Error(t, err)
	assert.True(t, plainForTerminal(err.Error()), "%q", err.Error())
	assert.True(t, plainForTerminal(strings.ReplaceAll(as[0].Text, "\n", "")), "%q: lines, each plain", as[0].Text)
}

// Finding: the agent's HTTP client followed redirects, so a centre (or
// whatever answers in its name: a misconfigured proxy, a compromised front
// end) could send the agent's requests elsewhere: a 307 or 308 repeats a
// POST with its body (the login token, a receipt, an envelope) to any
// host, and to another port or scheme of the same host (http:// after
// https://) Go repeats the Authorization header too, the session in the
// clear. The centre's API never redirects; the agent follows none.
func TestAttackRedirectElsewhere(t *testing.T) {
	ctx := context.Background()
	startCentre(t) // the agencies
	var got atomic.Int32
	var leaked atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		b, _ := io.ReadAll(r.Body)
		leaked.Store(fmt.Sprintf("%s %s Authorization=%q body=%d bytes", r.Method, r.URL.Path, r.Header.Get("Authorization"), len(b)))
		_ = json.NewEncoder(w).Encode(map[string]any{"challenge": "c", "session": "s", "agency": kindergarten.Code, "events": []any{}})
	}))
	defer other.Close()
	h := startHostile(t, nil, kindergarten)
	redirect := func(status int, paths ...string) {
		h.answering(func(w http.ResponseWriter, r *http.Request) bool {
			for _, p := range paths {
				if strings.HasPrefix(r.URL.Path, p) {
					http.Redirect(w, r, other.URL+r.URL.RequestURI(), status)
					return true
				}
			}
			return false
		})
	}
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		// The login, token and all.
		redirect(status, "/v1/login")
		cl, err := agent.NewClient(h.URL, nil)
		require.NoError(t, err)
		_, err = cl.Login(ctx, kindergarten.Token)
		assert.Error(t, err, "%d", status)

		// A session's requests.
		redirect(status, "/v1/events", "/v1/packages", "/v1/directory")
		clk := &clock{t: time.Now()}
		ak, _ := openAgentAt(t, h.URL, kindergarten, clk)
		_, err = ak.Sync(ctx, kindergarten)
		assert.Error(t, err, "%d", status)
		cl, err = agent.NewClient(h.URL, nil)
		require.NoError(t, err)
		_, err = cl.Login(ctx, kindergarten.Token)
		require.NoError(t, err)
		assert.Error(t, cl.Report(ctx, bureau.Code+"/x", api.ReportRequest{State: "completed", Receipt: []byte("receipt")}), "%d", status)
		_, err = cl.Upload(ctx, "x", []string{bureau.Code}, []byte("envelope"))
		assert.Error(t, err, "%d", status)
	}
	assert.Zero(t, got.Load(), "requests that reached another server, the last: %v", leaked.Load())
}

// Finding: Sync read events until the centre answered none, taking each
// page's last seq as the next cursor without checking that it moved on: a
// centre that answers the same event again (a bug, a replayed answer, a
// hostile centre) kept Sync asking, as fast as it answered, for ever. The
// seqs must go forward.
func TestAttackEventsThatDoNotMoveOn(t *testing.T) {
	startCentre(t) // the agencies
	for name, seqs := range map[string][]int64{
		"the same event again": {1},
		"going back":           {5, 3},
		"a zero":               {0},
	} {
		t.Run(name, func(t *testing.T) {
			h := startHostile(t, nil, kindergarten)
			var asked atomic.Int32
			h.answering(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/v1/events" {
					return false
				}
				asked.Add(1)
				var evs []api.EventView
				for _, s := range seqs {
					evs = append(evs, api.EventView{Seq: s, Package: school.Code + "/x", Recipient: bureau.Code, State: "arrived"})
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"events": evs})
				return true
			})
			ak, _ := openAgentAt(t, h.URL, kindergarten, &clock{t: time.Now()})
			ctx := within(t, 5*time.Second)
			_, err := ak.Sync(ctx, kindergarten)
			require.Error(t, err)
			assert.NoError(t, ctx.Err(), "Sync ended by itself: %v", err)
			assert.True(t, agent.Temporary(err), "%v", err)
			assert.LessOrEqual(t, asked.Load(), int32(2), "pages asked")
		})
	}
}

// Finding: the home is made 0700 when the agent creates it, but one that
// already existed (made by hand, by an installer, with --home) kept its
// permissions, and the state database was created with the process's
// umask (0644): any local user could read which documents came from whom,
// their subjects and 發文字號, and copy the outbox; with a home others may
// write, replace roots.pem with a CA of their own (and sign documents in
// any agency's name) or the database (another centre, another archive
// folder). The home and the database are the agency's alone.
func TestAttackStateReadableByOthers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	home := filepath.Join(t.TempDir(), "exchange")
	require.NoError(t, os.Mkdir(home, 0o777))
	require.NoError(t, os.Chmod(home, 0o777))
	ctx := context.Background()
	a, err := agent.Open(ctx, agent.Options{Home: home})
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.Setup(ctx, "https://centre.example.tw", "XC04595252", filepath.Join(home, "archive"), nil))
	es, err := os.ReadDir(home)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		info, err := e.Info()
		require.NoError(t, err)
		names = append(names, e.Name())
		assert.Zero(t, info.Mode().Perm()&0o077, "%s is %v", e.Name(), info.Mode().Perm())
	}
	assert.Contains(t, names, "agent.db")
	info, err := os.Stat(home)
	require.NoError(t, err)
	assert.Zero(t, info.Mode().Perm()&0o077, "the home is %v", info.Mode().Perm())
}

// A flaky network cuts the envelope's body: the answer said how long it
// is (Content-Length), so the cut is a transport failure, tried again, and
// the next Sync takes the document. (Held.)
func TestAttackEnvelopeCutShort(t *testing.T) {
	ctx := context.Background()
	h, ak, _, _ := sentThroughHostile(t, "斷線")
	h.answering(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/envelope") {
			return false
		}
		env := h.get(t, r.URL.Path)
		w.Header().Set("Content-Length", fmt.Sprint(len(env)))
		w.WriteHeader(200)
		_, _ = w.Write(env[:len(env)/2])
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	})
	rep, err := ak.Sync(ctx, kindergarten)
	assert.True(t, agent.Temporary(err), "%v", err)
	assert.Empty(t, rep.Refused)
	h.answer.Store(nil)
	rep, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Len(t, rep.Received, 1)
}

// Finding: an envelope cut short by something that did not say how long
// it was (a proxy answering without Content-Length, closing early), or a
// page a captive portal or proxy answered in its place with 200, was
// taken for the sender's envelope: it did not decrypt, so the document was
// refused for good (收文異常 cannot-decrypt, reported to the centre, the
// sender told the receiver refused it) for a fault of the network. The
// envelope fetched must be the one the centre holds: its SHA-256, from the
// package's states, is compared before anything is refused.
func TestAttackEnvelopeReplacedInTransit(t *testing.T) {
	for name, replace := range map[string]func(env []byte) []byte{
		"cut short, no length": func(env []byte) []byte { return env[:len(env)/2] },
		"a portal's page":      func([]byte) []byte { return []byte("<html><body>請先登入無線網路</body></html>") },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h, ak, _, ids := sentThroughHostile(t, "斷線")
			id := ids[0]
			h.answering(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/envelope") {
					return false
				}
				w.Header().Set("Content-Type", "application/pkcs7-mime")
				w.WriteHeader(200) // no length: chunked, as a proxy may send it
				_, _ = w.Write(replace(h.get(t, r.URL.Path)))
				return true
			})
			rep, err := ak.Sync(ctx, kindergarten)
			assert.True(t, agent.Temporary(err), "%v", err)
			assert.Empty(t, rep.Refused, "refused for a fault of the network")
			h.answer.Store(nil)
			rep, err = ak.Sync(ctx, kindergarten)
			require.NoError(t, err)
			assert.Equal(t, []string{bureau.Code + "/" + id}, rep.Received)
		})
	}
}

// Finding: the archive's date and package folders were taken as they were
// found: whoever else may write in the archive folder (a shared drive, a
// folder the clerks share) could put a link where tomorrow's date folder
// or a package's folder will be, and the agent wrote the documents where
// the link pointed: into a folder of the other user's, or, with a sender
// in league, files of the sender's naming into any folder the clerk may
// write (~/.config/autostart). The folders must be the archive's own.
func TestAttackArchiveFolderLinkedElsewhere(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need a privilege on Windows")
	}
	for _, level := range []string{"date", "package"} {
		t.Run(level, func(t *testing.T) {
			ctx := context.Background()
			c := startCentre(t)
			clk := &clock{t: time.Now()}
			ab, _ := openAgent(t, c, bureau, clk)
			ak, archive := openAgent(t, c, kindergarten, clk)
			id, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "連結", DI: letter(t, bureau)})
			require.NoError(t, err)
			_, err = ab.Sync(ctx, bureau)
			require.NoError(t, err)
			elsewhere := t.TempDir()
			link := filepath.Join(archive, clk.now().Format("2006-01-02"))
			if level == "package" {
				link = filepath.Join(link, bureau.Code+"_"+id)
			}
			require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
			require.NoError(t, os.Symlink(elsewhere, link))

			rep, err := ak.Sync(ctx, kindergarten)
			assert.ErrorIs(t, err, agent.ErrArchive)
			assert.Empty(t, rep.Received)
			var written []string
			_ = filepath.WalkDir(elsewhere, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					written = append(written, p)
				}
				return nil
			})
			assert.Empty(t, written, "written where the link points")

			require.NoError(t, os.Remove(link))
			rep, err = ak.Sync(ctx, kindergarten)
			require.NoError(t, err)
			assert.Len(t, rep.Received, 1)
		})
	}
}

// A centre that answers badly: wrong JSON types, more than the agent
// reads, a body that never ends. Each Sync ends, promptly, with an error
// worth retrying, and nothing is taken in or refused. (Held.)
func TestAttackCentreAnswersBadly(t *testing.T) {
	startCentre(t) // the agencies
	endless := func(w http.ResponseWriter) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"events": [`))
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	for name, answer := range map[string]func(w http.ResponseWriter){
		"events not a list":   func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"events": "all of them"}`)) },
		"a seq as a string":   func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"events": [{"seq": "1", "package": "x/y"}]}`)) },
		"a package as number": func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"events": [{"seq": 1, "package": 5}]}`)) },
		"not JSON":            func(w http.ResponseWriter) { _, _ = w.Write([]byte(`<html>502 Bad Gateway</html>`)) },
		"cut short":           func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"events": [{"seq": 1,`)) },
		"endless":             endless,
		"huge": func(w http.ResponseWriter) {
			_, _ = w.Write(append([]byte(`{"events": [], "pad": "`), bytes.Repeat([]byte("x"), 17<<20)...))
		},
		"an endless error": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error": {"code": "`))
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := startHostile(t, nil, kindergarten)
			h.answering(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/v1/events" {
					return false
				}
				answer(w)
				return true
			})
			ak, _ := openAgentAt(t, h.URL, kindergarten, &clock{t: time.Now()})
			ctx := within(t, 20*time.Second)
			rep, err := ak.Sync(ctx, kindergarten)
			require.Error(t, err)
			assert.NoError(t, ctx.Err())
			assert.True(t, agent.Temporary(err), "%v", err)
			assert.True(t, rep.Empty(), "%+v", rep)
		})
	}
}

// A centre that serves, for one package of the bureau's, the envelope of
// another (signed, for us, under its own id): the first is not taken as
// the second, nor twice (held: the send id is in the signed manifest).
// The second was refused for good (malformed, reported in the receiver's
// name) for what the transport did; with the envelope compared to the one
// the centre holds (TestAttackEnvelopeReplacedInTransit) it is tried
// again, and once the centre serves them right both are received, once.
func TestAttackEnvelopeUnderAnotherID(t *testing.T) {
	ctx := context.Background()
	h, ak, clk, ids := sentThroughHostile(t, "第一份", "第二份")
	first, second := ids[0], ids[1]
	h.answering(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/envelope") {
			return false
		}
		_, _ = w.Write(h.get(t, "/v1/packages/"+bureau.Code+"/"+first+"/envelope"))
		return true
	})
	rep, err := ak.Sync(ctx, kindergarten)
	assert.Error(t, err, "the second is not the first")
	assert.Equal(t, []string{bureau.Code + "/" + first}, rep.Received)
	h.answer.Store(nil)
	rep, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Equal(t, []string{bureau.Code + "/" + second}, rep.Received)
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	subjects := map[string]string{}
	for _, i := range in {
		subjects[i.PackageID] = i.Subject
	}
	assert.Equal(t, map[string]string{bureau.Code + "/" + first: "第一份", bureau.Code + "/" + second: "第二份"}, subjects)
}

// A push channel that never stops sending: the wake-ups it causes fold
// into one sync at a time, a document sent meanwhile is taken in, and the
// watch ends as soon as it is told to. (Held.)
func TestAttackPushFlood(t *testing.T) {
	c := startCentre(t)
	clk := &clock{t: time.Now()}
	ab, _ := openAgent(t, c, bureau, clk)
	h := startHostile(t, c, kindergarten)
	var sent atomic.Int64
	up := websocket.Upgrader{}
	h.answering(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/push" {
			return false
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return true
		}
		defer conn.Close()
		msg, _ := json.Marshal(map[string]any{"events": []api.EventView{{Seq: 1 << 40, Package: school.Code + "/x", Recipient: school.Code, State: "arrived"}}})
		for {
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return true
			}
			sent.Add(1)
		}
	})
	ak, _ := openAgentAt(t, h.URL, kindergarten, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var syncs atomic.Int64
	received := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- ak.Watch(ctx, kindergarten, time.Hour, func(r agent.Report, err error) {
			syncs.Add(1)
			for _, id := range r.Received {
				received <- id
			}
		})
	}()
	time.Sleep(300 * time.Millisecond)
	id, err := ab.Queue(context.Background(), bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "洪水中", DI: letter(t, bureau)})
	require.NoError(t, err)
	_, err = ab.Sync(context.Background(), bureau)
	require.NoError(t, err)
	select {
	case got := <-received:
		assert.Equal(t, bureau.Code+"/"+id, got)
	case <-time.After(30 * time.Second):
		t.Fatal("the document was not taken in during the flood")
	}
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end")
	}
	t.Logf("%d push messages, %d syncs", sent.Load(), syncs.Load())
	assert.Less(t, syncs.Load(), sent.Load(), "wake-ups fold")
}

// A centre over plain HTTP is refused unless it is on this computer: the
// session token and the receipts would cross the network in clear.
func TestAttackPlainHTTPCentre(t *testing.T) {
	for origin, ok := range map[string]bool{
		"http://centre.example.tw": false, "http://10.0.0.5:8080": false, "http://[2001:db8::1]": false,
		"https://centre.example.tw": true, "http://127.0.0.1:8080": true, "http://localhost:9": true, "http://[::1]:80": true,
	} {
		_, err := agent.NewClient(origin, nil)
		assert.Equal(t, ok, err == nil, "%s: %v", origin, err)
	}
}
