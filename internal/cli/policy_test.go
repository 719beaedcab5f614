//go:build linux

package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const xpi = "https://addons.mozilla.org/firefox/downloads/latest/cardbridge/latest.xpi"

// policy apply merges into Firefox's policies.json (created when absent,
// an administrator's kept) and policy remove takes out exactly that: a
// file it created goes with its folders, an administrator's is left as it
// was.
func TestPolicyFirefoxFiles(t *testing.T) {
	dir := t.TempDir()
	created := filepath.Join(dir, "firefox", "policies", "policies.json")
	admin := filepath.Join(dir, "firefox-esr", "policies", "policies.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(admin), 0o755))
	adminDoc := `{"policies": {"DisableTelemetry": true}}`
	require.NoError(t, os.WriteFile(admin, []byte(adminDoc), 0o644))

	code, out, errs := runCLI(t, "policy", "apply", "--approved", "https://edoc.example.gov.tw https://ca.example.gov.tw", "--firefox-url", xpi,
		"--firefox-policies", created, "--firefox-policies", admin)
	require.Equal(t, 0, code, "%s%s", out, errs)
	for _, f := range []string{created, admin} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"cardbridge@cardbridge.tw"`)
		assert.Contains(t, string(b), `"https://ca.example.gov.tw"`)
		assert.Contains(t, string(b), xpi)
		fi, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	}
	b, _ := os.ReadFile(admin)
	assert.Contains(t, string(b), `"DisableTelemetry": true`)

	code, out, errs = runCLI(t, "policy", "remove", "--firefox-policies", created, "--firefox-policies", admin)
	require.Equal(t, 0, code, "%s%s", out, errs)
	assert.NoFileExists(t, created)
	assert.NoDirExists(t, filepath.Join(dir, "firefox"), "the folders it created go too")
	b, err := os.ReadFile(admin)
	require.NoError(t, err)
	assert.JSONEq(t, adminDoc, string(b))
	entries, _ := os.ReadDir(filepath.Dir(admin))
	assert.Len(t, entries, 1, "no temporary file or marker left")
}

// Bad input is refused before anything is written: an http origin, a
// path, a file that is a link (to something else of root's), a file that
// is not a policies.json.
func TestPolicyRefused(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "policies.json")
	for _, args := range [][]string{
		{"--approved", "http://edoc.example.gov.tw"},
		{"--approved", "https://edoc.example.gov.tw/login"},
		{"--firefox-url", "http://example.org/c.xpi"},
	} {
		code, _, errs := runCLI(t, append([]string{"policy", "apply", "--firefox-policies", f}, args...)...)
		assert.Equal(t, 2, code, "%v: %s", args, errs)
		assert.NoFileExists(t, f)
	}
	code, _, _ := runCLI(t, "policy", "wipe")
	assert.Equal(t, 2, code)

	target := filepath.Join(dir, "shadow")
	require.NoError(t, os.WriteFile(target, []byte("root:x"), 0o644))
	require.NoError(t, os.Symlink(target, f))
	code, _, errs := runCLI(t, "policy", "apply", "--firefox-url", xpi, "--firefox-policies", f)
	assert.Equal(t, 1, code, errs)
	b, _ := os.ReadFile(target)
	assert.Equal(t, "root:x", string(b), "a link's target is never written")

	require.NoError(t, os.Remove(f))
	require.NoError(t, os.WriteFile(f, []byte(`["not", "policies"]`), 0o644))
	code, _, errs = runCLI(t, "policy", "apply", "--firefox-url", xpi, "--firefox-policies", f)
	assert.Equal(t, 1, code, errs)
	assert.Contains(t, errs, "left as it is")
	b, _ = os.ReadFile(f)
	assert.Equal(t, `["not", "policies"]`, string(b))
}
