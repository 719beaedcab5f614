package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/store"
)

func (c *centre) upload(t *testing.T, session, sendID string, to ...agency) string {
	t.Helper()
	var codes []string
	for _, a := range to {
		codes = append(codes, a.Code)
	}
	code, p := c.call(t, "POST", "/v1/packages", session, bytes.NewReader([]byte("sealed "+sendID)), map[string]string{"X-Send-Id": sendID, "X-Recipients": strings.Join(codes, ",")})
	require.Equal(t, 200, code, "%v", p)
	return p["id"].(string)
}

func (c *centre) dial(session, after string) (*websocket.Conn, *http.Response, error) {
	return websocket.DefaultDialer.Dial(strings.Replace(c.url, "http", "ws", 1)+"/v1/push?after="+after, http.Header{"Authorization": {"Bearer " + session}})
}

// Attack: an agency suspended by the operator (an expired card, a
// compromised one) kept using the sessions it had: fetching envelopes,
// reporting, reading events, its push connection, for up to twelve hours.
// Login refused it; nothing else did.
func TestAttackSuspensionEndsSessions(t *testing.T) {
	c := start(t)
	sb, sk := c.login(t, bureau), c.login(t, kindergarten)
	id := c.upload(t, sb, "sus-1", kindergarten)
	ws, _, err := c.dial(sk, "0")
	require.NoError(t, err)
	defer ws.Close()

	require.NoError(t, c.store.SetSuspended(context.Background(), kindergarten.Code, true))
	code, out := c.call(t, "GET", "/v1/packages/"+id+"/envelope", sk, nil, nil)
	assert.Equal(t, 403, code)
	assert.Equal(t, "AGENCY_SUSPENDED", errCode(out))
	code, _ = c.call(t, "GET", "/v1/events?after=0", sk, nil, nil)
	assert.Equal(t, 401, code, "the session ended with the suspension")

	// Resumed, it logs in again; the old session stays ended.
	require.NoError(t, c.store.SetSuspended(context.Background(), kindergarten.Code, false))
	code, _ = c.call(t, "GET", "/v1/events?after=0", sk, nil, nil)
	assert.Equal(t, 401, code)
	sk2 := c.login(t, kindergarten)
	code, _ = c.call(t, "GET", "/v1/packages/"+id+"/envelope", sk2, nil, nil)
	assert.Equal(t, 200, code)
}

// Attack: the push channel outlived the session it was opened with: after
// a logout (or the session's end) the agency's events kept arriving over
// the WebSocket for as long as the socket answered pings.
func TestAttackPushEndsWithTheSession(t *testing.T) {
	c := start(t)
	sb, sk := c.login(t, bureau), c.login(t, kindergarten)
	ws, _, err := c.dial(sk, "0")
	require.NoError(t, err)
	defer ws.Close()
	code, _ := c.call(t, "POST", "/v1/logout", sk, nil, nil)
	require.Equal(t, 200, code)
	c.upload(t, sb, "after-logout", kindergarten)
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var msg struct{ Events []api.EventView }
	err = ws.ReadJSON(&msg)
	require.Error(t, err, "events after the logout: %+v", msg.Events)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the centre left the socket open: %v", err)
}

// Attack: one session opened as many WebSockets as it liked, each with
// two goroutines, buffers and a database query at every change: a logged-
// in agency exhausted the centre's file descriptors and memory.
func TestAttackPushConnectionsPerAgency(t *testing.T) {
	c := start(t)
	sk := c.login(t, kindergarten)
	var open []*websocket.Conn
	defer func() {
		for _, ws := range open {
			ws.Close()
		}
	}()
	refused := 0
	for range api.MaxPush + 10 {
		ws, resp, err := c.dial(sk, "0")
		if err != nil {
			require.NotNil(t, resp)
			assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
			refused++
			continue
		}
		open = append(open, ws)
	}
	assert.Len(t, open, api.MaxPush)
	assert.Equal(t, 10, refused)
	// A connection closed frees its place.
	open[0].Close()
	open = open[1:]
	require.Eventually(t, func() bool {
		ws, _, err := c.dial(sk, "0")
		if err == nil {
			open = append(open, ws)
		}
		return err == nil
	}, 5*time.Second, 50*time.Millisecond)
}

// Attack: every login stayed in memory until its token was used again
// (an abandoned one never is): an agency logging in in a loop grew the
// centre's session table without bound. Sessions are capped per agency,
// the oldest ending first.
func TestAttackSessionsPerAgency(t *testing.T) {
	c := start(t)
	var sessions []string
	for range api.MaxSessions + 2 {
		sessions = append(sessions, c.login(t, stranger))
	}
	for i, s := range sessions {
		code, _ := c.call(t, "GET", "/v1/announcements", s, nil, nil)
		if i < 2 {
			assert.Equal(t, 401, code, "session %d of %d still live", i, len(sessions))
		} else {
			assert.Equal(t, 200, code, "session %d", i)
		}
	}
}

// slowBody is a request body that sends burst bytes at once (more than
// the server discards of a body it refuses, so that a refusal is answered
// at once) and then a byte now and then until stop.
type slowBody struct {
	burst int
	stop  chan struct{}
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.burst > 0 {
		n := min(len(p), b.burst)
		clear(p[:n])
		b.burst -= n
		return n, nil
	}
	select {
	case <-b.stop:
		return 0, io.EOF
	case <-time.After(20 * time.Millisecond):
		return copy(p, "x"), nil
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// counting counts what was read from r (the transport may still be
// writing when the answer has come).
type counting struct {
	r io.Reader
	n atomic.Int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Attack: the upload read its whole body (up to 256 MB) before looking at
// X-Send-Id and X-Recipients; with thousands of recipients, or none, the
// centre read everything and only then refused. And an agency could run
// any number of uploads at once, each held in memory whole.
func TestAttackUploadLimits(t *testing.T) {
	c := start(t)
	sb := c.login(t, bureau)
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(body io.Reader, sendID, recipients string) (int, error) {
		req, err := http.NewRequest("POST", c.url+"/v1/packages", body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+sb)
		req.Header.Set("X-Send-Id", sendID)
		req.Header.Set("X-Recipients", recipients)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	stop := make(chan struct{})
	defer close(stop)
	many := strings.TrimSuffix(strings.Repeat(kindergarten.Code+",", 5000), ",")
	const size = 64 << 20
	body := &counting{r: io.LimitReader(zeros{}, size)}
	req, err := http.NewRequest("POST", c.url+"/v1/packages", body)
	require.NoError(t, err)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+sb)
	req.Header.Set("X-Send-Id", "many")
	req.Header.Set("X-Recipients", many)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		assert.Equal(t, 400, resp.StatusCode)
	}
	assert.Less(t, body.n.Load(), int64(size/2), "the centre read the body before refusing %d recipients", 5000)
	code, err := post(strings.NewReader("sealed"), "", kindergarten.Code)
	require.NoError(t, err)
	assert.Equal(t, 400, code, "no send id")

	// Slow uploads hold the agency's places (each tries again while it is
	// refused); then another is refused at once, and another agency is
	// not affected.
	for i := range api.MaxTransfers {
		go func() {
			for {
				code, err := post(&slowBody{burst: 300 << 10, stop: stop}, fmt.Sprintf("slow-%d", i), kindergarten.Code)
				select {
				case <-stop:
					return
				default:
				}
				if err != nil || code != http.StatusTooManyRequests {
					return
				}
			}
		}()
	}
	probe := 0
	require.Eventually(t, func() bool {
		probe++
		code, err := post(strings.NewReader("sealed"), fmt.Sprintf("probe-%d", probe), kindergarten.Code)
		return err == nil && code == http.StatusTooManyRequests
	}, 5*time.Second, 50*time.Millisecond)
	sk := c.login(t, kindergarten)
	code, _ = c.call(t, "POST", "/v1/packages", sk, strings.NewReader("sealed"), map[string]string{"X-Send-Id": "k-1", "X-Recipients": bureau.Code})
	assert.Equal(t, 200, code)
}

// Attack: a push connection opened with a cursor more than a page behind
// sent the first page (1000 events) and then nothing until the next
// change: an agent back from a long absence waited for events it was
// owed.
func TestAttackPushBacklogBeyondAPage(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	const n = 1005
	for i := range n {
		_, err := c.store.Accept(ctx, bureau.Code, fmt.Sprintf("b-%d", i), []byte("sealed"), []string{kindergarten.Code}, time.Hour)
		require.NoError(t, err)
	}
	sk := c.login(t, kindergarten)
	ws, _, err := c.dial(sk, "0")
	require.NoError(t, err)
	defer ws.Close()
	got := 0
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for got < n {
		var msg struct{ Events []api.EventView }
		require.NoError(t, ws.ReadJSON(&msg), "after %d of %d events", got, n)
		got += len(msg.Events)
	}
	assert.Equal(t, n, got)
}

// Regression: package ids and cursors that try to reach another agency's
// packages or events: encoded slashes, dot segments, NUL, another
// agency's id as sender, cursors out of range.
func TestAttackPackageIDAndCursorTricks(t *testing.T) {
	c := start(t)
	sb, sk, sx := c.login(t, bureau), c.login(t, kindergarten), c.login(t, stranger)
	id := c.upload(t, sb, "s-1", kindergarten)
	require.Equal(t, bureau.Code+"/s-1", id)
	for _, path := range []string{
		"/v1/packages/" + bureau.Code + "/s-1",
		"/v1/packages/" + bureau.Code + "%2Fs-1/x",
		"/v1/packages/" + bureau.Code + "/s-1%2F..%2F..",
		"/v1/packages/" + bureau.Code + "/..%2Fs-1",
		"/v1/packages/" + bureau.Code + "/s-1%00",
		"/v1/packages/" + bureau.Code + "/S-1",
		"/v1/packages/" + strings.ToLower(bureau.Code) + "/s-1",
		"/v1/packages/" + stranger.Code + "/..%2F" + bureau.Code + "%2Fs-1",
	} {
		for _, suffix := range []string{"", "/envelope"} {
			code, _ := c.call(t, "GET", path+suffix, sx, nil, nil)
			assert.Contains(t, []int{403, 404, 400}, code, "%s%s", path, suffix)
		}
		code, _ := c.call(t, "POST", path+"/report", sx, jsonBody(api.ReportRequest{State: "failed", Reason: "x"}), nil)
		assert.Contains(t, []int{403, 404, 400}, code, "%s/report", path)
	}
	for _, after := range []string{"-1", "-9223372036854775808", "9223372036854775807", "abc", "1e9", "0x10"} {
		for _, s := range []string{sx} {
			code, out := c.call(t, "GET", "/v1/events?after="+after, s, nil, nil)
			require.Equal(t, 200, code)
			for _, e := range out["events"].([]any) {
				assert.NotEqual(t, id, e.(map[string]any)["package"], "a stranger learns of another's package (after=%s)", after)
			}
		}
	}
	// The recipient's view of a package never shows another recipient.
	id2 := c.upload(t, sb, "s-2", kindergarten, stranger)
	code, pv := c.call(t, "GET", "/v1/packages/"+id2, sk, nil, nil)
	require.Equal(t, 200, code)
	require.Len(t, pv["recipients"], 1)
	assert.Equal(t, kindergarten.Code, pv["recipients"].([]any)[0].(map[string]any)["recipient"])
	_ = store.Arrived
}
