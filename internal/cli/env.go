package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/cardbridge/cardbridge/internal/cards"
)

// ListFlag is a flag that may be given more than once.
type ListFlag = listFlag

// ErrUsage marks a command-line mistake (exit status 2).
var ErrUsage = errUsage

// Env is what a command that lives outside this package (the document
// exchange, internal/exchangecli) uses of the command line: its options,
// its way to cards, the PIN reader and the output.
type Env interface {
	// Flags returns a flag set with --json, and --reader and --pkcs11
	// when reader is not nil.
	Flags(name string, reader *string) *flag.FlagSet
	// Parse parses args, refusing positional arguments.
	Parse(fs *flag.FlagSet, args []string) error
	// Secret reads a PIN (--pin-stdin lines, or the terminal).
	Secret(fromStdin bool, promptZH, promptEN string) ([]byte, error)
	// Manager is the way to cards, made on first use.
	Manager() *cards.Manager
	// JSON reports --json; Emit prints v as JSON.
	JSON() bool
	Emit(v any) error
	Stdout() io.Writer
	// Stdin is the input a command reads requests from (exchange serve).
	Stdin() io.Reader
	Version() string
}

func (c *cli) Flags(name string, reader *string) *flag.FlagSet { return c.flags(name, reader) }
func (c *cli) Parse(fs *flag.FlagSet, args []string) error     { return parse(fs, args) }
func (c *cli) Secret(fromStdin bool, zh, en string) ([]byte, error) {
	return c.secret(fromStdin, zh, en)
}
func (c *cli) Manager() *cards.Manager { return c.manager() }
func (c *cli) JSON() bool              { return c.json }
func (c *cli) Emit(v any) error        { return c.emit(v) }
func (c *cli) Stdout() io.Writer       { return c.stdout }
func (c *cli) Stdin() io.Reader        { return c.stdin }
func (c *cli) Version() string         { return c.opts.Version }

// exchangeBinary is the program that carries the document exchange. It is
// not linked into cardbridge: the exchange brings an HTTP client and an
// embedded database, which would double the size and the start-up time of
// the native host every browser starts (host/deps_test.go).
const exchangeBinary = "cardbridge-exchange"

// Exit is an error that only sets the exit status: the command has said
// what went wrong already (in its JSON answer, or line by line).
func Exit(status int) error { return exitCode(status) }

// IsExit reports whether err is one of Exit's.
func IsExit(err error) bool {
	var ec exitCode
	return errors.As(err, &ec)
}

// ExchangeProgram is the path of cardbridge-exchange beside this program,
// where the installers put it. The native host starts only that one: it
// hands the program the agency card's PIN, and the browser's PATH may hold
// folders others can write.
func ExchangeProgram() (string, error) {
	name := exchangeProgramName()
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), name); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("找不到公文交換程式 %s，請重新安裝 CardBridge / the document exchange program %s is not installed next to cardbridge; reinstall CardBridge", name, name)
}

// exchangeProgramName is cardbridge-exchange's file name here.
func exchangeProgramName() string {
	if runtime.GOOS == "windows" {
		return exchangeBinary + ".exe"
	}
	return exchangeBinary
}

// commandExchangeProgram is the program `cardbridge exchange …` starts:
// beside this program, else on the PATH (a person at a terminal chose
// their PATH).
func commandExchangeProgram() (string, error) {
	if p, err := ExchangeProgram(); err == nil {
		return p, nil
	}
	p, err := exec.LookPath(exchangeProgramName())
	if err != nil {
		return "", fmt.Errorf("找不到公文交換程式 %s，請重新安裝 CardBridge / the document exchange program %s is not installed next to cardbridge; reinstall CardBridge", exchangeProgramName(), exchangeProgramName())
	}
	return p, nil
}

// exchange runs the document exchange: in this process when the build
// carries it (Options.Exchange, cardbridge-exchange), else by starting
// cardbridge-exchange from beside this program (or the PATH) with the same
// arguments, input and output.
func (c *cli) exchange(args []string) error {
	if c.opts.Exchange != nil {
		return c.opts.Exchange(c, args)
	}
	path, err := commandExchangeProgram()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(context.Background(), path, append([]string{"exchange"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	// Ctrl-C and a service manager's stop are the exchange's to handle
	// (`exchange sync --watch` ends cleanly on them): pass them on and
	// wait, rather than die and leave it running.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for done := false; !done; {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err = <-waited:
			done = true
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitCode(ee.ExitCode())
	}
	return err
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
