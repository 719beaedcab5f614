package integration

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

var update = flag.Bool("update", false, "rewrite testdata/transcript from the current host")

// The transcript pins the host's wire behaviour: recorded requests are
// replayed against the real binary and every reply must equal the recorded
// one, after volatile fields (times, CMS blobs) are masked. A change to the
// protocol shows up as a diff of testdata/transcript/native.json, reviewed
// like code. Regenerate with:
//
//	CARDBRIDGE_REQUIRE_PCSC=1 go test ./internal/integration/ -run TestTranscript -update
const (
	transcriptDir  = "testdata/transcript"
	transcriptCard = "card.json"
	transcriptFile = "native.json"
)

// volatile are result keys whose values change from run to run or from
// machine to machine. (readers is left out of the transcript: the readers
// present depend on the machine.)
var volatile = map[string]bool{"signingTime": true, "cms": true, "daysLeft": true, "os": true, "arch": true}

// randomized are the algorithms whose signatures differ on every run (PSS
// salt, ECDSA nonce): the signature next to one is masked too. The
// transcript test checks authenticate signatures before masking them.
var randomized = map[string]bool{"PS256": true, "ES256": true}

type exchange struct {
	Note     string          `json:"note"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
}

// transcriptCardState returns the committed TEST card, issuing it on
// -update when it does not exist yet. Its certificates run to 2045 so
// that the recorded facts stay true.
func transcriptCardState(t *testing.T) *softcard.State {
	t.Helper()
	path := filepath.Join(transcriptDir, transcriptCard)
	if _, err := os.Stat(path); os.IsNotExist(err) && *update {
		now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		h, err := testca.New(nil, now)
		if err != nil {
			t.Fatal(err)
		}
		st, err := softcard.Issue(h, softcard.IssueOptions{
			Org:       testca.Org{Name: "測試幼兒園", UBN: "04595252", OrgCode: "TEST0001", CardSerial: "TEST000000000001"},
			Now:       now,
			NotBefore: now,
			NotAfter:  time.Date(2045, 12, 31, 0, 0, 0, 0, time.UTC),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(transcriptDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := softcard.SaveState(path, st); err != nil {
			t.Fatal(err)
		}
	}
	st, err := softcard.LoadState(path)
	if err != nil {
		t.Fatalf("load %s: %v (run with -update to create it)", path, err)
	}
	return st
}

// script builds the requests to record. It runs only with -update; a
// normal run replays the recorded requests, so random inputs (the
// ciphertext) are fixed once recorded.
func script(t *testing.T, st *softcard.State) []exchange {
	t.Helper()
	var sigID, encID string
	var encKey *rsa.PublicKey
	for _, der := range certsOf(t, st) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(der)
		id := hex.EncodeToString(sum[:])
		if c.KeyUsage&x509.KeyUsageKeyEncipherment != 0 {
			encID, encKey = id, c.PublicKey.(*rsa.PublicKey)
		} else {
			sigID = id
		}
	}
	digest := sha256.Sum256([]byte("公文 114 年第 1 號"))
	// The ciphertext is random: keep the recorded one, so that -update
	// shows only changes of behaviour.
	ct := recordedCiphertext(t)
	if ct == nil {
		var err error
		if ct, err = rsa.EncryptPKCS1v15(rand.Reader, encKey, []byte("session key 0123456789abcdef")); err != nil {
			t.Fatal(err)
		}
	}
	b64 := base64.StdEncoding.EncodeToString
	site := "https://edoc.example.gov.tw"
	req := func(id int, command, origin string, args map[string]any) json.RawMessage {
		if args == nil { // a nil map, not "args": null
			return request(t, id, command, origin, nil)
		}
		return request(t, id, command, origin, args)
	}
	pin := softcard.DefaultPIN
	return []exchange{
		{Note: "version", Request: req(1, "version", "", nil)},
		{Note: "config (the extension itself: no origin)", Request: req(2, "config", "", nil)},
		{Note: "certificates of the reader", Request: req(3, "certificates", site, map[string]any{"reader": readerName})},
		{Note: "PIN status before any PIN", Request: req(4, "pinStatus", site, map[string]any{"reader": readerName})},
		{Note: "sign a SHA-256 digest (RSA PKCS#1 v1.5 is deterministic)", Request: req(5, "sign", site, map[string]any{"certificateId": sigID, "pin": pin, "hashAlgorithm": "SHA-256", "digest": b64(digest[:])})},
		{Note: "sign data the host hashes with SHA-384", Request: req(6, "sign", site, map[string]any{"certificateId": sigID, "pin": pin, "hashAlgorithm": "SHA-384", "data": b64([]byte("公文"))})},
		{Note: "CMS detached signature with nonce and card serial (blob and time masked)", Request: req(7, "sign", site, map[string]any{"certificateId": sigID, "pin": pin, "hashAlgorithm": "SHA-256", "data": b64([]byte("公文")), "format": "cms", "nonce": "n-20261128-0001"})},
		{Note: "authenticate: origin-bound token", Request: req(8, "authenticate", site, map[string]any{"certificateId": sigID, "pin": pin, "challenge": b64(bytes.Repeat([]byte{0x5a}, 32))})},
		{Note: "decrypt a PKCS#1 v1.5 session key with cert2", Request: req(9, "decrypt", site, map[string]any{"certificateId": encID, "pin": pin, "ciphertext": b64(ct)})},
		{Note: "wrong PIN: tries left", Request: req(10, "sign", site, map[string]any{"certificateId": sigID, "pin": "000000", "hashAlgorithm": "SHA-256", "digest": b64(digest[:])})},
		{Note: "PIN of 5 digits: refused before the card, no try used", Request: req(11, "sign", site, map[string]any{"certificateId": sigID, "pin": "12345", "hashAlgorithm": "SHA-256", "digest": b64(digest[:])})},
		{Note: "PIN status after one wrong PIN", Request: req(12, "pinStatus", site, map[string]any{"certificateId": sigID})},
		{Note: "change PIN", Request: req(13, "changePin", site, map[string]any{"reader": readerName, "pin": pin, "newPin": "654321"})},
		{Note: "unknown certificate", Request: req(14, "sign", site, map[string]any{"certificateId": strings.Repeat("0", 64), "pin": "654321", "hashAlgorithm": "SHA-256", "digest": b64(digest[:])})},
		{Note: "decrypt with the signature certificate", Request: req(15, "decrypt", site, map[string]any{"certificateId": sigID, "pin": "654321", "ciphertext": b64(ct)})},
		{Note: "unknown command", Request: req(16, "format", site, nil)},
		{Note: "unknown argument", Request: req(17, "readers", "", map[string]any{"verbose": true})},
		{Note: "missing argument", Request: req(18, "sign", site, map[string]any{"certificateId": sigID, "hashAlgorithm": "SHA-256", "digest": b64(digest[:])})},
		{Note: "plain-http page", Request: req(19, "certificates", "http://edoc.example.gov.tw", nil)},
		{Note: "string id", Request: json.RawMessage(`{"id":"req-20","command":"version"}`)},
	}
}

func TestTranscript(t *testing.T) {
	st := transcriptCardState(t)
	path := filepath.Join(transcriptDir, transcriptFile)
	var recorded []exchange
	if *update {
		recorded = script(t, st)
	} else {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to record)", err)
		}
		if err := json.Unmarshal(b, &recorded); err != nil {
			t.Fatal(err)
		}
	}
	insert(t, st)
	h := startHost(t, hostOptions{})
	h.hello()
	for i, ex := range recorded {
		var id struct {
			ID any `json:"id"`
		}
		if err := json.Unmarshal(ex.Request, &id); err != nil {
			t.Fatal(err)
		}
		h.sendRaw(frame(ex.Request))
		reply := h.reply(id.ID, 30*time.Second)
		checkTokenSignature(t, ex, reply)
		got := mask(t, reply)
		if *update {
			recorded[i].Response = got
			continue
		}
		if !bytes.Equal(got, canonical(t, ex.Response)) {
			t.Errorf("%s (id %v):\n got %s\nwant %s", ex.Note, id.ID, got, canonical(t, ex.Response))
		}
	}
	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(recorded); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d exchanges)", path, len(recorded))
	}
	h.noPIN(softcard.DefaultPIN, "654321")
}

// recordedCiphertext returns the ciphertext of the recorded decrypt
// exchange, or nil when there is none.
func recordedCiphertext(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(transcriptDir, transcriptFile))
	if err != nil {
		return nil
	}
	var recorded []exchange
	if err := json.Unmarshal(b, &recorded); err != nil {
		return nil
	}
	for _, ex := range recorded {
		var req struct {
			Command string
			Args    struct{ Ciphertext []byte }
		}
		if json.Unmarshal(ex.Request, &req) == nil && req.Command == "decrypt" && len(req.Args.Ciphertext) > 0 {
			return req.Args.Ciphertext
		}
	}
	return nil
}

// checkTokenSignature verifies the signature of an authenticate reply,
// which mask hides when it is randomized: RSA-PSS with SHA-256 and a
// 32-byte salt over SHA-256(SHA-256(origin) ‖ SHA-256(challenge)).
func checkTokenSignature(t *testing.T, ex exchange, reply map[string]any) {
	t.Helper()
	var req struct {
		Command string
		Origin  string
		Args    struct{ Challenge string }
	}
	if err := json.Unmarshal(ex.Request, &req); err != nil || req.Command != "authenticate" {
		return
	}
	res, ok := reply["result"].(map[string]any)
	if !ok {
		return
	}
	cert, err := x509.ParseCertificate(b64d(t, res["certificate"]))
	if err != nil {
		t.Fatalf("%s: token certificate: %v", ex.Note, err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || res["algorithm"] != "PS256" {
		t.Fatalf("%s: token algorithm %v with a %T key, want PS256 with RSA", ex.Note, res["algorithm"], cert.PublicKey)
	}
	opts := &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}
	if err := rsa.VerifyPSS(pub, crypto.SHA256, authDigest(req.Origin, req.Args.Challenge), b64d(t, res["signature"]), opts); err != nil {
		t.Errorf("%s: token signature does not verify: %v", ex.Note, err)
	}
}

// mask replaces volatile values and returns canonical JSON.
func mask(t *testing.T, m map[string]any) json.RawMessage {
	t.Helper()
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if alg, _ := x["algorithm"].(string); randomized[alg] {
				if _, ok := x["signature"]; ok {
					x["signature"] = "<volatile>"
				}
			}
			for k, e := range x {
				if volatile[k] {
					x[k] = "<volatile>"
				} else {
					x[k] = walk(e)
				}
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	b, err := json.Marshal(walk(m))
	if err != nil {
		t.Fatal(err)
	}
	return canonical(t, b)
}

// canonical re-encodes JSON with sorted keys and no HTML escaping.
func canonical(t *testing.T, b []byte) json.RawMessage {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

// certsOf returns the certificates of a card state in slot order.
func certsOf(t *testing.T, st *softcard.State) [][]byte {
	t.Helper()
	var out [][]byte
	for _, slot := range []string{"9a", "9c", "9d", "9e"} {
		if der, ok := st.Certs[slot]; ok {
			out = append(out, der)
		}
	}
	if len(out) == 0 {
		t.Fatal("card state has no certificates")
	}
	return out
}
