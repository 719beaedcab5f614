package integration

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	endian "encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/nativeclient"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// Tests of the native-messaging host's refusals: every error a page or a
// broken browser can cause, with its stable code and details, and that
// the session goes on where the protocol says it does.

// frameHeader is a frame header announcing n bytes.
func frameHeader(n uint32) []byte {
	return endian.NativeEndian.AppendUint32(nil, n)
}

// wantDetail checks one detail of an error object.
func wantDetail(t *testing.T, e map[string]any, key string, want any) {
	t.Helper()
	d, _ := e["details"].(map[string]any)
	if d[key] != want {
		t.Errorf("error %v details[%q] = %v, want %v", e["code"], key, d[key], want)
	}
}

// errorOf returns the error object of a reply, failing on a result.
func errorOf(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("reply %v, want an error", m)
	}
	return e
}

// stillServes checks that the session answers a version request.
func stillServes(t *testing.T, h *host) {
	t.Helper()
	if v := h.call("version", "", nil); v["protocol"] != float64(protocol.Version) {
		t.Errorf("version after the refusal = %v", v)
	}
}

// waitExit waits for the host to end by itself and returns its status.
func (h *host) waitExit(timeout time.Duration) int {
	h.t.Helper()
	st, err := h.c.WaitExit(timeout)
	if err != nil {
		h.t.Fatalf("host still running %v after a fatal input", timeout)
	}
	return st
}

func TestNativeFrameErrors(t *testing.T) {
	needPCSC(t)
	t.Run("truncated frame", func(t *testing.T) {
		h := startHost(t, hostOptions{})
		h.hello()
		h.sendRaw(append(frameHeader(100), `{"id":1,"com`...))
		if st := h.exit(); st == 0 {
			t.Errorf("exit status 0 after a truncated frame, want non-zero")
		}
	})
	t.Run("empty frame", func(t *testing.T) {
		h := startHost(t, hostOptions{})
		h.hello()
		h.sendRaw(frameHeader(0))
		e := errorOf(t, h.reply(nil, 5*time.Second))
		wantCode(t, e, protocol.ErrBadMessage)
		stillServes(t, h)
		if st := h.exit(); st != 0 {
			t.Errorf("exit status %d, want 0", st)
		}
	})
	t.Run("oversize frame", func(t *testing.T) {
		h := startHost(t, hostOptions{})
		h.hello()
		body := bytes.Repeat([]byte{'a'}, protocol.MaxRequestSize+1)
		h.sendRaw(frame(body))
		e := errorOf(t, h.reply(nil, 10*time.Second))
		wantCode(t, e, protocol.ErrMessageTooLarge)
		wantDetail(t, e, "size", float64(protocol.MaxRequestSize+1))
		wantDetail(t, e, "limit", float64(protocol.MaxRequestSize))
		stillServes(t, h)
		if st := h.exit(); st != 0 {
			t.Errorf("exit status %d, want 0", st)
		}
	})
	t.Run("frame beyond what a browser sends", func(t *testing.T) {
		h := startHost(t, hostOptions{})
		h.hello()
		h.sendRaw(frameHeader(64<<20 + 1))
		e := errorOf(t, h.reply(nil, 5*time.Second))
		wantCode(t, e, protocol.ErrMessageTooLarge)
		if st := h.waitExit(5 * time.Second); st != 1 {
			t.Errorf("exit status %d, want 1", st)
		}
	})
}

func TestNativeMalformedRequests(t *testing.T) {
	needPCSC(t)
	h := startHost(t, hostOptions{})
	h.hello()
	for _, tc := range []struct {
		name, body string
		id         any
	}{
		{"not JSON", `{not json`, nil},
		{"not an object", `[1,2]`, nil},
		{"not UTF-8", "{\"id\":1,\"command\":\"version\xff\"}", nil},
		{"truncated after the id", `{"id":7,"command":"version"`, float64(7)},
		{"unknown key", `{"id":8,"command":"version","extra":1}`, float64(8)},
		{"duplicate key", `{"id":9,"command":"version","command":"readers"}`, float64(9)},
		{"no command", `{"id":10}`, float64(10)},
		{"no id", `{"command":"version"}`, nil},
		{"negative id", `{"id":-1,"command":"version"}`, nil},
		{"args not an object", `{"id":11,"command":"version","args":[]}`, float64(11)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer h.use(t)()
			h.sendRaw(frame([]byte(tc.body)))
			m := h.reply(tc.id, 5*time.Second)
			wantCode(t, errorOf(t, m), protocol.ErrBadMessage)
		})
	}
	stillServes(t, h)
}

func TestNativeUnknownCommand(t *testing.T) {
	needPCSC(t)
	h := startHost(t, hostOptions{})
	h.hello()
	e := h.callErr("frobnicate", pageOrigin, nil)
	wantCode(t, e, protocol.ErrUnknownCommand)
	wantDetail(t, e, "command", "frobnicate")
	// A string id is echoed verbatim.
	h.sendRaw(frame([]byte(`{"id":"req-<1>&","command":"frobnicate"}`)))
	wantCode(t, errorOf(t, h.reply("req-<1>&", 5*time.Second)), protocol.ErrUnknownCommand)
	stillServes(t, h)
}

func TestNativeBadArguments(t *testing.T) {
	needPCSC(t)
	h := startHost(t, hostOptions{})
	h.hello()
	id := strings.Repeat("ab", 32)
	digest := sha256.Sum256([]byte("x"))
	for _, tc := range []struct {
		name    string
		command string
		args    map[string]any
		code    protocol.Code
		arg     string
	}{
		{"unknown argument", "version", map[string]any{"verbose": true}, protocol.ErrBadArgument, "verbose"},
		{"unknown sign argument", "sign", map[string]any{"certificateId": id, "pin": "123456", "hashAlgorithm": "SHA-256", "digest": b64e(digest[:]), "pinpad": true}, protocol.ErrBadArgument, "pinpad"},
		{"missing pin", "sign", map[string]any{"certificateId": id, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])}, protocol.ErrMissingArgument, "pin"},
		{"missing certificateId", "decrypt", map[string]any{"pin": "123456", "ciphertext": "AA=="}, protocol.ErrMissingArgument, "certificateId"},
		{"missing challenge", "authenticate", map[string]any{"certificateId": id, "pin": "123456"}, protocol.ErrMissingArgument, "challenge"},
		{"reader not a string", "certificates", map[string]any{"reader": 5}, protocol.ErrBadArgument, "reader"},
		{"digest not base64", "sign", map[string]any{"certificateId": id, "pin": "123456", "hashAlgorithm": "SHA-256", "digest": "not base64!"}, protocol.ErrBadArgument, "digest"},
		{"withCardSerial not a bool", "sign", map[string]any{"certificateId": id, "pin": "123456", "hashAlgorithm": "SHA-256", "data": "AA==", "format": "cms", "withCardSerial": "yes"}, protocol.ErrBadArgument, "withCardSerial"},
		// Raw signatures are PKCS#1 v1.5 only; PSS is for login tokens.
		{"sign padding PSS", "sign", map[string]any{"certificateId": id, "pin": "123456", "hashAlgorithm": "SHA-256", "digest": b64e(digest[:]), "padding": "PSS"}, protocol.ErrBadArgument, "padding"},
		{"sign padding PKCS1.5", "sign", map[string]any{"certificateId": id, "pin": "123456", "hashAlgorithm": "SHA-256", "data": "AA==", "padding": "PKCS1.5"}, protocol.ErrBadArgument, "padding"},
		{"pin a number", "sign", map[string]any{"certificateId": id, "pin": 123456, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])}, protocol.ErrBadArgument, "pin"},
		{"null value", "certificates", map[string]any{"reader": nil}, protocol.ErrBadArgument, "reader"},
		{"unknown hash", "sign", map[string]any{"certificateId": id, "pin": "123456", "hashAlgorithm": "MD5", "digest": b64e(digest[:])}, protocol.ErrBadArgument, "hashAlgorithm"},
		{"upper-case id", "sign", map[string]any{"certificateId": strings.ToUpper(id), "pin": "123456", "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])}, protocol.ErrBadArgument, "certificateId"},
		{"digest of the wrong size", "sign", map[string]any{"certificateId": id, "pin": "123456", "hashAlgorithm": "SHA-384", "digest": b64e(digest[:])}, protocol.ErrBadArgument, "digest"},
		{"digest and data", "sign", map[string]any{"certificateId": id, "pin": "123456", "hashAlgorithm": "SHA-256", "digest": b64e(digest[:]), "data": "AA=="}, protocol.ErrBadArgument, "digest"},
		{"short challenge", "authenticate", map[string]any{"certificateId": id, "pin": "123456", "challenge": strings.Repeat("A", 44)[:40]}, protocol.ErrBadArgument, "challenge"},
		{"reader and certificateId", "pinStatus", map[string]any{"reader": readerName, "certificateId": id}, protocol.ErrBadArgument, "reader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer h.use(t)()
			e := h.callErr(tc.command, pageOrigin, tc.args)
			wantCode(t, e, tc.code)
			wantDetail(t, e, "argument", tc.arg)
		})
	}
	h.noPIN("123456")
	stillServes(t, h)
}

func TestNativeOrigins(t *testing.T) {
	needPCSC(t)
	h := startHost(t, hostOptions{})
	h.hello()
	for _, origin := range []string{"http://site.example", "https://site.example/path", "ftp://site.example", "https://Site.example", "null"} {
		e := h.callErr("version", origin, nil)
		wantCode(t, e, protocol.ErrBadOrigin)
		wantDetail(t, e, "origin", origin)
	}
	// http is served for local development only.
	h.call("version", "http://localhost:8080", nil)

	challenge := b64e(make([]byte, 32))
	e := h.callErr("authenticate", "", map[string]any{"certificateId": strings.Repeat("0", 64), "pin": "123456", "challenge": challenge})
	wantCode(t, e, protocol.ErrBadOrigin)

	wantCode(t, h.callErr("config", pageOrigin, nil), protocol.ErrUnknownCommand)
	conf := h.call("config", "", nil)
	if o, ok := conf["approvedOrigins"].([]any); !ok || len(o) != 0 || conf["virtualReader"] != false {
		t.Errorf("config = %v, want no approved origins and no virtual reader", conf)
	}
}

func TestNativePINErrors(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	digest := sha256.Sum256([]byte("x"))
	sign := func(pin string) map[string]any {
		t.Helper()
		return h.callErr("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": pin, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])})
	}
	tries := func(want float64) {
		t.Helper()
		if st := h.call("pinStatus", pageOrigin, onReader); st["triesLeft"] != want {
			t.Errorf("pinStatus = %v, want %v tries left", st, want)
		}
	}

	// Malformed PINs never reach the card.
	for _, pin := range []string{"12345", "123456789", "12 456"} {
		wantCode(t, sign(pin), protocol.ErrPINFormat)
	}
	wantCode(t, h.callErr("changePin", pageOrigin, map[string]any{"reader": readerName, "pin": softcard.DefaultPIN, "newPin": "12345"}), protocol.ErrPINFormat)
	wantCode(t, h.callErr("unblockPin", pageOrigin, map[string]any{"reader": readerName, "puk": "1234567", "newPin": "123456"}), protocol.ErrPINFormat)
	tries(3)

	wrongPUK := h.callErr("unblockPin", pageOrigin, map[string]any{"reader": readerName, "puk": "00000000", "newPin": "654321"})
	wantCode(t, wrongPUK, protocol.ErrPUKIncorrect)
	wantDetail(t, wrongPUK, "triesLeft", float64(2))
	wantDetail(t, wrongPUK, "reference", "PUK")

	// A wrong PIN is reported the same way by every command that uses
	// one, the CMS path (through the CMS library) included.
	enc := hostCertFor(t, h, "encryption")
	challenge := b64e(digest[:])
	for _, step := range []struct {
		name  string
		wrong func() map[string]any
		code  protocol.Code
		tries float64
	}{
		{"sign", func() map[string]any { return sign("000000") }, protocol.ErrPINIncorrect, 2},
		{"sign cms", func() map[string]any {
			return h.callErr("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": "000000", "hashAlgorithm": "SHA-256", "format": "cms", "data": b64e(digest[:])})
		}, protocol.ErrPINIncorrect, 1},
		{"authenticate", func() map[string]any {
			return h.callErr("authenticate", pageOrigin, map[string]any{"certificateId": c.id, "pin": "000000", "challenge": challenge})
		}, protocol.ErrPINBlocked, 0},
	} {
		e := step.wrong()
		if e["code"] != string(step.code) {
			t.Fatalf("%s with a wrong PIN = %v, want %s", step.name, e, step.code)
		}
		wantCode(t, e, step.code)
		wantDetail(t, e, "triesLeft", step.tries)
		wantDetail(t, e, "reference", "PIN")
		tries(step.tries)
	}
	// Blocked means blocked, even for the right PIN.
	wantCode(t, sign(softcard.DefaultPIN), protocol.ErrPINBlocked)
	wantCode(t, h.callErr("decrypt", pageOrigin, map[string]any{"certificateId": enc.id, "pin": softcard.DefaultPIN, "ciphertext": b64e(make([]byte, 256))}), protocol.ErrPINBlocked)
	wantCode(t, h.callErr("changePin", pageOrigin, map[string]any{"reader": readerName, "pin": softcard.DefaultPIN, "newPin": "654321"}), protocol.ErrPINBlocked)
	h.noPIN(softcard.DefaultPIN, "000000", "00000000", "654321")
}

func TestNativeNoReaderNoCard(t *testing.T) {
	vc := insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	e := h.callErr("certificates", pageOrigin, map[string]any{"reader": "Nope"})
	wantCode(t, e, protocol.ErrNoReader)
	wantCode(t, h.callErr("pinStatus", pageOrigin, map[string]any{"reader": "Nope"}), protocol.ErrNoReader)

	vc.srv.Remove()
	waitPresent(t, false)
	wantCode(t, h.callErr("certificates", pageOrigin, onReader), protocol.ErrNoCard)
	wantCode(t, h.callErr("pinStatus", pageOrigin, onReader), protocol.ErrNoCard)
	wantCode(t, h.callErr("changePin", pageOrigin, map[string]any{"reader": readerName, "pin": softcard.DefaultPIN, "newPin": "654321"}), protocol.ErrNoCard)
	// Without a reader the host looks at every reader: no card anywhere is
	// ERR_NO_CARD, another card (a bench's, in Virtual PCD 00 01) without
	// the certificate is ERR_UNKNOWN_CERTIFICATE.
	digest := sha256.Sum256([]byte("x"))
	e = h.callErr("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])})
	if e["code"] != string(protocol.ErrNoCard) && e["code"] != string(protocol.ErrUnknownCertificate) {
		t.Errorf("sign with the card removed = %v, want ERR_NO_CARD (or ERR_UNKNOWN_CERTIFICATE with another card present)", e)
	}
}

func TestNativeCardRemovedDuringSignature(t *testing.T) {
	vc := insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	vc.srv.RemoveOn(insGeneralAuthenticate) // after VERIFY, before the signature
	digest := sha256.Sum256([]byte("x"))
	start := time.Now()
	m := h.reply(h.send("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])}), 10*time.Second)
	wantCode(t, errorOf(t, m), protocol.ErrCardRemoved)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ERR_CARD_REMOVED after %v, want within 5 s", d)
	}
	stillServes(t, h)
}

func TestNativeCertificateErrors(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	sig := hostCertFor(t, h, "signature")
	enc := hostCertFor(t, h, "encryption")
	digest := sha256.Sum256([]byte("x"))
	signArgs := func(id string) map[string]any {
		return map[string]any{"certificateId": id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])}
	}
	ct := make([]byte, 256)
	rand.Read(ct[1:]) // below the modulus, but not a padded message

	wantCode(t, h.callErr("sign", pageOrigin, signArgs(strings.Repeat("0", 64))), protocol.ErrUnknownCertificate)
	wantCode(t, h.callErr("decrypt", pageOrigin, map[string]any{"certificateId": strings.Repeat("0", 64), "pin": softcard.DefaultPIN, "ciphertext": b64e(ct)}), protocol.ErrUnknownCertificate)

	e := h.callErr("sign", pageOrigin, signArgs(enc.id))
	wantCode(t, e, protocol.ErrCertificateUsage)
	wantDetail(t, e, "usage", "encryption")
	e = h.callErr("authenticate", pageOrigin, map[string]any{"certificateId": enc.id, "pin": softcard.DefaultPIN, "challenge": b64e(digest[:])})
	wantCode(t, e, protocol.ErrCertificateUsage)
	e = h.callErr("decrypt", pageOrigin, map[string]any{"certificateId": sig.id, "pin": softcard.DefaultPIN, "ciphertext": b64e(ct)})
	wantCode(t, e, protocol.ErrCertificateUsage)
	wantDetail(t, e, "usage", "signature")
	// A refusal by usage costs no PIN try.
	if st := h.call("pinStatus", pageOrigin, onReader); st["triesLeft"] != float64(3) {
		t.Errorf("pinStatus after usage refusals = %v, want 3 tries", st)
	}

	for name, c := range map[string][]byte{"garbage": ct, "wrong length": ct[:16]} {
		for _, padding := range []string{"PKCS1.5", "OAEP"} {
			e := h.callErr("decrypt", pageOrigin, map[string]any{"certificateId": enc.id, "pin": softcard.DefaultPIN, "ciphertext": b64e(c), "padding": padding})
			if e["code"] != string(protocol.ErrDecryptFailed) {
				t.Errorf("decrypt %s (%s) = %v, want ERR_DECRYPT_FAILED", name, padding, e)
			}
		}
	}
	h.noPIN(softcard.DefaultPIN)
}

func TestNativeCallers(t *testing.T) {
	needPCSC(t)
	const other = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	t.Run("not allowed", func(t *testing.T) {
		h := startHost(t, hostOptions{args: []string{"chrome-extension://" + other + "/"}})
		m := h.next(5 * time.Second)
		e := errorOf(t, m)
		wantCode(t, e, protocol.ErrCallerNotAllowed)
		if m["id"] != nil {
			t.Errorf("refusal id = %v, want null", m["id"])
		}
		if st := h.waitExit(5 * time.Second); st != 1 {
			t.Errorf("exit status %d, want 1", st)
		}
		if m, err := h.c.Next(5 * time.Second); !errors.Is(err, nativeclient.ErrClosed) {
			t.Errorf("message after the refusal: %s (%v)", m.Raw, err)
		}
	})
	t.Run("allowed by config", func(t *testing.T) {
		cfg, _ := json.Marshal(map[string]any{"allowedExtensions": []string{other}})
		h := startHost(t, hostOptions{args: []string{"chrome-extension://" + other + "/"}, config: string(cfg)})
		h.hello()
		stillServes(t, h)
	})
	t.Run("Chrome on Windows passes the parent window", func(t *testing.T) {
		h := startHost(t, hostOptions{args: []string{chromeOrigin, "--parent-window=0"}})
		h.hello()
		stillServes(t, h)
	})
	t.Run("Firefox", func(t *testing.T) {
		manifest := filepath.Join(t.TempDir(), "tw.cardbridge.host.json")
		h := startHost(t, hostOptions{args: []string{manifest, "cardbridge@cardbridge.tw"}})
		h.hello()
		stillServes(t, h)
		if st := h.exit(); st != 0 {
			t.Errorf("exit status %d, want 0", st)
		}
	})
	t.Run("Firefox add-on not allowed", func(t *testing.T) {
		manifest := filepath.Join(t.TempDir(), "tw.cardbridge.host.json")
		h := startHost(t, hostOptions{args: []string{manifest, "evil@example.com"}})
		wantCode(t, errorOf(t, h.next(5*time.Second)), protocol.ErrCallerNotAllowed)
		if st := h.waitExit(5 * time.Second); st != 1 {
			t.Errorf("exit status %d, want 1", st)
		}
	})
}

// TestNativeShortSessions closes sessions right after the hello, as a
// browser does when the extension opens a port per request: the host must
// end with stdin, not at the next card event.
func TestNativeShortSessions(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	hung := 0
	for i := range 6 {
		h := startHost(t, hostOptions{})
		h.hello()
		time.Sleep(time.Duration(i) * time.Millisecond)
		if _, err := h.c.Exit(3 * time.Second); err != nil {
			hung++
			h.c.Kill()
		}
	}
	if hung > 0 {
		t.Errorf("%d of 6 hosts still ran 3 s after stdin closed, want each to exit with its session", hung)
	}
}
