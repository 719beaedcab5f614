package nativehost

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/install"
)

func TestCallerOf(t *testing.T) {
	dev := "chrome-extension://" + install.DevExtensionID + "/"
	for _, tc := range []struct {
		name string
		args []string
		want Caller
		ok   bool
	}{
		{"chrome", []string{dev}, Caller{"chromium", install.DevExtensionID}, true},
		{"chrome on windows", []string{dev, "--parent-window=1234"}, Caller{"chromium", install.DevExtensionID}, true},
		{"chrome with another argument", []string{dev, "certs"}, Caller{}, false},
		{"firefox", []string{"/home/a/.mozilla/native-messaging-hosts/tw.cardbridge.host.json", install.FirefoxAddonID}, Caller{"firefox", install.FirefoxAddonID}, true},
		{"firefox guid", []string{`C:\x\tw.cardbridge.host.JSON`, "{d4e1c3a2-1111-2222-3333-444455556666}"}, Caller{"firefox", "{d4e1c3a2-1111-2222-3333-444455556666}"}, true},
		{"firefox bad id", []string{"/x/m.json", "not an id"}, Caller{}, false},
		{"not a manifest", []string{"/x/m.txt", install.FirefoxAddonID}, Caller{}, false},
		{"command line", []string{"certs", "--json"}, Caller{}, false},
		{"nothing", nil, Caller{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := CallerOf(tc.args)
			if ok != tc.ok || got != tc.want {
				t.Errorf("CallerOf(%q) = %+v, %v; want %+v, %v", tc.args, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestBuiltinAllowed(t *testing.T) {
	for _, tc := range []struct {
		c     Caller
		trust bool
		want  bool
	}{
		{Caller{"chromium", install.DevExtensionID}, true, true},
		{Caller{"chromium", install.DevExtensionID}, false, false}, // release build
		{Caller{"chromium", strings.Repeat("a", 32)}, true, false},
		{Caller{"chromium", strings.Repeat("b", 32)}, false, true}, // a store ID compiled in
		{Caller{"firefox", install.FirefoxAddonID}, false, true},
		{Caller{"firefox", "other@example.org"}, true, false},
		{Caller{"cli", "terminal"}, false, true},
	} {
		if got := builtinAllowed(tc.c, tc.trust, []string{strings.Repeat("b", 32)}); got != tc.want {
			t.Errorf("builtinAllowed(%+v, development %v) = %v, want %v", tc.c, tc.trust, got, tc.want)
		}
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
	o := Options{Caller: Terminal, Plain: true, Version: "test", NewAgent: func(cfg config.Config, log *slog.Logger) Agent {
		return NewCardAgent(cards.New(cards.Options{Backends: []cards.Backend{}}), cfg, "test", false)
	}}
	if st := Serve(o, in, &out, &errb); st != 0 {
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

// The log file is never opened through a symbolic link: a link planted at
// the configured path (say in a folder others can write) must not aim the
// host's writes at another file.
func TestLogFileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "victim")
	if err := os.WriteFile(target, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "host.log")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if l, err := openLogFile(link); err == nil {
		l.Write([]byte("x\n"))
		l.Close()
		t.Fatal("openLogFile followed a symbolic link")
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the link's target was written: %q", b)
	}
}

// http://localhost pages: served by development builds, and by release
// builds only where the system configuration allows them.
func TestLoopbackPages(t *testing.T) {
	for _, tc := range []struct {
		name        string
		development bool
		allow       bool
		want        string
	}{
		{"release", false, false, "ERR_BAD_ORIGIN"},
		{"release, allowed by the administrator", false, true, "ok"},
		{"development", true, false, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Caller: Terminal, Plain: true, Version: "test", Development: tc.development,
				LoadConfig: func() (config.Config, error) { return config.Config{AllowLoopbackOrigins: tc.allow}, nil },
				NewAgent: func(cfg config.Config, log *slog.Logger) Agent {
					return NewCardAgent(cards.New(cards.Options{Backends: []cards.Backend{}}), cfg, "test", tc.development)
				}}
			var out, errb bytes.Buffer
			in := strings.NewReader(`{"id":1,"command":"version","origin":"http://localhost:8080"}` + "\n" + `{"id":2,"command":"version","origin":"https://a.example"}` + "\n")
			if st := Serve(o, in, &out, &errb); st != 0 {
				t.Fatalf("exit %d: %s", st, errb.String())
			}
			got := map[float64]string{}
			dec := json.NewDecoder(&out)
			for {
				var m map[string]any
				if err := dec.Decode(&m); err != nil {
					break
				}
				id, ok := m["id"].(float64)
				if !ok {
					continue
				}
				if e, ok := m["error"].(map[string]any); ok {
					got[id] = e["code"].(string)
				} else {
					got[id] = "ok"
				}
			}
			if got[1] != tc.want || got[2] != "ok" {
				t.Errorf("replies %v, want localhost %s and https ok", got, tc.want)
			}
		})
	}
}

// Nor through a folder that is a link, or under a folder anyone may write
// without the sticky bit: O_NOFOLLOW covers only the last name, and a
// local user could otherwise make the host create and rotate its log in
// any folder the clerk can write (found by the security review).
func TestLogFileRefusesRedirectedFolder(t *testing.T) {
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	shared := filepath.Join(base, "shared")
	for _, d := range []string{victim, shared} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(victim, filepath.Join(shared, "logs")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if _, err := openLogFile(filepath.Join(shared, "logs", "host.log")); err == nil {
		t.Error("openLogFile went through a linked folder")
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := openLogFile(filepath.Join(shared, "own", "host.log")); err == nil {
		t.Error("openLogFile accepted a folder under one anyone may write")
	}
	if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	l, err := openLogFile(filepath.Join(shared, "own", "host.log"))
	if err != nil {
		t.Errorf("a folder under a sticky one (as /tmp) was refused: %v", err)
	} else {
		l.Close()
	}
	if entries, _ := os.ReadDir(victim); len(entries) != 0 {
		t.Errorf("files were created in the link's target: %v", entries)
	}
}
