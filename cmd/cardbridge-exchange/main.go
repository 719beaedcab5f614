// Command cardbridge-exchange is CardBridge's 公文 exchange agent on the
// command line (docs/exchange.md): `cardbridge exchange …` starts it. It is
// a program of its own so that the native host every browser starts
// (cardbridge) links neither its HTTP client nor its embedded database; it
// also answers every other cardbridge command, with the same card access.
package main

import (
	"os"

	"github.com/cardbridge/cardbridge/internal/cli"
	"github.com/cardbridge/cardbridge/internal/exchangecli"
)

// version is set at build time (-X main.version=…), as cardbridge's.
var version = "0.1.0-dev"

func main() {
	args := os.Args[1:]
	if len(args) == 0 || args[0] != "exchange" {
		args = append([]string{"exchange"}, args...)
	}
	os.Exit(cli.Run(args, os.Stdin, os.Stdout, os.Stderr, cli.Options{Version: version, Exchange: exchangecli.Run}))
}
