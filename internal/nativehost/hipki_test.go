package nativehost

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/config"
)

// hipkiSession runs requests through a session (no card) with cfg and
// returns the replies by id.
func hipkiSession(t *testing.T, cfg config.Config, lines ...string) map[float64]map[string]any {
	t.Helper()
	o := Options{Caller: Terminal, Plain: true, Version: "test", Development: true,
		LoadConfig: func() (config.Config, error) { return cfg, nil },
		NewAgent: func(cfg config.Config, log *slog.Logger) Agent {
			return NewCardAgent(cards.New(cards.Options{Backends: []cards.Backend{}}), cfg, "test", true)
		}}
	var out, errb bytes.Buffer
	require.Equal(t, 0, Serve(o, strings.NewReader(strings.Join(lines, "\n")+"\n"), &out, &errb), errb.String())
	got := map[float64]map[string]any{}
	dec := json.NewDecoder(&out)
	for {
		var m map[string]any
		if dec.Decode(&m) != nil {
			break
		}
		if id, ok := m["id"].(float64); ok {
			got[id] = m
		}
	}
	return got
}

// hipki reads a request (with the page's origin); a refusal is a result
// with the page's ret_code; raw signatures are allowed to the built-in
// government sites and legacySites, and still refused to any other site.
func TestHiPKICommand(t *testing.T) {
	cfg := config.Config{LegacySites: []string{"https://school.example.edu.tw", "http://127.0.0.1:8443"}}
	sign := `"payload":"{\"func\":\"MakeSignature\",\"tbs\":\"%E5%85%AC%E6%96%87\",\"signatureType\":\"PKCS1\"}"`
	got := hipkiSession(t, cfg,
		`{"id":1,"command":"hipki","origin":"https://moica.nat.gov.tw","args":{`+sign+`}}`,
		`{"id":2,"command":"hipki","origin":"https://school.example.edu.tw","args":{"payload":"{\"func\":\"GetUserCert\"}"}}`,
		`{"id":3,"command":"hipki","origin":"https://evil.example","args":{`+sign+`}}`,
		`{"id":4,"command":"hipki","args":{`+sign+`}}`,
		`{"id":5,"command":"hipki","origin":"https://moica.nat.gov.tw","args":{"payload":"{\"func\":\"OPENCARD\"}"}}`,
		`{"id":6,"command":"hipki","origin":"http://127.0.0.1:8443","args":{"path":"/pkcs11info","query":"withcert=true"}}`,
		`{"id":7,"command":"hipki","origin":"https://moica.nat.gov.tw","args":{"payload":"x","pin":"123456"}}`,
		`{"id":8,"command":"sign","origin":"https://moica.nat.gov.tw","args":{"certificateId":"`+strings.Repeat("a", 64)+`","pin":"123456","hashAlgorithm":"SHA-256","digest":"`+strings.Repeat("A", 43)+`="}}`,
	)
	req := func(id float64) map[string]any {
		r, _ := got[id]["result"].(map[string]any)
		q, _ := r["request"].(map[string]any)
		return q
	}
	code := func(id float64) string {
		e, _ := got[id]["error"].(map[string]any)
		c, _ := e["code"].(string)
		return c
	}
	s, _ := req(1)["sign"].(map[string]any)
	assert.Equal(t, map[string]any{"signatureType": "PKCS1", "hashAlgorithm": "SHA-256", "format": "raw", "data": "5YWs5paH", "text": "公文"}, s)
	assert.Equal(t, "certificates", req(2)["op"])
	assert.Equal(t, true, req(2)["withCert"])
	assert.Equal(t, "sign", req(3)["op"], "a translation, no power: any site's page is read")
	assert.Equal(t, "ERR_BAD_ORIGIN", code(4), "no origin")
	refused, _ := got[5]["result"].(map[string]any)["refused"].(map[string]any)
	assert.Equal(t, float64(0x7600000E), refused["retCode"])
	assert.Equal(t, true, refused["cardManagement"])
	assert.Equal(t, true, req(6)["withCert"])
	assert.Equal(t, "ERR_BAD_ARGUMENT", code(7), "no pin argument reaches hipki")
	// Raw signing for the government site reaches the card (no card here),
	// for another site it is refused before.
	assert.NotEqual(t, "ERR_NOT_ALLOWED", code(8))
	other := hipkiSession(t, cfg, `{"id":9,"command":"sign","origin":"https://evil.example","args":{"certificateId":"`+strings.Repeat("a", 64)+`","pin":"123456","hashAlgorithm":"SHA-256","digest":"`+strings.Repeat("A", 43)+`="}}`)
	e, _ := other[9]["error"].(map[string]any)
	assert.Equal(t, "ERR_NOT_ALLOWED", e["code"])
}

// noBuiltinLegacySites: the government sites lose raw signing (and the
// extension is told there are no built-in sites); listed ones keep it.
func TestNoBuiltinLegacySites(t *testing.T) {
	cfg := config.Config{NoBuiltinLegacySites: true, LegacySites: []string{"https://edoc.example.gov.tw"}}
	assert.False(t, LegacySite(cfg, "https://moica.nat.gov.tw"))
	assert.True(t, LegacySite(cfg, "https://edoc.example.gov.tw"))
	assert.True(t, LegacySite(config.Config{}, "https://moica.nat.gov.tw"))
	got := hipkiSession(t, cfg, `{"id":1,"command":"config"}`)
	r, _ := got[1]["result"].(map[string]any)
	assert.Equal(t, "", r["legacyBuiltin"])
}
