// Package config owns CardBridge's settings: a system-wide file an
// administrator (or an installer) writes, and a per-user file, both JSON.
// It reads and checks them; it does not act on them, and it never writes
// them (people and installers do).
//
// Lists from both files are merged (an administrator's pre-approved
// origins cannot be removed by a user); a scalar set in the user file wins
// over the system one.
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
	// (cardbridge softcard serve --listen). When set, the host offers that
	// card as one more reader, which is how the demo runs on a computer
	// without a smart-card service.
	VirtualReader string `json:"virtualReader,omitempty"`
	// AllowedExtensions adds browser extension IDs (Chrome-family IDs of 32
	// letters a–p, or Firefox add-on IDs) that may start the host, beyond
	// the built-in CardBridge ones.
	AllowedExtensions []string `json:"allowedExtensions,omitempty"`
}

// Paths are the files Load reads.
type Paths struct {
	System, User string
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
	for _, path := range []string{p.System, p.User} {
		if path == "" {
			continue
		}
		c, err := readFile(path)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		out.merge(c)
	}
	return out, errors.Join(errs...)
}

func (c *Config) merge(o Config) {
	for _, s := range o.ApprovedOrigins {
		if !slices.Contains(c.ApprovedOrigins, s) {
			c.ApprovedOrigins = append(c.ApprovedOrigins, s)
		}
	}
	for _, s := range o.AllowedExtensions {
		if !slices.Contains(c.AllowedExtensions, s) {
			c.AllowedExtensions = append(c.AllowedExtensions, s)
		}
	}
	if o.LogLevel != "" {
		c.LogLevel = o.LogLevel
	}
	if o.LogFile != "" {
		c.LogFile = o.LogFile
	}
	if o.VirtualReader != "" {
		c.VirtualReader = o.VirtualReader
	}
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
	for _, o := range c.ApprovedOrigins {
		if err := origin.Check(o); err != nil {
			errs = append(errs, fmt.Errorf("approvedOrigins: %q is not an origin such as https://edoc.example.gov.tw: %w", o, err))
		}
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("logLevel: %q is not debug, info, warn or error", c.LogLevel))
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
