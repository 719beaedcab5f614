package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
)

// What a Change does (or, in a dry run, would do) to its path.
const (
	ActionWrite     = "write"     // created or replaced
	ActionUnchanged = "unchanged" // already has the wanted content
	ActionRemove    = "remove"    // removed by Uninstall
	ActionAbsent    = "absent"    // nothing there to remove
	ActionKept      = "kept"      // something there that is not ours: left alone
)

// Permissions of what Install writes.
const (
	dirPerm      fs.FileMode = 0o755
	manifestPerm fs.FileMode = 0o644
	binaryPerm   fs.FileMode = 0o755
)

// maxManifest caps how much of a file at a manifest path Uninstall reads
// to decide whether it is ours; our manifests are well under 1 KiB.
const maxManifest = 64 << 10

// Options says what to install or uninstall. The zero value of every field
// but Binary is useful.
type Options struct {
	// GOOS selects the layout: "linux" or "darwin". If empty, runtime.GOOS.
	GOOS string
	// Home is the user's absolute home directory. If empty,
	// os.UserHomeDir (that is, $HOME on Linux and macOS).
	Home string
	// Getenv reads XDG_CONFIG_HOME and XDG_DATA_HOME. If nil, os.Getenv.
	Getenv func(string) string
	// Binary is an absolute path to an executable regular file. With Copy
	// it is the file copied to BinaryPath, which the manifests then point
	// at; without Copy the manifests point at Binary itself.
	Binary string
	// Copy copies Binary to BinaryPath (the normal install).
	Copy bool
	// ExtensionIDs are the Chrome-family extension IDs the manifests allow:
	// the store IDs compiled into the build, and any the caller adds.
	ExtensionIDs []string
	// Dev also allows DevExtensionID. Its key is public, so only a
	// developer asks for it (install --dev); release installs never do.
	Dev bool
	// Browsers limits Install to these of "chromium", "chrome", "edge" and
	// "firefox". If empty, all four. Uninstall ignores it.
	Browsers []string
	// DryRun reports the changes without making them.
	DryRun bool
}

// Change is one file Install or Uninstall wrote, removed or left alone.
type Change struct {
	// Path is the absolute path of the file (or of the binary's directory,
	// which Uninstall removes when it is left empty).
	Path string
	// Action is one of the Action constants.
	Action string
	// Browser is the Target's browser, or "" for the binary and its
	// directory.
	Browser string
	// Content is the manifest Install wants at Path (written or already
	// there); nil for the binary and for Uninstall.
	Content []byte
}

// resolve fills in the defaults of o.
func (o Options) resolve() (Options, error) {
	if o.GOOS == "" {
		o.GOOS = runtime.GOOS
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Home == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return o, fmt.Errorf("install: %w", err)
		}
		o.Home = home
	}
	return o, nil
}

// step is a Change with the bytes and mode to write.
type step struct {
	Change
	data []byte
	perm fs.FileMode
}

// Install writes the per-user manifests, and with o.Copy the binary copy,
// creating directories as needed. It writes each file atomically (a
// temporary file in the same directory, then a rename) and only when its
// bytes differ, so a second run reports every file unchanged and writes
// nothing. The binary is written before the manifests that point at it.
// All options are checked before anything is written; after an I/O error
// some files may already have been written, and running Install again
// completes the job.
func Install(o Options) ([]Change, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	all, err := Targets(o.GOOS, o.Home, o.Getenv)
	if err != nil {
		return nil, err
	}
	targets, err := selectTargets(all, o.Browsers)
	if err != nil {
		return nil, err
	}
	var ids []string
	if o.Dev {
		ids = append(ids, DevExtensionID)
	}
	for _, id := range o.ExtensionIDs {
		if !ValidChromeID(id) {
			return nil, fmt.Errorf("%w: %q is not 32 letters a–p", ErrExtensionID, id)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if err := checkBinary(o.Binary); err != nil {
		return nil, err
	}
	if len(ids) == 0 && slices.ContainsFunc(targets, func(t Target) bool { return !t.Firefox }) {
		return nil, fmt.Errorf("%w: this build names no store extension ID for Chrome and Edge; give --extension-id, or --dev for the development extension", ErrNoExtensionID)
	}

	var steps []step
	binary := filepath.Clean(o.Binary)
	if o.Copy {
		binary = BinaryPath(o.GOOS, o.Home, o.Getenv)
		data, err := os.ReadFile(o.Binary)
		if err != nil {
			return nil, fmt.Errorf("install: %w", err)
		}
		s, err := plan(binary, "", data, binaryPerm, true)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
		// The document exchange's program goes with it when it is there
		// (cardbridge starts it for `cardbridge exchange`, from beside
		// itself).
		from := filepath.Join(filepath.Dir(o.Binary), ExchangeBinary)
		if checkBinary(from) == nil {
			data, err := os.ReadFile(from)
			if err != nil {
				return nil, fmt.Errorf("install: %w", err)
			}
			s, err := plan(filepath.Join(filepath.Dir(binary), ExchangeBinary), "", data, binaryPerm, true)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s)
		}
	}
	for _, t := range targets {
		allow := ids
		if t.Firefox {
			allow = []string{FirefoxAddonID}
		}
		content, err := ManifestFor(t, binary, allow)
		if err != nil {
			return nil, err
		}
		s, err := plan(t.Path(), t.Browser, content, manifestPerm, false)
		if err != nil {
			return nil, err
		}
		s.Content = content
		steps = append(steps, s)
	}

	changes := make([]Change, 0, len(steps))
	for _, s := range steps {
		changes = append(changes, s.Change)
	}
	if o.DryRun {
		return changes, nil
	}
	for _, s := range steps {
		if s.Action != ActionWrite {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(s.Path), dirPerm); err != nil {
			return nil, fmt.Errorf("install: %w", err)
		}
		if err := writeAtomic(s.Path, s.data, s.perm); err != nil {
			return nil, fmt.Errorf("install: %w", err)
		}
	}
	return changes, nil
}

// ExchangeBinary is the document exchange's program, installed beside the
// host's copy (Linux and macOS; Windows installs with the MSI).
const ExchangeBinary = "cardbridge-exchange"

// checkBinary requires path to be absolute and an executable regular file
// (after symbolic links).
func checkBinary(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%w: %q is not absolute", ErrBinary, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBinary, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%w: %s is not an executable file", ErrBinary, path)
	}
	return nil
}

// plan decides whether path needs data written: unchanged when a regular
// file (not a symbolic link) already holds exactly data, and for the binary
// (checkMode) also has mode perm.
func plan(path, browser string, data []byte, perm fs.FileMode, checkMode bool) (step, error) {
	s := step{Change: Change{Path: path, Action: ActionWrite, Browser: browser}, data: data, perm: perm}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return s, fmt.Errorf("install: %w", err)
	case fi.IsDir():
		return s, fmt.Errorf("install: %s is a directory", path)
	case !fi.Mode().IsRegular(), fi.Size() != int64(len(data)), checkMode && fi.Mode().Perm() != perm:
		return s, nil
	}
	have, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("install: %w", err)
	}
	if bytes.Equal(have, data) {
		s.Action = ActionUnchanged
	}
	return s, nil
}

// writeAtomic replaces path with data and mode perm through a temporary
// file in the same directory, so a reader sees the old file or the new one,
// never a part. A symbolic link at path is replaced, not followed.
func writeAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Uninstall removes the manifests Install writes, in every browser
// directory, and the binary copy at BinaryPath with its directory when
// nothing else is left in it. It removes a manifest only when it is a
// regular file whose "name" is HostName; anything else at that path is
// reported as kept and left alone. Running it again reports everything
// absent.
func Uninstall(o Options) ([]Change, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	targets, err := Targets(o.GOOS, o.Home, o.Getenv)
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, t := range targets {
		action, err := ours(t.Path())
		if err != nil {
			return nil, err
		}
		changes = append(changes, Change{Path: t.Path(), Action: action, Browser: t.Browser})
	}

	bin := BinaryPath(o.GOOS, o.Home, o.Getenv)
	dir := filepath.Dir(bin)
	ourFiles := []string{filepath.Base(bin), ExchangeBinary}
	kept := false
	for _, name := range ourFiles {
		path := filepath.Join(dir, name)
		action := ActionRemove
		switch fi, err := os.Lstat(path); {
		case errors.Is(err, fs.ErrNotExist):
			action = ActionAbsent
		case err != nil:
			return nil, fmt.Errorf("uninstall: %w", err)
		case fi.IsDir():
			action, kept = ActionKept, true
		}
		if name == ExchangeBinary && action == ActionAbsent {
			continue // installed by a version without it
		}
		changes = append(changes, Change{Path: path, Action: action})
	}
	switch entries, err := os.ReadDir(dir); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("uninstall: %w", err)
	case !kept && !slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return !slices.Contains(ourFiles, e.Name()) }):
		changes = append(changes, Change{Path: dir, Action: ActionRemove})
	}

	if o.DryRun {
		return changes, nil
	}
	for _, ch := range changes {
		if ch.Action != ActionRemove {
			continue
		}
		if err := os.Remove(ch.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("uninstall: %w", err)
		}
	}
	return changes, nil
}

// ours says what Uninstall does with path: remove it when it is a regular
// file holding a manifest named HostName, absent when there is nothing,
// kept otherwise. It never follows a symbolic link.
func ours(path string) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ActionAbsent, nil
	}
	if err != nil {
		return "", fmt.Errorf("uninstall: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return ActionKept, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("uninstall: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return "", fmt.Errorf("uninstall: %w", err)
	}
	var m struct {
		Name string `json:"name"`
	}
	if len(b) > maxManifest || json.Unmarshal(b, &m) != nil || m.Name != HostName {
		return ActionKept, nil
	}
	return ActionRemove, nil
}
