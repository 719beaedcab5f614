//go:build !windows && !darwin

package register

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/cards/p11"
)

// toolTimeout bounds one modutil or certutil run. Adding or deleting a
// module makes modutil load every module in the database, and a module
// that waits for a card service must not hang the command for ever.
const toolTimeout = 2 * time.Minute

// discover finds the installed modules; tests replace it.
var discover = p11.Discover

// module is a module file Register adds, under its name.
type module struct {
	Name string
	Path string // real path, checked by p11.CheckPath
}

// target is one NSS database Register or Undo works on.
type target struct {
	Dir     string
	Browser string
	Profile string
	// Skip, when not "", says why the database is left alone.
	Skip string
}

// Register adds the modules of o to the user's NSS databases: Chrome's
// and Chromium's shared database (created when missing) and the database
// of every Firefox profile in profiles.ini. It is idempotent: a module of
// ours already there with the same file is left as it is, one with another
// file is replaced, and a file some other program already registered is
// not added a second time. Every option (module paths, profile paths) is
// checked before anything is written; after a tool fails, the changes
// made so far are returned with the error, and running Register again
// completes the job.
func Register(o Options) ([]Change, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	mods, err := modules(o.Modules)
	if err != nil {
		return nil, err
	}
	targets, err := targets(o, true)
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, t := range targets {
		cs, err := registerIn(o, t, mods)
		changes = append(changes, cs...)
		if err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// Undo deletes from the same databases every module whose name starts
// with Prefix, and nothing else. It creates no database; a profile or
// database that is missing has nothing to undo.
func Undo(o Options) ([]Change, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	targets, err := targets(o, false)
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, t := range targets {
		if t.Skip != "" || !hasDB(t.Dir) {
			continue
		}
		es, err := list(o, t.Dir)
		if err != nil {
			return changes, err
		}
		running := firefoxRunning(t)
		for _, e := range es {
			if !ours(e.Name) {
				continue
			}
			if !o.DryRun {
				if err := del(o, t.Dir, e.Name); err != nil {
					return changes, err
				}
			}
			changes = append(changes, t.change(ActionRemove, e.Name, e.Library, running))
		}
	}
	return changes, nil
}

// resolve fills in the defaults of o.
func (o Options) resolve() (Options, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Home == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return o, fmt.Errorf("register: %w", err)
		}
		o.Home = home
	}
	if !filepath.IsAbs(o.Home) {
		return o, fmt.Errorf("register: home directory %q is not absolute", o.Home)
	}
	o.Home = filepath.Clean(o.Home)
	if o.Runner == nil {
		for _, tool := range []string{"modutil", "certutil"} {
			if _, err := exec.LookPath(tool); err != nil {
				return o, fmt.Errorf("%w (%v)", ErrNoTools, err)
			}
		}
		o.Runner = execTool
	}
	return o, nil
}

// modules checks the given module paths, or finds the installed module
// when none is given: HiCOS's, since every Taiwanese government card
// needs it, else OpenSC's. Two paths to the same file count once; two
// files that would get the same name are told apart by a number.
func modules(paths []string) ([]module, error) {
	type given struct{ vendor, path string }
	var in []given
	for _, p := range paths {
		in = append(in, given{path: p})
	}
	if len(in) == 0 {
		found := discover()
		i := slices.IndexFunc(found, func(f p11.Found) bool { return f.Vendor == "HiCOS" })
		if i < 0 {
			i = slices.IndexFunc(found, func(f p11.Found) bool { return f.Vendor == "OpenSC" })
		}
		if i < 0 {
			return nil, ErrNoModule
		}
		in = append(in, given{vendor: found[i].Vendor, path: found[i].Path})
	}
	var out []module
	names := map[string]bool{}
	seen := map[string]bool{}
	for _, g := range in {
		real, err := p11.CheckPath(g.path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnsafeModule, err)
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		// A given path is named by what the user typed (a vendor's link
		// such as opensc-pkcs11.so), not by the versioned file it may
		// resolve to.
		name := moduleName(g.vendor, g.path)
		for n, base := 2, name; names[name]; n++ {
			name = fmt.Sprintf("%s (%d)", base, n)
		}
		names[name] = true
		out = append(out, module{Name: name, Path: real})
	}
	return out, nil
}

// targets lists the databases: the shared database, then each Firefox
// profile. With forRegister, a missing shared database is to be created;
// without (Undo), every shared database that exists is listed.
func targets(o Options, forRegister bool) ([]target, error) {
	legacy := filepath.Join(o.Home, ".pki", "nssdb")
	data := filepath.Join(o.Home, ".local", "share")
	if v := o.Getenv("XDG_DATA_HOME"); filepath.IsAbs(v) {
		data = filepath.Clean(v)
	}
	xdg := filepath.Join(data, "pki", "nssdb")
	// Chromium 146 and later keep a new shared database under
	// $XDG_DATA_HOME, but use ~/.pki/nssdb whenever it exists; older
	// versions know only ~/.pki/nssdb. So register in ~/.pki/nssdb when it
	// exists, else in the XDG one when that exists, else create
	// ~/.pki/nssdb, which every version reads. Never create ~/.pki/nssdb
	// next to an existing XDG database: Chromium would switch to the new,
	// empty one and lose the user's certificates.
	var out []target
	switch {
	case !forRegister:
		for _, d := range []string{legacy, xdg} {
			if isDir(d) {
				out = append(out, target{Dir: d, Browser: BrowserChrome})
			}
		}
	case isDir(legacy) || !isDir(xdg):
		out = append(out, target{Dir: legacy, Browser: BrowserChrome})
	default:
		out = append(out, target{Dir: xdg, Browser: BrowserChrome})
	}
	seen := map[string]bool{}
	for _, t := range out {
		seen[t.Dir] = true
	}
	for _, ini := range []string{
		filepath.Join(o.Home, ".mozilla", "firefox", "profiles.ini"),
		filepath.Join(o.Home, "snap", "firefox", "common", ".mozilla", "firefox", "profiles.ini"),
	} {
		profiles, err := firefoxProfiles(ini)
		if err != nil {
			return nil, err
		}
		for _, p := range profiles {
			if seen[p.Dir] {
				continue
			}
			seen[p.Dir] = true
			t := target{Dir: p.Dir, Browser: BrowserFirefox, Profile: p.Name}
			switch {
			case !isDir(p.Dir):
				t.Skip = "設定檔資料夾不存在 / the profile folder does not exist"
			case !hasDB(p.Dir) && (exists(filepath.Join(p.Dir, "cert8.db")) || exists(filepath.Join(p.Dir, "key3.db"))):
				// Firefox converts these old databases when it starts and
				// finds no cert9.db; creating one now would lose them.
				t.Skip = "設定檔仍是舊格式（cert8.db），請先以新版 Firefox 開啟一次 / the profile still has the old cert8.db format: open it once in a current Firefox first"
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// registerIn registers mods in the database of t.
func registerIn(o Options, t target, mods []module) ([]Change, error) {
	if t.Skip != "" {
		return []Change{{DB: t.Dir, Browser: t.Browser, Profile: t.Profile, Action: ActionSkip, Reason: t.Skip}}, nil
	}
	running := firefoxRunning(t)
	var changes []Change
	var es []entry
	if hasDB(t.Dir) {
		var err error
		if es, err = list(o, t.Dir); err != nil {
			return nil, err
		}
	} else {
		if !o.DryRun {
			if err := createDB(o, t.Dir); err != nil {
				return nil, err
			}
		}
		changes = append(changes, t.change(ActionCreateDB, "", "", running))
	}
	for _, m := range mods {
		action, name := plan(es, m)
		if !o.DryRun {
			if action == ActionReplace {
				if err := del(o, t.Dir, m.Name); err != nil {
					return changes, err
				}
			}
			if action == ActionAdd || action == ActionReplace {
				if err := add(o, t.Dir, m); err != nil {
					return changes, err
				}
			}
		}
		changes = append(changes, t.change(action, name, m.Path, running))
	}
	return changes, nil
}

// plan decides what to do about m in a database with the modules es,
// and returns the action and the module's name in the database.
func plan(es []entry, m module) (string, string) {
	for _, e := range es {
		if e.Name == m.Name {
			if e.Library == m.Path {
				return ActionUnchanged, m.Name
			}
			return ActionReplace, m.Name
		}
	}
	for _, e := range es {
		if e.Name == m.Name || !sameFile(e.Library, m.Path) {
			continue
		}
		if ours(e.Name) {
			// Ours under an older name (another --pkcs11 spelling).
			return ActionUnchanged, e.Name
		}
		return ActionPresent, e.Name
	}
	return ActionAdd, m.Name
}

// sameFile reports whether the module library lib (as written in the
// database) is the file real.
func sameFile(lib, real string) bool {
	if lib == "" || !filepath.IsAbs(lib) {
		return false // the internal module, or one found by the loader's search path
	}
	if lib == real {
		return true
	}
	r, err := filepath.EvalSymlinks(lib)
	return err == nil && r == real
}

func (t target) change(action, name, lib string, running bool) Change {
	return Change{DB: t.Dir, Browser: t.Browser, Profile: t.Profile, Action: action, Module: name, Library: lib, Running: running}
}

// list returns the modules of the database in dir.
func list(o Options, dir string) ([]entry, error) {
	out, err := o.Runner("modutil", "-rawlist", "-dbdir", "sql:"+dir)
	if err != nil {
		return nil, fmt.Errorf("讀取 NSS 資料庫 / reading the NSS database %s: %w", dir, err)
	}
	return parseRawlist(out), nil
}

// createDB creates an NSS database with an empty password in dir, as
// Chrome does on its first start, so that Chrome opens it without asking
// for a password. The folder is private to the user, as Chrome makes it.
func createDB(o Options, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("建立 NSS 資料庫 / creating the NSS database: %w", err)
	}
	if _, err := o.Runner("certutil", "-N", "-d", "sql:"+dir, "--empty-password"); err != nil {
		return fmt.Errorf("建立 NSS 資料庫 / creating the NSS database %s: %w", dir, err)
	}
	return nil
}

// add adds m to the database in dir. -force skips modutil's question
// whether the browser is closed, which would otherwise wait on standard
// input.
func add(o Options, dir string, m module) error {
	if _, err := o.Runner("modutil", "-dbdir", "sql:"+dir, "-add", m.Name, "-libfile", m.Path, "-force"); err != nil {
		return fmt.Errorf("加入模組 / adding %q to %s: %w", m.Name, dir, err)
	}
	return nil
}

// del deletes the module called name from the database in dir.
func del(o Options, dir, name string) error {
	if _, err := o.Runner("modutil", "-dbdir", "sql:"+dir, "-delete", name, "-force"); err != nil {
		return fmt.Errorf("移除模組 / deleting %q from %s: %w", name, dir, err)
	}
	return nil
}

// execTool is the default Runner: it runs the tool from PATH with no
// standard input and a time limit.
func execTool(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if errors.Is(err, exec.ErrNotFound) {
		return nil, fmt.Errorf("%w (%v)", ErrNoTools, err)
	}
	if err != nil {
		said := strings.TrimSpace(stderr.String() + "\n" + stdout.String())
		return stdout.Bytes(), fmt.Errorf("%w: %s %s: %v: %s", ErrTool, name, strings.Join(args, " "), err, said)
	}
	return stdout.Bytes(), nil
}

// hasDB reports whether dir holds an NSS sql database.
func hasDB(dir string) bool {
	return exists(filepath.Join(dir, "cert9.db")) || exists(filepath.Join(dir, "pkcs11.txt"))
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// firefoxRunning reports whether a live process holds the profile of t.
// Firefox on Linux marks an open profile with a symbolic link "lock" whose
// target is "IP:+PID" and removes it when it exits; after a crash the
// link stays, so the process is checked too.
func firefoxRunning(t target) bool {
	if t.Browser != BrowserFirefox {
		return false
	}
	link, err := os.Readlink(filepath.Join(t.Dir, "lock"))
	if err != nil {
		return false
	}
	i := strings.LastIndexAny(link, "+:")
	pid, err := strconv.Atoi(link[i+1:])
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// moduleName is our name for a module file: the vendor's name for the
// vendors we know, else the file's base name without its extension. It
// is stable across runs, so that Register finds its own module again.
func moduleName(vendor, path string) string {
	if vendor != "" {
		return Prefix + vendor
	}
	base := filepath.Base(path)
	low := strings.ToLower(base)
	switch {
	case strings.Contains(low, "hicos"):
		return Prefix + "HiCOS"
	case strings.HasPrefix(low, "opensc-pkcs11"):
		return Prefix + "OpenSC"
	}
	for _, ext := range []string{".so", ".dylib", ".dll"} {
		if i := strings.Index(low, ext); i > 0 {
			base = base[:i]
			break
		}
	}
	return Prefix + base
}

// ours reports whether a module of this name was added by Register.
func ours(name string) bool { return strings.HasPrefix(name, Prefix) }
