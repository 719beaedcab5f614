//go:build !windows && !darwin

package register

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cards/p11"
)

// These tests run Debian's real modutil and certutil (package
// libnss3-tools; scripts/deps.sh installs it) on NSS databases in a
// temporary HOME, and register SoftHSM2's and OpenSC's modules, which
// modutil loads to check them.

const (
	softhsmPath = "/usr/lib/softhsm/libsofthsm2.so"
	openscPath  = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
	softhsmName = Prefix + "libsofthsm2"
)

func TestMain(m *testing.M) {
	// modutil -add loads every module of the database, and SoftHSM2 reads
	// its configuration then: give it a private one, so the tests neither
	// depend on nor touch /etc/softhsm and /var/lib/softhsm.
	dir, err := os.MkdirTemp("", "cardbridge-register-")
	if err == nil {
		tokens := filepath.Join(dir, "tokens")
		conf := filepath.Join(dir, "softhsm2.conf")
		if err = os.Mkdir(tokens, 0o700); err == nil {
			err = os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
		}
		if err == nil {
			os.Setenv("SOFTHSM2_CONF", conf)
		}
		// OpenSC's module asks pcscd for its readers when modutil loads it,
		// and connects to the cards it finds: with the integration tests
		// running beside this package, a card held in another process's
		// transaction kept modutil waiting until the tool timeout killed it
		// (a CI failure). Point the PC/SC client library at a socket that
		// does not exist, so the module loads with no readers, at once.
		os.Setenv("PCSCLITE_CSOCK_NAME", filepath.Join(dir, "no-pcscd.comm"))
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// needTools skips the test when the NSS tools are missing, and needs the
// module files the test registers.
func needTools(t *testing.T, modules ...string) {
	t.Helper()
	for _, tool := range []string{"modutil", "certutil"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian package libnss3-tools; scripts/deps.sh installs it)", tool)
		}
	}
	for _, m := range modules {
		if _, err := os.Stat(m); err != nil {
			t.Fatalf("module %s is missing (scripts/deps.sh installs softhsm2 and opensc): %v", m, err)
		}
	}
}

// realPath is the path Register writes for the module at p.
func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}

// home is a temporary HOME with a Firefox profiles.ini listing two
// existing profiles without databases: one relative, one absolute (outside
// HOME, as a profile on another disk would be).
type home struct {
	Dir      string
	Shared   string // ~/.pki/nssdb
	Relative string
	Absolute string
}

func newHome(t *testing.T) home {
	t.Helper()
	h := home{Dir: t.TempDir()}
	h.Shared = filepath.Join(h.Dir, ".pki", "nssdb")
	ff := filepath.Join(h.Dir, ".mozilla", "firefox")
	h.Relative = filepath.Join(ff, "ab12cd34.default-release")
	h.Absolute = filepath.Join(t.TempDir(), "work-profile")
	require.NoError(t, os.MkdirAll(h.Relative, 0o700))
	require.NoError(t, os.MkdirAll(h.Absolute, 0o700))
	ini := fmt.Sprintf("[Profile1]\nName=work\nIsRelative=0\nPath=%s\n\n[Profile0]\nName=default-release\nIsRelative=1\nPath=ab12cd34.default-release\nDefault=1\n\n[General]\nStartWithLastProfile=1\nVersion=2\n", h.Absolute)
	require.NoError(t, os.WriteFile(filepath.Join(ff, "profiles.ini"), []byte(ini), 0o644))
	return h
}

func (h home) dbs() []string { return []string{h.Shared, h.Absolute, h.Relative} }

func (h home) options(modules ...string) Options {
	return Options{Home: h.Dir, Modules: modules, Getenv: func(string) string { return "" }}
}

// listed returns the modules of the database in dir, name → library, as
// modutil -list shows them (which loads each module: a module that is
// listed there really loads).
func listed(t *testing.T, dir string) map[string]string {
	t.Helper()
	out, err := exec.Command("modutil", "-list", "-dbdir", "sql:"+dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	mods := map[string]string{}
	var name string
	item := regexp.MustCompile(`^\s*\d+\.\s+(.+)$`)
	for _, line := range strings.Split(string(out), "\n") {
		if m := item.FindStringSubmatch(line); m != nil {
			name = strings.TrimSpace(m[1])
			mods[name] = ""
		} else if lib, ok := strings.CutPrefix(strings.TrimSpace(line), "library name:"); ok && name != "" {
			mods[name] = strings.TrimSpace(lib)
		}
	}
	return mods
}

// addForeign adds a module the way a user or another installer would.
func addForeign(t *testing.T, dir, name, lib string) {
	t.Helper()
	out, err := exec.Command("modutil", "-dbdir", "sql:"+dir, "-add", name, "-libfile", lib, "-force").CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// snapshot maps every file and folder under root to a hash of its
// content (folders and links: their kind), so a test sees any write.
func snapshot(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch {
			case d.Type().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				out[p] = fmt.Sprintf("%x", sha256.Sum256(b))
			default:
				out[p] = d.Type().String()
			}
			return nil
		})
		require.NoError(t, err)
	}
	return out
}

// summary is "action module @ db" for each change, for compact asserts.
func summary(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Action+" "+c.Module+" @ "+c.DB)
	}
	return out
}

func TestRegisterUndo(t *testing.T) {
	needTools(t, softhsmPath, openscPath)
	h := newHome(t)
	lib := realPath(t, softhsmPath)
	o := h.options(softhsmPath)

	// First run: the shared database and both profile databases are
	// created, and the module is added to each.
	changes, err := Register(o)
	require.NoError(t, err)
	var want []string
	for _, db := range h.dbs() {
		want = append(want, ActionCreateDB+"  @ "+db, ActionAdd+" "+softhsmName+" @ "+db)
	}
	assert.Equal(t, want, summary(changes))
	for _, c := range changes {
		if c.Action == ActionAdd {
			assert.Equal(t, lib, c.Library)
		}
		assert.False(t, c.Running)
	}
	assert.Equal(t, []string{BrowserChrome, BrowserChrome, BrowserFirefox, BrowserFirefox, BrowserFirefox, BrowserFirefox},
		[]string{changes[0].Browser, changes[1].Browser, changes[2].Browser, changes[3].Browser, changes[4].Browser, changes[5].Browser})
	assert.Equal(t, "work", changes[2].Profile)
	assert.Equal(t, "default-release", changes[4].Profile)
	fi, err := os.Stat(h.Shared)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm(), "the shared database is private, as Chrome makes it")
	for _, db := range h.dbs() {
		assert.Equal(t, lib, listed(t, db)[softhsmName], "modutil -list in %s", db)
	}

	// Second run: nothing to do, nothing written.
	before := snapshot(t, h.Dir, h.Absolute)
	changes, err = Register(o)
	require.NoError(t, err)
	want = nil
	for _, db := range h.dbs() {
		want = append(want, ActionUnchanged+" "+softhsmName+" @ "+db)
	}
	assert.Equal(t, want, summary(changes))
	assert.Equal(t, before, snapshot(t, h.Dir, h.Absolute), "an unchanged run writes nothing")

	// A module the user added survives Undo; ours goes.
	for _, db := range h.dbs() {
		addForeign(t, db, "Foreign OpenSC", openscPath)
	}
	changes, err = Undo(o)
	require.NoError(t, err)
	want = nil
	for _, db := range h.dbs() {
		want = append(want, ActionRemove+" "+softhsmName+" @ "+db)
	}
	assert.Equal(t, want, summary(changes))
	for _, db := range h.dbs() {
		mods := listed(t, db)
		assert.NotContains(t, mods, softhsmName, db)
		assert.Equal(t, openscPath, mods["Foreign OpenSC"], "the foreign module survives in %s", db)
	}

	// Undo again: nothing of ours is left.
	changes, err = Undo(o)
	require.NoError(t, err)
	assert.Empty(t, changes)
}

// TestRegisterReplaceAndPresent covers a database that already has our
// name with another file (replaced) and one where another program already
// registered the same file (left alone, not added twice).
func TestRegisterReplaceAndPresent(t *testing.T) {
	needTools(t, softhsmPath, openscPath)
	h := newHome(t)
	lib := realPath(t, softhsmPath)
	require.NoError(t, os.MkdirAll(h.Shared, 0o700))
	addForeign(t, h.Shared, softhsmName, openscPath)         // ours, from an older run, with another file
	addForeign(t, h.Relative, "Vendor SoftHSM", softhsmPath) // the vendor's own registration
	addForeign(t, h.Absolute, Prefix+"older name", lib)      // ours under another name

	changes, err := Register(h.options(softhsmPath))
	require.NoError(t, err)
	assert.Equal(t, []string{
		ActionReplace + " " + softhsmName + " @ " + h.Shared,
		ActionUnchanged + " " + Prefix + "older name @ " + h.Absolute,
		ActionPresent + " Vendor SoftHSM @ " + h.Relative,
	}, summary(changes))

	assert.Equal(t, lib, listed(t, h.Shared)[softhsmName], "replaced with the new file")
	rel := listed(t, h.Relative)
	assert.Equal(t, softhsmPath, rel["Vendor SoftHSM"])
	assert.NotContains(t, rel, softhsmName, "not added a second time")

	changes, err = Undo(h.options())
	require.NoError(t, err)
	assert.Equal(t, []string{
		ActionRemove + " " + softhsmName + " @ " + h.Shared,
		ActionRemove + " " + Prefix + "older name @ " + h.Absolute,
	}, summary(changes))
	assert.Equal(t, softhsmPath, listed(t, h.Relative)["Vendor SoftHSM"], "the vendor's module survives Undo")
}

// recorder runs the real tools and records each command line.
type recorder struct{ calls []string }

func (r *recorder) run(name string, args ...string) ([]byte, error) {
	r.calls = append(r.calls, name+" "+strings.Join(args, " "))
	return execTool(name, args...)
}

func TestRegisterDryRun(t *testing.T) {
	needTools(t, softhsmPath, openscPath)
	h := newHome(t)
	var rec recorder
	o := h.options(softhsmPath, openscPath)
	o.DryRun, o.Runner = true, rec.run

	// Nothing registered yet: everything is planned, nothing is written
	// (not even the shared database's folder).
	before := snapshot(t, h.Dir, h.Absolute)
	changes, err := Register(o)
	require.NoError(t, err)
	var want []string
	for _, db := range h.dbs() {
		want = append(want, ActionCreateDB+"  @ "+db, ActionAdd+" "+softhsmName+" @ "+db, ActionAdd+" "+Prefix+"OpenSC @ "+db)
	}
	assert.Equal(t, want, summary(changes))
	assert.Equal(t, before, snapshot(t, h.Dir, h.Absolute), "a dry run writes nothing")
	assert.NoDirExists(t, filepath.Join(h.Dir, ".pki"))
	assert.Empty(t, rec.calls, "no database exists, so no tool needs to run")

	// Registered: a dry Register and a dry Undo only read.
	o.DryRun = false
	_, err = Register(o)
	require.NoError(t, err)
	o.DryRun, rec.calls = true, nil
	before = snapshot(t, h.Dir, h.Absolute)
	changes, err = Register(o)
	require.NoError(t, err)
	assert.Len(t, changes, 6)
	for _, c := range changes {
		assert.Equal(t, ActionUnchanged, c.Action)
	}
	changes, err = Undo(o)
	require.NoError(t, err)
	assert.Len(t, changes, 6)
	for _, c := range changes {
		assert.Equal(t, ActionRemove, c.Action)
	}
	assert.Equal(t, before, snapshot(t, h.Dir, h.Absolute), "a dry run writes nothing")
	for _, call := range rec.calls {
		assert.Contains(t, call, "modutil -rawlist ", "a dry run only lists")
	}
	for _, db := range h.dbs() {
		assert.Contains(t, listed(t, db), softhsmName, "a dry Undo removes nothing")
	}
}

// TestRegisterRefuses checks that bad options stop Register before it
// writes anything.
func TestRegisterRefuses(t *testing.T) {
	needTools(t, softhsmPath)
	unsafeFile := func(t *testing.T) string {
		p := filepath.Join(t.TempDir(), "libsofthsm2.so")
		b, err := os.ReadFile(softhsmPath)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		require.NoError(t, os.Chmod(p, 0o666)) // past the umask
		return p
	}
	unsafeFolder := func(t *testing.T) string {
		dir := t.TempDir()
		p := filepath.Join(dir, "libsofthsm2.so")
		b, err := os.ReadFile(softhsmPath)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		require.NoError(t, os.Chmod(dir, 0o777))
		return p
	}
	iniWith := func(path string) func(t *testing.T, h home) {
		return func(t *testing.T, h home) {
			ini := "[Profile0]\nName=evil\nIsRelative=1\nPath=" + path + "\n"
			require.NoError(t, os.WriteFile(filepath.Join(h.Dir, ".mozilla", "firefox", "profiles.ini"), []byte(ini), 0o644))
		}
	}
	tests := []struct {
		name    string
		module  func(t *testing.T) string
		setup   func(t *testing.T, h home)
		wantErr []error
	}{
		{name: "module writable by others", module: unsafeFile, wantErr: []error{ErrUnsafeModule, p11.ErrUnsafeModule}},
		{name: "module folder writable by others", module: unsafeFolder, wantErr: []error{ErrUnsafeModule, p11.ErrUnsafeModule}},
		{name: "relative module path", module: func(*testing.T) string { return "libsofthsm2.so" }, wantErr: []error{ErrUnsafeModule, p11.ErrUnsafeModule}},
		{name: "missing module", module: func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.so") }, wantErr: []error{ErrUnsafeModule, p11.ErrNoModule}},
		{name: "profile path ../../etc", setup: iniWith("../../etc"), wantErr: []error{ErrProfilePath}},
		{name: "profile path through ..", setup: iniWith("ab12cd34.default-release/../../../etc"), wantErr: []error{ErrProfilePath}},
		{name: "profile link out of the folder", setup: func(t *testing.T, h home) {
			require.NoError(t, os.Symlink(t.TempDir(), filepath.Join(h.Dir, ".mozilla", "firefox", "elsewhere")))
			iniWith("elsewhere")(t, h)
		}, wantErr: []error{ErrProfilePath}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHome(t)
			module := softhsmPath
			if tc.module != nil {
				module = tc.module(t)
			}
			if tc.setup != nil {
				tc.setup(t, h)
			}
			before := snapshot(t, h.Dir, h.Absolute)
			changes, err := Register(h.options(module))
			for _, want := range tc.wantErr {
				require.ErrorIs(t, err, want)
			}
			assert.Empty(t, changes)
			assert.Equal(t, before, snapshot(t, h.Dir, h.Absolute), "nothing is written")
			assert.Regexp(t, `[\p{Han}].* / .*[a-z]`, err.Error(), "the message is in Chinese and English")
			if slices.Contains(tc.wantErr, ErrProfilePath) {
				_, err := Undo(h.options())
				require.ErrorIs(t, err, ErrProfilePath, "Undo refuses the same profile")
			}
		})
	}
}

func TestRegisterDefaultModule(t *testing.T) {
	needTools(t, softhsmPath, openscPath)
	saved := discover
	t.Cleanup(func() { discover = saved })
	lib, opensc := realPath(t, softhsmPath), realPath(t, openscPath)
	tests := []struct {
		name     string
		found    []p11.Found
		wantName string
		wantLib  string
	}{
		{"HiCOS before OpenSC", []p11.Found{{Path: openscPath, Vendor: "OpenSC", Fallback: true}, {Path: softhsmPath, Vendor: "HiCOS"}}, Prefix + "HiCOS", lib},
		{"OpenSC when no HiCOS", []p11.Found{{Path: openscPath, Vendor: "OpenSC", Fallback: true}}, Prefix + "OpenSC", opensc},
		{"nothing installed", nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			discover = func() []p11.Found { return tc.found }
			h := newHome(t)
			o := h.options()
			o.DryRun = true
			changes, err := Register(o)
			if tc.wantName == "" {
				require.ErrorIs(t, err, ErrNoModule)
				assert.Contains(t, err.Error(), "https://moica.nat.gov.tw/download_1.html")
				assert.Contains(t, err.Error(), "--pkcs11")
				assert.Contains(t, err.Error(), "HiCOS 卡片管理工具")
				return
			}
			require.NoError(t, err)
			var adds []string
			for _, c := range changes {
				if c.Action == ActionAdd {
					adds = append(adds, c.Module+" "+c.Library)
				}
			}
			assert.Equal(t, slices.Repeat([]string{tc.wantName + " " + tc.wantLib}, 3), adds, "one module, in each database")
		})
	}
}

// TestSharedDatabase checks which shared database Register picks:
// ~/.pki/nssdb whenever it exists (every Chromium reads it then), else
// the XDG one of Chromium 146 and later when that exists, else a new
// ~/.pki/nssdb.
func TestSharedDatabase(t *testing.T) {
	needTools(t, softhsmPath)
	tests := []struct {
		name       string
		xdgHome    bool // XDG_DATA_HOME set (outside HOME)
		make       []string
		wantShared string // "legacy" or "xdg"
	}{
		{name: "none", wantShared: "legacy"},
		{name: "legacy only", make: []string{"legacy"}, wantShared: "legacy"},
		{name: "xdg only", make: []string{"xdg"}, wantShared: "xdg"},
		{name: "both", make: []string{"legacy", "xdg"}, wantShared: "legacy"},
		{name: "XDG_DATA_HOME", xdgHome: true, make: []string{"xdg"}, wantShared: "xdg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHome(t)
			data := filepath.Join(h.Dir, ".local", "share")
			if tc.xdgHome {
				data = t.TempDir()
			}
			dirs := map[string]string{"legacy": h.Shared, "xdg": filepath.Join(data, "pki", "nssdb")}
			for _, d := range tc.make {
				require.NoError(t, os.MkdirAll(dirs[d], 0o700))
				out, err := exec.Command("certutil", "-N", "-d", "sql:"+dirs[d], "--empty-password").CombinedOutput()
				require.NoError(t, err, "%s", out)
			}
			o := h.options(softhsmPath)
			o.Getenv = func(k string) string {
				if k == "XDG_DATA_HOME" && tc.xdgHome {
					return data
				}
				return ""
			}
			chrome := func(cs []Change) []string {
				var dbs []string
				for _, c := range cs {
					if c.Browser == BrowserChrome && !slices.Contains(dbs, c.DB) {
						dbs = append(dbs, c.DB)
					}
				}
				return dbs
			}
			changes, err := Register(o)
			require.NoError(t, err)
			assert.Equal(t, []string{dirs[tc.wantShared]}, chrome(changes))
			if tc.wantShared == "xdg" {
				assert.NoDirExists(t, h.Shared, "never create ~/.pki/nssdb next to an XDG database")
			}

			// Undo looks in every shared database there is.
			want := []string{dirs[tc.wantShared]}
			if len(tc.make) == 2 {
				addForeign(t, dirs["xdg"], softhsmName, softhsmPath) // from a time when Chromium used it
				want = []string{dirs["legacy"], dirs["xdg"]}
			}
			changes, err = Undo(o)
			require.NoError(t, err)
			assert.Equal(t, want, chrome(changes))
		})
	}
}

// TestRegisterProfiles covers the profiles Register skips and the Snap
// package's profiles.ini.
func TestRegisterProfiles(t *testing.T) {
	needTools(t, softhsmPath)
	h := newHome(t)
	ff := filepath.Join(h.Dir, ".mozilla", "firefox")
	old := filepath.Join(ff, "old.default")
	require.NoError(t, os.Mkdir(old, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(old, "cert8.db"), []byte("legacy"), 0o600))
	snap := filepath.Join(h.Dir, "snap", "firefox", "common", ".mozilla", "firefox")
	require.NoError(t, os.MkdirAll(filepath.Join(snap, "zz.default"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(snap, "profiles.ini"), []byte("[Profile0]\nName=snap\nIsRelative=1\nPath=zz.default\n"), 0o644))
	ini := fmt.Sprintf("[Profile0]\nName=default-release\nIsRelative=1\nPath=ab12cd34.default-release\n"+
		"[Profile1]\nName=gone\nIsRelative=1\nPath=gone.default\n"+
		"[Profile2]\nName=old\nIsRelative=1\nPath=old.default\n"+
		"[Profile3]\nName=same again\nIsRelative=0\nPath=%s\n", h.Relative)
	require.NoError(t, os.WriteFile(filepath.Join(ff, "profiles.ini"), []byte(ini), 0o644))

	changes, err := Register(h.options(softhsmPath))
	require.NoError(t, err)
	got := map[string]string{}
	for _, c := range changes {
		if c.Browser == BrowserFirefox && c.Action != ActionCreateDB {
			got[c.Profile] = c.Action
			if c.Action == ActionSkip {
				assert.Regexp(t, `[\p{Han}].* / .*[a-z]`, c.Reason)
			}
		}
	}
	assert.Equal(t, map[string]string{"default-release": ActionAdd, "gone": ActionSkip, "old": ActionSkip, "snap": ActionAdd}, got,
		"a profile listed twice is registered once")
	assert.NoFileExists(t, filepath.Join(old, "cert9.db"), "Firefox converts cert8.db only when there is no cert9.db")
	assert.Contains(t, listed(t, filepath.Join(snap, "zz.default")), softhsmName)
}

// TestFirefoxRunning checks the lock a running Firefox holds: the change
// is made and reported as needing a restart.
func TestFirefoxRunning(t *testing.T) {
	needTools(t, softhsmPath)
	done := exec.Command("true")
	require.NoError(t, done.Run())
	tests := []struct {
		name string
		link string
		want bool
	}{
		{"live process", fmt.Sprintf("127.0.0.1:+%d", os.Getpid()), true},
		{"left by a crash", fmt.Sprintf("127.0.0.1:+%d", done.Process.Pid), false},
		{"old form", fmt.Sprintf("127.0.0.1:%d", os.Getpid()), true},
		{"garbage", "nonsense", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHome(t)
			require.NoError(t, os.Symlink(tc.link, filepath.Join(h.Relative, "lock")))
			changes, err := Register(h.options(softhsmPath))
			require.NoError(t, err)
			for _, c := range changes {
				assert.Equal(t, tc.want && c.DB == h.Relative, c.Running, "%s %s", c.Action, c.DB)
			}
			assert.Contains(t, listed(t, h.Relative), softhsmName, "registered even while Firefox runs")
		})
	}
}
