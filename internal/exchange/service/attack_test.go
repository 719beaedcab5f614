package service_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cardpkg "github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"
	"github.com/cardbridge/cardbridge/internal/exchange/service"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// rawPage writes request lines as they are (duplicate keys and all) and
// reads the service's answers and events.
type rawPage struct {
	t      *testing.T
	w      io.WriteCloser
	lines  chan map[string]any
	events chan map[string]any
}

func serveRaw(t *testing.T, svc *service.Service) *rawPage {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	go func() { _ = svc.Serve(context.Background(), inR, outW); outW.Close() }()
	p := &rawPage{t: t, w: inW, lines: make(chan map[string]any, 16), events: make(chan map[string]any, 64)}
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 32<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			if _, ok := m["event"]; ok {
				p.events <- m
			} else {
				p.lines <- m
			}
		}
	}()
	t.Cleanup(func() { inW.Close() })
	return p
}

// ask sends one raw line and returns the error code of its answer ("" for
// a result).
func (p *rawPage) ask(line string) string {
	p.t.Helper()
	_, err := io.WriteString(p.w, line+"\n")
	require.NoError(p.t, err)
	select {
	case m := <-p.lines:
		if e, ok := m["error"].(map[string]any); ok {
			return e["code"].(string)
		}
		return ""
	case <-time.After(30 * time.Second):
		p.t.Fatalf("no answer to %s", line)
	}
	return ""
}

// Finding 2 (the agent's side): the host puts the typed PIN first in args;
// encoding/json takes the last of two keys, matched regardless of case. A
// second pin in a login or send line was the PIN the card got. The host
// refuses a pin in args now (protocol.ExchangeArgs.Check); the agent
// refuses a line that names it twice too, before any card is opened.
func TestAttackServicePINTwice(t *testing.T) {
	var opened []string
	svc := &service.Service{Open: func(_ context.Context, _ string, pin []byte) (service.Session, error) {
		opened = append(opened, string(pin))
		return nil, &cardpkg.AuthError{TriesLeft: 2}
	}}
	p := serveRaw(t, svc)
	for _, line := range []string{
		`{"id":1,"op":"login","args":{"pin":"123456","pin":"654321"}}`,
		`{"id":2,"op":"login","args":{"pin":"123456","PIN":"654321","reader":"R"}}`,
		`{"id":3,"op":"login","args":{"pin":"123456","p\u0069n":"654321"}}`,
		`{"id":4,"op":"send","args":{"pin":"123456","to":["XC10458570"],"Pin":"654321"}}`,
	} {
		assert.Equal(t, "ERR_BAD_ARGUMENT", p.ask(line), line)
	}
	assert.Empty(t, opened, "no card opened with either PIN")
	// One PIN is a login as before: the card's answer, tried once.
	assert.Equal(t, "ERR_PIN_INCORRECT", p.ask(`{"id":5,"op":"login","args":{"pin":"123456","reader":"R"}}`))
	assert.Equal(t, []string{"123456"}, opened)
}

// Arguments at the edges reach no card and crash nothing: null, arrays,
// a pin that is not a string or not printable, a huge offset.
func TestAttackServiceOddArguments(t *testing.T) {
	opened := 0
	svc := &service.Service{Open: func(context.Context, string, []byte) (service.Session, error) {
		opened++
		return nil, &cardpkg.AuthError{TriesLeft: 2}
	}}
	p := serveRaw(t, svc)
	for _, line := range []string{
		`{"id":1,"op":"login","args":[]}`,
		`{"id":2,"op":"login","args":{"pin":123456}}`,
		`{"id":3,"op":"login","args":{"pin":"12\n3456"}}`,
		`{"id":4,"op":"login","args":{"pin":"12\"3456"}}`,
		`{"id":5,"op":"send","args":{"to":["XC10458570"],"pin":null}}`,
		`{"id":6,"op":"send","args":{"to":"XC10458570","pin":"123456"}}`,
		`{"id":7,"op":"print","args":{"ids":null}}`,
		`{"id":8,"op":"directory","args":{"pin":"123456"}}`,
		`{"id":9,"op":"` + strings.Repeat("x", 1000) + `"}`,
	} {
		assert.NotEmpty(t, p.ask(line), line)
	}
	assert.Equal(t, 0, opened)
}

// Finding 13 (fixed: sessionEnded "login failed"): a login while a session is open ends that
// session first (the card cannot be opened twice) and says nothing; when
// the new PIN is wrong the clerk is logged out, the watch has stopped,
// and the page, which heard no sessionEnded, still shows the session.
func TestAttackServiceFailedReloginIsSilent(t *testing.T) {
	ctx := context.Background()
	ca, err := testca.New(nil, time.Now())
	require.NoError(t, err)
	kg := exchangetest.Valid(t, ca, "測試幼兒園", "04595252")
	c := exchangetest.StartCentre(t, ca, map[string][]byte{kg.Code: kg.Enc.Raw})
	home := t.TempDir()
	a, err := agent.Open(ctx, agent.Options{Home: home})
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.Setup(ctx, c.URL, kg.Code, filepath.Join(home, "收文"), exchangetest.RootsPEM(ca)))
	closed := false
	svc := &service.Service{Agent: a, Poll: time.Hour, Open: func(_ context.Context, _ string, pin []byte) (service.Session, error) {
		if string(pin) != "123456" {
			return nil, &cardpkg.AuthError{TriesLeft: 2}
		}
		return softSession{Agency: kg, closed: &closed}, nil
	}}
	p := serveRaw(t, svc)
	require.Empty(t, p.ask(`{"id":1,"op":"login","args":{"pin":"123456"}}`))
	assert.Equal(t, "ERR_PIN_INCORRECT", p.ask(`{"id":2,"op":"login","args":{"pin":"000000"}}`))
	assert.True(t, closed, "the first session ended")
	select {
	case e := <-p.events:
		assert.Equal(t, "sessionEnded", e["event"])
	case <-time.After(2 * time.Second):
		t.Fatal("the session ended and the page was not told")
	}
}
