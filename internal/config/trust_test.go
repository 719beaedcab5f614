//go:build !windows

package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// asOwner makes the tests' own uid the trusted owner when they cannot run
// as root (developer machines); CI runs as root and checks root itself.
func asOwner(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		old := trustedOwner
		trustedOwner = os.Getuid()
		t.Cleanup(func() { trustedOwner = old })
	}
}

const adminFile = `{"approvedOrigins":["https://edoc.example.gov.tw"],"rawSignOrigins":["https://gov.example.gov.tw"],"decryptOrigins":["https://edoc.example.gov.tw"],"allowLoopbackOrigins":true}`

// A system file only an administrator could have written is honoured,
// with the administrator's settings.
func TestSystemFileTrusted(t *testing.T) {
	asOwner(t)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	sys := write(t, dir, "config.json", adminFile)
	c, err := Load(Paths{System: sys})
	require.NoError(t, err)
	assert.Equal(t, []string{"https://gov.example.gov.tw"}, c.RawSignOrigins)
	assert.Equal(t, []string{"https://edoc.example.gov.tw"}, c.DecryptOrigins)
	assert.True(t, c.AllowLoopbackOrigins)
	assert.Equal(t, []string{"https://edoc.example.gov.tw"}, c.ApprovedOrigins)
}

// A system file (or folder) that others may write, another user's file, or
// a symbolic link to a file elsewhere is ignored whole, and Load says why:
// otherwise any local user could approve origins (and raw signatures) for
// everyone.
func TestSystemFileUntrusted(t *testing.T) {
	asOwner(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir, file string) string
	}{
		{"file writable by others", func(t *testing.T, dir, file string) string {
			require.NoError(t, os.Chmod(file, 0o666))
			return file
		}},
		{"file writable by the group", func(t *testing.T, dir, file string) string {
			require.NoError(t, os.Chmod(file, 0o620))
			return file
		}},
		{"folder writable by others", func(t *testing.T, dir, file string) string {
			require.NoError(t, os.Chmod(dir, 0o777))
			return file
		}},
		{"symbolic link", func(t *testing.T, dir, file string) string {
			link := filepath.Join(dir, "link.json")
			require.NoError(t, os.Symlink(file, link))
			return link
		}},
		{"another user's file", func(t *testing.T, dir, file string) string {
			if os.Getuid() != 0 {
				t.Skip("changing a file's owner needs root (CI runs as root)")
			}
			require.NoError(t, os.Chown(file, 1000, 1000))
			return file
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.Chmod(dir, 0o755))
			file := write(t, dir, "config.json", adminFile)
			path := tc.setup(t, dir, file)
			c, err := Load(Paths{System: path})
			require.ErrorIs(t, err, errUntrusted)
			assert.Contains(t, err.Error(), "ignored")
			assert.Empty(t, c.ApprovedOrigins)
			assert.Empty(t, c.RawSignOrigins)
			assert.False(t, c.AllowLoopbackOrigins)
		})
	}
}

// A user's file cannot give pages more power: the administrator's settings
// in it are dropped and reported; its other settings still apply.
func TestUserFileCannotSetAdminSettings(t *testing.T) {
	usr := write(t, t.TempDir(), "user.json", adminFile)
	c, err := Load(Paths{User: usr})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rawSignOrigins, decryptOrigins, allowLoopbackOrigins ignored")
	assert.Empty(t, c.RawSignOrigins)
	assert.Empty(t, c.DecryptOrigins)
	assert.False(t, c.AllowLoopbackOrigins)
	assert.Equal(t, []string{"https://edoc.example.gov.tw"}, c.ApprovedOrigins)
}

// The administrator's origin lists are checked like approvedOrigins.
func TestAdminOriginsChecked(t *testing.T) {
	_, err := Parse([]byte(`{"rawSignOrigins":["http://evil.example"]}`))
	assert.ErrorContains(t, err, "rawSignOrigins")
	_, err = Parse([]byte(`{"decryptOrigins":["https://a.example/path"]}`))
	assert.ErrorContains(t, err, "decryptOrigins")
}
