package nativehost

// Attacks on the hipki command and on the raw-sign / decrypt power it
// grants (security review): origin confusions against LegacySite, the
// page's own PIN in the host's output and log, oversize payloads. All
// defended: these are regression tests.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/config"
)

// attackSession runs lines through a session without a card, logging at
// debug level; it returns the replies by id, and what went to stdout and
// to the log.
func attackSession(t *testing.T, cfg config.Config, lines ...string) (map[float64]map[string]any, string, string) {
	t.Helper()
	cfg.LogLevel = "debug"
	o := Options{Caller: Terminal, Plain: true, Version: "test", Development: false,
		LoadConfig: func() (config.Config, error) { return cfg, nil },
		NewAgent: func(cfg config.Config, log *slog.Logger) Agent {
			return NewCardAgent(cards.New(cards.Options{Backends: []cards.Backend{}}), cfg, "test", false)
		}}
	var out, errb bytes.Buffer
	Serve(o, strings.NewReader(strings.Join(lines, "\n")+"\n"), &out, &errb)
	got := map[float64]map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	for {
		var m map[string]any
		if dec.Decode(&m) != nil {
			break
		}
		if id, ok := m["id"].(float64); ok {
			got[id] = m
		}
	}
	return got, out.String(), errb.String()
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// The raw-sign and decrypt power of the built-in sites and legacySites
// goes to exactly those origins: not to another port, the bare gov.tw, a
// trailing dot, upper case, a look-alike, nor a legacySites entry's
// sibling without its port.
func TestAttackLegacySiteOriginConfusions(t *testing.T) {
	cfg := config.Config{LegacySites: []string{"https://school.example.edu.tw:8443"}}
	cid := strings.Repeat("a", 64)
	rawSign := func(id int, origin string) string {
		return fmt.Sprintf(`{"id":%d,"command":"sign","origin":%q,"args":{"certificateId":%q,"pin":"123456","hashAlgorithm":"SHA-256","digest":"%s="}}`, id, origin, cid, strings.Repeat("A", 43))
	}
	decrypt := func(id int, origin string) string {
		return fmt.Sprintf(`{"id":%d,"command":"decrypt","origin":%q,"args":{"certificateId":%q,"pin":"123456","ciphertext":"%s"}}`, id, origin, cid, strings.Repeat("A", 344))
	}
	refused := []string{
		"https://x.gov.tw:8443", "https://gov.tw", "https://evil.gov.tw.example.com", "https://evilgov.tw", "https://school.example.edu.tw",
		"https://school.example.edu.tw:8444", "https://evil.gov.tw.", "https://X.gov.tw", "http://x.gov.tw", "https://x.gov.tw/", "https://u@x.gov.tw",
	}
	allowed := []string{"https://edoc.example.gov.tw", "https://a_b.gov.tw", "https://school.example.edu.tw:8443"}
	// One session per origin: at most 8 requests are in flight.
	codes := func(o string) []string {
		got, _, _ := attackSession(t, cfg, rawSign(1, o), decrypt(2, o))
		return []string{errCode(got[1]), errCode(got[2])}
	}
	for _, o := range refused {
		for _, c := range codes(o) {
			assert.Contains(t, []string{"ERR_NOT_ALLOWED", "ERR_BAD_ORIGIN"}, c, o)
		}
	}
	for _, o := range allowed {
		for _, c := range codes(o) {
			assert.NotContains(t, []string{"ERR_NOT_ALLOWED", "ERR_BAD_ORIGIN", "ERR_BUSY", ""}, c, o)
		}
	}
}

// The page's own PIN field (HiPKI pages collect one) is in the hipki
// payload: it reaches neither the reply nor the log, at debug level,
// whether the request is read or refused.
func TestAttackHiPKIPagePINNotOutputOrLogged(t *testing.T) {
	const pin = "87654321"
	payloads := []string{
		`{"func":"MakeSignature","tbs":"x","pin":"` + pin + `"}`,
		`{"func":"MakeSignature","tbs":"x","hashAlgorithm":"SHA1","pin":"` + pin + `"}`,
		`{"func":"CHANGEUSERPIN","pin":"` + pin + `","newPin":"` + pin + `"}`,
		`{"func":"OPENCARD","userPin":"` + pin + `"}`,
		`{"func":"GetUserCert","pin":"` + pin + `"`,
		`tbsPackage={"func":"DecryptData","cipher":"AAAA","pin":"` + pin + `"}`,
	}
	var lines []string
	for i, p := range payloads {
		b, _ := json.Marshal(map[string]any{"id": i + 1, "command": "hipki", "origin": "https://edoc.example.gov.tw", "args": map[string]string{"payload": p}})
		lines = append(lines, string(b))
	}
	// A pin argument of its own is refused, and not echoed either.
	lines = append(lines, `{"id":99,"command":"hipki","origin":"https://edoc.example.gov.tw","args":{"payload":"{}","pin":"`+pin+`"}}`)
	got, out, log := attackSession(t, config.Config{}, lines...)
	require.Len(t, got, len(payloads)+1)
	assert.NotContains(t, out, pin)
	assert.NotContains(t, log, pin)
	assert.Equal(t, "ERR_BAD_ARGUMENT", errCode(got[99]))
}

// A payload over the argument's limit is refused as an argument, and the
// session goes on.
func TestAttackHiPKIOversizePayload(t *testing.T) {
	big := strings.Repeat("a", 6<<20+1)
	got, _, _ := attackSession(t, config.Config{},
		`{"id":1,"command":"hipki","origin":"https://edoc.example.gov.tw","args":{"payload":"`+big+`"}}`,
		`{"id":2,"command":"hipki","origin":"https://edoc.example.gov.tw","args":{"payload":"{\"func\":\"CheckEnvir\"}"}}`)
	assert.Equal(t, "ERR_BAD_ARGUMENT", errCode(got[1]))
	r, _ := got[2]["result"].(map[string]any)
	require.NotNil(t, r, "%v", got[2])
}
