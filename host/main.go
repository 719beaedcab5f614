// Command cardbridge is CardBridge's one shipped binary. When a browser
// starts it (chrome-extension://ID/, or Firefox's manifest path and add-on
// ID) it serves the native-messaging session (internal/nativehost, see
// docs/protocol.md) with the card agent; otherwise it is the command line
// (internal/cli). This package is wiring only: it chooses the mode, reads
// the build settings and puts the pieces together; docs/architecture.md
// has the map.
package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/p11"
	"github.com/cardbridge/cardbridge/internal/cli"
	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/nativehost"
)

// Build settings, set with -ldflags "-X main.name=value" (make release).
var (
	// version is the host's version.
	version = "0.1.0-dev"
	// build is "development" or "release". A development build trusts the
	// development extension ID (its key is public: any unpacked extension
	// can have it), serves http://localhost pages and honours
	// virtualReader; a release build does none of these.
	build = "development"
	// storeExtensionIDs are CardBridge's Chrome Web Store and Edge Add-ons
	// IDs, comma-separated: trusted by every build and written into the
	// browsers' manifests by install.
	storeExtensionIDs = ""
)

// development reports a development build; anything but "release" is one,
// so a mistyped flag cannot produce a build that looks released.
func development() bool { return build != "release" }

// storeIDs returns the store IDs compiled in.
func storeIDs() []string {
	var ids []string
	for _, id := range strings.Split(storeExtensionIDs, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if c, ok := nativehost.CallerOf(args); ok {
		return serveNative(c, false, stdin, stdout, stderr)
	}
	return cli.Run(args, stdin, stdout, stderr, cli.Options{
		Version:           version,
		Development:       development(),
		StoreExtensionIDs: storeIDs(),
		LoadConfig:        loadConfig,
		ServeNative: func(stdin io.Reader, stdout, stderr io.Writer) int {
			return serveNative(nativehost.Terminal, true, stdin, stdout, stderr)
		},
	})
}

// loadConfig reads the configuration with this build's rules: a
// development build may read its system file from CARDBRIDGE_SYSTEM_CONFIG
// (tests; still refused when others may write it), and only a development
// build honours virtualReader, which hands the PIN to whatever listens on
// that port.
func loadConfig() (config.Config, error) {
	paths := config.DefaultPaths()
	if p := os.Getenv("CARDBRIDGE_SYSTEM_CONFIG"); p != "" && development() {
		paths.System, paths.SystemByUser = p, true
	}
	cfg, err := config.Load(paths)
	if cfg.VirtualReader != "" && !development() {
		cfg.VirtualReader = ""
		err = errors.Join(err, errors.New("virtualReader ignored: only development builds use the virtual TEST card"))
	}
	return cfg, err
}

// serveNative runs the native-messaging session for caller c with the card
// agent; plain is native --plain (JSON lines for people and scripts).
func serveNative(c nativehost.Caller, plain bool, stdin io.Reader, stdout, stderr io.Writer) int {
	return nativehost.Serve(nativehost.Options{
		Caller:            c,
		Plain:             plain,
		Version:           version,
		Development:       development(),
		StoreExtensionIDs: storeIDs(),
		LoadConfig:        loadConfig,
		NewAgent: func(cfg config.Config, log *slog.Logger) nativehost.Agent {
			m := cards.New(p11.Setup{Modules: cfg.PKCS11Modules, ModulesOnly: cfg.ModulesOnly, NoDiscovery: cfg.NoModuleDiscovery,
				VirtualReader: cfg.VirtualReader, Log: log}.Options())
			return nativehost.NewCardAgent(m, cfg, version, development())
		},
		ExchangeProgram: cli.ExchangeProgram,
	}, stdin, stdout, stderr)
}
