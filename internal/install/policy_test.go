package install

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitOrigins(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{"", nil, false},
		{"https://a.gov.tw", []string{"https://a.gov.tw"}, false},
		{" https://a.gov.tw,https://b.edu.tw;https://c.gov.tw:8443  https://a.gov.tw ", []string{"https://a.gov.tw", "https://b.edu.tw", "https://c.gov.tw:8443"}, false},
		{"http://a.gov.tw", nil, true},       // not https
		{"https://a.gov.tw/path", nil, true}, // not an origin
		{"https://a.gov.tw\x00x", nil, true}, // control character
		{`https://a.gov.tw" /x`, nil, true},  // a property that tried to add an argument
		{strings.Repeat("https://a.gov.tw ", 1) + "javascript:alert(1)", nil, true},
	} {
		got, err := SplitOrigins(c.in)
		if c.bad {
			assert.ErrorIs(t, err, ErrPolicy, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
	var many []string
	for i := 0; i <= MaxPolicyOrigins; i++ {
		many = append(many, "https://s"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+".gov.tw:"+string(rune('1'+i%9))+"443")
	}
	_, err := SplitOrigins(strings.Join(many, " "))
	assert.ErrorIs(t, err, ErrPolicy, "more than MaxPolicyOrigins")
}

// The registry values apply writes: the host's list, then each browser's
// managed-storage list, named 1, 2, … as Chrome and Firefox read lists.
func TestRegistryValues(t *testing.T) {
	id := strings.Repeat("b", 32)
	assert.Empty(t, MachinePolicy{ChromeIDs: []string{id}}.RegistryValues(), "nothing approved, nothing written")
	v := MachinePolicy{Approved: []string{"https://a.gov.tw", "https://b.edu.tw"}, ChromeIDs: []string{id}}.RegistryValues()
	require.Len(t, v, 1+3*2)
	assert.Equal(t, RegistryValue{Key: `SOFTWARE\Policies\CardBridge`, Name: "ApprovedOrigins", Data: []string{"https://a.gov.tw", "https://b.edu.tw"}, Multi: true}, v[0])
	assert.Equal(t, RegistryValue{Key: `SOFTWARE\Policies\Google\Chrome\3rdparty\extensions\` + id + `\policy\approvedOrigins`, Name: "1", Data: []string{"https://a.gov.tw"}}, v[1])
	assert.Equal(t, "2", v[2].Name)
	assert.Equal(t, `SOFTWARE\Policies\Microsoft\Edge\3rdparty\extensions\`+id+`\policy\approvedOrigins`, v[3].Key)
	assert.Equal(t, `SOFTWARE\Policies\Mozilla\Firefox\3rdparty\Extensions\cardbridge@cardbridge.tw\approvedOrigins`, v[5].Key)
	assert.Equal(t, []string{"https://b.edu.tw"}, v[6].Data)
}

func policies(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(doc, &m), "%s", doc)
	p, _ := m["policies"].(map[string]any)
	return p
}

// Merging into an administrator's policies.json keeps every entry of
// theirs, and removing takes out only CardBridge's: the file comes back
// as it was (as data).
func TestFirefoxPoliciesMergeAndRemove(t *testing.T) {
	p := MachinePolicy{Approved: []string{"https://a.gov.tw"}, FirefoxInstallURL: "https://addons.mozilla.org/firefox/downloads/latest/cardbridge/latest.xpi"}
	admin := []byte(`{"policies": {"DisableTelemetry": true, "Preferences": {"x": {"Value": 1.50, "Status": "locked"}},
	  "ExtensionSettings": {"uBlock0@raymondhill.net": {"installation_mode": "force_installed", "install_url": "https://example.org/u.xpi"}},
	  "3rdparty": {"Extensions": {"other@example.org": {"k": [1, 2]}}}}, "comment": "district 7"}`)
	merged, err := MergeFirefoxPolicies(admin, p)
	require.NoError(t, err)
	got := policies(t, merged)
	assert.Equal(t, true, got["DisableTelemetry"])
	settings := got["ExtensionSettings"].(map[string]any)
	assert.Contains(t, settings, "uBlock0@raymondhill.net")
	assert.Equal(t, map[string]any{"installation_mode": "force_installed", "install_url": p.FirefoxInstallURL}, settings[FirefoxAddonID])
	exts := got["3rdparty"].(map[string]any)["Extensions"].(map[string]any)
	assert.Contains(t, exts, "other@example.org")
	assert.Equal(t, map[string]any{"approvedOrigins": []any{"https://a.gov.tw"}}, exts[FirefoxAddonID])
	assert.Contains(t, string(merged), `"Value": 1.50`, "an administrator's number is written back as they wrote it")

	again, err := MergeFirefoxPolicies(merged, p)
	require.NoError(t, err)
	assert.Equal(t, string(merged), string(again), "merging twice changes nothing")

	removed, empty, err := RemoveFirefoxPolicies(merged)
	require.NoError(t, err)
	assert.False(t, empty)
	var want, have any
	require.NoError(t, json.Unmarshal(admin, &want))
	require.NoError(t, json.Unmarshal(removed, &have))
	assert.Equal(t, want, have, "the administrator's file, as it was")
}

// A file CardBridge created holds nothing else: removing leaves it empty
// (the command deletes it).
func TestFirefoxPoliciesFromNothing(t *testing.T) {
	for _, doc := range []string{"", "  \n", `{"policies": {}}`} {
		merged, err := MergeFirefoxPolicies([]byte(doc), MachinePolicy{FirefoxInstallURL: "https://example.org/c.xpi"})
		require.NoError(t, err)
		assert.NotContains(t, string(merged), "3rdparty", "no approved origins, no 3rdparty")
		_, empty, err := RemoveFirefoxPolicies(merged)
		require.NoError(t, err)
		assert.True(t, empty, "%q", doc)
	}
}

// What is not a policies.json is left alone, never replaced.
func TestFirefoxPoliciesRefused(t *testing.T) {
	p := MachinePolicy{FirefoxInstallURL: "https://example.org/c.xpi"}
	for _, doc := range []string{"null", "[]", `{"policies": []}`, `{"policies": {"ExtensionSettings": "x"}}`, `{"policies": {}} {}`, `{"policies": {`, "\xff"} {
		_, err := MergeFirefoxPolicies([]byte(doc), p)
		assert.ErrorIs(t, err, ErrPolicy, doc)
	}
	_, err := MergeFirefoxPolicies([]byte(`{"policies":{}}`), MachinePolicy{FirefoxInstallURL: "http://example.org/c.xpi"})
	assert.ErrorIs(t, err, ErrPolicy, "an http install URL")
	for _, u := range []string{"https://example.org/c.xpi' ; rm -rf / '", "https://example.org/a b", "https://example.org/\\x", "https:///x", "https://example.org/[x]"} {
		_, err = MergeFirefoxPolicies([]byte(`{"policies":{}}`), MachinePolicy{FirefoxInstallURL: u})
		assert.ErrorIs(t, err, ErrPolicy, u)
	}
	_, err = MergeFirefoxPolicies([]byte(strings.Repeat(" ", maxPolicyFile+1)), p)
	assert.ErrorIs(t, err, ErrPolicy, "oversize")
	_, _, err = RemoveFirefoxPolicies([]byte(`{"policies": 3}`))
	assert.ErrorIs(t, err, ErrPolicy)
}

// FuzzFirefoxPolicies: whatever an administrator's policies.json holds,
// merge either refuses it or keeps every entry it had, and removing gives
// back the same data.
func FuzzFirefoxPolicies(f *testing.F) {
	f.Add([]byte(`{"policies": {"DisableTelemetry": true}}`))
	f.Add([]byte(`{"policies": {"ExtensionSettings": {"*": {"installation_mode": "blocked"}}, "3rdparty": {"Extensions": {}}}}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"policies": {"3rdparty": {"Extensions": {"cardbridge@cardbridge.tw": {"approvedOrigins": ["https://x.tw"]}}}}}`))
	p := MachinePolicy{Approved: []string{"https://a.gov.tw"}, FirefoxInstallURL: "https://example.org/c.xpi"}
	f.Fuzz(func(t *testing.T, doc []byte) {
		merged, err := MergeFirefoxPolicies(doc, p)
		if err != nil {
			return
		}
		var before map[string]any
		if json.Unmarshal(doc, &before) != nil {
			before = map[string]any{}
		}
		removed, empty, err := RemoveFirefoxPolicies(merged)
		if err != nil {
			t.Fatalf("removing from our own output: %v", err)
		}
		if empty {
			return
		}
		var after map[string]any
		if err := json.Unmarshal(removed, &after); err != nil {
			t.Fatalf("removed output is not JSON: %v", err)
		}
		// Every top-level policy the administrator had, other than ours,
		// is still there.
		bp, _ := before["policies"].(map[string]any)
		ap, _ := after["policies"].(map[string]any)
		for k := range bp {
			if k == "ExtensionSettings" || k == "3rdparty" {
				continue
			}
			if _, ok := ap[k]; !ok {
				t.Fatalf("policy %q lost", k)
			}
		}
	})
}
