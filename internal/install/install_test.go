package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// fakeBinary returns an executable file outside any home directory.
func fakeBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cardbridge-build")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// files lists every file and directory under root, relative, sorted.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func actions(changes []Change) map[string]string {
	m := map[string]string{}
	for _, c := range changes {
		m[c.Path] = c.Action
	}
	return m
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func skipWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("per-user install is for Linux and macOS")
	}
}

// Install writes four manifests and the binary copy; a second run changes
// nothing, not even a modification time.
func TestInstallCopyIdempotent(t *testing.T) {
	skipWindows(t)
	for _, goos := range []string{"linux", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			home := t.TempDir()
			src := fakeBinary(t)
			o := Options{Dev: true, GOOS: goos, Home: home, Getenv: envOf(nil), Binary: src, Copy: true}
			changes, err := Install(o)
			if err != nil {
				t.Fatalf("Install() = %v", err)
			}
			bin := BinaryPath(goos, home, nil)
			targets, _ := Targets(goos, home, nil)
			want := map[string]string{bin: ActionWrite}
			for _, tg := range targets {
				want[tg.Path()] = ActionWrite
			}
			if got := actions(changes); !mapsEqual(got, want) {
				t.Fatalf("Install() actions = %v, want %v", got, want)
			}
			if changes[0].Path != bin {
				t.Errorf("Install() wrote %s first, want the binary %s first", changes[0].Path, bin)
			}

			srcData, _ := os.ReadFile(src)
			if got, err := os.ReadFile(bin); err != nil || !bytes.Equal(got, srcData) {
				t.Errorf("binary copy = %q, %v; want %q", got, err, srcData)
			}
			if fi, err := os.Stat(bin); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("binary copy mode = %v, %v; want 0755", fi.Mode(), err)
			}
			for _, tg := range targets {
				m := readManifest(t, tg.Path())
				if m.Name != HostName || m.Path != bin || m.Type != "stdio" {
					t.Errorf("%s manifest = %+v, want name %s, path %s, type stdio", tg.Browser, m, HostName, bin)
				}
				if fi, err := os.Stat(tg.Path()); err != nil || fi.Mode().Perm() != 0o644 {
					t.Errorf("%s manifest mode = %v, %v; want 0644", tg.Browser, fi.Mode(), err)
				}
			}
			// Nothing else: no temporary files left, nothing outside the
			// four directories and the binary's.
			var expect []string
			for path := range want {
				for p := path; p != home; p = filepath.Dir(p) {
					rel, _ := filepath.Rel(home, p)
					if !slices.Contains(expect, filepath.ToSlash(rel)) {
						expect = append(expect, filepath.ToSlash(rel))
					}
				}
			}
			slices.Sort(expect)
			if got := files(t, home); !slices.Equal(got, expect) {
				t.Errorf("Install() left\n%q\nwant\n%q", got, expect)
			}

			// Age every file so that a rewrite, even within the same
			// second, shows up as a new modification time.
			old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			for path := range want {
				if err := os.Chtimes(path, old, old); err != nil {
					t.Fatal(err)
				}
			}
			before := files(t, home)
			changes, err = Install(o)
			if err != nil {
				t.Fatalf("second Install() = %v", err)
			}
			for _, c := range changes {
				if c.Action != ActionUnchanged {
					t.Errorf("second Install() %s = %s, want unchanged", c.Path, c.Action)
				}
				fi, err := os.Stat(c.Path)
				if err != nil || !fi.ModTime().Equal(old) {
					t.Errorf("second Install() touched %s (mtime %v, %v)", c.Path, fi.ModTime(), err)
				}
			}
			if after := files(t, home); !slices.Equal(before, after) {
				t.Errorf("second Install() left files %v, want %v", after, before)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestInstallDryRun(t *testing.T) {
	skipWindows(t)
	home := t.TempDir()
	changes, err := Install(Options{Dev: true, GOOS: "linux", Home: home, Getenv: envOf(nil), Binary: fakeBinary(t), Copy: true, DryRun: true})
	if err != nil {
		t.Fatalf("Install(DryRun) = %v", err)
	}
	if len(changes) != 5 {
		t.Errorf("Install(DryRun) = %d changes, want 5", len(changes))
	}
	for _, c := range changes {
		if c.Action != ActionWrite {
			t.Errorf("Install(DryRun) %s = %s, want write", c.Path, c.Action)
		}
		if c.Browser != "" && !json.Valid(c.Content) {
			t.Errorf("Install(DryRun) %s content is not a manifest: %q", c.Path, c.Content)
		}
	}
	if got := files(t, home); len(got) != 0 {
		t.Errorf("Install(DryRun) wrote %v", got)
	}
}

// --binary: the manifests point at the given file and nothing is copied.
func TestInstallBinaryInPlace(t *testing.T) {
	skipWindows(t)
	home := t.TempDir()
	bin := fakeBinary(t)
	changes, err := Install(Options{Dev: true, GOOS: "linux", Home: home, Getenv: envOf(nil), Binary: bin})
	if err != nil {
		t.Fatalf("Install() = %v", err)
	}
	if len(changes) != 4 {
		t.Errorf("Install() = %d changes, want 4 manifests", len(changes))
	}
	for _, c := range changes {
		if m := readManifest(t, c.Path); m.Path != bin {
			t.Errorf("%s path = %q, want %q", c.Path, m.Path, bin)
		}
	}
	if _, err := os.Stat(BinaryPath("linux", home, nil)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Install without Copy created the binary copy (%v)", err)
	}
}

func TestInstallExtensionIDs(t *testing.T) {
	skipWindows(t)
	home := t.TempDir()
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	_, err := Install(Options{Dev: true, GOOS: "linux", Home: home, Getenv: envOf(nil), Binary: fakeBinary(t),
		ExtensionIDs: []string{a, DevExtensionID, b, a}, Browsers: []string{"edge", "firefox"}})
	if err != nil {
		t.Fatalf("Install() = %v", err)
	}
	targets, _ := Targets("linux", home, nil)
	for _, tg := range targets {
		_, err := os.Stat(tg.Path())
		switch tg.Browser {
		case "edge":
			m := readManifest(t, tg.Path())
			want := []string{"chrome-extension://" + DevExtensionID + "/", "chrome-extension://" + a + "/", "chrome-extension://" + b + "/"}
			if !slices.Equal(m.AllowedOrigins, want) || m.AllowedExtensions != nil {
				t.Errorf("edge manifest allows %q and %q, want %q only", m.AllowedOrigins, m.AllowedExtensions, want)
			}
		case "firefox":
			m := readManifest(t, tg.Path())
			if !slices.Equal(m.AllowedExtensions, []string{FirefoxAddonID}) || m.AllowedOrigins != nil {
				t.Errorf("firefox manifest allows %q and %q, want %q only", m.AllowedExtensions, m.AllowedOrigins, FirefoxAddonID)
			}
		default:
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("--browser edge,firefox wrote %s (%v)", tg.Path(), err)
			}
		}
	}
}

// A stale manifest of ours is rewritten; a symbolic link at our path is
// replaced, even when what it points at has the wanted content, and what
// it pointed at is not written through.
func TestInstallReplaces(t *testing.T) {
	skipWindows(t)
	home := t.TempDir()
	bin := fakeBinary(t)
	targets, _ := Targets("linux", home, nil)
	chromium, chrome, edge := targets[0], targets[1], targets[2]
	for _, tg := range targets[:3] {
		if err := os.MkdirAll(tg.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stale := []byte(`{"name":"tw.cardbridge.host","path":"/old/cardbridge","type":"stdio","allowed_origins":[]}`)
	if err := os.WriteFile(chromium.Path(), stale, 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "precious.json")
	if err := os.WriteFile(elsewhere, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, chrome.Path()); err != nil {
		t.Fatal(err)
	}

	same, err := ManifestFor(edge, bin, []string{DevExtensionID})
	if err != nil {
		t.Fatal(err)
	}
	sameElsewhere := filepath.Join(t.TempDir(), "same.json")
	if err := os.WriteFile(sameElsewhere, same, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sameElsewhere, edge.Path()); err != nil {
		t.Fatal(err)
	}

	changes, err := Install(Options{Dev: true, GOOS: "linux", Home: home, Getenv: envOf(nil), Binary: bin, Browsers: []string{"chromium", "chrome", "edge"}})
	if err != nil {
		t.Fatalf("Install() = %v", err)
	}
	for _, c := range changes {
		if c.Action != ActionWrite {
			t.Errorf("Install() %s = %s, want write", c.Path, c.Action)
		}
		got, _ := os.ReadFile(c.Path)
		if !bytes.Equal(got, c.Content) {
			t.Errorf("%s = %s, want %s", c.Path, got, c.Content)
		}
		if fi, err := os.Lstat(c.Path); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s is not a regular file after Install (%v)", c.Path, err)
		}
	}
	if got, _ := os.ReadFile(elsewhere); string(got) != "precious" {
		t.Errorf("Install() wrote through a symbolic link: %q", got)
	}
	if m := readManifest(t, chromium.Path()); m.Path != bin {
		t.Errorf("rewritten manifest path = %q, want %q", m.Path, bin)
	}
}

func TestInstallErrors(t *testing.T) {
	skipWindows(t)
	bin := fakeBinary(t)
	notExec := filepath.Join(t.TempDir(), "cardbridge")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    Options
		want error
	}{
		{"relative binary", Options{Binary: "cardbridge"}, ErrBinary},
		{"relative binary with copy", Options{Binary: "./cardbridge", Copy: true}, ErrBinary},
		{"no binary", Options{}, ErrBinary},
		{"missing binary", Options{Binary: bin + ".missing"}, ErrBinary},
		{"not executable", Options{Binary: notExec}, ErrBinary},
		{"directory", Options{Binary: filepath.Dir(bin)}, ErrBinary},
		{"invalid extension id", Options{Binary: bin, ExtensionIDs: []string{"abc"}}, ErrExtensionID},
		{"uppercase extension id", Options{Binary: bin, ExtensionIDs: []string{"FNELGDAOLEBAHILEGLGCKDCHFGCENIPO"}}, ErrExtensionID},
		{"unknown browser", Options{Binary: bin, Browsers: []string{"opera"}}, ErrBrowser},
		{"windows", Options{GOOS: "windows", Binary: bin}, ErrUnsupportedOS},
		// A release build without store IDs, or a development build without
		// --dev, has no extension to allow for Chrome and Edge.
		{"no extension id", Options{Binary: bin}, ErrNoExtensionID},
		{"no extension id for edge", Options{Binary: bin, Browsers: []string{"edge"}}, ErrNoExtensionID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			o := tc.o
			o.Home, o.Getenv = home, envOf(nil)
			if o.GOOS == "" {
				o.GOOS = "linux"
			}
			if _, err := Install(o); !errors.Is(err, tc.want) {
				t.Errorf("Install(%s) = %v, want %v", tc.name, err, tc.want)
			}
			if got := files(t, home); len(got) != 0 {
				t.Errorf("Install(%s) wrote %v", tc.name, got)
			}
		})
	}
	if _, err := Uninstall(Options{GOOS: "windows", Home: t.TempDir()}); !errors.Is(err, ErrUnsupportedOS) {
		t.Errorf("Uninstall(windows) = %v, want %v", err, ErrUnsupportedOS)
	}
}

// Uninstall removes our manifests and the binary copy, and leaves other
// programs' manifests alone, even one at our file name.
func TestUninstall(t *testing.T) {
	skipWindows(t)
	home := t.TempDir()
	o := Options{Dev: true, GOOS: "linux", Home: home, Getenv: envOf(nil), Binary: fakeBinary(t), Copy: true}
	if _, err := Install(o); err != nil {
		t.Fatalf("Install() = %v", err)
	}
	targets, _ := Targets("linux", home, nil)
	chromium, chrome := targets[0], targets[1]
	foreign := filepath.Join(chromium.Dir, "com.example.other.json")
	foreignBody := []byte(`{"name":"com.example.other","path":"/usr/bin/other","type":"stdio"}`)
	if err := os.WriteFile(foreign, foreignBody, 0o644); err != nil {
		t.Fatal(err)
	}
	squatter := []byte(`{"name":"com.example.squatter","path":"/usr/bin/other","type":"stdio"}`)
	if err := os.WriteFile(chrome.Path(), squatter, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := BinaryPath("linux", home, nil)
	want := map[string]string{
		targets[0].Path(): ActionRemove,
		targets[1].Path(): ActionKept,
		targets[2].Path(): ActionRemove,
		targets[3].Path(): ActionRemove,
		bin:               ActionRemove,
		filepath.Dir(bin): ActionRemove,
	}

	before := files(t, home)
	changes, err := Uninstall(Options{GOOS: "linux", Home: home, Getenv: envOf(nil), DryRun: true})
	if err != nil {
		t.Fatalf("Uninstall(DryRun) = %v", err)
	}
	if got := actions(changes); !mapsEqual(got, want) {
		t.Errorf("Uninstall(DryRun) = %v, want %v", got, want)
	}
	if after := files(t, home); !slices.Equal(before, after) {
		t.Errorf("Uninstall(DryRun) changed files: %v, want %v", after, before)
	}

	changes, err = Uninstall(Options{GOOS: "linux", Home: home, Getenv: envOf(nil)})
	if err != nil {
		t.Fatalf("Uninstall() = %v", err)
	}
	if got := actions(changes); !mapsEqual(got, want) {
		t.Errorf("Uninstall() = %v, want %v", got, want)
	}
	for path, action := range want {
		_, err := os.Lstat(path)
		if gone := errors.Is(err, fs.ErrNotExist); gone != (action == ActionRemove) {
			t.Errorf("after Uninstall() %s: %v, want %s", path, err, action)
		}
	}
	for path, body := range map[string][]byte{foreign: foreignBody, chrome.Path(): squatter} {
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, body) {
			t.Errorf("Uninstall() touched %s: %q, %v", path, got, err)
		}
	}

	changes, err = Uninstall(Options{GOOS: "linux", Home: home, Getenv: envOf(nil)})
	if err != nil {
		t.Fatalf("second Uninstall() = %v", err)
	}
	for _, c := range changes {
		if c.Action == ActionRemove {
			t.Errorf("second Uninstall() removes %s", c.Path)
		}
	}
}

// The binary's directory stays when something else is in it, and a
// symbolic link at a manifest path is not followed.
func TestUninstallKeeps(t *testing.T) {
	skipWindows(t)
	home := t.TempDir()
	if _, err := Install(Options{Dev: true, GOOS: "linux", Home: home, Getenv: envOf(nil), Binary: fakeBinary(t), Copy: true}); err != nil {
		t.Fatalf("Install() = %v", err)
	}
	bin := BinaryPath("linux", home, nil)
	notes := filepath.Join(filepath.Dir(bin), "notes.txt")
	if err := os.WriteFile(notes, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	targets, _ := Targets("linux", home, nil)
	firefox := targets[3]
	elsewhere := filepath.Join(t.TempDir(), "tw.cardbridge.host.json")
	if err := os.Rename(firefox.Path(), elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, firefox.Path()); err != nil {
		t.Fatal(err)
	}
	changes, err := Uninstall(Options{GOOS: "linux", Home: home, Getenv: envOf(nil)})
	if err != nil {
		t.Fatalf("Uninstall() = %v", err)
	}
	got := actions(changes)
	if got[firefox.Path()] != ActionKept || got[bin] != ActionRemove {
		t.Errorf("Uninstall() = %v, want the link kept and the binary removed", got)
	}
	if _, ok := got[filepath.Dir(bin)]; ok {
		t.Errorf("Uninstall() removes %s, which still holds notes.txt", filepath.Dir(bin))
	}
	for _, p := range []string{notes, elsewhere, firefox.Path()} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("Uninstall() removed %s: %v", p, err)
		}
	}
}

// The document exchange's program beside cardbridge is copied with it and
// removed with it; the folder goes when nothing else is in it.
func TestInstallCopiesTheExchangeProgram(t *testing.T) {
	skipWindows(t)
	home := t.TempDir()
	src := fakeBinary(t)
	exchange := filepath.Join(filepath.Dir(src), ExchangeBinary)
	if err := os.WriteFile(exchange, []byte("#!/bin/sh\necho exchange\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := Options{Dev: true, GOOS: "linux", Home: home, Getenv: envOf(nil), Binary: src, Copy: true}
	changes, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	bin := BinaryPath("linux", home, nil)
	copied := filepath.Join(filepath.Dir(bin), ExchangeBinary)
	if got := actions(changes)[copied]; got != ActionWrite {
		t.Fatalf("the exchange program: %q, want %q (%v)", got, ActionWrite, changes)
	}
	if b, err := os.ReadFile(copied); err != nil || string(b) != "#!/bin/sh\necho exchange\n" {
		t.Fatalf("copied exchange program %q, %v", b, err)
	}
	if changes, err = Install(o); err != nil || actions(changes)[copied] != ActionUnchanged {
		t.Errorf("second install: %v, %v", changes, err)
	}
	changes, err = Uninstall(Options{GOOS: "linux", Home: home, Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	a := actions(changes)
	if a[copied] != ActionRemove || a[bin] != ActionRemove || a[filepath.Dir(bin)] != ActionRemove {
		t.Errorf("uninstall: %v", changes)
	}
	if _, err := os.Stat(filepath.Dir(bin)); !os.IsNotExist(err) {
		t.Errorf("the program folder is left: %v", err)
	}
}
