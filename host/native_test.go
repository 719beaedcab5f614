package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/install"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

func TestNativeCaller(t *testing.T) {
	dev := "chrome-extension://" + install.DevExtensionID + "/"
	for _, tc := range []struct {
		name string
		args []string
		want caller
		ok   bool
	}{
		{"chrome", []string{dev}, caller{"chromium", install.DevExtensionID}, true},
		{"chrome on windows", []string{dev, "--parent-window=1234"}, caller{"chromium", install.DevExtensionID}, true},
		{"chrome with another argument", []string{dev, "certs"}, caller{}, false},
		{"firefox", []string{"/home/a/.mozilla/native-messaging-hosts/tw.cardbridge.host.json", install.FirefoxAddonID}, caller{"firefox", install.FirefoxAddonID}, true},
		{"firefox guid", []string{`C:\x\tw.cardbridge.host.JSON`, "{d4e1c3a2-1111-2222-3333-444455556666}"}, caller{"firefox", "{d4e1c3a2-1111-2222-3333-444455556666}"}, true},
		{"firefox bad id", []string{"/x/m.json", "not an id"}, caller{}, false},
		{"not a manifest", []string{"/x/m.txt", install.FirefoxAddonID}, caller{}, false},
		{"command line", []string{"certs", "--json"}, caller{}, false},
		{"nothing", nil, caller{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := nativeCaller(tc.args)
			if ok != tc.ok || got != tc.want {
				t.Errorf("nativeCaller(%q) = %+v, %v; want %+v, %v", tc.args, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestBuiltinAllowed(t *testing.T) {
	defer func(v string) { trustDevExtension = v }(trustDevExtension)
	for _, tc := range []struct {
		c     caller
		trust string
		want  bool
	}{
		{caller{"chromium", install.DevExtensionID}, "true", true},
		{caller{"chromium", install.DevExtensionID}, "false", false}, // release build
		{caller{"chromium", strings.Repeat("a", 32)}, "true", false},
		{caller{"firefox", install.FirefoxAddonID}, "false", true},
		{caller{"firefox", "other@example.org"}, "true", false},
		{caller{"cli", "terminal"}, "false", true},
	} {
		trustDevExtension = tc.trust
		if got := builtinAllowed(tc.c); got != tc.want {
			t.Errorf("builtinAllowed(%+v) with trustDevExtension=%s = %v, want %v", tc.c, tc.trust, got, tc.want)
		}
	}
}

func TestRawECDSA(t *testing.T) {
	der := func(r, s *big.Int) []byte {
		b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one := big.NewInt(1)
	short := big.NewInt(0x1234) // must be left-padded to 32 bytes
	high := new(big.Int).Lsh(one, 255)
	tooBig := new(big.Int).Lsh(one, 256)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"short r and s", der(short, short), true},
		{"high bit", der(high, one), true},
		{"r too large", der(tooBig, one), false},
		{"zero", der(big.NewInt(0), one), false},
		{"negative", der(big.NewInt(-5), one), false},
		{"trailing bytes", append(der(one, one), 0), false},
		{"not DER", []byte{0x30, 0x03, 0x02}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := rawECDSA(tc.in, 32)
			if (err == nil) != tc.ok {
				t.Fatalf("rawECDSA = %x, %v; want ok=%v", out, err, tc.ok)
			}
			if tc.ok && len(out) != 64 {
				t.Errorf("len = %d, want 64", len(out))
			}
		})
	}
	out, _ := rawECDSA(der(short, high), 32)
	if !bytes.Equal(out[30:32], []byte{0x12, 0x34}) || out[32] != 0x80 || !bytes.Equal(out[:30], make([]byte, 30)) {
		t.Errorf("rawECDSA layout = %x", out)
	}
	// Round trip with a real signature.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("x"))
	sig, _ := ecdsa.SignASN1(rand.Reader, k, d[:])
	out, err := rawECDSA(sig, 32)
	if err != nil || !ecdsa.Verify(&k.PublicKey, d[:], new(big.Int).SetBytes(out[:32]), new(big.Int).SetBytes(out[32:])) {
		t.Errorf("rawECDSA of a real signature does not verify: %v", err)
	}
}

func TestSigName(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		pub  crypto.PublicKey
		h    crypto.Hash
		want string
	}{
		{&rk.PublicKey, crypto.SHA256, "RS256"},
		{&rk.PublicKey, crypto.SHA512, "RS512"},
		{&ek.PublicKey, crypto.SHA256, "ECDSA-SHA-256"},
		{&ek.PublicKey, crypto.SHA384, "ECDSA-SHA-384"},
	} {
		if got, err := sigName(tc.pub, tc.h); err != nil || got != tc.want {
			t.Errorf("sigName(%T, %v) = %q, %v; want %q", tc.pub, tc.h, got, err, tc.want)
		}
	}
	if _, err := sigName(struct{}{}, crypto.SHA256); err == nil {
		t.Error("sigName(unknown key) succeeded")
	}
}

// A request waiting for a reader another request holds gives up when its
// context ends, and the reader is free again once released.
func TestCardsLock(t *testing.T) {
	c := &cards{locks: map[string]chan struct{}{}}
	unlock, err := c.lock(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.lock(ctx, "r"); !errors.Is(err, context.DeadlineExceeded) || protocol.CodeFor(err) != protocol.ErrTimeout {
		t.Errorf("lock of a held reader = %v, want a deadline (ERR_TIMEOUT)", err)
	}
	if u2, err := c.lock(context.Background(), "other"); err != nil {
		t.Errorf("another reader is not blocked: %v", err)
	} else {
		u2()
	}
	unlock()
	if u3, err := c.lock(context.Background(), "r"); err != nil {
		t.Errorf("lock after release: %v", err)
	} else {
		u3()
	}
}

func TestLogFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "host.log")
	l, err := openLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line := bytes.Repeat([]byte("x"), 1<<16)
	for written := 0; written <= maxLogFile; written += len(line) {
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	cur, err1 := os.Stat(path)
	old, err2 := os.Stat(path + ".1")
	if err1 != nil || err2 != nil {
		t.Fatalf("after rotation: %v, %v", err1, err2)
	}
	if cur.Size() > maxLogFile || old.Size() > maxLogFile {
		t.Errorf("sizes %d and %d, want each at most %d", cur.Size(), old.Size(), maxLogFile)
	}
	if cur.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v, want 0600", cur.Mode().Perm())
	}
}

// The session over pipes without any card: hello first, version answered,
// a bad frame answered and the session going on, clean exit at EOF. (The
// card commands are tested end to end in internal/integration.)
func TestServePlainNoCard(t *testing.T) {
	t.Setenv("CARDBRIDGE_CONFIG", filepath.Join(t.TempDir(), "none.json"))
	in := strings.NewReader(`{"id":1,"command":"version"}
{"id":2,"command":"nope"}
not json
{"id":"x","command":"config","origin":"https://a.tw"}
{"id":3,"command":"config"}
`)
	var out, errb bytes.Buffer
	if st := serve(caller{"cli", "terminal"}, true, in, &out, &errb); st != 0 {
		t.Fatalf("exit %d; stderr %s", st, errb.String())
	}
	var msgs []map[string]any
	dec := json.NewDecoder(&out)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) != 6 || msgs[0]["event"] != "hello" {
		t.Fatalf("messages = %v, want hello and 5 replies", msgs)
	}
	codes := map[any]any{}
	for _, m := range msgs[1:] {
		if e, ok := m["error"].(map[string]any); ok {
			codes[m["id"]] = e["code"]
		} else {
			codes[m["id"]] = "ok"
		}
	}
	want := map[any]any{float64(1): "ok", float64(2): "ERR_UNKNOWN_COMMAND", nil: "ERR_BAD_MESSAGE", "x": "ERR_UNKNOWN_COMMAND", float64(3): "ok"}
	for id, code := range want {
		if codes[id] != code {
			t.Errorf("reply to %v = %v, want %v (all: %v)", id, codes[id], code, codes)
		}
	}
}
