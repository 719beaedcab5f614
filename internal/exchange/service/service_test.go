package service_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cardpkg "github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/exchange/service"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// softSession is a TEST agency's software card, open for a session.
type softSession struct {
	*exchangetest.Agency
	closed *bool
}

func (s softSession) Close() { *s.closed = true }

// page talks to a Service over its JSON lines, as the extension will.
type page struct {
	t      *testing.T
	w      io.Writer
	lines  chan map[string]any
	events chan map[string]any
	n      int
	// code and details are the last error's.
	code    string
	details map[string]any
}

func (p *page) do(op string, args any) (any, string) {
	p.t.Helper()
	p.n++
	b, _ := json.Marshal(map[string]any{"id": p.n, "op": op, "args": args})
	_, err := p.w.Write(append(b, '\n'))
	require.NoError(p.t, err)
	select {
	case m := <-p.lines:
		require.EqualValues(p.t, p.n, m["id"])
		p.code, p.details = "", nil
		if e, ok := m["error"].(map[string]any); ok {
			p.code, _ = e["code"].(string)
			p.details, _ = e["details"].(map[string]any)
			return nil, e["message"].(string)
		}
		return m["result"], ""
	case <-time.After(30 * time.Second):
		p.t.Fatalf("no answer to %s", op)
	}
	return nil, ""
}

func (p *page) event(name string) map[string]any {
	p.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-p.events:
			if e["event"] == name {
				return e["data"].(map[string]any)
			}
		case <-deadline:
			p.t.Fatalf("no %s event", name)
		}
	}
}

func TestServiceSession(t *testing.T) {
	ctx := context.Background()
	ca, err := testca.New(nil, time.Now())
	require.NoError(t, err)
	bureau := exchangetest.Valid(t, ca, "測試市教育局", "10458570")
	kg := exchangetest.Valid(t, ca, "測試幼兒園", "04595252")
	c := exchangetest.StartCentre(t, ca, map[string][]byte{bureau.Code: bureau.Enc.Raw, kg.Code: kg.Enc.Raw})

	home := t.TempDir()
	a, err := agent.Open(ctx, agent.Options{Home: home})
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.Setup(ctx, c.URL, kg.Code, filepath.Join(home, "收文"), exchangetest.RootsPEM(ca)))
	closed, tries := false, 0
	svc := &service.Service{Agent: a, Poll: time.Hour, Open: func(_ context.Context, _ string, pin []byte) (service.Session, error) {
		tries++
		if string(pin) != "123456" {
			return nil, &cardpkg.AuthError{TriesLeft: 2}
		}
		return softSession{Agency: kg, closed: &closed}, nil
	}}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	go func() { _ = svc.Serve(ctx, inR, outW); outW.Close() }()
	p := &page{t: t, w: inW, lines: make(chan map[string]any, 16), events: make(chan map[string]any, 64)}
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 32<<20)
		for sc.Scan() {
			var m map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
			if _, ok := m["event"]; ok {
				p.events <- m
			} else {
				p.lines <- m
			}
		}
	}()

	st, msg := p.do("status", nil)
	require.Empty(t, msg)
	assert.Equal(t, false, st.(map[string]any)["loggedIn"])
	_, msg = p.do("directory", nil)
	assert.Contains(t, msg, "登入", "the card is needed")
	assert.Equal(t, "ERR_EXCHANGE_LOGIN_NEEDED", p.code)
	_, msg = p.do("login", map[string]string{"pin": "654321"})
	assert.NotEmpty(t, msg, "a wrong PIN")
	assert.Equal(t, "ERR_PIN_INCORRECT", p.code)
	assert.EqualValues(t, 2, p.details["triesLeft"], "the tries left reach the PIN window")
	assert.Equal(t, 1, tries, "tried once")
	_, msg = p.do("login", map[string]string{"pin": "123456"})
	require.Empty(t, msg)
	st, _ = p.do("status", nil)
	assert.Equal(t, true, st.(map[string]any)["loggedIn"])
	dir, msg := p.do("directory", nil)
	require.Empty(t, msg)
	require.Len(t, dir, 2)
	for _, e := range dir.([]any) {
		assert.NotContains(t, e, "encCert", "the page gets names, not certificates")
		assert.NotEmpty(t, e.(map[string]any)["name"])
	}

	// The bureau sends; the watch takes it in and the page hears of it.
	ab, err := agent.Open(ctx, agent.Options{Home: t.TempDir()})
	require.NoError(t, err)
	defer ab.Close()
	require.NoError(t, ab.Setup(ctx, c.URL, bureau.Code, filepath.Join(t.TempDir(), "a"), exchangetest.RootsPEM(ca)))
	_, err = ab.Queue(ctx, bureau, agent.Draft{To: []string{kg.Code}, Subject: "推播到頁面", Body: "請查照。"})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	ev := p.event("synced")
	received := ev["report"].(map[string]any)["received"].([]any)
	require.Len(t, received, 1)
	id := received[0].(string)

	rows, msg := p.do("list", map[string]string{"box": "in", "text": "推播"})
	require.Empty(t, msg)
	require.Len(t, rows, 1)
	rows, _ = p.do("list", map[string]string{"box": "in", "text": "沒有這個字"})
	assert.Len(t, rows, 0)
	l, msg := p.do("letter", map[string]string{"id": id})
	require.Empty(t, msg)
	assert.Equal(t, "推播到頁面", l.(map[string]any)["Subject"])
	_, msg = p.do("file", map[string]string{"id": id, "name": "../agent.db"})
	assert.NotEmpty(t, msg)

	// A file larger than one answer comes in parts.
	big := bytes.Repeat([]byte("0123456789abcdef"), service.Chunk/16+1000)
	_, err = ab.Queue(ctx, bureau, agent.Draft{To: []string{kg.Code}, Subject: "大附件", Body: "請查照。",
		Files: []parcel.File{{Name: "大附件.pdf", Role: parcel.RoleAttachment, Data: big}}})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	_, msg = p.do("sync", nil)
	require.Empty(t, msg)
	rows, _ = p.do("list", map[string]string{"box": "in", "text": "大附件"})
	require.Len(t, rows, 1)
	bigID := rows.([]any)[0].(map[string]any)["packageId"].(string)
	var got []byte
	for off := 0; ; {
		res, msg := p.do("file", map[string]any{"id": bigID, "name": "大附件.pdf", "offset": off})
		require.Empty(t, msg)
		m := res.(map[string]any)
		chunk, err := base64.StdEncoding.DecodeString(m["data"].(string))
		require.NoError(t, err)
		require.LessOrEqual(t, len(chunk), service.Chunk)
		got = append(got, chunk...)
		off += len(chunk)
		if off >= int(m["size"].(float64)) {
			break
		}
	}
	assert.Equal(t, big, got)
	_, msg = p.do("file", map[string]any{"id": bigID, "name": "大附件.pdf", "offset": len(big) + 1})
	assert.Contains(t, msg, "offset")
	// Sending signs with the card opened anew with the PIN the clerk typed
	// after seeing the letter: none, or a wrong one, queues nothing.
	reply := map[string]any{"to": []string{bureau.Code}, "subject": "回覆", "body": "已收到。",
		"files": []map[string]any{{"name": "回條.pdf", "data": []byte("%PDF")}}}
	_, msg = p.do("send", reply)
	assert.Equal(t, "ERR_BAD_ARGUMENT", p.code, msg)
	reply["pin"] = "111111"
	_, msg = p.do("send", reply)
	assert.Equal(t, "ERR_PIN_INCORRECT", p.code, msg)
	out, _ := p.do("list", map[string]string{"box": "out"})
	assert.Empty(t, out, "nothing queued without the PIN")
	reply["pin"] = "123456"
	tries = 0
	sent, msg := p.do("send", reply)
	require.Empty(t, msg)
	assert.Equal(t, 1, tries, "the card opened for the letter")
	assert.Equal(t, "queued", sent.(map[string]any)["state"])
	for { // sent at once, while the session is open (earlier syncs' events come first)
		if sentNow, _ := p.event("synced")["report"].(map[string]any)["sent"].([]any); len(sentNow) > 0 {
			assert.Len(t, sentNow, 1)
			break
		}
	}
	_, msg = p.do("sync", nil)
	require.Empty(t, msg)
	// The 發文匣 shows its 發文字號 and attachments, and finds it by either.
	out, msg = p.do("list", map[string]string{"box": "out", "text": "回條"})
	require.Empty(t, msg)
	require.Len(t, out, 0, "attachments' names are shown, not searched")
	out, _ = p.do("list", map[string]string{"box": "out"})
	require.Len(t, out, 1)
	sentRow := out.([]any)[0].(map[string]any)
	assert.Equal(t, []any{"回條.pdf"}, sentRow["files"])
	number, _ := sentRow["number"].(string)
	require.Contains(t, number, "字第")
	out, _ = p.do("list", map[string]string{"box": "out", "text": number})
	assert.Len(t, out, 1, "found by its 發文字號")
	_, msg = p.do("nonsense", nil)
	assert.Contains(t, msg, "unknown")
	assert.Equal(t, "ERR_BAD_ARGUMENT", p.code)
	_, msg = p.do("list", map[string]any{"box": "in", "extra": 1})
	assert.Contains(t, msg, "bad arguments")

	_, msg = p.do("logout", nil)
	require.Empty(t, msg)
	assert.Equal(t, "logout", p.event("sessionEnded")["reason"])
	assert.True(t, closed, "the card's session closed")
	_, msg = p.do("sync", nil)
	assert.Contains(t, msg, "登入")

	// A session nobody uses ends by itself.
	svc.Idle = 200 * time.Millisecond
	_, msg = p.do("login", map[string]string{"pin": "123456"})
	require.Empty(t, msg)
	assert.Equal(t, "idle", p.event("sessionEnded")["reason"])
	inW.Close()
}

func TestDayRange(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.Local)
	for _, tc := range []struct {
		from, to      string
		start, endDay string
		bad           bool
	}{
		{"", "", "2026-12-06", "2026-12-07", false},
		{"2026-12-01", "", "2026-12-01", "2026-12-07", false},
		{"2026-12-01", "2026-12-03", "2026-12-01", "2026-12-04", false},
		{"2026-12-05", "2026-12-01", "", "", true},
		{"12/01", "", "", "", true},
	} {
		s, e, err := service.DayRange(tc.from, tc.to, now)
		if tc.bad {
			assert.Error(t, err, tc)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.start, s.Format("2006-01-02"))
		assert.Equal(t, tc.endDay, e.Format("2006-01-02"))
		assert.Equal(t, 0, s.Hour())
	}
}
