package nativehost

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/install"
)

// Caller is the browser extension that started the host.
type Caller struct {
	// Browser is "chromium" (Chrome, Edge, Chromium), "firefox", or "cli"
	// for a person at the terminal (native --plain).
	Browser string
	// ID is the Chrome-family extension ID or the Firefox add-on ID.
	ID string
}

// Terminal is the caller of native --plain: a person or a script.
var Terminal = Caller{Browser: "cli", ID: "terminal"}

// CallerOf recognises a launch by a browser. Chrome-family browsers pass
// the caller's origin, chrome-extension://ID/, first (and on Windows
// --parent-window=N after it); Firefox passes the path of the host
// manifest and then the add-on ID. Anything else is the command line.
func CallerOf(args []string) (Caller, bool) {
	if len(args) >= 1 && strings.HasPrefix(args[0], "chrome-extension://") {
		for _, a := range args[1:] {
			if !strings.HasPrefix(a, "--parent-window=") {
				return Caller{}, false
			}
		}
		id := strings.TrimSuffix(strings.TrimPrefix(args[0], "chrome-extension://"), "/")
		return Caller{Browser: "chromium", ID: id}, true
	}
	if len(args) == 2 && strings.EqualFold(filepath.Ext(args[0]), ".json") && config.ValidExtensionID(args[1]) {
		return Caller{Browser: "firefox", ID: args[1]}, true
	}
	return Caller{}, false
}

// builtinAllowed reports whether c is one of CardBridge's own extensions:
// the Firefox add-on, an extension-store ID compiled into the build, or,
// in a development build only, the development extension ID (its key is
// public: anyone can load an unpacked extension with that ID).
func builtinAllowed(c Caller, development bool, storeIDs []string) bool {
	switch c.Browser {
	case "cli": // a person at the terminal, not a browser (native --plain)
		return true
	case "firefox":
		return c.ID == install.FirefoxAddonID
	}
	return slices.Contains(storeIDs, c.ID) || (c.ID == install.DevExtensionID && development)
}
