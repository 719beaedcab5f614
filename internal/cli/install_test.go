package cli

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/install"
)

// tempHome points HOME at an empty directory and clears the XDG variables,
// so that install writes nowhere but there.
func tempHome(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("per-user install is for Linux and macOS")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_DATA_HOME", "")
	return home
}

// fakeHost returns an executable outside HOME for --binary.
func fakeHost(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cardbridge")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runBuild(t, Options{Development: true}, args...)
}

// runBuild runs the command line as a build with o's settings.
func runBuild(t *testing.T, o Options, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(args, strings.NewReader(""), &out, &errb, o)
	return code, out.String(), errb.String()
}

// count returns the number of regular files under root.
func count(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type hostManifest struct {
	Name              string   `json:"name"`
	Path              string   `json:"path"`
	Type              string   `json:"type"`
	AllowedOrigins    []string `json:"allowed_origins"`
	AllowedExtensions []string `json:"allowed_extensions"`
}

func readHostManifest(t *testing.T, path string) hostManifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m hostManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return m
}

func TestInstallUsage(t *testing.T) {
	home := tempHome(t)
	bin := fakeHost(t)
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"install"}, "MSI"},
		{[]string{"install", "--dry-run", "--binary", bin}, "--user"},
		{[]string{"uninstall"}, "--user"},
		{[]string{"install", "--user", "extra"}, "extra"},
		{[]string{"install", "--user", "--binary", "cardbridge"}, "--binary"},
		{[]string{"install", "--user", "--binary", filepath.Dir(bin)}, "--binary"},
		{[]string{"install", "--user", "--binary", bin, "--extension-id", "abc"}, "--extension-id"},
		{[]string{"install", "--user", "--binary", bin, "--browser", "safari"}, "--browser"},
		{[]string{"uninstall", "--user", "--binary", bin}, "binary"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if n := count(t, home); n != 0 {
		t.Errorf("usage errors wrote %d files under HOME", n)
	}
}

// What Debian's chromium (and firefox-esr) would find: the manifests in
// the per-user directories they search, pointing at the host.
func TestInstallDebianBrowsersFind(t *testing.T) {
	home := tempHome(t)
	if runtime.GOOS != "linux" {
		t.Skip("Debian layout")
	}
	bin := fakeHost(t)
	code, stdout, stderr := runCLI(t, "install", "--user", "--dev", "--binary", bin)
	if code != 0 {
		t.Fatalf("install = %d\n%s", code, stderr)
	}
	if n := strings.Count(stdout, "已安裝 / installed: "); n != 4 {
		t.Errorf("install reported %d installed files, want 4:\n%s", n, stdout)
	}

	chromium := readHostManifest(t, filepath.Join(home, ".config/chromium/NativeMessagingHosts/tw.cardbridge.host.json"))
	wantOrigin := "chrome-extension://fnelgdaolebahileglgckdchfgcenipo/"
	if chromium.Name != "tw.cardbridge.host" || chromium.Path != bin || chromium.Type != "stdio" ||
		len(chromium.AllowedOrigins) != 1 || chromium.AllowedOrigins[0] != wantOrigin {
		t.Errorf("chromium manifest = %+v, want name tw.cardbridge.host, path %s, origins [%s]", chromium, bin, wantOrigin)
	}
	firefox := readHostManifest(t, filepath.Join(home, ".mozilla/native-messaging-hosts/tw.cardbridge.host.json"))
	if firefox.Path != bin || len(firefox.AllowedExtensions) != 1 || firefox.AllowedExtensions[0] != "cardbridge@cardbridge.tw" || firefox.AllowedOrigins != nil {
		t.Errorf("firefox manifest = %+v, want path %s, extensions [cardbridge@cardbridge.tw]", firefox, bin)
	}

	code, stdout, _ = runCLI(t, "install", "--user", "--dev", "--binary", bin)
	if code != 0 || strings.Count(stdout, "未變更 / unchanged: ") != 4 || strings.Contains(stdout, "installed") {
		t.Errorf("second install = %d, want 4 unchanged:\n%s", code, stdout)
	}
}

func TestInstallDryRunJSON(t *testing.T) {
	home := tempHome(t)
	bin := fakeHost(t)
	code, stdout, stderr := runCLI(t, "install", "--user", "--dev", "--dry-run", "--json", "--binary", bin)
	if code != 0 {
		t.Fatalf("install --dry-run --json = %d\n%s", code, stderr)
	}
	var got struct {
		DryRun  bool `json:"dryRun"`
		Changes []struct {
			Path     string          `json:"path"`
			Action   string          `json:"action"`
			Browser  string          `json:"browser"`
			Manifest json.RawMessage `json:"manifest"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("install --json output is not JSON: %v\n%s", err, stdout)
	}
	if !got.DryRun || len(got.Changes) != 4 {
		t.Fatalf("install --dry-run --json = %s, want dryRun and 4 changes", stdout)
	}
	browsers := map[string]bool{}
	for _, c := range got.Changes {
		browsers[c.Browser] = true
		var m hostManifest
		if c.Action != "write" || !filepath.IsAbs(c.Path) || json.Unmarshal(c.Manifest, &m) != nil || m.Name != "tw.cardbridge.host" || m.Path != bin {
			t.Errorf("change %s: action %s, manifest %s; want write of a manifest pointing at %s", c.Path, c.Action, c.Manifest, bin)
		}
	}
	if len(browsers) != 4 {
		t.Errorf("dry run covers browsers %v, want chromium, chrome, edge and firefox", browsers)
	}
	if n := count(t, home); n != 0 {
		t.Errorf("--dry-run wrote %d files under HOME", n)
	}
}

// The default install copies the running binary; uninstall takes it all
// away again and a second uninstall finds nothing to do.
func TestInstallCopyThenUninstall(t *testing.T) {
	home := tempHome(t)
	code, _, stderr := runCLI(t, "install", "--user", "--dev", "--browser", "chromium", "--browser", "firefox")
	if code != 0 {
		t.Fatalf("install = %d\n%s", code, stderr)
	}
	bin := install.BinaryPath(runtime.GOOS, home, nil)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(exe)
	if got, err := os.ReadFile(bin); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("binary copy at %s: %v (or different bytes)", bin, err)
	}
	targets, _ := install.Targets(runtime.GOOS, home, nil)
	for _, tg := range targets {
		_, err := os.Stat(tg.Path())
		switch tg.Browser {
		case "chromium", "firefox":
			if m := readHostManifest(t, tg.Path()); m.Path != bin {
				t.Errorf("%s manifest path = %q, want the copy %q", tg.Browser, m.Path, bin)
			}
		default:
			if err == nil {
				t.Errorf("--browser chromium --browser firefox also wrote %s", tg.Path())
			}
		}
	}
	if n := count(t, home); n != 3 {
		t.Errorf("install left %d files under HOME, want 3 (binary and two manifests)", n)
	}

	code, stdout, stderr := runCLI(t, "uninstall", "--user", "--json")
	if code != 0 {
		t.Fatalf("uninstall = %d\n%s", code, stderr)
	}
	var got struct {
		Changes []struct{ Path, Action string }
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("uninstall --json: %v\n%s", err, stdout)
	}
	removed := 0
	for _, c := range got.Changes {
		if c.Action == "remove" {
			removed++
		}
	}
	if removed != 4 { // two manifests, the binary and its directory
		t.Errorf("uninstall removed %d, want 4:\n%s", removed, stdout)
	}
	if n := count(t, home); n != 0 {
		t.Errorf("uninstall left %d files under HOME", n)
	}
	if _, err := os.Stat(filepath.Dir(bin)); err == nil {
		t.Errorf("uninstall left %s", filepath.Dir(bin))
	}

	code, stdout, _ = runCLI(t, "uninstall", "--user")
	if code != 0 || !strings.Contains(stdout, "nothing to remove") {
		t.Errorf("second uninstall = %d, %q; want 0 and nothing to remove", code, stdout)
	}
}

// A release build writes its store IDs and never the development ID (whose
// key is public), refuses --dev, and a build that has neither says what to
// do instead of writing a manifest nobody may use.
func TestInstallReleaseBuild(t *testing.T) {
	store := strings.Repeat("b", 32)
	release := Options{StoreExtensionIDs: []string{store}}

	home := tempHome(t)
	code, _, stderr := runBuild(t, release, "install", "--user", "--browser", "chromium", "--binary", fakeHost(t))
	if code != 0 {
		t.Fatalf("release install = %d: %s", code, stderr)
	}
	m := readHostManifest(t, filepath.Join(home, ".config", "chromium", "NativeMessagingHosts", install.ManifestFile))
	if want := []string{"chrome-extension://" + store + "/"}; !slices.Equal(m.AllowedOrigins, want) {
		t.Errorf("release manifest allows %v, want only the store ID %v", m.AllowedOrigins, want)
	}

	if code, _, stderr := runBuild(t, release, "install", "--user", "--dev", "--binary", fakeHost(t)); code != 2 || !strings.Contains(stderr, "--dev") {
		t.Errorf("release install --dev = %d, %q; want 2 and a word on --dev", code, stderr)
	}
	if code, _, stderr := runBuild(t, Options{Development: true}, "install", "--user", "--binary", fakeHost(t)); code != 2 || !strings.Contains(stderr, "--dev") {
		t.Errorf("development install without --dev or store IDs = %d, %q; want 2 and advice to use --dev", code, stderr)
	}
}
