package p11

// Attacks by another local user on module discovery (security review of
// the HiCOS commit): a module file at a vendor location that someone other
// than the user (or root) may write must never be loaded, and must not hide
// the vendor's own module at a later location.

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// moduleAt writes a (fake) module file in a new folder with mode dirMode.
func moduleAt(t *testing.T, name string, dirMode os.FileMode) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lib")
	require.NoError(t, os.Mkdir(dir, 0o755))
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte("\x7fELF not really"), 0o644))
	require.NoError(t, os.Chmod(dir, dirMode))
	return p
}

// A module at an earlier vendor location that others may write (a
// group-writable Homebrew prefix) is refused and logged; the vendor's next
// location is used. Before: the first existing file was taken, refused
// only when loaded, and the vendor's own module at a later location was
// never tried.
func TestAttackDiscoverSkipsAModuleOthersMayWrite(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits")
	}
	planted := moduleAt(t, "libHicos_p11.so", 0o777)
	vendor := moduleAt(t, "libHicos_p11.so", 0o755)
	known := []Found{{Path: planted, Vendor: "HiCOS"}, {Path: vendor, Vendor: "HiCOS"}}
	var logs bytes.Buffer
	got := discover(known, usable(slog.New(slog.NewTextHandler(&logs, nil))))
	require.Len(t, got, 1)
	assert.Equal(t, vendor, got[0].Path)
	assert.Contains(t, logs.String(), planted)
}

// Discovery looks in folders that on some computers belong to one
// unprivileged user: Homebrew's /usr/local/lib (Intel) and /opt/homebrew/lib
// are owned by whoever installed Homebrew, and not group- or world-writable.
// Another user's host must not load a module that user put there: it runs
// next to the PINs. The Unix check looks at the permission bits only, so a
// file and folder owned by someone else with mode 0644/0755 pass.
//
// Needs root (to give the file to another user).
func TestAttackModuleOwnedByAnotherUser(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("ownership is checked through the ACLs there")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}

	const nobody = 65534
	p := moduleAt(t, "opensc-pkcs11.so", 0o755)
	require.NoError(t, os.Chown(p, nobody, nobody))
	require.NoError(t, os.Chown(filepath.Dir(p), nobody, nobody))
	_, err := CheckPath(p)
	assert.ErrorIs(t, err, ErrUnsafeModule, "a module another user owns is accepted")
	assert.Empty(t, discover([]Found{{Path: p, Vendor: "OpenSC", Fallback: true}}, usable(nil)))

	// Owned by root (or the user), the same file passes.
	require.NoError(t, os.Chown(p, 0, 0))
	require.NoError(t, os.Chown(filepath.Dir(p), 0, 0))
	_, err = CheckPath(p)
	assert.NoError(t, err)
}
