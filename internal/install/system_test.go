package install

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSystemTargets(t *testing.T) {
	for _, goos := range []string{"linux", "darwin"} {
		ts, err := SystemTargets(goos)
		require.NoError(t, err)
		require.Len(t, ts, 4)
		for i, b := range []string{"chromium", "chrome", "edge", "firefox"} {
			assert.Equal(t, b, ts[i].Browser)
			assert.True(t, filepath.IsAbs(ts[i].Dir))
			assert.Equal(t, b == "firefox", ts[i].Firefox)
		}
		assert.NotEmpty(t, SystemProgramDir(goos))
	}
	_, err := SystemTargets("windows")
	assert.ErrorIs(t, err, ErrUnsupportedOS, "Windows registers in the registry")
	for _, k := range SystemRegistry() {
		assert.True(t, strings.HasPrefix(k.Key, `SOFTWARE\`) && strings.HasSuffix(k.Key, `\NativeMessagingHosts\`+HostName), k.Key)
	}
}

func TestShippedExtensionIDs(t *testing.T) {
	store := strings.Repeat("c", 32)
	assert.Equal(t, []string{store}, ShippedExtensionIDs([]string{store}, false))
	assert.Equal(t, []string{store, DevExtensionID}, ShippedExtensionIDs([]string{store}, true))
	assert.Empty(t, ShippedExtensionIDs(nil, false))
	assert.Equal(t, []string{FirefoxAddonID}, ManifestIDs(Target{Firefox: true}, []string{store}))
}

func TestChromePolicy(t *testing.T) {
	id := strings.Repeat("d", 32)
	b, err := ChromePolicy([]ForceInstall{{ID: id, UpdateURL: EdgeStoreUpdateURL}}, nil)
	require.NoError(t, err)
	var p map[string]any
	require.NoError(t, json.Unmarshal(b, &p))
	assert.Equal(t, []any{id + ";" + EdgeStoreUpdateURL}, p["ExtensionInstallForcelist"])
	assert.NotContains(t, p, "3rdparty", "no managed storage without approved sites")
	for _, bad := range []ForceInstall{{ID: "x", UpdateURL: ChromeStoreUpdateURL}, {ID: id, UpdateURL: "http://x/crx"}, {ID: id, UpdateURL: "/crx"}, {ID: id}} {
		_, err := ChromePolicy([]ForceInstall{bad}, nil)
		assert.Error(t, err, "%+v", bad)
	}
	_, err = ChromePolicy(nil, nil)
	assert.Error(t, err)
}
