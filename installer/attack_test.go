package main

// Attacks on the package builders: build flags and installer properties
// that reach the MSI's WiX source and tables, the .deb's maintainer
// scripts, and the macOS uninstall.sh / preinstall.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/install"
)

// Attack: XML / MSI formatted-string injection into the .wxs through the
// build flags (text/template does not escape). Defended: the Firefox URL
// is refused with quotes, brackets, braces, < > &, the store IDs must be
// 32 letters a–p, and the version reaches the template as digits only.
// Refused before any file is read. Passes now.
func TestAttackMSITemplateInputsRefused(t *testing.T) {
	for _, u := range []string{
		`https://e.org/"/><CustomAction Id="x"`, "https://e.org/[#cardbridge.exe]", "https://e.org/[%ComSpec]", "https://e.org/[\\[]",
		"https://e.org/{[x]}", "https://e.org/a&amp;b", "https://e.org/<!--", "https://e.org/'", "https://e.org/\n", "https://e.org/\\x",
	} {
		_, err := buildMSI(msiOptions{Out: t.TempDir(), Version: "1.0.0", FirefoxURL: u})
		require.Error(t, err, "%q", u)
		assert.Contains(t, err.Error(), "Firefox add-on URL", "%q", u)
	}
	for _, id := range []string{strings.Repeat("a", 31) + `"`, strings.Repeat("a", 31) + "[", strings.Repeat("q", 32)} {
		_, err := buildMSI(msiOptions{Out: t.TempDir(), Version: "1.0.0", ChromeID: id})
		assert.ErrorContains(t, err, "store ID", "%q", id)
		_, err = buildMSI(msiOptions{Out: t.TempDir(), Version: "1.0.0", EdgeID: id})
		assert.ErrorContains(t, err, "store ID", "%q", id)
	}
	for _, v := range []string{`1.2.3"/><Custom Action="x`, "1.2.3[#cardbridge.exe]", "1.2.3\n<x>", "1.2.3'$(id)"} {
		assert.Equal(t, "1.2.3", msiVersion(v), "%q", v)
		assert.Equal(t, "1.2.3", pkgVersion(v), "%q", v)
	}
}

// Attack: WiX preprocessor injection through --firefox-url. installURLRE
// and buildMSI's extra check allow "$", "(" and ")", and wixl expands
// $(env.NAME), $(sys.…) and $(var.…) in attribute values: a URL with
// $(env.NAME) ships the build machine's environment variable (a CI
// secret) inside the MSI's Registry table, and "$$" does not escape it in
// wixl. Fix: refuse "$" (and "!", for !(bind.…)) in the MSI's URL, or
// tighten installURLRE. FAILS NOW.
func TestAttackMSIFirefoxURLPreprocessorExpansion(t *testing.T) {
	needWixl(t)
	t.Setenv("CB_ATTACK_SECRET", "s3cr3t-from-ci")
	host, exchange := fakeBinaries(t)
	for _, u := range []string{"https://a.example/$(env.CB_ATTACK_SECRET)/c.xpi", "https://a.example/$$(env.CB_ATTACK_SECRET)/c.xpi", "https://a.example/$(sys.SOURCEFILEDIR)"} {
		msi, err := buildMSI(msiOptions{Out: t.TempDir(), Version: "v1.0.0", Host: host, Exchange: exchange, FirefoxURL: u})
		if err != nil {
			continue // refused: fixed
		}
		var got string
		for _, r := range table(t, msi, "Registry") {
			if len(r) > 4 && r[3] == "install_url" {
				got = r[4]
			}
		}
		assert.Equal(t, u, got, "the MSI's install_url is not the URL given")
		assert.NotContains(t, got, "s3cr3t-from-ci", "a build-machine environment variable shipped in the MSI")
	}
}

// Attack (standard user, crafted MSI property): APPROVEDORIGINS is in
// SecureCustomProperties, so Windows Installer passes it from a
// non-administrator's command line to the elevated server side of a
// maintenance install of the per-machine product (e.g.
// `msiexec /i {ProductCode} REINSTALL=ALL APPROVEDORIGINS=https://evil.tw`,
// the repair path standard users may run), and ApplyPolicy's condition
// (APPROVEDORIGINS AND NOT REMOVE~="ALL") runs `cardbridge policy apply`
// as SYSTEM: a standard user pre-approves their origin for every user of
// the computer (and replaces the administrator's list). Fix: condition
// ApplyPolicy/UndoPolicy on first install (NOT Installed), or on AdminUser
// with MSIUSEREALADMINDETECTION=1. FAILS NOW.
func TestAttackMSIApplyPolicyNotForStandardUserMaintenance(t *testing.T) {
	needWixl(t)
	host, exchange := fakeBinaries(t)
	msi, err := buildMSI(msiOptions{Out: t.TempDir(), Version: "v1.0.0", Host: host, Exchange: exchange})
	require.NoError(t, err)
	apply := row(table(t, msi, "InstallExecuteSequence"), 0, "ApplyPolicy")
	require.NotNil(t, apply)
	cond := apply[1]
	realAdmin := row(table(t, msi, "Property"), 0, "MSIUSEREALADMINDETECTION")
	gated := strings.Contains(cond, "NOT Installed") || (strings.Contains(cond, "AdminUser") && realAdmin != nil && realAdmin[1] == "1")
	assert.True(t, gated, "ApplyPolicy runs in a maintenance install a standard user starts: condition %q", cond)
}

// Attack: shell injection into cardbridge-policy's postinst/prerm through
// --firefox-url and --approved. Defended: what the URL may hold ($ ( ) ; &
// * ? ! # …) is inert inside the scripts' single quotes, and quotes,
// backticks, backslashes, spaces and newlines are refused. The scripts are
// run for real against a stub cardbridge: it gets the URL verbatim and
// nothing else runs. Passes now.
func TestAttackDebScriptsShellInjection(t *testing.T) {
	for _, bad := range []debOptions{
		{FirefoxURL: "https://e.org/c.xpi'; touch /tmp/pwned; '"},
		{FirefoxURL: "https://e.org/`touch /tmp/pwned`"},
		{FirefoxURL: "https://e.org/c.xpi\ntouch /tmp/pwned"},
		{FirefoxURL: "https://e.org/c.xpi\\'"},
		{FirefoxURL: "https://e.org/c.xpi", Approved: []string{"https://a.tw'; touch /tmp/pwned; '"}},
		{FirefoxURL: "https://e.org/c.xpi", Approved: []string{"https://a.tw\ntouch"}},
	} {
		_, err := policyTree(bad)
		assert.Error(t, err, "%q %q", bad.FirefoxURL, bad.Approved)
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	root := t.TempDir()
	marker := filepath.Join(root, "pwned")
	// "$" and "!" are refused (wixl's preprocessor); what the URL may
	// still hold of the shell's syntax: ( ) ; & * ? # and a path.
	url := "https://e.org/(c).xpi;touch&x=*?#;cp%20/etc/passwd;(touch)" + marker
	approved := []string{"https://a.gov.tw", "https://b.edu.tw:8443"}
	tr, err := policyTree(debOptions{Version: "1.0", FirefoxURL: url, Approved: approved})
	require.NoError(t, err)
	stub := filepath.Join(root, install.SystemProgramDir("linux"), "cardbridge")
	require.NoError(t, os.MkdirAll(filepath.Dir(stub), 0o755))
	argsFile := filepath.Join(root, "args")
	require.NoError(t, os.WriteFile(stub, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '"+argsFile+"'\n"), 0o755))
	for _, step := range [][2]string{{"postinst", "configure"}, {"prerm", "remove"}} {
		name, arg := step[0], step[1]
		script := filepath.Join(root, name)
		require.NoError(t, os.WriteFile(script, []byte(tr.scripts[name]), 0o755))
		cmd := exec.Command("sh", script, arg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "DPKG_ROOT="+root)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", name, out)
	}
	b, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	want := []string{"policy", "apply", "--root", root, "--firefox-url", url, "--approved", strings.Join(approved, " "),
		"policy", "remove", "--root", root}
	assert.Equal(t, want, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"))
	assert.NoFileExists(t, marker, "the URL ran as shell")
}

// Attack: a version string with quotes or shell reaching the .deb's
// control file and file names. Defended by debVersion. Passes now.
func TestAttackDebVersionCrafted(t *testing.T) {
	for _, v := range []string{"1.0'$(id)'", "1.0\nPre-Depends: evil", "1.0/../../x", "1.0 ", "1.0`id`", "1.0\"", "1.0:2"} {
		_, err := debVersion(v)
		assert.Error(t, err, "%q", v)
	}
}

// Attack: macOS uninstall.sh and preinstall with paths (and a target
// volume, $3) holding spaces, globs, quotes and $(…): run for real as
// root in a sandbox, they remove exactly the named files, never a glob's
// matches, and run nothing. Passes now.
func TestAttackPkgScriptsQuoting(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("uninstall.sh insists on root")
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	names := []string{"a b/*", "it's", "$(touch " + marker + ")", "x`touch " + marker + "`", "-rf", "glob?[a]"}
	var files []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
		files = append(files, p)
	}
	decoys := []string{filepath.Join(dir, "a b", "keep"), filepath.Join(dir, "globXa"), filepath.Join(dir, "it")}
	for _, d := range decoys {
		require.NoError(t, os.WriteFile(d, nil, 0o644))
	}
	script := filepath.Join(dir, "uninstall.sh")
	require.NoError(t, os.WriteFile(script, []byte(uninstallScript(files)), 0o755))
	out, err := exec.Command("sh", script).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, f := range files {
		assert.NoFileExists(t, f)
	}
	for _, d := range decoys {
		assert.FileExists(t, d, "removed something not in the list")
	}
	assert.NoFileExists(t, marker)

	// preinstall: the stale paths are CardBridge's own; the volume is
	// Installer's $3, here a hostile-looking one.
	vol := filepath.Join(dir, "Vol ume*")
	stale := "/Library/x y/'q'.json"
	require.NoError(t, os.MkdirAll(filepath.Join(vol, "Library", "x y"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(vol, stale), nil, 0o644))
	decoy := filepath.Join(dir, "Vol umeX", "Library", "x y", "'q'.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(decoy), 0o755))
	require.NoError(t, os.WriteFile(decoy, nil, 0o644))
	pre := filepath.Join(dir, "preinstall")
	require.NoError(t, os.WriteFile(pre, []byte(preinstallScript([]string{stale})), 0o755))
	out, err = exec.Command("sh", pre, "CardBridge.pkg", "/", vol+"/", "/").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.NoFileExists(t, filepath.Join(vol, stale))
	assert.FileExists(t, decoy)
}
