//go:build linux

package cli

// Attacks on `cardbridge policy apply|remove` (internal/cli/policy.go) as
// the .deb's maintainer scripts run it: as root, on Firefox's
// policies.json. The tests run as root (they chown to nobody to play the
// local user) and skip otherwise.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const attackNobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("plays root against a local user: run as root")
	}
}

// Attack: a FIFO planted as policies.json (by whoever can write the
// folder) would hang root's open(2), and with it dpkg. Defended: Lstat
// refuses anything but a regular file before opening. Passes now.
func TestAttackPolicyFIFORefused(t *testing.T) {
	f := filepath.Join(t.TempDir(), "policies.json")
	require.NoError(t, syscall.Mkfifo(f, 0o666))
	for _, cmd := range [][]string{
		{"policy", "apply", "--firefox-url", xpi, "--firefox-policies", f},
		{"policy", "remove", "--firefox-policies", f},
	} {
		done := make(chan int, 1)
		go func() { code, _, _ := runCLI(t, cmd...); done <- code }()
		select {
		case code := <-done:
			assert.Equal(t, 1, code, "%v: a FIFO is refused", cmd)
		case <-time.After(5 * time.Second):
			// Unblock the open so the goroutine ends.
			if w, err := os.OpenFile(f, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			t.Fatalf("%v: blocked on a FIFO", cmd)
		}
	}
}

// Attack: `policy remove` through a policies.json that is a link to
// another root file (rewritten or deleted). Defended: the link is refused
// and its target untouched. Passes now.
func TestAttackPolicyRemoveThroughSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "other.json")
	doc := `{"policies": {"ExtensionSettings": {"cardbridge@cardbridge.tw": {"installation_mode": "force_installed", "install_url": "` + xpi + `"}}}}`
	require.NoError(t, os.WriteFile(target, []byte(doc), 0o600))
	f := filepath.Join(dir, "policies.json")
	require.NoError(t, os.Symlink(target, f))
	code, _, errs := runCLI(t, "policy", "remove", "--firefox-policies", f)
	assert.Equal(t, 1, code, errs)
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, doc, string(b), "a link's target is neither rewritten nor removed")
	fi, err := os.Lstat(f)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode().Type())
}

// Attack: pre-created .policies-*.json links in the folder, hoping root's
// temporary file is one of them and written through. Defended:
// os.CreateTemp picks a random name with O_EXCL, and nothing is left
// behind. Passes now.
func TestAttackPolicyPrecreatedTempFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	require.NoError(t, os.WriteFile(target, []byte("root's"), 0o600))
	for i := range 200 {
		require.NoError(t, os.Symlink(target, filepath.Join(dir, fmt.Sprintf(".policies-%d.json", i))))
	}
	f := filepath.Join(dir, "policies.json")
	code, _, errs := runCLI(t, "policy", "apply", "--firefox-url", xpi, "--firefox-policies", f)
	require.Equal(t, 0, code, errs)
	b, _ := os.ReadFile(target)
	assert.Equal(t, "root's", string(b))
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 202, "no temporary file of root's left beside the planted ones (the 200, policies.json and the marker of what CardBridge created)")
}

// Attack: a huge policies.json (CPU, memory) and a deeply nested one
// (stack). Defended: 1 MiB cap, encoding/json's depth limit; refused fast,
// the file kept. Passes now.
func TestAttackPolicyHugeAndDeepFiles(t *testing.T) {
	for name, doc := range map[string][]byte{
		"huge": append([]byte(`{"policies": {"x": "`), append(bytes.Repeat([]byte("a"), 2<<20), `"}}`...)...),
		"deep": append([]byte(`{"policies": {"x": `), bytes.Repeat([]byte("["), 1<<20-32)...),
	} {
		f := filepath.Join(t.TempDir(), "policies.json")
		require.NoError(t, os.WriteFile(f, doc, 0o644))
		start := time.Now()
		code, _, errs := runCLI(t, "policy", "apply", "--firefox-url", xpi, "--firefox-policies", f)
		assert.Equal(t, 1, code, "%s: %s", name, errs)
		assert.Less(t, time.Since(start), 5*time.Second, name)
		b, _ := os.ReadFile(f)
		assert.Equal(t, doc, b, "%s: left as it is", name)
	}
}

// Attack (hostile local user, folder writable by them): swap
// policies.json between a regular file and a link to a root-only JSON file
// while root runs `policy apply`. readPolicyFile checks with Lstat and
// then os.Open follows whatever is there now, so root reads the secret,
// merges it and writes it back as policies.json, mode 0644: any root-only
// JSON object (a token store, another program's credentials) leaks to
// every user. Fix: open with O_NOFOLLOW|O_NONBLOCK and Fstat the opened
// file (regular, owned by root, not writable by others), and refuse a
// folder others may write (TestAttackPolicyFolderWritableByOthers).
// FAILS NOW (a race: the test tries for up to 3 seconds; it leaks in well under one).
func TestAttackPolicyReadRaceLeaksRootFile(t *testing.T) {
	needRoot(t)
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "credentials.json")
	require.NoError(t, os.WriteFile(secret, []byte(`{"token": "TOPSECRET-c4f3"}`), 0o600))

	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o777)) // the user's (or everyone's) folder
	f := filepath.Join(dir, "policies.json")
	var stop, leaked atomic.Bool
	done := make(chan struct{})
	go func() { // the local user
		defer close(done)
		link, reg := filepath.Join(dir, "l"), filepath.Join(dir, "r")
		for !stop.Load() {
			if fd, err := syscall.Open(f, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0); err == nil {
				var st syscall.Stat_t
				if syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG {
					b := make([]byte, 4096)
					n, _ := syscall.Read(fd, b)
					if strings.Contains(string(b[:n]), "TOPSECRET") {
						leaked.Store(true)
					}
				}
				syscall.Close(fd)
			}
			_ = os.WriteFile(reg, []byte(`{"policies": {}}`), 0o644)
			_ = os.Rename(reg, f)
			_ = os.Symlink(secret, link)
			_ = os.Rename(link, f)
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && !leaked.Load() {
		runCLI(t, "policy", "apply", "--firefox-url", xpi, "--firefox-policies", f)
	}
	stop.Store(true)
	<-done
	assert.False(t, leaked.Load(), "root read a root-only file through a swapped link and published it as policies.json")
}

// Attack (careless administrator): a policies folder others may write
// (mode 0777, no sticky bit), or owned by a local user, e.g. through
// --firefox-policies or a symlinked /etc/firefox/policies. Whoever can
// write it can race root's read (above) or plant a FIFO between the Lstat
// and the open (dpkg hangs). `policy` should refuse such a folder as the
// host refuses a system config others may write (config/trust_unix.go).
// FAILS NOW.
func TestAttackPolicyFolderWritableByOthers(t *testing.T) {
	needRoot(t)
	for name, setup := range map[string]func(dir string){
		"mode 0777":       func(dir string) { require.NoError(t, os.Chmod(dir, 0o777)) },
		"owned by a user": func(dir string) { require.NoError(t, os.Chown(dir, attackNobody, attackNobody)) },
	} {
		dir := filepath.Join(t.TempDir(), "policies")
		require.NoError(t, os.Mkdir(dir, 0o755))
		setup(dir)
		f := filepath.Join(dir, "policies.json")
		code, _, errs := runCLI(t, "policy", "apply", "--firefox-url", xpi, "--firefox-policies", f)
		assert.Equal(t, 1, code, "%s: %s", name, errs)
		assert.NoFileExists(t, f, name)
	}
}

// Attack: /etc/firefox/policies is a link (planted by whoever could write
// /etc/firefox) to a folder a local user owns; root follows it (MkdirAll,
// CreateTemp, Rename all resolve it) and writes there. Fix: resolve the
// folder and apply the ownership rule above to what it resolves to (or
// refuse a linked folder). FAILS NOW.
func TestAttackPolicySymlinkedFolderToUsersFolder(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	users := filepath.Join(t.TempDir(), "home", "mallory")
	require.NoError(t, os.MkdirAll(users, 0o755))
	require.NoError(t, os.Chown(users, attackNobody, attackNobody))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc", "firefox"), 0o755))
	require.NoError(t, os.Symlink(users, filepath.Join(root, "etc", "firefox", "policies")))
	code, _, errs := runCLI(t, "policy", "apply", "--root", root, "--firefox-url", xpi)
	assert.Equal(t, 1, code, errs)
	assert.NoFileExists(t, filepath.Join(users, "policies.json"), "root wrote into a user's folder through a link")
}

// Attack (confidentiality downgrade): an administrator's policies.json
// kept 0640 (root:a group; 3rdparty managed storage can hold other
// extensions' tokens) is widened to 0644 by apply's rename. Fix: give the
// new file the old one's mode (and owner). FAILS NOW.
func TestAttackPolicyApplyKeepsAdminsMode(t *testing.T) {
	f := filepath.Join(t.TempDir(), "policies.json")
	require.NoError(t, os.WriteFile(f, []byte(`{"policies": {"3rdparty": {"Extensions": {"other@corp": {"apiToken": "s3cret"}}}}}`), 0o640))
	require.NoError(t, os.Chmod(f, 0o640))
	code, _, errs := runCLI(t, "policy", "apply", "--firefox-url", xpi, "--firefox-policies", f)
	require.Equal(t, 0, code, errs)
	fi, err := os.Stat(f)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "the administrator's mode is kept")
}

// Attack: `policy remove` takes more than it put: an administrator's own
// (empty) /etc/firefox/policies folder, made before CardBridge came, goes
// with the file CardBridge created in it. Low. Fix: record what apply
// created (e.g. /var/lib/cardbridge) as the Windows side does. FAILS NOW.
func TestAttackPolicyRemoveKeepsAdminsFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "firefox", "policies")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f := filepath.Join(dir, "policies.json")
	code, _, errs := runCLI(t, "policy", "apply", "--firefox-url", xpi, "--firefox-policies", f)
	require.Equal(t, 0, code, errs)
	code, _, errs = runCLI(t, "policy", "remove", "--firefox-policies", f)
	require.Equal(t, 0, code, errs)
	assert.NoFileExists(t, f)
	assert.DirExists(t, dir, "the administrator's folder stays")
}
