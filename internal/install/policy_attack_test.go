package install

// Attacks on the machine policy's pure parts (policy.go): the origins an
// installer property passes, and an administrator's (or anyone's)
// policies.json as MergeFirefoxPolicies and RemoveFirefoxPolicies read it.

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const attackXPI = "https://addons.mozilla.org/firefox/downloads/latest/cardbridge/latest.xpi"

// Attack: a crafted APPROVEDORIGINS / --approved: quotes and shell or MSI
// syntax, control characters, Unicode look-alikes, userinfo, a trailing
// dot, IPv6 brackets that an MSI formatted string would read as a
// property, too many or too long. Defended: every origin goes through
// origin.Check, https only, at most MaxPolicyOrigins. Passes now.
func TestAttackSplitOriginsCrafted(t *testing.T) {
	for _, s := range []string{
		`https://a.gov.tw'$(id)'`, "https://a.gov.tw`id`", `https://a.gov.tw"&calc`, "https://a.gov.tw\x00https://b.tw",
		"https://a.gov.tw\u2028", "https://а.gov.tw" /* Cyrillic a */, "https://A.GOV.TW", "https://u:p@a.gov.tw",
		"https://a.gov.tw.", "https://a.gov.tw:443", "https://a.gov.tw:0", "https://[#cardbridge.exe]", "https://[%PATH]",
		"https://[::1", "file:///etc/passwd", "https://" + strings.Repeat("a", 260) + ".tw", "http://localhost:8080",
		"https://a.gov.tw\\x", "https://%61.gov.tw", "wss://a.gov.tw",
	} {
		_, err := SplitOrigins(s)
		assert.ErrorIs(t, err, ErrPolicy, "%q", s)
	}
	// Exactly MaxPolicyOrigins distinct is fine, one more is not; duplicates
	// do not count against the cap.
	var list []string
	for i := range MaxPolicyOrigins {
		list = append(list, "https://s"+strings.Repeat("x", i)+".gov.tw")
	}
	got, err := SplitOrigins(strings.Join(append(list, list...), ","))
	require.NoError(t, err)
	assert.Len(t, got, MaxPolicyOrigins)
	_, err = SplitOrigins(strings.Join(append(list, "https://one-more.gov.tw"), " "))
	assert.ErrorIs(t, err, ErrPolicy)
}

// Attack: install URLs that would break out of a maintainer script's
// single quotes, a JSON string, or an MSI formatted string. Defended by
// installURLRE. Passes now.
func TestAttackInstallURLCrafted(t *testing.T) {
	for _, u := range []string{
		"https://e.org/c.xpi'; id; '", "https://e.org/`id`", "https://e.org/c.xpi\nid", "https://e.org/c.xpi\r",
		"https://e.org/\"", "https://e.org/\\", "https://e.org/[#cardbridge.exe]", "https://e.org/[%TEMP]", "https://e.org/{x}",
		"https://e.org/<x>", "https://e.org/ a", "https://e.org/\u00e9", "https://user@e.org/", "javascript:alert(1)", "https://e.org/\x00",
	} {
		err := MachinePolicy{FirefoxInstallURL: u}.Check()
		assert.ErrorIs(t, err, ErrPolicy, "%q", u)
	}
}

// Attack: a policies.json with a BOM, a deep nest or near-limit size.
// Defended: refused (no partial rewrite), quickly. Passes now.
func TestAttackPoliciesMalformedRefused(t *testing.T) {
	p := MachinePolicy{FirefoxInstallURL: attackXPI}
	for name, doc := range map[string][]byte{
		"bom":    []byte("\xef\xbb\xbf{\"policies\": {}}"),
		"deep":   append([]byte(`{"policies": {"x": `), bytes.Repeat([]byte(`{"a":`), maxPolicyFile/5-8)...),
		"arrays": append([]byte(`{"policies": {"x": `), bytes.Repeat([]byte("["), maxPolicyFile-32)...),
		"over":   append([]byte(`{"policies": {}}`), bytes.Repeat([]byte(" "), maxPolicyFile)...),
	} {
		start := time.Now()
		_, err := MergeFirefoxPolicies(doc, p)
		assert.ErrorIs(t, err, ErrPolicy, name)
		_, _, err = RemoveFirefoxPolicies(doc)
		assert.ErrorIs(t, err, ErrPolicy, name)
		assert.Less(t, time.Since(start), 3*time.Second, name)
	}
}

// Attack: duplicate keys. Go's decoder keeps the last, as Firefox's
// JSON.parse does, so the merged file means to Firefox what the original
// meant, and a duplicate that turns a container into a non-object is
// refused. Passes now.
func TestAttackPoliciesDuplicateKeys(t *testing.T) {
	p := MachinePolicy{FirefoxInstallURL: attackXPI}
	merged, err := MergeFirefoxPolicies([]byte(`{"policies": {"DisableTelemetry": false, "DisableTelemetry": true}}`), p)
	require.NoError(t, err)
	var m map[string]map[string]any
	require.NoError(t, json.Unmarshal(merged, &m))
	assert.Equal(t, true, m["policies"]["DisableTelemetry"])
	_, err = MergeFirefoxPolicies([]byte(`{"policies": {"ExtensionSettings": {}, "ExtensionSettings": "x"}}`), p)
	assert.ErrorIs(t, err, ErrPolicy)
}

// Attack (malformed administrator's file): trailing "]" or "}" after the
// object. decodePolicies's dec.More() is false before a closing bracket,
// so the file is accepted, the junk silently dropped and the file
// rewritten as valid JSON: Firefox, which ignored the broken file, now
// applies it. The doc comment promises "not one JSON object … left as it
// is". Fix: after Decode, require io.EOF from a further dec.Token() (or
// check the rest is whitespace). FAILS NOW.
func TestAttackPoliciesTrailingBracketRefused(t *testing.T) {
	p := MachinePolicy{FirefoxInstallURL: attackXPI}
	for _, doc := range []string{`{"policies": {}} ]`, `{"policies": {}}}`, "{\"policies\": {}}\n]\n"} {
		_, err := MergeFirefoxPolicies([]byte(doc), p)
		assert.ErrorIs(t, err, ErrPolicy, "%q", doc)
		_, _, err = RemoveFirefoxPolicies([]byte(doc))
		assert.ErrorIs(t, err, ErrPolicy, "%q", doc)
	}
}

// Attack (non-UTF-8 administrator's file, e.g. Big5 in a comment field):
// encoding/json replaces each invalid byte with U+FFFD, so apply silently
// rewrites the administrator's strings. Fix: refuse a doc that is not
// valid UTF-8 (utf8.Valid), leaving it as it is (or keep the bytes).
// FAILS NOW.
func TestAttackPoliciesNonUTF8Refused(t *testing.T) {
	doc := []byte("{\"policies\": {\"DisableTelemetry\": true}, \"comment\": \"\xa5x\xa5\xab\"}") // Big5 bytes
	out, err := MergeFirefoxPolicies(doc, MachinePolicy{FirefoxInstallURL: attackXPI})
	if err != nil {
		assert.ErrorIs(t, err, ErrPolicy)
		return
	}
	assert.Contains(t, string(out), "\xa5x\xa5\xab", "refused, or the administrator's bytes kept: not rewritten as U+FFFD")
}

// Attack (administrator's own entries for the add-on): an administrator
// who blocked CardBridge in Firefox ("installation_mode": "blocked") or
// set its managed storage by hand. Apply silently replaces both, where the
// Windows side (ApplyRegistry) refuses a value someone else set; and
// remove deletes whatever is under the add-on's ID, so a block, or an
// administrator's own entry with keys CardBridge never writes, is gone
// after the package is removed. Fix: apply refuses an entry that is not
// CardBridge's own (same shape as it writes); remove takes out only an
// entry of exactly that shape. FAILS NOW.
func TestAttackPoliciesAdminsAddonEntryKept(t *testing.T) {
	admin := `{"policies": {
	  "ExtensionSettings": {"cardbridge@cardbridge.tw": {"installation_mode": "blocked", "blocked_install_message": "not here"}},
	  "3rdparty": {"Extensions": {"cardbridge@cardbridge.tw": {"approvedOrigins": ["https://x.gov.tw"], "note": "set by IT"}}}}}`
	_, err := MergeFirefoxPolicies([]byte(admin), MachinePolicy{Approved: []string{"https://a.gov.tw"}, FirefoxInstallURL: attackXPI})
	assert.ErrorIs(t, err, ErrPolicy, "apply replaced the administrator's block and managed storage")

	out, empty, err := RemoveFirefoxPolicies([]byte(admin))
	require.NoError(t, err)
	require.False(t, empty, "remove emptied a file that held only the administrator's entries")
	var want, have any
	require.NoError(t, json.Unmarshal([]byte(admin), &want))
	require.NoError(t, json.Unmarshal(out, &have))
	assert.Equal(t, want, have, "remove took out entries CardBridge never wrote")
}
