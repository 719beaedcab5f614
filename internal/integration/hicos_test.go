package integration

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// apduLog collects the headers of the APDUs a virtual card answered, from
// its JSON log (which never carries the data field).
type apduLog struct {
	mu      sync.Mutex
	headers [][]byte
}

func (l *apduLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range bytes.Split(p, []byte("\n")) {
		var rec struct {
			Header []byte `json:"header"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Header != nil {
			l.headers = append(l.headers, rec.Header)
		}
	}
	return len(p), nil
}

func (l *apduLog) all() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.headers...)
}

// insertHiCOS inserts a TEST card that answers as a gen-1 HiCOS card's
// public read-only commands, and returns the log of what it was sent.
func insertHiCOS(t *testing.T) (*softcard.State, *apduLog) {
	t.Helper()
	st := issued(t, "hicos", softcard.IssueOptions{})
	return st, insertHiCOSState(t, st)
}

// insertHiCOSState inserts st as a HiCOS card.
func insertHiCOSState(t *testing.T, st *softcard.State) *apduLog {
	t.Helper()
	log := &apduLog{}
	insertWith(t, st, softcard.Options{Profile: softcard.ProfileHiCOS,
		Log: slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return log
}

// noDiscovery makes the command lines the test runs load no module found at
// a vendor's location: OpenSC, once loaded as the fallback for a card in
// another reader, probes every card it sees with its own drivers' (read-
// only) commands, which is OpenSC's doing and not what this audit checks.
func noDiscovery(t *testing.T) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(`{"noModuleDiscovery":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CARDBRIDGE_CONFIG", cfg)
}

// onlyReadOnlyCommands fails unless every APDU the card got was a class-80
// SELECT FILE or READ BINARY, or the one PIV SELECT that tells a PIV card
// from others: never a PIN verify, a key operation or a GET CHALLENGE.
func onlyReadOnlyCommands(t *testing.T, log *apduLog) {
	t.Helper()
	headers := log.all()
	if len(headers) == 0 {
		t.Fatal("the card's APDU log is empty")
	}
	for _, b := range headers {
		if len(b) < 4 {
			t.Fatalf("bad logged header % X", b)
		}
		switch {
		case b[0] == 0x80 && (b[1] == 0xA4 || b[1] == 0xB0):
		case b[0] == 0x00 && b[1] == 0xA4 && b[2] == 0x04: // SELECT PIV by AID: the probe
		default:
			t.Errorf("the HiCOS card was sent % X; only its public read-only commands are allowed", b)
		}
	}
}

// A gen-1 HiCOS card without the vendor's module: identified through
// pcscd, its certificates listed read-only by the host and the command
// line, every key or PIN operation answered ERR_HICOS_CLIENT_NEEDED with
// nothing sent to the card, and the check says what is missing.
func TestHiCOSCardReadNatively(t *testing.T) {
	noDiscovery(t)
	st, log := insertHiCOS(t)
	sigID := card.CertID(st.Cert(softcard.SlotAuthentication))
	encID := card.CertID(st.Cert(softcard.SlotKeyManagement))

	h := startHost(t, hostOptions{config: `{"noModuleDiscovery":true}`})
	h.hello()
	res := h.call("certificates", pageOrigin, nil)
	certs := res["certificates"].([]any)
	if len(certs) != 2 {
		t.Fatalf("certificates = %v, want the holder's two (not the CA's)", certs)
	}
	ids := map[string]bool{}
	for _, v := range certs {
		c := v.(map[string]any)
		ids[c["id"].(string)] = true
		info := c["info"].(map[string]any)
		if c["readOnly"] != true || len(c["capabilities"].([]any)) != 0 || c["backend"] != "pcsc" {
			t.Errorf("certificate %v: want readOnly, no capabilities, backend pcsc", c)
		}
		if info["holder"] != "測試幼兒園" || info["ubn"] != "04595252" {
			t.Errorf("info = %v, want the holder and 統一編號", info)
		}
	}
	if !ids[sigID] || !ids[encID] {
		t.Errorf("ids = %v, want %s and %s", ids, sigID, encID)
	}

	digest := b64e(make([]byte, 32))
	for _, tc := range []struct {
		command string
		args    map[string]any
	}{
		{"sign", map[string]any{"certificateId": sigID, "hashAlgorithm": "SHA-256", "digest": digest, "pin": "123456"}},
		{"authenticate", map[string]any{"certificateId": sigID, "challenge": strings.Repeat("A", 44), "pin": "123456"}},
		{"decrypt", map[string]any{"certificateId": encID, "ciphertext": b64e(make([]byte, 256)), "pin": "123456"}},
		{"pinStatus", map[string]any{"certificateId": sigID}},
		{"changePin", map[string]any{"certificateId": sigID, "pin": "123456", "newPin": "654321"}},
		{"unblockPin", map[string]any{"certificateId": sigID, "puk": "12345678", "newPin": "654321"}},
	} {
		e := h.callErr(tc.command, pageOrigin, tc.args)
		wantCode(t, e, protocol.ErrHiCOSClientNeeded)
		if d, _ := e["details"].(map[string]any); d["download"] != "https://moica.nat.gov.tw/download_1.html" {
			t.Errorf("%s: details = %v, want the download page", tc.command, e["details"])
		}
	}

	out, errOut, code := cli(t, "", "certs", "--json")
	var listed struct {
		Certificates []struct {
			Label    string `json:"label"`
			ReadOnly bool   `json:"readOnly"`
		} `json:"certificates"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed.Certificates) != 2 {
		t.Fatalf("cardbridge certs --json = %d\n%s\n%s", code, out, errOut)
	}
	labels := []string{listed.Certificates[0].Label, listed.Certificates[1].Label}
	if !listed.Certificates[0].ReadOnly || !strings.Contains(strings.Join(labels, ","), "cert1") || !strings.Contains(strings.Join(labels, ","), "cert2") {
		t.Errorf("certs --json = %+v, want cert1 and cert2, read-only", listed)
	}

	out, _, code = cli(t, "", "check")
	for _, want := range []string{"HiCOS card found; to sign, install the HiCOS client from moica.nat.gov.tw", "找到中華電信 HiCOS 卡"} {
		if !strings.Contains(out, want) {
			t.Errorf("cardbridge check does not say %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("cardbridge check = %d, want 1: the card cannot sign here", code)
	}
	onlyReadOnlyCommands(t, log)
}

// The same card through OpenSC: OpenSC has no HiCOS driver, so it sees a
// card it cannot use; the host's fallback then changes nothing and the
// native read-only view stays.
func TestHiCOSCardWithOpenSCFallback(t *testing.T) {
	module := openscModule(t)
	_, log := insertHiCOS(t)
	h := startHost(t, hostOptions{config: `{"noModuleDiscovery":true,"pkcs11Modules":["` + module + `"]}`})
	h.hello()
	certs := h.call("certificates", pageOrigin, nil)["certificates"].([]any)
	if len(certs) != 2 {
		t.Fatalf("certificates = %v, want the two read-only ones", certs)
	}
	for _, v := range certs {
		if c := v.(map[string]any); c["readOnly"] != true {
			t.Errorf("certificate %v, want readOnly", c)
		}
	}
	// OpenSC probes the card with its drivers' commands; what CardBridge
	// sent is bounded by the check above. Here only: no PIN verify ever.
	for _, b := range log.all() {
		if len(b) >= 2 && b[1] == 0x20 {
			t.Errorf("a PIN verify reached the HiCOS card: % X", b)
		}
	}
}

// softhsmToken makes a SoftHSM2 token that holds the card's two keys and
// certificates, as the HiCOS client's module shows a HiCOS card (the
// vendor's module itself cannot be used in tests); SOFTHSM2_CONF is set
// for the test. It returns the module's path.
func softhsmToken(t *testing.T, st *softcard.State) string {
	t.Helper()
	module := ""
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			module = p
			break
		}
	}
	if module == "" {
		if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
			t.Fatal("SoftHSM2 is not installed (Debian package softhsm2)")
		}
		t.Skip("SoftHSM2 is not installed (Debian package softhsm2)")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	const label = "HiCOS TEST"
	if out, err := tool(t, "softhsm2-util", "--init-token", "--free", "--label", label, "--pin", softcard.DefaultPIN, "--so-pin", softcard.DefaultPUK); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	for i, slot := range []softcard.Slot{softcard.SlotAuthentication, softcard.SlotKeyManagement} {
		id := fmt.Sprintf("%02x", i+1)
		keyDER := st.Keys[fmt.Sprintf("%02x", byte(slot))]
		keyFile := filepath.Join(dir, id+".key.pem")
		certFile := filepath.Join(dir, id+".cert.der")
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, st.Cert(slot), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := tool(t, "softhsm2-util", "--import", keyFile, "--token", label, "--label", "cert"+id, "--id", id, "--pin", softcard.DefaultPIN); err != nil {
			t.Fatalf("softhsm2-util --import: %v\n%s", err, out)
		}
		if out, err := tool(t, "pkcs11-tool", "--module", module, "--token-label", label, "--login", "--pin", softcard.DefaultPIN,
			"--write-object", certFile, "--type", "cert", "--id", id, "--label", "cert"+id); err != nil {
			t.Fatalf("pkcs11-tool --write-object: %v\n%s", err, out)
		}
	}
	return module
}

// With the HiCOS client's module present (SoftHSM2 holding the card's keys
// stands in for it), the same HiCOS card is used through the module: its
// certificates are listed once, by the module, with the same ids as the
// native read-only view, signatures verify, and the check says the card is
// used through the HiCOS client. The card itself still gets nothing but
// its public read-only commands.
func TestHiCOSCardThroughTheVendorModule(t *testing.T) {
	noDiscovery(t)
	st := issued(t, "hicos", softcard.IssueOptions{})
	// The token is made before the card is in: the tools that make it
	// (OpenSC's pkcs11-tool) are not what this test audits.
	module := softhsmToken(t, st)
	log := insertHiCOSState(t, st)
	sigID := card.CertID(st.Cert(softcard.SlotAuthentication))
	encID := card.CertID(st.Cert(softcard.SlotKeyManagement))

	h := startHost(t, hostOptions{config: `{"noModuleDiscovery":true,"pkcs11Modules":["` + module + `"]}`})
	h.hello()
	certs := h.call("certificates", pageOrigin, nil)["certificates"].([]any)
	if len(certs) != 2 {
		t.Fatalf("certificates = %v, want the card's two, once each", certs)
	}
	real, err := filepath.EvalSymlinks(module) // listed by its real path
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range certs {
		c := v.(map[string]any)
		if c["readOnly"] == true || c["backend"] != "pkcs11" || c["module"] != real {
			t.Errorf("certificate %v: want it through the module, usable", c)
		}
		if id := c["id"]; id != sigID && id != encID {
			t.Errorf("id %v is neither of the card's (the two views disagree)", id)
		}
	}
	d := sha256.Sum256([]byte("公文 signed through the vendor's module"))
	res := h.call("sign", pageOrigin, map[string]any{"certificateId": sigID, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(d[:])})
	sig, err := base64.StdEncoding.DecodeString(res["signature"].(string))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(st.Cert(softcard.SlotAuthentication))
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig); err != nil {
		t.Errorf("the module's signature does not verify with the card's certificate: %v", err)
	}

	out, errOut, code := cli(t, "", "check", "--pkcs11", module)
	if !strings.Contains(out, "經由 HiCOS 用戶端程式使用") || strings.Contains(out, "HiCOS card found; to sign") || code != 0 {
		t.Errorf("cardbridge check --pkcs11 = %d, want the card used through the module:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "剩 3 次") {
		t.Errorf("the check read no PIN state through the module:\n%s", out)
	}
	onlyReadOnlyCommands(t, log)
}
