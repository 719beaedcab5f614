// Package config owns CardBridge's settings: a system-wide file an
// administrator (or an installer) writes, and a per-user file, both JSON.
// It reads and checks them; it does not act on them, and it never writes
// them (people and installers do).
//
// Lists from both files are merged (an administrator's pre-approved
// origins cannot be removed by a user); a scalar set in the user file wins
// over the system one. Settings that give a web page more power
// (rawSignOrigins, decryptOrigins, allowLoopbackOrigins, legacySites) are the
// administrator's alone: they are read from the system file only. The
// system file itself is honoured only when an administrator owns it and
// nobody else may write it (trust_unix.go, trust_windows.go): on Windows
// a standard user can create %ProgramData%\CardBridge, and a file they
// wrote must not approve origins for every user of the computer.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/cardbridge/cardbridge/internal/install"
	"github.com/cardbridge/cardbridge/internal/origin"
)

// MaxFileSize caps a configuration file; real ones are a few hundred bytes.
const MaxFileSize = 64 << 10

// Config is the effective configuration.
type Config struct {
	// ApprovedOrigins are sites allowed to read certificates without the
	// extension asking the user first (a school district pre-approves its
	// document-exchange and CA sites). Each must pass origin.Check.
	ApprovedOrigins []string `json:"approvedOrigins,omitempty"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `json:"logLevel,omitempty"`
	// LogFile, when set, receives the host's log as well as the browser's
	// stderr. An absolute path.
	LogFile string `json:"logFile,omitempty"`
	// VirtualReader is a loopback host:port where a virtual card listens
	// (cardbridge-softcard serve --listen). When set, the host offers that
	// card as one more reader, which is how the demo runs on a computer
	// without a smart-card service.
	VirtualReader string `json:"virtualReader,omitempty"`
	// AllowedExtensions adds browser extension IDs (Chrome-family IDs of 32
	// letters a–p, or Firefox add-on IDs) that may start the host, beyond
	// the built-in CardBridge ones.
	AllowedExtensions []string `json:"allowedExtensions,omitempty"`
	// PKCS11Modules are vendor PKCS#11 modules (absolute paths) to reach
	// cards through, beside CardBridge's own PIV: the HiCOS module for
	// Taiwan's XCA, MOICA, MOEACA and GCA cards. A module that is missing,
	// not a module, or writable by others is refused with a log line.
	PKCS11Modules []string `json:"pkcs11Modules,omitempty"`
	// ModulesOnly reaches cards through PKCS#11 modules only (configured
	// and found at the vendors' install locations), never directly.
	ModulesOnly bool `json:"modulesOnly,omitempty"`
	// NoModuleDiscovery skips the vendors' install locations: only
	// pkcs11Modules are loaded.
	NoModuleDiscovery bool `json:"noModuleDiscovery,omitempty"`

	// The administrator's settings, honoured from the system file only.

	// RawSignOrigins are sites that may ask for raw signatures (a digest
	// or data signed without CMS and without the origin binding): the
	// government pages that expect the HiPKI component. Any other page
	// gets CMS signatures that name its origin, so that nothing it obtains
	// can answer another site's login or TLS handshake.
	RawSignOrigins []string `json:"rawSignOrigins,omitempty"`
	// DecryptOrigins are sites that may ask the card to decrypt. Without
	// it a page that the clerk allowed once could decrypt anything
	// addressed to the clerk's encryption certificate.
	DecryptOrigins []string `json:"decryptOrigins,omitempty"`
	// AllowLoopbackOrigins lets http://localhost pages use the card in a
	// release build (development builds always do).
	AllowLoopbackOrigins bool `json:"allowLoopbackOrigins,omitempty"`
	// LegacySites are sites, beyond the built-in government ones
	// (https://*.gov.tw), whose pages speak HiPKI's local-server protocol
	// and get it answered (internal/hipki): raw signatures and decryption
	// as the page asks, the PIN always in CardBridge's window.
	LegacySites []string `json:"legacySites,omitempty"`
	// NoBuiltinLegacySites turns the built-in government sites
	// (https://*.gov.tw) off: only LegacySites speak HiPKI's protocol.
	// For districts that would rather list each site that may ask for a
	// raw signature or a decryption than trust every gov.tw host.
	NoBuiltinLegacySites bool `json:"noBuiltinLegacySites,omitempty"`
}

// adminOnly clears the administrator's settings from c and reports which
// were set.
func (c *Config) adminOnly() []string {
	var set []string
	if c.RawSignOrigins != nil {
		set = append(set, "rawSignOrigins")
	}
	if c.DecryptOrigins != nil {
		set = append(set, "decryptOrigins")
	}
	if c.AllowLoopbackOrigins {
		set = append(set, "allowLoopbackOrigins")
	}
	if c.LegacySites != nil {
		set = append(set, "legacySites")
	}
	if c.NoBuiltinLegacySites {
		set = append(set, "noBuiltinLegacySites")
	}
	c.RawSignOrigins, c.DecryptOrigins, c.AllowLoopbackOrigins, c.LegacySites, c.NoBuiltinLegacySites = nil, nil, false, nil, false
	return set
}

// Paths are the files Load reads.
type Paths struct {
	System, User string
	// SystemByUser also accepts a system file the current user owns
	// (development builds with CARDBRIDGE_SYSTEM_CONFIG, for tests); it is
	// still refused when others may write it.
	SystemByUser bool
	// Registry also reads HKLM\SOFTWARE\Policies\CardBridge (Windows:
	// what the MSI's APPROVEDORIGINS or Group Policy set), as part of the
	// system configuration.
	Registry bool
}

// DefaultPaths returns the system and user file locations. The
// CARDBRIDGE_CONFIG environment variable replaces the user file (tests,
// portable setups).
func DefaultPaths() Paths {
	var p Paths
	switch runtime.GOOS {
	case "windows":
		if pd := os.Getenv("ProgramData"); pd != "" {
			p.System = filepath.Join(pd, "CardBridge", "config.json")
		}
		p.Registry = true
	case "darwin":
		p.System = "/Library/Application Support/CardBridge/config.json"
	default:
		p.System = "/etc/cardbridge/config.json"
	}
	if dir, err := os.UserConfigDir(); err == nil {
		p.User = filepath.Join(dir, "cardbridge", "config.json")
	}
	if env := os.Getenv("CARDBRIDGE_CONFIG"); env != "" {
		p.User = env
	}
	return p
}

// Load reads both files; a missing file is no error. A file that exists
// but is invalid makes Load return the rest of the configuration together
// with an error naming the file, so the host still runs and logs why.
func Load(p Paths) (Config, error) {
	var out Config
	var errs []error
	if p.Registry {
		c, err := registryConfig()
		if err != nil {
			errs = append(errs, err)
		}
		out.merge(c)
	}
	for _, path := range []string{p.System, p.User} {
		if path == "" {
			continue
		}
		if path == p.System {
			if err := checkSystemFile(path, p.SystemByUser); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, fmt.Errorf("config %s ignored: %w", path, err))
				}
				continue
			}
		}
		c, err := readFile(path)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if path != p.System {
			if set := c.adminOnly(); len(set) > 0 {
				errs = append(errs, fmt.Errorf("config %s: %s ignored: only the system configuration may set them", path, strings.Join(set, ", ")))
			}
		}
		out.merge(c)
	}
	return out, errors.Join(errs...)
}

func (c *Config) merge(o Config) {
	c.ApprovedOrigins = appendNew(c.ApprovedOrigins, o.ApprovedOrigins)
	c.PKCS11Modules = appendNew(c.PKCS11Modules, o.PKCS11Modules)
	c.AllowedExtensions = appendNew(c.AllowedExtensions, o.AllowedExtensions)
	if o.LogLevel != "" {
		c.LogLevel = o.LogLevel
	}
	if o.LogFile != "" {
		c.LogFile = o.LogFile
	}
	if o.VirtualReader != "" {
		c.VirtualReader = o.VirtualReader
	}
	c.ModulesOnly = c.ModulesOnly || o.ModulesOnly
	c.NoModuleDiscovery = c.NoModuleDiscovery || o.NoModuleDiscovery
	c.RawSignOrigins = appendNew(c.RawSignOrigins, o.RawSignOrigins)
	c.DecryptOrigins = appendNew(c.DecryptOrigins, o.DecryptOrigins)
	c.AllowLoopbackOrigins = c.AllowLoopbackOrigins || o.AllowLoopbackOrigins
	c.LegacySites = appendNew(c.LegacySites, o.LegacySites)
	c.NoBuiltinLegacySites = c.NoBuiltinLegacySites || o.NoBuiltinLegacySites
}

// appendNew appends the items of add that list lacks.
func appendNew(list, add []string) []string {
	for _, s := range add {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

func readFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	data := make([]byte, MaxFileSize+1)
	n, _ := io.ReadFull(f, data)
	if n > MaxFileSize {
		return Config{}, fmt.Errorf("config %s: larger than %d bytes", path, MaxFileSize)
	}
	c, err := Parse(data[:n])
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and checks one file's JSON strictly: unknown keys are
// refused, so a misspelt setting is reported instead of silently ignored.
func Parse(data []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("invalid JSON: data after the object")
	}
	return c, c.Check()
}

// Check validates every setting.
func (c Config) Check() error {
	var errs []error
	for key, list := range map[string][]string{"approvedOrigins": c.ApprovedOrigins, "rawSignOrigins": c.RawSignOrigins, "decryptOrigins": c.DecryptOrigins, "legacySites": c.LegacySites} {
		for _, o := range list {
			if err := origin.Check(o); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not an origin such as https://edoc.example.gov.tw: %w", key, o, err))
			}
		}
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("logLevel: %q is not debug, info, warn or error", c.LogLevel))
	}
	for _, m := range c.PKCS11Modules {
		if !filepath.IsAbs(m) {
			errs = append(errs, fmt.Errorf("pkcs11Modules: %q is not an absolute path", m))
		}
	}
	if c.LogFile != "" && !filepath.IsAbs(c.LogFile) {
		errs = append(errs, fmt.Errorf("logFile: %q is not an absolute path", c.LogFile))
	}
	if c.VirtualReader != "" {
		host, port, err := net.SplitHostPort(c.VirtualReader)
		if err != nil || port == "" || !origin.LoopbackHost(host) {
			errs = append(errs, fmt.Errorf("virtualReader: %q is not a loopback host:port (e.g. 127.0.0.1:35999)", c.VirtualReader))
		}
	}
	for _, id := range c.AllowedExtensions {
		if !ValidExtensionID(id) {
			errs = append(errs, fmt.Errorf("allowedExtensions: %q is neither a Chrome extension ID nor a Firefox add-on ID", id))
		}
	}
	return errors.Join(errs...)
}

// ValidExtensionID accepts a Chrome-family ID (32 letters a–p) or a Firefox
// add-on ID (name@domain or a {GUID}), at most 80 bytes.
func ValidExtensionID(id string) bool {
	return len(id) <= 80 && (install.ValidChromeID(id) || install.ValidFirefoxID(id))
}
