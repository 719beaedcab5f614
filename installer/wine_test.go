//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/install"
)

// wine runs a Wine command in prefix and returns what it printed.
func wine(t *testing.T, prefix string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("wine", args...)
	cmd.Env = append(os.Environ(), "WINEPREFIX="+prefix, "WINEARCH=win64", "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=")
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return strings.ReplaceAll(out.String(), "\r", ""), err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("wine %v did not end", args)
	}
	return "", nil
}

// regValue is a value of an HKLM key in the prefix ("" when absent); name
// "" is the key's default value.
func regValue(t *testing.T, prefix, key, name string) string {
	args := []string{"reg", "query", `HKLM\` + key}
	if name == "" {
		args = append(args, "/ve")
	} else {
		args = append(args, "/v", name)
	}
	out, err := wine(t, prefix, "", args...)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "REG_SZ"); i >= 0 {
			return strings.TrimSpace(l[i+len("REG_SZ"):])
		}
	}
	return ""
}

// The MSI installed silently under Wine (Debian's, as an administrator's
// msiexec /qn would on Windows): with EDGEINSTALL=0 and EXTENSIONPOLICY=1,
// Chrome's and Firefox's keys point at their manifests, Edge's is absent,
// Chrome's policy is written; the installed cardbridge.exe answers hello
// and version over pipes; a newer MSI replaces it and an older one is
// refused; the uninstall leaves none of it.
func TestMSIUnderWine(t *testing.T) {
	needWixl(t)
	for _, name := range []string{"wine", "wineboot", "wineserver", "x86_64-w64-mingw32-gcc"} {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
				t.Fatalf("%s is not installed (apt-get install wine gcc-mingw-w64-x86-64-win32)", name)
			}
			t.Skipf("%s is not installed", name)
		}
	}
	dir := t.TempDir()
	// The Windows host as the release builds it (cgo through MinGW-w64).
	exe := filepath.Join(dir, "cardbridge.exe")
	build := exec.Command("go", "build", "-o", exe, "github.com/cardbridge/cardbridge/host")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=1", "CC=x86_64-w64-mingw32-gcc")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	exchange := filepath.Join(dir, "cardbridge-exchange.exe") // installed, not run here
	require.NoError(t, os.WriteFile(exchange, []byte("MZ"), 0o644))
	store := strings.Repeat("b", 32)
	msi, err := buildMSI(msiOptions{Out: dir, Version: "1.0.0", Host: exe, Exchange: exchange, StoreIDs: []string{store}, Dev: true, ChromeID: store, EdgeID: store, FirefoxURL: firefoxURL})
	require.NoError(t, err)

	prefix := filepath.Join(dir, "wine")
	boot := exec.Command("wineboot", "--init")
	boot.Env = append(os.Environ(), "WINEPREFIX="+prefix, "WINEARCH=win64", "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=")
	out, err = boot.CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() {
		k := exec.Command("wineserver", "-k")
		k.Env = append(os.Environ(), "WINEPREFIX="+prefix)
		_ = k.Run()
	})
	stub := filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	out, err = exec.Command("x86_64-w64-mingw32-gcc", "-shared", "-O2", "-s", "-o", stub,
		"testdata/winestub/bcryptprimitives.c", "testdata/winestub/bcryptprimitives.def", "-ladvapi32").CombinedOutput()
	require.NoError(t, err, "%s", out)

	// An administrator's own policies, there before CardBridge: they stay
	// through the install and the uninstall (merged, never overwritten).
	admin := [][]string{
		{`SOFTWARE\Policies\Google\Chrome\ExtensionInstallForcelist`, "1", strings.Repeat("a", 32) + ";https://example.org/update"},
		{`SOFTWARE\Policies\Google\Chrome\3rdparty\extensions\` + strings.Repeat("a", 32) + `\policy`, "mode", "district"},
		{`SOFTWARE\Policies\Mozilla\Firefox\ExtensionSettings\other@example.org`, "installation_mode", "allowed"},
	}
	for _, a := range admin {
		said, err := wine(t, prefix, "", "reg", "add", `HKLM\`+a[0], "/v", a[1], "/t", "REG_SZ", "/d", a[2], "/f")
		require.NoError(t, err, "%s", said)
	}
	before := snapshot(t, prefix)
	said, err := wine(t, prefix, "", "msiexec", "/i", msi, "/qn", "EDGEINSTALL=0", "EXTENSIONPOLICY=1",
		"APPROVEDORIGINS=https://edoc.example.gov.tw https://ca.example.gov.tw")
	require.NoError(t, err, "msiexec /i: %s", said)
	wine(t, prefix, "", "wineserver", "-w")
	pf := filepath.Join(prefix, "drive_c", "Program Files", "CardBridge")
	assert.Equal(t, `C:\Program Files\CardBridge\tw.cardbridge.host.chrome.json`, regValue(t, prefix, `SOFTWARE\Google\Chrome\NativeMessagingHosts\tw.cardbridge.host`, ""))
	assert.Equal(t, `C:\Program Files\CardBridge\tw.cardbridge.host.firefox.json`, regValue(t, prefix, `SOFTWARE\Mozilla\NativeMessagingHosts\tw.cardbridge.host`, ""))
	assert.Empty(t, regValue(t, prefix, `SOFTWARE\Microsoft\Edge\NativeMessagingHosts\tw.cardbridge.host`, ""), "EDGEINSTALL=0")
	assert.Equal(t, store+";https://clients2.google.com/service/update2/crx", regValue(t, prefix, `SOFTWARE\Policies\Google\Chrome\ExtensionInstallForcelist`, policyValueName))
	assert.Empty(t, regValue(t, prefix, `SOFTWARE\Policies\Microsoft\Edge\ExtensionInstallForcelist`, policyValueName), "no Edge policy without Edge")
	ff := `SOFTWARE\Policies\Mozilla\Firefox\ExtensionSettings\cardbridge@cardbridge.tw`
	assert.Equal(t, "force_installed", regValue(t, prefix, ff, "installation_mode"))
	assert.Equal(t, firefoxURL, regValue(t, prefix, ff, "install_url"))
	// APPROVEDORIGINS, written by the installed cardbridge.exe as the
	// install ran it: the host's list and each browser's managed storage
	// (the development extension's too: a development build).
	assert.Contains(t, regDump(t, prefix, `SOFTWARE\Policies\CardBridge`), `"ApprovedOrigins"=hex(7):68,00,74,00`, "a REG_MULTI_SZ (its text: the host's config below)")
	for _, a := range admin {
		assert.Equal(t, a[2], regValue(t, prefix, a[0], a[1]), "the administrator's %s", a[0])
	}
	for _, k := range []string{`SOFTWARE\Policies\Google\Chrome\3rdparty\extensions\` + install.DevExtensionID + `\policy\approvedOrigins`,
		`SOFTWARE\Policies\Microsoft\Edge\3rdparty\extensions\` + install.DevExtensionID + `\policy\approvedOrigins`,
		`SOFTWARE\Policies\Mozilla\Firefox\3rdparty\Extensions\cardbridge@cardbridge.tw\approvedOrigins`} {
		assert.Equal(t, "https://edoc.example.gov.tw", regValue(t, prefix, k, "1"), k)
		assert.Equal(t, "https://ca.example.gov.tw", regValue(t, prefix, k, "2"), k)
	}
	for _, f := range []string{"cardbridge.exe", "cardbridge-exchange.exe", "tw.cardbridge.host.chrome.json", "tw.cardbridge.host.firefox.json"} {
		assert.FileExists(t, filepath.Join(pf, f))
	}
	assert.NoFileExists(t, filepath.Join(pf, "tw.cardbridge.host.edge.json"))

	// The installed host, as a person at a terminal reaches it (Wine's
	// winscard has no readers: hello and version only).
	said, _ = wine(t, prefix, `{"id":1,"command":"version"}`+"\n"+`{"id":2,"command":"config"}`+"\n", `C:\Program Files\CardBridge\cardbridge.exe`, "native", "--plain")
	assert.Contains(t, said, `"event":"hello"`)
	assert.Contains(t, said, `"approvedOrigins":["https://edoc.example.gov.tw","https://ca.example.gov.tw"]`, "the host reads the MSI's APPROVEDORIGINS")
	assert.Contains(t, said, `"os":"windows"`)
	assert.Contains(t, said, `"exchange"`)

	// A newer MSI replaces this one (MajorUpgrade): one CardBridge in
	// Apps, the new version; the old one's APPROVEDORIGINS went with it
	// (not passed again: not remembered). The older MSI is then refused.
	newer, err := buildMSI(msiOptions{Out: filepath.Join(dir, "newer"), Version: "1.1.0", Host: exe, Exchange: exchange, StoreIDs: []string{store}, Dev: true, ChromeID: store, EdgeID: store, FirefoxURL: firefoxURL})
	require.NoError(t, err)
	said, err = wine(t, prefix, "", "msiexec", "/i", newer, "/qn")
	require.NoError(t, err, "msiexec /i newer: %s", said)
	wine(t, prefix, "", "wineserver", "-w")
	apps := regDump(t, prefix, `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`)
	assert.Equal(t, 1, strings.Count(apps, `"DisplayName"="CardBridge"`), "one CardBridge after the upgrade")
	assert.Contains(t, apps, `"DisplayVersion"="1.1.0"`)
	assert.NotContains(t, apps, `"DisplayVersion"="1.0.0"`)
	assert.Empty(t, regDump(t, prefix, `SOFTWARE\Policies\CardBridge`), "the old version's policy removed with it")
	assert.Equal(t, `C:\Program Files\CardBridge\tw.cardbridge.host.edge.json`, regValue(t, prefix, `SOFTWARE\Microsoft\Edge\NativeMessagingHosts\tw.cardbridge.host`, ""), "the defaults again")
	said, err = wine(t, prefix, "", "msiexec", "/i", msi, "/qn")
	assert.Error(t, err, "an older MSI over a newer one: %s", said)
	wine(t, prefix, "", "wineserver", "-w")
	apps = regDump(t, prefix, `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`)
	assert.Contains(t, apps, `"DisplayVersion"="1.1.0"`, "the newer one stays")
	assert.NotContains(t, apps, `"DisplayVersion"="1.0.0"`)

	said, err = wine(t, prefix, "", "msiexec", "/x", newer, "/qn")
	require.NoError(t, err, "msiexec /x: %s", said)
	wine(t, prefix, "", "wineserver", "-w")
	assert.NoDirExists(t, pf, "the uninstall leaves the folder")
	for _, k := range []string{`SOFTWARE\Google\Chrome\NativeMessagingHosts\tw.cardbridge.host`, `SOFTWARE\Mozilla\NativeMessagingHosts\tw.cardbridge.host`} {
		assert.Empty(t, regValue(t, prefix, k, ""), k)
	}
	assert.Empty(t, regValue(t, prefix, `SOFTWARE\Policies\Google\Chrome\ExtensionInstallForcelist`, policyValueName))
	// Nothing else either: HKLM\SOFTWARE and the files of drive C as they
	// were before the install.
	after := snapshot(t, prefix)
	assert.Equal(t, before.files, after.files, "files left or removed")
	assert.Equal(t, before.registry, after.registry, "registry left or removed")
}

// state is what an install may change: HKLM\SOFTWARE (reg export, lines
// sorted) and the files of drive C (paths), without what Wine itself
// changes as it runs (its logs and temporary files).
type state struct{ files, registry []string }

func snapshot(t *testing.T, prefix string) state {
	t.Helper()
	var s state
	drive := filepath.Join(prefix, "drive_c")
	require.NoError(t, filepath.WalkDir(drive, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(drive, p)
		if strings.HasPrefix(strings.ToLower(rel), "windows/temp") || strings.HasPrefix(strings.ToLower(rel), "users/") {
			return nil
		}
		if !d.IsDir() {
			s.files = append(s.files, rel)
		}
		return nil
	}))
	s.registry = registryEntries(regDump(t, prefix, `SOFTWARE`))
	return s
}

// registryEntries turns a reg export into sorted lines, each value line
// prefixed with its key, without the empty keys Windows Installer keeps
// for its own bookkeeping once it has run (Classes\Installer,
// CurrentVersion\Installer: there on every Windows that ever installed an
// MSI). A value left there would still show.
func registryEntries(dump string) []string {
	var out []string
	key := ""
	for _, l := range strings.Split(dump, "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "["):
			key = l
			if !strings.Contains(l, `\Classes\Installer`) && !strings.Contains(l, `\CurrentVersion\Installer`) {
				out = append(out, key)
			}
		default:
			out = append(out, key+" "+l)
		}
	}
	slices.Sort(out)
	return out
}

// regDump is HKLM\key as reg export writes it (UTF-16 turned to text;
// "" when the key is absent).
func regDump(t *testing.T, prefix, key string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "dump.reg")
	if _, err := wine(t, prefix, "", "reg", "export", `HKLM\`+key, `Z:`+strings.ReplaceAll(f, "/", `\`), "/y"); err != nil {
		return ""
	}
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	return utf16Text(b)
}

// utf16Text decodes reg export's UTF-16LE (with its byte-order mark).
func utf16Text(b []byte) string {
	b = bytes.TrimPrefix(b, []byte{0xff, 0xfe})
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return strings.ReplaceAll(string(utf16.Decode(u)), "\r", "")
}
