package p11

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/cardbridge/cardbridge/internal/cards"
)

// Found is a PKCS#11 module at a place where its vendor installs it.
type Found struct {
	// Path is the module file (absolute; not yet checked by New).
	Path string
	// Vendor names the software it belongs to: "HiCOS" (Chunghwa Telecom's
	// client, which every Taiwanese government card needs to sign) or
	// "OpenSC".
	Vendor string
	// Fallback is true for OpenSC: it is asked only about cards CardBridge
	// cannot read itself (cards.Options.Fallback), so a PIV card keeps its
	// direct, faster path and OpenSC is not loaded at all while every card
	// is known.
	Fallback bool
}

// Known lists, in the order they are tried, where the HiCOS client and
// OpenSC install their PKCS#11 modules on goos; getenv reads the
// environment (Windows folders). The first existing HiCOS module is used;
// the others are duplicates of it (32- and 64-bit copies, older names).
//
// Sources (public):
//   - Windows: the HiCOS PKI Smart Card client puts HiCOSPKCS11.dll in the
//     system folder, where programs load it by name; Java samples for MOICA
//     cards configure "library=%WINDIR%\system32\HiCOSPKCS11.dll", and
//     github.com/mctea01/hicos-p11-proxy (hip11.c) loads "HiCOSPKCS11.dll" by
//     name from the same place.
//   - macOS: CHT's HiPKI Local Sign Server package ships libHicos_p11v1.dylib
//     in ~/Library/HiPKILocalSignServer, and github.com/AtkinsChang/
//     homebrew-roc-tax-filing (Formula/roctaxfiling.rb) installs the same
//     file into Homebrew's lib folder; Taiwanese banks' signing pages load
//     it from /Library/FBTokenLib.
//   - Linux: the module's name libHicos_p11.so is known, its install folder
//     is not published; the standard library folders are searched.
//   - OpenSC: the locations its packages install to (Debian multiarch,
//     /usr/lib, the macOS package, the Windows MSI), per
//     https://github.com/OpenSC/OpenSC/wiki.
func Known(goos string, getenv func(string) string) []Found {
	var hicos, opensc []string
	switch goos {
	case "windows":
		win := getenv("SystemRoot")
		if win == "" {
			win = getenv("WINDIR")
		}
		if win == "" {
			win = `C:\Windows`
		}
		hicos = []string{win + `\System32\HiCOSPKCS11.dll`}
		pf := getenv("ProgramFiles")
		if pf == "" {
			pf = `C:\Program Files`
		}
		opensc = []string{pf + `\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll`}
	case "darwin":
		hicos = []string{"/Library/FBTokenLib/libHicos_p11v1.dylib", "/usr/local/lib/libHicos_p11v1.dylib", "/opt/homebrew/lib/libHicos_p11v1.dylib"}
		if home := getenv("HOME"); home != "" {
			hicos = append(hicos, home+"/Library/HiPKILocalSignServer/libHicos_p11v1.dylib")
		}
		opensc = []string{"/Library/OpenSC/lib/opensc-pkcs11.so", "/usr/local/lib/opensc-pkcs11.so", "/opt/homebrew/lib/opensc-pkcs11.so"}
	default:
		for _, d := range linuxLibDirs() {
			hicos = append(hicos, d+"/libHicos_p11.so")
		}
		for _, d := range linuxLibDirs() {
			opensc = append(opensc, d+"/opensc-pkcs11.so")
		}
	}
	var out []Found
	for _, p := range hicos {
		out = append(out, Found{Path: p, Vendor: "HiCOS"})
	}
	for _, p := range opensc {
		out = append(out, Found{Path: p, Vendor: "OpenSC", Fallback: true})
	}
	return out
}

// linuxLibDirs are the folders Debian, Fedora and hand installs put shared
// libraries in, most specific first.
func linuxLibDirs() []string {
	multiarch := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "386": "i386-linux-gnu"}[runtime.GOARCH]
	dirs := []string{}
	if multiarch != "" {
		dirs = append(dirs, "/usr/lib/"+multiarch)
	}
	return append(dirs, "/usr/lib64", "/usr/lib", "/usr/local/lib")
}

// Discover returns the installed modules of Known for this system: at most
// one per vendor (the first that exists and that New would accept), HiCOS
// before OpenSC.
func Discover() []Found { return discoverLogged(nil) }

func discoverLogged(log *slog.Logger) []Found {
	return discover(Known(runtime.GOOS, os.Getenv), usable(log))
}

// usable reports a module file that exists and passes CheckPath. One that
// CheckPath refuses is logged and the vendor's next location is tried: a
// file someone else may write at an earlier location (a shared Homebrew
// prefix) must neither be loaded nor hide the vendor's own module.
func usable(log *slog.Logger) func(string) bool {
	return func(p string) bool {
		if !exists(p) {
			return false
		}
		if _, err := CheckPath(p); err != nil {
			if log != nil {
				log.Warn("PKCS#11 module not used", "module", p, "err", err)
			}
			return false
		}
		return true
	}
}

func discover(known []Found, exists func(string) bool) []Found {
	var out []Found
	seen := map[string]bool{}
	for _, f := range known {
		if seen[f.Vendor] || !exists(f.Path) {
			continue
		}
		seen[f.Vendor] = true
		out = append(out, f)
	}
	return out
}

func exists(p string) bool {
	fi, err := os.Stat(filepath.Clean(p))
	return err == nil && fi.Mode().IsRegular()
}

// Setup says how the host and the command line reach cards.
type Setup struct {
	// Modules are the configured modules (pkcs11Modules, --pkcs11).
	Modules []string
	// ModulesOnly reaches cards through PKCS#11 modules only, never
	// directly (configuration modulesOnly): for computers where the
	// vendor's module must own the card.
	ModulesOnly bool
	// NoDiscovery skips the vendors' install locations (configuration
	// noModuleDiscovery).
	NoDiscovery bool
	// VirtualReader is the configured virtual TEST card, if any.
	VirtualReader string
	// Log receives why a module was left out.
	Log *slog.Logger
	// found replaces Discover (tests).
	found func() []Found
}

// Options builds the card manager's options from s: the direct backends
// (PC/SC, the virtual reader) unless ModulesOnly; then the configured
// modules; then the HiCOS module where the vendor installs it; and
// OpenSC's module as a fallback for cards nothing else reads. A module
// found at a vendor location but also configured is used once.
func (s Setup) Options() cards.Options {
	o := cards.Options{VirtualReader: s.VirtualReader, Log: s.Log}
	if s.ModulesOnly {
		o.Backends = []cards.Backend{}
	}
	modules := slices.Clone(s.Modules)
	var fallback []string
	if !s.NoDiscovery {
		found := func() []Found { return discoverLogged(s.Log) }
		if s.found != nil {
			found = s.found
		}
		for _, f := range found() {
			switch {
			case slices.Contains(modules, f.Path):
			case f.Fallback && !s.ModulesOnly:
				fallback = append(fallback, f.Path)
			default:
				modules = append(modules, f.Path)
			}
		}
	}
	o.Extra = Backends(modules, s.Log)
	if s.ModulesOnly && len(o.Extra) == 0 {
		o.Extra = []cards.Backend{}
	}
	for _, p := range fallback {
		o.Fallback = append(o.Fallback, NewFallback(p, Options{Log: s.Log}))
	}
	return o
}
