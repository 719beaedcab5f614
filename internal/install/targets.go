package install

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrUnsupportedOS reports an operating system without per-user installs.
var ErrUnsupportedOS = errors.New("install: per-user install supports Linux and macOS only")

// ErrBrowser reports a browser name Targets does not know.
var ErrBrowser = errors.New("install: unknown browser (want chromium, chrome, edge or firefox)")

// Target is one browser's per-user manifest directory.
type Target struct {
	// Browser is "chromium", "chrome", "edge" or "firefox".
	Browser string
	// Dir is the absolute directory the browser reads ManifestFile from.
	Dir string
	// Firefox selects the Firefox manifest (allowed_extensions) instead of
	// the Chrome-family one (allowed_origins).
	Firefox bool
}

// Path is the manifest's path in t.Dir.
func (t Target) Path() string { return filepath.Join(t.Dir, ManifestFile) }

// Targets returns the per-user manifest directories of Chromium, Google
// Chrome, Microsoft Edge and Firefox, in that order, for goos ("linux" or
// "darwin") and the absolute home directory home. On Linux the Chrome
// family honours an absolute $XDG_CONFIG_HOME, read through getenv (nil: no
// variables set). Windows and other systems give ErrUnsupportedOS.
func Targets(goos, home string, getenv func(string) string) ([]Target, error) {
	switch goos {
	case "linux", "darwin":
	case "windows":
		return nil, fmt.Errorf("%w; on Windows the MSI registers the host for every user (docs/install.md)", ErrUnsupportedOS)
	default:
		return nil, fmt.Errorf("%w, not %s", ErrUnsupportedOS, goos)
	}
	if !filepath.IsAbs(home) {
		return nil, fmt.Errorf("install: home directory %q is not absolute", home)
	}
	if goos == "darwin" {
		as := filepath.Join(home, "Library", "Application Support")
		return []Target{
			{Browser: "chromium", Dir: filepath.Join(as, "Chromium", "NativeMessagingHosts")},
			{Browser: "chrome", Dir: filepath.Join(as, "Google", "Chrome", "NativeMessagingHosts")},
			{Browser: "edge", Dir: filepath.Join(as, "Microsoft Edge", "NativeMessagingHosts")},
			{Browser: "firefox", Dir: filepath.Join(as, "Mozilla", "NativeMessagingHosts"), Firefox: true},
		}, nil
	}
	config := xdgDir(getenv, "XDG_CONFIG_HOME", home, ".config")
	return []Target{
		{Browser: "chromium", Dir: filepath.Join(config, "chromium", "NativeMessagingHosts")},
		{Browser: "chrome", Dir: filepath.Join(config, "google-chrome", "NativeMessagingHosts")},
		{Browser: "edge", Dir: filepath.Join(config, "microsoft-edge", "NativeMessagingHosts")},
		{Browser: "firefox", Dir: filepath.Join(home, ".mozilla", "native-messaging-hosts"), Firefox: true},
	}, nil
}

// BinaryPath returns where Install copies the host binary for goos and the
// absolute home directory home: on Linux $XDG_DATA_HOME/cardbridge/cardbridge
// (default ~/.local/share/cardbridge/cardbridge), on macOS
// ~/Library/Application Support/CardBridge/cardbridge. It returns "" for
// other systems or a relative home. getenv nil means no variables set.
func BinaryPath(goos, home string, getenv func(string) string) string {
	if !filepath.IsAbs(home) {
		return ""
	}
	switch goos {
	case "linux":
		return filepath.Join(xdgDir(getenv, "XDG_DATA_HOME", home, filepath.Join(".local", "share")), "cardbridge", "cardbridge")
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", "CardBridge", "cardbridge")
	}
	return ""
}

// xdgDir returns the XDG base directory variable name if it is set to an
// absolute path, else home/fallback. The specification says to ignore
// relative values.
func xdgDir(getenv func(string) string, name, home, fallback string) string {
	if getenv != nil {
		if v := getenv(name); filepath.IsAbs(v) {
			return filepath.Clean(v)
		}
	}
	return filepath.Join(home, fallback)
}

// selectTargets keeps the targets named in browsers, in Targets order;
// empty browsers keeps all.
func selectTargets(all []Target, browsers []string) ([]Target, error) {
	if len(browsers) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, b := range browsers {
		found := false
		for _, t := range all {
			found = found || t.Browser == b
		}
		if !found {
			return nil, fmt.Errorf("%w: %q", ErrBrowser, b)
		}
		want[b] = true
	}
	var out []Target
	for _, t := range all {
		if want[t.Browser] {
			out = append(out, t)
		}
	}
	return out, nil
}
