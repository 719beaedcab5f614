package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  string // substring; empty for success
	}{
		{"empty object", `{}`, ""},
		{"all keys", `{"approvedOrigins":["https://edoc.example.gov.tw","http://localhost:8080"],"logLevel":"debug","logFile":"/var/log/cb.log","virtualReader":"127.0.0.1:35999","allowedExtensions":["abcdefghijklmnopabcdefghijklmnop","cardbridge@school.example"]}`, ""},
		{"unknown key", `{"approvedOrigin":["https://a.tw"]}`, "unknown field"},
		{"wrong type", `{"logLevel":3}`, "invalid JSON"},
		{"trailing data", `{} {}`, "after the object"},
		{"not JSON", `approvedOrigins=https://a.tw`, "invalid JSON"},
		{"http origin", `{"approvedOrigins":["http://edoc.example.gov.tw"]}`, "approvedOrigins"},
		{"origin with path", `{"approvedOrigins":["https://a.tw/login"]}`, "approvedOrigins"},
		{"bad level", `{"logLevel":"verbose"}`, "logLevel"},
		{"relative log file", `{"logFile":"cb.log"}`, "logFile"},
		{"virtual reader on the network", `{"virtualReader":"192.168.1.5:35999"}`, "virtualReader"},
		{"virtual reader without port", `{"virtualReader":"127.0.0.1"}`, "virtualReader"},
		{"bad extension id", `{"allowedExtensions":["not an id"]}`, "allowedExtensions"},
		{"short chrome id", `{"allowedExtensions":["abcdefghijklmnop"]}`, "allowedExtensions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Parse = %v, want success", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Parse = %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The administrator's list cannot be shortened by the user; the user's
// scalars win.
func TestLoadMerges(t *testing.T) {
	dir := t.TempDir()
	sys := write(t, dir, "system.json", `{"approvedOrigins":["https://edoc.example.gov.tw"],"logLevel":"warn","logFile":"/var/log/cb.log"}`)
	usr := write(t, dir, "user.json", `{"approvedOrigins":["https://ca.example.gov.tw","https://edoc.example.gov.tw"],"logLevel":"debug"}`)
	c, err := Load(Paths{System: sys, User: usr})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://edoc.example.gov.tw", "https://ca.example.gov.tw"}; !slices.Equal(c.ApprovedOrigins, want) {
		t.Errorf("ApprovedOrigins = %v, want %v", c.ApprovedOrigins, want)
	}
	if c.LogLevel != "debug" || c.LogFile != "/var/log/cb.log" {
		t.Errorf("LogLevel, LogFile = %q, %q; want the user's level and the system's file", c.LogLevel, c.LogFile)
	}
}

func TestLoadMissingAndBroken(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(Paths{System: filepath.Join(dir, "none.json"), User: filepath.Join(dir, "none2.json")})
	if err != nil || len(c.ApprovedOrigins) != 0 {
		t.Fatalf("Load(missing files) = %+v, %v; want zero config, no error", c, err)
	}
	// A broken user file is reported but does not cost the system file.
	sys := write(t, dir, "system.json", `{"approvedOrigins":["https://edoc.example.gov.tw"]}`)
	usr := write(t, dir, "user.json", `{"approvedOrigins":`)
	c, err = Load(Paths{System: sys, User: usr})
	if err == nil || !strings.Contains(err.Error(), usr) {
		t.Errorf("Load(broken user file) error = %v, want one naming %s", err, usr)
	}
	if len(c.ApprovedOrigins) != 1 {
		t.Errorf("ApprovedOrigins = %v, want the system file's", c.ApprovedOrigins)
	}
	big := write(t, dir, "big.json", `{"logLevel":"info"`+strings.Repeat(" ", MaxFileSize)+`}`)
	if _, err := Load(Paths{User: big}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(oversize) = %v, want a size error", err)
	}
	if _, err := readFile(filepath.Join(dir, "none.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readFile(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestDefaultPathsEnv(t *testing.T) {
	t.Setenv("CARDBRIDGE_CONFIG", "/tmp/x/config.json")
	if p := DefaultPaths(); p.User != "/tmp/x/config.json" || p.System == "" {
		t.Errorf("DefaultPaths() = %+v, want the env file as user file and a system file", p)
	}
}

func TestValidExtensionID(t *testing.T) {
	for id, want := range map[string]bool{
		"fnelgdaolebahileglgckdchfgcenipo":       true,
		"cardbridge@cardbridge.tw":               true,
		"{d4e1c3a2-1111-2222-3333-444455556666}": true,
		"fnelgdaolebahileglgckdchfgcenipz":       false, // z is not in a–p
		"FNELGDAOLEBAHILEGLGCKDCHFGCENIPO":       false,
		"cardbridge":                             false,
		"a b@c":                                  false,
		"":                                       false,
		strings.Repeat("a", 81) + "@x":           false,
	} {
		if got := ValidExtensionID(id); got != want {
			t.Errorf("ValidExtensionID(%q) = %v, want %v", id, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"approvedOrigins":["https://a.tw"],"logLevel":"info"}`))
	f.Add([]byte(`{"virtualReader":"[::1]:1"}`))
	f.Add([]byte(`{"allowedExtensions":["x@y"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		if err := c.Check(); err != nil {
			t.Fatalf("Parse accepted a config that Check refuses: %v", err)
		}
	})
}
