package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/install"
)

// storeID is a made-up store ID (32 letters a–p) for the tests.
var storeID = strings.Repeat("b", 32)

// fakeBinaries writes stand-ins for the two programs: the package is
// about where they go, not what they are.
func fakeBinaries(t *testing.T) (host, exchange string) {
	dir := t.TempDir()
	host, exchange = filepath.Join(dir, "cardbridge"), filepath.Join(dir, "cardbridge-exchange")
	require.NoError(t, os.WriteFile(host, []byte("#!/bin/sh\necho cardbridge\n"), 0o700))
	require.NoError(t, os.WriteFile(exchange, []byte("#!/bin/sh\necho exchange\n"), 0o700))
	return host, exchange
}

func needDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed (a Debian tool)")
	}
}

func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%v\n%s", args, out)
	return string(out)
}

func TestDebVersion(t *testing.T) {
	for in, want := range map[string]string{"v1.2.3": "1.2.3", "1.2.3": "1.2.3", "v1.2.3-4-gabcdef0": "1.2.3+4.gabcdef0", "0.1.0": "0.1.0",
		"7f90fe7": "0.0.0+7f90fe7", "abcdef0-dirty": "0.0.0+abcdef0.dirty"} {
		got, err := debVersion(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "abc", "v", "1.0 beta", "1.0;rm"} {
		_, err := debVersion(bad)
		assert.Error(t, err, bad)
	}
}

// The package's contents, control fields and manifests: the programs side
// by side, cardbridge on the PATH, the four browsers' system manifests
// pointing at the host and allowing the store ID (not the development
// one), conffiles under /etc, Depends on pcscd.
func TestDebContents(t *testing.T) {
	needDpkg(t)
	host, exchange := fakeBinaries(t)
	out := t.TempDir()
	debs, err := buildDebs(debOptions{Out: out, Version: "v1.2.0", Host: host, Exchange: exchange, StoreIDs: []string{storeID}})
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(out, "cardbridge_1.2.0_amd64.deb")}, debs, "no policy package without --force")

	info := dpkg(t, "dpkg-deb", "--info", debs[0])
	for _, want := range []string{"Package: cardbridge", "Version: 1.2.0", "Architecture: amd64", "Depends: libc6 (>= 2.34), libpcsclite1, pcscd"} {
		assert.Contains(t, info, want)
	}
	conffiles := dpkg(t, "dpkg-deb", "--info", debs[0], "conffiles")
	assert.Equal(t, "/etc/chromium/native-messaging-hosts/tw.cardbridge.host.json\n/etc/opt/chrome/native-messaging-hosts/tw.cardbridge.host.json\n/etc/opt/edge/native-messaging-hosts/tw.cardbridge.host.json\n", conffiles)
	list := dpkg(t, "dpkg-deb", "--contents", debs[0])
	for _, want := range []string{
		"-rwxr-xr-x root/root", "./usr/lib/cardbridge/cardbridge\n", "./usr/lib/cardbridge/cardbridge-exchange\n",
		"./usr/bin/cardbridge -> ../lib/cardbridge/cardbridge",
		"./etc/chromium/native-messaging-hosts/tw.cardbridge.host.json", "./etc/opt/chrome/native-messaging-hosts/tw.cardbridge.host.json",
		"./etc/opt/edge/native-messaging-hosts/tw.cardbridge.host.json", "./usr/lib/mozilla/native-messaging-hosts/tw.cardbridge.host.json",
	} {
		assert.Contains(t, list, want)
	}
	assert.NotContains(t, list, "policies", "policies come in cardbridge-policy only")

	root := t.TempDir()
	dpkg(t, "dpkg-deb", "-x", debs[0], root)
	targets, err := install.SystemTargets("linux")
	require.NoError(t, err)
	for _, tg := range targets {
		var m struct {
			Name, Path        string
			AllowedOrigins    []string `json:"allowed_origins"`
			AllowedExtensions []string `json:"allowed_extensions"`
		}
		b, err := os.ReadFile(filepath.Join(root, tg.Path()))
		require.NoError(t, err, tg.Browser)
		require.NoError(t, json.Unmarshal(b, &m))
		assert.Equal(t, install.HostName, m.Name)
		assert.Equal(t, "/usr/lib/cardbridge/cardbridge", m.Path)
		if tg.Firefox {
			assert.Equal(t, []string{install.FirefoxAddonID}, m.AllowedExtensions)
		} else {
			assert.Equal(t, []string{"chrome-extension://" + storeID + "/"}, m.AllowedOrigins, "a release allows the store ID only")
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "usr/lib/cardbridge/cardbridge-exchange"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "exchange")
}

// A release without store IDs registers Firefox only; --dev adds the
// development extension.
func TestDebExtensionIDs(t *testing.T) {
	needDpkg(t)
	host, exchange := fakeBinaries(t)
	debs, err := buildDebs(debOptions{Out: t.TempDir(), Version: "1.0", Host: host, Exchange: exchange})
	require.NoError(t, err)
	list := dpkg(t, "dpkg-deb", "--contents", debs[0])
	assert.Contains(t, list, "usr/lib/mozilla/native-messaging-hosts/tw.cardbridge.host.json")
	assert.NotContains(t, list, "chrome/native-messaging-hosts")

	debs, err = buildDebs(debOptions{Out: t.TempDir(), Version: "1.0", Host: host, Exchange: exchange, Dev: true})
	require.NoError(t, err)
	root := t.TempDir()
	dpkg(t, "dpkg-deb", "-x", debs[0], root)
	b, err := os.ReadFile(filepath.Join(root, "etc/opt/chrome/native-messaging-hosts/tw.cardbridge.host.json"))
	require.NoError(t, err)
	assert.Contains(t, string(b), install.DevExtensionID)
}

// cardbridge-policy: each browser's own managed-policy file, force-installing
// the store extension with its update URL and pre-approving the sites, which
// the main package also writes into the system configuration.
func TestDebPolicy(t *testing.T) {
	needDpkg(t)
	host, exchange := fakeBinaries(t)
	out := t.TempDir()
	debs, err := buildDebs(debOptions{Out: out, Version: "1.0", Host: host, Exchange: exchange, StoreIDs: []string{storeID},
		Force: []install.ForceInstall{{ID: storeID, UpdateURL: install.ChromeStoreUpdateURL}}, Approved: []string{"https://edoc.example.gov.tw"}})
	require.NoError(t, err)
	require.Len(t, debs, 2)
	assert.Contains(t, dpkg(t, "dpkg-deb", "--info", debs[1]), "Depends: cardbridge (= 1.0)")
	root := t.TempDir()
	dpkg(t, "dpkg-deb", "-x", debs[1], root)
	for _, dir := range install.PolicyDirs {
		var p struct {
			Forcelist []string `json:"ExtensionInstallForcelist"`
			Third     struct {
				Extensions map[string]struct {
					ApprovedOrigins []string `json:"approvedOrigins"`
				} `json:"extensions"`
			} `json:"3rdparty"`
		}
		b, err := os.ReadFile(filepath.Join(root, dir, "cardbridge.json"))
		require.NoError(t, err, dir)
		require.NoError(t, json.Unmarshal(b, &p))
		assert.Equal(t, []string{storeID + ";" + install.ChromeStoreUpdateURL}, p.Forcelist)
		assert.Equal(t, []string{"https://edoc.example.gov.tw"}, p.Third.Extensions[storeID].ApprovedOrigins)
	}
	main := t.TempDir()
	dpkg(t, "dpkg-deb", "-x", debs[0], main)
	cfg, err := os.ReadFile(filepath.Join(main, "etc/cardbridge/config.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"approvedOrigins":["https://edoc.example.gov.tw"]}`, string(cfg))

	for _, bad := range []debOptions{
		{Approved: []string{"http://edoc.example.gov.tw"}},
		{Approved: []string{"https://edoc.example.gov.tw/path"}},
		{Force: []install.ForceInstall{{ID: storeID, UpdateURL: "http://example.org/crx"}}},
		{Force: []install.ForceInstall{{ID: "not-an-id", UpdateURL: install.ChromeStoreUpdateURL}}},
		{Version: "beta"},
	} {
		if bad.Version == "" {
			bad.Version = "1.0"
		}
		bad.Out, bad.Host, bad.Exchange, bad.StoreIDs = t.TempDir(), host, exchange, []string{storeID}
		_, err := buildDebs(bad)
		assert.Error(t, err, "%+v", bad)
	}
}

// Installed and removed with dpkg into a private root (--root: nothing
// touches this machine's system): every file where it belongs, and after
// --purge nothing of the package left.
func TestDebInstallRemove(t *testing.T) {
	needDpkg(t)
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg is not installed")
	}
	host, exchange := fakeBinaries(t)
	debs, err := buildDebs(debOptions{Out: t.TempDir(), Version: "1.0", Host: host, Exchange: exchange, StoreIDs: []string{storeID},
		Approved: []string{"https://edoc.example.gov.tw"}})
	require.NoError(t, err)
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644))
	// pcscd and libc are this machine's, not the private root's.
	dpkg(t, "dpkg", "--root="+root, "--force-depends", "--force-script-chrootless", "--log=/dev/null", "-i", debs[0])
	for _, p := range []string{"usr/lib/cardbridge/cardbridge", "usr/lib/cardbridge/cardbridge-exchange", "usr/bin/cardbridge",
		"etc/opt/chrome/native-messaging-hosts/tw.cardbridge.host.json", "usr/lib/mozilla/native-messaging-hosts/tw.cardbridge.host.json", "etc/cardbridge/config.json"} {
		_, err := os.Lstat(filepath.Join(root, p))
		assert.NoError(t, err, p)
	}
	status := dpkg(t, "dpkg", "--root="+root, "-s", "cardbridge")
	assert.Contains(t, status, "Status: install ok installed")
	dpkg(t, "dpkg", "--root="+root, "--force-depends", "--force-script-chrootless", "--log=/dev/null", "--purge", "cardbridge")
	var left []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if err == nil && !d.IsDir() && !strings.HasPrefix(rel, "var/lib/dpkg") {
			left = append(left, rel)
		}
		return nil
	})
	assert.Empty(t, left, "files left after --purge")
}

// cardbridge-policy with the Firefox add-on, installed and purged with
// the real cardbridge into a private root: its maintainer scripts merge
// the force-install and the approved origins into an administrator's
// policies.json (theirs kept) and into a file of its own for Debian's
// firefox-esr; the purge takes out only CardBridge's entries, and the file
// it created goes.
func TestDebFirefoxPolicy(t *testing.T) {
	needDpkg(t)
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg is not installed")
	}
	dir := t.TempDir()
	host := filepath.Join(dir, "cardbridge")
	out, err := exec.Command("go", "build", "-o", host, "github.com/cardbridge/cardbridge/host").CombinedOutput()
	require.NoError(t, err, "%s", out)
	_, exchange := fakeBinaries(t)
	const xpi = "https://addons.mozilla.org/firefox/downloads/latest/cardbridge/latest.xpi"
	debs, err := buildDebs(debOptions{Out: t.TempDir(), Version: "1.0", Host: host, Exchange: exchange, StoreIDs: []string{storeID},
		Force: []install.ForceInstall{{ID: storeID, UpdateURL: install.ChromeStoreUpdateURL}}, FirefoxURL: xpi,
		Approved: []string{"https://edoc.example.gov.tw", "https://ca.example.gov.tw"}})
	require.NoError(t, err)
	require.Len(t, debs, 2)
	scripts := dpkg(t, "dpkg-deb", "--info", debs[1])
	assert.Contains(t, scripts, "postinst")
	assert.Contains(t, scripts, "prerm")

	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc/firefox/policies", "etc/firefox-esr"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644))
	adminFile := filepath.Join(root, "etc/firefox/policies/policies.json")
	adminDoc := `{"policies": {"DisableTelemetry": true, "ExtensionSettings": {"uBlock0@raymondhill.net": {"installation_mode": "force_installed", "install_url": "https://example.org/u.xpi"}}}}`
	require.NoError(t, os.WriteFile(adminFile, []byte(adminDoc), 0o644))
	inst := func(args ...string) {
		dpkg(t, append([]string{"dpkg", "--root=" + root, "--force-depends", "--force-script-chrootless", "--log=/dev/null"}, args...)...)
	}
	inst("-i", debs[0], debs[1])

	type ffPolicies struct {
		Policies struct {
			DisableTelemetry  bool
			ExtensionSettings map[string]map[string]string
			Third             struct {
				Extensions map[string]struct {
					ApprovedOrigins []string `json:"approvedOrigins"`
				}
			} `json:"3rdparty"`
		} `json:"policies"`
	}
	for _, f := range []string{adminFile, filepath.Join(root, "etc/firefox-esr/policies/policies.json")} {
		b, err := os.ReadFile(f)
		require.NoError(t, err, f)
		var p ffPolicies
		require.NoError(t, json.Unmarshal(b, &p), "%s", b)
		assert.Equal(t, map[string]string{"installation_mode": "force_installed", "install_url": xpi}, p.Policies.ExtensionSettings[install.FirefoxAddonID], f)
		assert.Equal(t, []string{"https://edoc.example.gov.tw", "https://ca.example.gov.tw"}, p.Policies.Third.Extensions[install.FirefoxAddonID].ApprovedOrigins, f)
	}
	b, _ := os.ReadFile(adminFile)
	assert.Contains(t, string(b), "uBlock0@raymondhill.net", "the administrator's add-on stays")
	assert.Contains(t, string(b), `"DisableTelemetry": true`)

	inst("--purge", "cardbridge-policy", "cardbridge")
	b, err = os.ReadFile(adminFile)
	require.NoError(t, err)
	assert.JSONEq(t, adminDoc, string(b), "the administrator's file as it was")
	assert.NoDirExists(t, filepath.Join(root, "etc/firefox-esr/policies"), "the file and folder it created are gone")
	assert.DirExists(t, filepath.Join(root, "etc/firefox-esr"), "firefox-esr's own folder stays")
	var left []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if err == nil && !d.IsDir() && !strings.HasPrefix(rel, "var/lib/dpkg") && rel != "etc/firefox/policies/policies.json" {
			left = append(left, rel)
		}
		return nil
	})
	assert.Empty(t, left, "files left after --purge")
}
