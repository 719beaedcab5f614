//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
// and version over pipes; the uninstall leaves none of it.
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
	msi, err := buildMSI(msiOptions{Out: dir, Version: "1.0.0", Host: exe, Exchange: exchange, StoreIDs: []string{store}, Dev: true, ChromeID: store, EdgeID: store})
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

	said, err := wine(t, prefix, "", "msiexec", "/i", msi, "/qn", "EDGEINSTALL=0", "EXTENSIONPOLICY=1")
	require.NoError(t, err, "msiexec /i: %s", said)
	wine(t, prefix, "", "wineserver", "-w")
	pf := filepath.Join(prefix, "drive_c", "Program Files", "CardBridge")
	assert.Equal(t, `C:\Program Files\CardBridge\tw.cardbridge.host.chrome.json`, regValue(t, prefix, `SOFTWARE\Google\Chrome\NativeMessagingHosts\tw.cardbridge.host`, ""))
	assert.Equal(t, `C:\Program Files\CardBridge\tw.cardbridge.host.firefox.json`, regValue(t, prefix, `SOFTWARE\Mozilla\NativeMessagingHosts\tw.cardbridge.host`, ""))
	assert.Empty(t, regValue(t, prefix, `SOFTWARE\Microsoft\Edge\NativeMessagingHosts\tw.cardbridge.host`, ""), "EDGEINSTALL=0")
	assert.Equal(t, store+";https://clients2.google.com/service/update2/crx", regValue(t, prefix, `SOFTWARE\Policies\Google\Chrome\ExtensionInstallForcelist`, policyValueName))
	assert.Empty(t, regValue(t, prefix, `SOFTWARE\Policies\Microsoft\Edge\ExtensionInstallForcelist`, policyValueName), "no Edge policy without Edge")
	for _, f := range []string{"cardbridge.exe", "cardbridge-exchange.exe", "tw.cardbridge.host.chrome.json", "tw.cardbridge.host.firefox.json"} {
		assert.FileExists(t, filepath.Join(pf, f))
	}
	assert.NoFileExists(t, filepath.Join(pf, "tw.cardbridge.host.edge.json"))

	// The installed host, as a person at a terminal reaches it (Wine's
	// winscard has no readers: hello and version only).
	said, _ = wine(t, prefix, `{"id":1,"command":"version"}`+"\n", `C:\Program Files\CardBridge\cardbridge.exe`, "native", "--plain")
	assert.Contains(t, said, `"event":"hello"`)
	assert.Contains(t, said, `"os":"windows"`)
	assert.Contains(t, said, `"exchange"`)

	said, err = wine(t, prefix, "", "msiexec", "/x", msi, "/qn")
	require.NoError(t, err, "msiexec /x: %s", said)
	wine(t, prefix, "", "wineserver", "-w")
	assert.NoDirExists(t, pf, "the uninstall leaves the folder")
	for _, k := range []string{`SOFTWARE\Google\Chrome\NativeMessagingHosts\tw.cardbridge.host`, `SOFTWARE\Mozilla\NativeMessagingHosts\tw.cardbridge.host`} {
		assert.Empty(t, regValue(t, prefix, k, ""), k)
	}
	assert.Empty(t, regValue(t, prefix, `SOFTWARE\Policies\Google\Chrome\ExtensionInstallForcelist`, policyValueName))
}
