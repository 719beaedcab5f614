// Command demo is CardBridge's demo site: a small web page for a
// kindergarten clerk that reads the card through the browser extension,
// logs in with the card (authtoken) and signs a 公文 as detached CMS, with
// a server that verifies both against the TEST CA of `cardbridge-softcard
// ca`.
//
//	go run ./demo --ca out/demo/ca.pem --page-lib extension/page/cardbridge.js
//
// It serves plain http on a loopback address only: the extension talks to
// http pages only on localhost and 127.0.0.1 (development), and a site
// that trusts a TEST CA must not face a network. `make demo` runs it with
// the virtual TEST card; docs/extension.md and docs/protocol.md describe
// the page API and the host underneath.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/origin"
	"github.com/cardbridge/cardbridge/internal/testca"
)

const usage = `demo — CardBridge 示範網站（測試用）/ CardBridge demo site (TEST)

  go run ./demo --ca CA.pem [--addr 127.0.0.1:8080] [--page-lib extension/page/cardbridge.js]
                [--addr-file FILE]

--ca is the TEST CA of "cardbridge-softcard ca --out CA.pem"; the site trusts
its root and issuing CA only. The site listens on loopback only.
`

// errUsage marks a mistake in the command line: exit status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// run is main without the process: tests call it directly. It serves
// until ctx ends and returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	err := serve(ctx, args, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "demo: %v\n", err)
	return 1
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	addr := fs.String("addr", "127.0.0.1:8080", "loopback address to listen on (port 0: any free port)")
	caPath := fs.String("ca", "", "TEST CA PEM from `cardbridge-softcard ca` (required)")
	pageLib := fs.String("page-lib", filepath.Join("extension", "page", "cardbridge.js"), "the extension's page library, served at /cardbridge.js")
	addrFile := fs.String("addr-file", "", "write the bound host:port to this file once listening")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}
	if *caPath == "" {
		return fmt.Errorf("--ca is required (cardbridge-softcard ca --out CA.pem): %w", errUsage)
	}
	pem, err := os.ReadFile(*caPath)
	if err != nil {
		return fmt.Errorf("reading the TEST CA: %w", err)
	}
	ca, err := testca.UnmarshalPEM(pem)
	if err != nil {
		return fmt.Errorf("%s: %w", *caPath, err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	s, err := newSite(siteConfig{CA: ca, PageLib: *pageLib, Addr: ln.Addr().String(), Log: log})
	if err != nil {
		return err
	}
	if *addrFile != "" {
		if err := writeFileAtomic(*addrFile, []byte(ln.Addr().String()+"\n")); err != nil {
			return err
		}
	}
	hs := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	log.Info("demo site listening", "url", "http://"+ln.Addr().String()+"/")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return hs.Shutdown(shut)
}

// checkLoopback accepts host:port whose host is localhost, 127.0.0.1 or
// ::1, the hosts browsers let use the card over http (origin.Loopback).
// The site trusts a TEST CA and has no TLS, so it must never listen on a
// network interface.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("--addr %q: want host:port, e.g. 127.0.0.1:8080: %w", addr, errUsage)
	}
	if !origin.Loopback(host) {
		return fmt.Errorf("--addr %q: 示範網站只能在本機位址執行 / the demo site listens on loopback only (127.0.0.1, ::1, localhost): %w", addr, errUsage)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it, so a script polling for path never reads half of it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
