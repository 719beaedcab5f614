package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// The virtual card uses vpcd slot 0; slot 1 is left to the bench, which
// may run on the same machine.
const (
	vpcdAddr   = "127.0.0.1:35963"
	readerName = "Virtual PCD 00 00"
	pcscdPath  = "/usr/sbin/pcscd"
	pcscdSock  = "/run/pcscd/pcscd.comm"
)

var (
	// binary is the cardbridge CLI built for this test run, softcardBinary
	// the development tool cardbridge-softcard.
	binary, softcardBinary string
	// pcscdCmd is the pcscd this test run started, nil if it found one.
	pcscdCmd *exec.Cmd
	pcscdLog string
	workDir  string
	skipWhy  string
)

// TestMain starts pcscd unless one runs already and builds the CLI. Without
// pcscd the tests skip, unless CARDBRIDGE_REQUIRE_PCSC=1 (make test and CI
// set it) turns the skip into a failure.
func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	workDir, err = os.MkdirTemp("", "cardbridge-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)
	if _, err := os.Stat(pcscdPath); err != nil {
		skipWhy = "pcscd is not installed (apt-get install pcscd vsmartcard-vpcd)"
	} else if _, err := os.Stat("/etc/reader.conf.d/vpcd"); err != nil {
		skipWhy = "vsmartcard-vpcd is not installed"
	} else if err := startPCSCD(); err != nil {
		skipWhy = "pcscd did not start: " + err.Error()
	}
	if skipWhy == "" {
		defer stopPCSCD()
		binary = filepath.Join(workDir, "cardbridge")
		softcardBinary = filepath.Join(workDir, "cardbridge-softcard")
		out, err := exec.Command("go", "build", "-o", workDir, "github.com/cardbridge/cardbridge/host", "github.com/cardbridge/cardbridge/cmd/cardbridge-softcard",
			"github.com/cardbridge/cardbridge/cmd/cardbridge-exchange").CombinedOutput()
		if err == nil {
			err = os.Rename(filepath.Join(workDir, "host"), binary)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "build cardbridge: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

func pcscdRunning() bool {
	if _, err := os.Stat(pcscdSock); err != nil {
		return false
	}
	return exec.Command("pgrep", "-x", "pcscd").Run() == nil
}

func startPCSCD() error {
	if pcscdRunning() {
		return nil
	}
	pcscdLog = filepath.Join(workDir, "pcscd.log")
	f, err := os.Create(pcscdLog)
	if err != nil {
		return err
	}
	cmd := exec.Command(pcscdPath, "--foreground", "--apdu")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	pcscdCmd = cmd
	go func() { cmd.Wait(); f.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if x, err := pcsc.Establish(); err == nil {
			x.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("no socket after 10 s")
}

func stopPCSCD() {
	if pcscdCmd == nil || pcscdCmd.Process == nil {
		return
	}
	pcscdCmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && pcscdRunning() {
		time.Sleep(50 * time.Millisecond)
	}
	pcscdCmd = nil
}

// needPCSC skips (or fails, when required) a test that needs pcscd.
func needPCSC(t *testing.T) {
	t.Helper()
	if skipWhy == "" {
		return
	}
	if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
		t.Fatalf("PC/SC integration required but unavailable: %s", skipWhy)
	}
	t.Skip(skipWhy)
}

var (
	caOnce sync.Once
	ca     *testca.Hierarchy
	cards  sync.Map // name → *softcard.State, issued once per run
)

// issued returns a fresh copy of a TEST card issued once per test run.
func issued(t *testing.T, name string, o softcard.IssueOptions) *softcard.State {
	t.Helper()
	return issuedFor(t, name, testca.Org{Name: "測試幼兒園", UBN: "04595252", OrgCode: "TEST0001", CardSerial: "TEST000000000001"}, o)
}

// issuedFor is issued for another organisation.
func issuedFor(t *testing.T, name string, org testca.Org, o softcard.IssueOptions) *softcard.State {
	t.Helper()
	caOnce.Do(func() {
		var err error
		if ca, err = testca.New(nil, time.Now()); err != nil {
			panic(err)
		}
	})
	v, ok := cards.Load(name)
	if !ok {
		o.Org = org
		st, err := softcard.Issue(ca, o)
		if err != nil {
			t.Fatalf("Issue(%s) = %v", name, err)
		}
		v, _ = cards.LoadOrStore(name, st)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var cp softcard.State
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	return &cp
}

// vcard is a virtual card in reader "Virtual PCD 00 00" for one test.
type vcard struct {
	srv       *softcard.Server
	card      *softcard.Card
	statePath string
}

// insert starts a virtual card with st behind pcscd and waits until PC/SC
// reports it present. The card is removed when the test ends.
func insert(t *testing.T, st *softcard.State) *vcard {
	t.Helper()
	return insertWith(t, st, softcard.Options{})
}

// insertWith is insert with the card's options (its profile, an APDU log);
// the state path is set here.
func insertWith(t *testing.T, st *softcard.State, o softcard.Options) *vcard {
	t.Helper()
	return insertAt(t, st, o, vpcdAddr, readerName)
}

// secondReader is vpcd's slot 1, for tests that need two cards at once
// (the e2e suite and the bench use it too, never at the same time).
const (
	vpcdAddr2   = "127.0.0.1:35964"
	readerName2 = "Virtual PCD 00 01"
)

// insertAt is insertWith in the vpcd slot at addr, seen as reader.
func insertAt(t *testing.T, st *softcard.State, o softcard.Options, addr, reader string) *vcard {
	t.Helper()
	needPCSC(t)
	path := filepath.Join(t.TempDir(), "card.json")
	if err := softcard.SaveState(path, st); err != nil {
		t.Fatal(err)
	}
	o.Path = path
	c := softcard.NewCard(st, o)
	srv := softcard.NewServer(c, addr, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		waitPresentIn(t, reader, false)
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := srv.WaitConnected(wctx); err != nil {
		t.Fatalf("virtual card did not reach vpcd at %s: %v", addr, err)
	}
	waitPresentIn(t, reader, true)
	return &vcard{srv: srv, card: c, statePath: path}
}

// waitPresent waits until PC/SC reports the reader with (or without) a card.
func waitPresent(t *testing.T, want bool) {
	t.Helper()
	waitPresentIn(t, readerName, want)
}

// waitPresentIn is waitPresent for reader.
func waitPresentIn(t *testing.T, readerName string, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		x, err := pcsc.Establish()
		if err == nil {
			st, err := x.Status([]string{readerName})
			x.Close()
			if err == nil && len(st) == 1 && st[0].Present() == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader %q present=%v not reached within 10 s", readerName, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cli runs the cardbridge binary with stdin and returns stdout, stderr and
// the exit status.
func cli(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("cardbridge %v hung", args)
	}
	return out.String(), errb.String(), code
}

// tool runs an external program (OpenSC, openssl) and returns its output.
func tool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
			t.Fatalf("%s not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
