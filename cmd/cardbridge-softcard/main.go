// Command cardbridge-softcard is a development tool: it makes the TEST CA,
// issues virtual TEST cards and serves one through pcscd's vpcd reader or
// directly on loopback (configuration virtualReader). It exists for tests
// and the demo and is never built into anything a user installs: the
// shipped cardbridge binary does not link the virtual card or the TEST CA
// (host/deps_test.go fails if it does).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/origin"
	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

const usage = `cardbridge-softcard — 虛擬測試卡（僅供測試與展示）/ virtual TEST card (tests and demo only)

  cardbridge-softcard ca    --out CA.pem
  cardbridge-softcard issue --state CARD.json [--ca CA.pem] [--org 名稱] [--ubn 8 位數]
                            [--org-code CODE] [--serial TEST…] [--alg rsa2048|p256]
                            [--slot 9a|9c] [--pin P] [--puk K] [--days N] [--expired]
                            [--not-activated]
  cardbridge-softcard serve --state CARD.json [--vpcd 127.0.0.1:35963 | --listen 127.0.0.1:35999]
                            [--control 127.0.0.1:0] [--control-file FILE] [--removed] [--profile piv|hicos] [-v]
`

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

// run is main without the process: tests call it directly.
func run(args []string, stderr io.Writer) int {
	c := &cli{stderr: stderr}
	var err error
	switch {
	case len(args) == 0:
		err = fmt.Errorf("ca, issue or serve: %w", errUsage)
	case args[0] == "ca":
		err = c.softcardCA(args[1:])
	case args[0] == "issue":
		err = c.softcardIssue(args[1:])
	case args[0] == "serve":
		err = c.softcardServe(args[1:])
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(stderr, usage)
		return 0
	default:
		err = fmt.Errorf("unknown action %q: %w", args[0], errUsage)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "cardbridge-softcard: %v\n\n%s", err, usage)
		return 2
	}
	fmt.Fprintf(stderr, "cardbridge-softcard: %v\n", err)
	return 1
}

type cli struct{ stderr io.Writer }

func newFlagSet(c *cli, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %v: %w", fs.Name(), err, errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q: %w", fs.Name(), fs.Arg(0), errUsage)
	}
	return nil
}

func (c *cli) softcardCA(args []string) error {
	fs := newFlagSet(c, "ca")
	out := fs.String("out", "", "where to write the TEST CA (PEM, with keys)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("ca: --out is required: %w", errUsage)
	}
	_, err := loadOrCreateCA(*out)
	return err
}

// loadOrCreateCA reads the TEST CA at path, creating it first if absent, so
// that every card the demo issues chains to the same TEST root.
func loadOrCreateCA(path string) (*testca.Hierarchy, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return testca.UnmarshalPEM(b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	h, err := testca.New(nil, time.Now())
	if err != nil {
		return nil, err
	}
	pem, err := h.MarshalPEM()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return h, os.WriteFile(path, pem, 0o600)
}

func (c *cli) softcardIssue(args []string) error {
	fs := newFlagSet(c, "issue")
	state := fs.String("state", "", "card state file to write")
	caPath := fs.String("ca", "", "TEST CA file (created if missing; default: beside the state file)")
	org := fs.String("org", "測試幼兒園", "organisation name / 團體名稱")
	ubn := fs.String("ubn", "04595252", "統一編號 (8 digits, may be empty)")
	orgCode := fs.String("org-code", "TEST0001", "organisation code / 機關代碼")
	serial := fs.String("serial", "TEST000000000001", "card number")
	alg := fs.String("alg", "rsa2048", "cert1 key: rsa2048 or p256")
	slot := fs.String("slot", "9a", "cert1 slot: 9a or 9c")
	pin := fs.String("pin", softcard.DefaultPIN, "PIN of the TEST card")
	puk := fs.String("puk", softcard.DefaultPUK, "PUK of the TEST card")
	days := fs.Int("days", 730, "certificate validity in days from now")
	expired := fs.Bool("expired", false, "issue certificates that expired yesterday")
	notActivated := fs.Bool("not-activated", false, "PIN blocked until activated with the PUK (開卡)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *state == "" {
		return fmt.Errorf("issue: --state is required: %w", errUsage)
	}
	var signSlot softcard.Slot
	switch *slot {
	case "9a", "9A":
		signSlot = softcard.SlotAuthentication
	case "9c", "9C":
		signSlot = softcard.SlotSignature
	default:
		return fmt.Errorf("issue: --slot 9a or 9c: %w", errUsage)
	}
	if *caPath == "" {
		*caPath = filepath.Join(filepath.Dir(*state), "testca.pem")
	}
	ca, err := loadOrCreateCA(*caPath)
	if err != nil {
		return err
	}
	now := time.Now()
	o := softcard.IssueOptions{
		Org:          testca.Org{Name: *org, UBN: *ubn, OrgCode: *orgCode, CardSerial: *serial},
		PIN:          *pin,
		PUK:          *puk,
		SignAlg:      *alg,
		NotActivated: *notActivated,
		Now:          now,
		NotAfter:     now.AddDate(0, 0, *days),
		SignSlot:     signSlot,
	}
	if *expired {
		o.NotBefore = now.AddDate(-2, 0, 0)
		o.NotAfter = now.AddDate(0, 0, -1)
	}
	st, err := softcard.Issue(ca, o)
	if err != nil {
		return err
	}
	if err := softcard.SaveState(*state, st); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "已建立測試卡 / TEST card written: %s (CA %s)\n", *state, *caPath)
	return nil
}

func (c *cli) softcardServe(args []string) error {
	fs := newFlagSet(c, "serve")
	state := fs.String("state", "", "card state file")
	vpcd := fs.String("vpcd", softcard.DefaultVPCDAddr, "vpcd address (loopback)")
	control := fs.String("control", "", "serve insert/remove controls over HTTP on this loopback address")
	controlFile := fs.String("control-file", "", "write the control address to this file once listening")
	listen := fs.String("listen", "", "serve the card directly on this loopback address instead of through pcscd (config virtualReader)")
	removed := fs.Bool("removed", false, "start with the card out of the reader")
	profile := fs.String("profile", "piv", "answer as a PIV card (piv) or as a gen-1 HiCOS card's public read-only commands (hicos)")
	verbose := fs.Bool("v", false, "log every APDU header and status word to standard error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *state == "" {
		return fmt.Errorf("serve: --state is required: %w", errUsage)
	}
	for _, addr := range []string{*control, *listen} {
		if addr != "" {
			if err := checkLoopback(addr); err != nil {
				return err
			}
		}
	}
	st, err := softcard.LoadState(*state)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	var p softcard.Profile
	switch *profile {
	case "piv":
	case "hicos":
		p = softcard.ProfileHiCOS
	default:
		return fmt.Errorf("serve: --profile %q: piv or hicos: %w", *profile, errUsage)
	}
	card := softcard.NewCard(st, softcard.Options{Path: *state, Log: log, Profile: p})
	srv := softcard.NewServer(card, *vpcd, log)
	if *removed {
		srv.Remove()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *control != "" {
		if err := serveControl(ctx, srv, *control, *controlFile); err != nil {
			return err
		}
	}
	if *listen != "" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("serve: --listen: %w", err)
		}
		log.Info("virtual card listening", "addr", ln.Addr().String())
		err = srv.Listen(ctx, ln)
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	if err := srv.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// checkLoopback accepts only loopback control addresses: the controls can
// pull the card and must not face a network.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("serve: --control %q: %w", addr, errUsage)
	}
	if !origin.LoopbackHost(host) {
		return fmt.Errorf("serve: --control must be a loopback address: %w", errUsage)
	}
	return nil
}

// serveControl starts the HTTP controls on addr (checked by checkLoopback).
func serveControl(ctx context.Context, srv *softcard.Server, addr, file string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	context.AfterFunc(ctx, func() { hs.Close() })
	if file != "" {
		if err := os.WriteFile(file, []byte(ln.Addr().String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}
