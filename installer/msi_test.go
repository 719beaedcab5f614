package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/install"
)

func needWixl(t *testing.T) {
	for _, name := range []string{"wixl", "msibuild", "msiinfo"} {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" { // make test: the tools are installed
				t.Fatalf("%s is not installed (apt-get install wixl msitools)", name)
			}
			t.Skipf("%s is not installed (apt-get install wixl msitools)", name)
		}
	}
}

// table is a table of the MSI as msiinfo exports it: rows of columns
// (without the three header lines; msiinfo writes CRLF).
func table(t *testing.T, msi, name string) [][]string {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msi, name).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.ReplaceAll(string(out), "\r", ""), "\n")
	var rows [][]string
	for _, l := range lines[min(3, len(lines)):] {
		if l != "" {
			rows = append(rows, strings.Split(l, "\t"))
		}
	}
	return rows
}

func row(rows [][]string, col int, key string) []string {
	for _, r := range rows {
		if len(r) > col && r[col] == key {
			return r
		}
	}
	return nil
}

func TestMSIVersion(t *testing.T) {
	for in, want := range map[string]string{"v1.2.3": "1.2.3", "1.2.3-4-gabc": "1.2.3", "7f90fe7": "0.0.0", "": "0.0.0", "v10.20.300": "10.20.300"} {
		assert.Equal(t, want, msiVersion(in), in)
	}
}

// The MSI's tables: the two programs and a manifest per browser in
// ProgramFiles64Folder\CardBridge; each browser's HKLM key (64-bit) whose
// default value is its manifest; a component condition per browser
// property (and EXTENSIONPOLICY), removable whatever was chosen; the
// properties' defaults, secure; the upgrade code with a row that replaces
// older and same versions and one that refuses a downgrade; no action left
// to wixl's ordering.
func TestMSITables(t *testing.T) {
	needWixl(t)
	host, exchange := fakeBinaries(t)
	chrome, edge := strings.Repeat("c", 32), strings.Repeat("e", 32)
	msi, err := buildMSI(msiOptions{Out: t.TempDir(), Version: "v1.4.2", Host: host, Exchange: exchange, StoreIDs: []string{chrome, edge}, ChromeID: chrome, EdgeID: edge, FirefoxURL: firefoxURL})
	require.NoError(t, err)
	assert.Equal(t, "CardBridge-1.4.2-x64.msi", filepath.Base(msi))

	files := table(t, msi, "File")
	for _, name := range []string{"cardbridge.exe", "cardbridge-exchange.exe", "tw.cardbridge.host.chrome.json", "tw.cardbridge.host.edge.json", "tw.cardbridge.host.firefox.json"} {
		found := false
		for _, r := range files {
			found = found || strings.Contains(r[2], name)
		}
		assert.True(t, found, "File table lacks %s", name)
	}
	reg := table(t, msi, "Registry")
	for _, k := range install.SystemRegistry() {
		r := row(reg, 2, k.Key)
		require.NotNil(t, r, "no Registry row for %s", k.Key)
		assert.Equal(t, "2", r[1], "HKLM")
		assert.Equal(t, "[#manifest."+browserComponent[k.Browser][0]+"]", r[4])
	}
	force := row(reg, 2, `SOFTWARE\Policies\Google\Chrome\ExtensionInstallForcelist`)
	require.NotNil(t, force)
	assert.Equal(t, policyValueName, force[3], "our own value name, not an administrator's 1")
	assert.Equal(t, chrome+";"+install.ChromeStoreUpdateURL, force[4])
	// Firefox's ExtensionSettings as a key per add-on, which Firefox merges
	// with an administrator's other add-ons (never the one JSON value).
	var ff [][]string
	for _, r := range reg {
		if r[2] == `SOFTWARE\Policies\Mozilla\Firefox\ExtensionSettings\cardbridge@cardbridge.tw` {
			ff = append(ff, r[3:])
		}
	}
	assert.ElementsMatch(t, [][]string{{"installation_mode", "force_installed", "FirefoxPolicy"}, {"install_url", firefoxURL, "FirefoxPolicy"}}, ff)

	comps := table(t, msi, "Component")
	for comp, cond := range map[string]string{
		"Chrome": `(CHROMEINSTALL = "1") OR REMOVE~="ALL"`, "Edge": `(EDGEINSTALL = "1") OR REMOVE~="ALL"`, "Firefox": `(FIREFOXINSTALL = "1") OR REMOVE~="ALL"`,
		"ChromePolicy": `(EXTENSIONPOLICY = "1" AND CHROMEINSTALL = "1") OR REMOVE~="ALL"`, "EdgePolicy": `(EXTENSIONPOLICY = "1" AND EDGEINSTALL = "1") OR REMOVE~="ALL"`,
		"FirefoxPolicy": `(EXTENSIONPOLICY = "1" AND FIREFOXINSTALL = "1") OR REMOVE~="ALL"`,
	} {
		r := row(comps, 0, comp)
		require.NotNil(t, r, comp)
		assert.Equal(t, cond, r[4], comp)
		attrs, err := strconv.Atoi(r[3])
		require.NoError(t, err)
		assert.NotZero(t, attrs&256, "%s is a 64-bit component (its registry in the 64-bit view): %v", comp, r)
	}
	props := table(t, msi, "Property")
	for p, v := range map[string]string{"CHROMEINSTALL": "1", "EDGEINSTALL": "1", "FIREFOXINSTALL": "1", "EXTENSIONPOLICY": "0", "UpgradeCode": "{" + UpgradeCode + "}", "ProductVersion": "1.4.2", "ALLUSERS": "1"} {
		r := row(props, 0, p)
		require.NotNil(t, r, p)
		assert.Equal(t, v, r[1], p)
	}
	assert.Contains(t, row(props, 0, "SecureCustomProperties")[1], "CHROMEINSTALL;EDGEINSTALL;FIREFOXINSTALL;EXTENSIONPOLICY;APPROVEDORIGINS")
	assert.Nil(t, row(props, 0, "APPROVEDORIGINS"), "no default: nothing approved unless given")
	// APPROVEDORIGINS: the installed cardbridge.exe writes the policy as
	// SYSTEM late in the script (its rollback first), and takes it out
	// before the files go on uninstall.
	ca := table(t, msi, "CustomAction")
	for action, want := range map[string][]string{
		"ApplyPolicy":  {"3090", "cardbridge.exe", `policy apply --approved "[APPROVEDORIGINS]"`},
		"UndoPolicy":   {"3410", "cardbridge.exe", "policy remove"},
		"RemovePolicy": {"3154", "cardbridge.exe", "policy remove"},
	} {
		r := row(ca, 0, action)
		require.NotNil(t, r, action)
		assert.Equal(t, want, r[1:4], action)
	}
	up := table(t, msi, "Upgrade")
	require.Len(t, up, 2)
	// UpgradeCode, VersionMin, VersionMax, Language, Attributes, Remove, ActionProperty
	upgrade, downgrade := row(up, 6, "WIX_UPGRADE_DETECTED"), row(up, 6, "WIX_DOWNGRADE_DETECTED")
	require.NotNil(t, upgrade)
	require.NotNil(t, downgrade)
	assert.Equal(t, []string{"{" + UpgradeCode + "}", "", "1.4.2", "", "513"}, upgrade[:5], "older and the same version replaced")
	assert.Equal(t, []string{"1.4.2", "", "", "2"}, downgrade[1:5], "a newer one installed: only detected, and refused")
	assert.NotNil(t, row(table(t, msi, "LaunchCondition"), 0, "NOT WIX_DOWNGRADE_DETECTED"))
	seq := table(t, msi, "InstallExecuteSequence")
	ordered := map[string]int{}
	for _, r := range seq {
		n, err := strconv.Atoi(strings.TrimSpace(r[2]))
		if err == nil {
			ordered[r[0]] = n
		}
	}
	assert.Equal(t, 1401, ordered["RemoveExistingProducts"], "right after InstallValidate, before InstallInitialize")
	assert.Less(t, ordered["InstallValidate"], ordered["RemoveExistingProducts"])
	assert.Less(t, ordered["RemoveExistingProducts"], ordered["InstallInitialize"])
	assert.Less(t, ordered["InstallFiles"], ordered["UndoPolicy"])
	assert.Less(t, ordered["UndoPolicy"], ordered["ApplyPolicy"], "the rollback is scheduled before what it undoes")
	assert.Less(t, ordered["ApplyPolicy"], ordered["InstallFinalize"])
	assert.Less(t, ordered["RemovePolicy"], ordered["RemoveRegistryValues"], "removed before the MSI's values, so that their empty parents go")
	assert.Less(t, ordered["InstallInitialize"], ordered["RemovePolicy"])
	for action, cond := range map[string]string{"ApplyPolicy": `APPROVEDORIGINS AND NOT Installed`, "UndoPolicy": `APPROVEDORIGINS AND NOT Installed`, "RemovePolicy": `REMOVE~="ALL"`} {
		assert.Equal(t, cond, row(seq, 0, action)[1], action)
	}
}

const firefoxURL = "https://addons.mozilla.org/firefox/downloads/latest/cardbridge/latest.xpi"

// A release without store IDs registers Firefox only and has no policy
// components; a development MSI allows the development extension.
func TestMSIWithoutStoreIDs(t *testing.T) {
	needWixl(t)
	host, exchange := fakeBinaries(t)
	msi, err := buildMSI(msiOptions{Out: t.TempDir(), Version: "1.0.0", Host: host, Exchange: exchange})
	require.NoError(t, err)
	comps := table(t, msi, "Component")
	assert.NotNil(t, row(comps, 0, "Firefox"))
	for _, c := range []string{"Chrome", "Edge", "ChromePolicy", "EdgePolicy", "FirefoxPolicy"} {
		assert.Nil(t, row(comps, 0, c), c)
	}
	_, err = buildMSI(msiOptions{Out: t.TempDir(), Version: "1.0.0", Host: host, Exchange: exchange, ChromeID: "not-an-id"})
	assert.Error(t, err)
	for _, bad := range []string{"http://example.org/c.xpi", "https://example.org/[#cardbridge.exe]", `https://example.org/"/>`} {
		_, err = buildMSI(msiOptions{Out: t.TempDir(), Version: "1.0.0", Host: host, Exchange: exchange, FirefoxURL: bad})
		assert.Error(t, err, bad)
	}
}
