// Command cardbridge is CardBridge's one shipped binary. When a browser
// starts it (chrome-extension://ID/, or Firefox's manifest path and add-on
// ID) it serves the native-messaging session (internal/nativehost, see
// docs/protocol.md) with the card agent; otherwise it is the command line
// (internal/cli). This package is wiring only: it chooses the mode and puts
// the pieces together; docs/architecture.md has the map.
package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cli"
	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/nativehost"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// trustDevExtension says whether the development extension ID is built in.
// Its manifest key is public, so anyone can load an unpacked extension with
// that ID: release builds set it to "false" (-ldflags "-X
// main.trustDevExtension=false") and list the store IDs instead.
var trustDevExtension = "true"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if c, ok := nativehost.CallerOf(args); ok {
		return serveNative(c, false, stdin, stdout, stderr)
	}
	return cli.Run(args, stdin, stdout, stderr, cli.Options{
		Version: version,
		ServeNative: func(stdin io.Reader, stdout, stderr io.Writer) int {
			return serveNative(nativehost.Terminal, true, stdin, stdout, stderr)
		},
	})
}

// serveNative runs the native-messaging session for caller c with the card
// agent; plain is native --plain (JSON lines for people and scripts).
func serveNative(c nativehost.Caller, plain bool, stdin io.Reader, stdout, stderr io.Writer) int {
	return nativehost.Serve(nativehost.Options{
		Caller:            c,
		Plain:             plain,
		Version:           version,
		TrustDevExtension: trustDevExtension == "true",
		NewAgent: func(cfg config.Config, log *slog.Logger) nativehost.Agent {
			m := cards.New(cards.Options{VirtualReader: cfg.VirtualReader, Log: log})
			return nativehost.NewCardAgent(m, cfg, version)
		},
	}, stdin, stdout, stderr)
}
