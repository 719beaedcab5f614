package p11

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKnownLocations(t *testing.T) {
	env := map[string]string{"SystemRoot": `D:\Windows`, "ProgramFiles": `D:\Program Files`, "HOME": "/Users/clerk"}
	getenv := func(k string) string { return env[k] }
	paths := func(fs []Found, vendor string) []string {
		var out []string
		for _, f := range fs {
			if f.Vendor == vendor {
				out = append(out, f.Path)
				assert.Equal(t, vendor == "OpenSC", f.Fallback, f.Path)
			}
		}
		return out
	}
	win := Known("windows", getenv)
	assert.Equal(t, []string{`D:\Windows\System32\HiCOSPKCS11.dll`}, paths(win, "HiCOS"))
	assert.Equal(t, []string{`D:\Program Files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll`}, paths(win, "OpenSC"))
	assert.Equal(t, `C:\Windows\System32\HiCOSPKCS11.dll`, Known("windows", func(string) string { return "" })[0].Path)

	mac := paths(Known("darwin", getenv), "HiCOS")
	assert.Contains(t, mac, "/Library/FBTokenLib/libHicos_p11v1.dylib")
	assert.Contains(t, mac, "/Users/clerk/Library/HiPKILocalSignServer/libHicos_p11v1.dylib")

	linux := Known("linux", getenv)
	for _, p := range paths(linux, "HiCOS") {
		assert.True(t, strings.HasSuffix(p, "/libHicos_p11.so"), p)
	}
	assert.Contains(t, paths(linux, "OpenSC"), "/usr/lib/opensc-pkcs11.so")
	// HiCOS is tried before OpenSC.
	assert.Equal(t, "HiCOS", linux[0].Vendor)
}

func TestDiscoverTakesTheFirstOfEachVendor(t *testing.T) {
	known := []Found{
		{Path: "/a/libHicos_p11.so", Vendor: "HiCOS"},
		{Path: "/b/libHicos_p11.so", Vendor: "HiCOS"},
		{Path: "/a/opensc-pkcs11.so", Vendor: "OpenSC", Fallback: true},
		{Path: "/b/opensc-pkcs11.so", Vendor: "OpenSC", Fallback: true},
	}
	has := map[string]bool{"/b/libHicos_p11.so": true, "/a/opensc-pkcs11.so": true, "/b/opensc-pkcs11.so": true}
	got := discover(known, func(p string) bool { return has[p] })
	assert.Equal(t, []Found{known[1], known[2]}, got)
	assert.Empty(t, discover(known, func(string) bool { return false }))
}

func TestSetupOptions(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	found := func() []Found {
		return []Found{
			{Path: "/nowhere/libHicos_p11.so", Vendor: "HiCOS"},
			{Path: "/nowhere/opensc-pkcs11.so", Vendor: "OpenSC", Fallback: true},
		}
	}

	o := Setup{Log: log, found: found}.Options()
	assert.Nil(t, o.Backends, "direct backends as usual")
	assert.Empty(t, o.Extra, "a found module that cannot be loaded is left out")
	assert.Contains(t, logs.String(), "/nowhere/libHicos_p11.so", "and logged with its path")
	require.Len(t, o.Fallback, 1)
	lazy := o.Fallback[0].(*Lazy)
	assert.Equal(t, "/nowhere/opensc-pkcs11.so", lazy.Source().Module)
	assert.False(t, lazy.Loaded(), "a fallback is loaded only when a card needs it")

	o = Setup{Log: log, found: found, ModulesOnly: true}.Options()
	assert.NotNil(t, o.Backends)
	assert.Empty(t, o.Backends, "modules only: no direct backend")
	assert.Empty(t, o.Fallback, "modules only: OpenSC is one of the modules, not a fallback")

	o = Setup{Log: log, found: found, NoDiscovery: true}.Options()
	assert.Empty(t, o.Extra)
	assert.Empty(t, o.Fallback)

	// A found module also configured is used once, as configured.
	o = Setup{Log: log, Modules: []string{"/nowhere/opensc-pkcs11.so"}, found: found}.Options()
	assert.Empty(t, o.Fallback)
}
