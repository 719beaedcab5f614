//go:build linux

// Package cupstest runs a private CUPS server with the cups-pdf virtual
// printer for tests that print (internal/exchange/printer, the exchange
// agent): its own configuration, spool and socket in a temporary folder,
// stopped with the test. It is never linked into a shipped program.
package cupstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Printer is the cups-pdf printer's name.
const Printer = "CardBridgePDF"

// Server is a private CUPS server for a test: its own configuration, spool
// and socket in a temporary folder, and one printer, "CardBridgePDF", the
// cups-pdf virtual printer. cups-pdf writes each job as a PDF where its
// system configuration says (/etc/cups/cups-pdf.conf, Debian's default
// ${HOME}/PDF of the job's user, here root's): Out, from which the test
// takes, and removes, the files of its own jobs. Clients reach the server
// through CUPS_SERVER, set for the test.
type Server struct {
	Out string
}

// cupsPDFOut is where cups-pdf writes root's jobs.
func cupsPDFOut() string {
	out := "${HOME}/PDF"
	if b, err := os.ReadFile("/etc/cups/cups-pdf.conf"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Out" {
				out = f[1]
			}
		}
	}
	return strings.NewReplacer("${HOME}", "/root", "${USER}", "root").Replace(out)
}

// Start starts cupsd; it needs root (cupsd runs its backends as root)
// and Debian's cups and printer-driver-cups-pdf, which scripts/deps.sh
// installs.
func Start(t testing.TB) *Server {
	t.Helper()
	need := func(why string) {
		if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		need("a private cupsd needs root")
	}
	for _, f := range []string{"/usr/sbin/cupsd", "/usr/sbin/lpadmin", "/usr/lib/cups/backend/cups-pdf"} {
		if _, err := os.Stat(f); err != nil {
			need(f + " is missing (Debian packages cups and printer-driver-cups-pdf; scripts/deps.sh installs them)")
		}
	}
	// cups-pdf writes every server's jobs into one folder, named by job
	// numbers each server counts from 1: one test package at a time (go
	// test runs packages in parallel).
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "cardbridge-cupstest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(t, err)
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	t.Cleanup(func() { lock.Close() })
	dir, err := os.MkdirTemp("", "cardbridge-cups-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	etc := filepath.Join(dir, "etc")
	for _, d := range []string{etc, filepath.Join(etc, "ppd"), filepath.Join(dir, "spool"), filepath.Join(dir, "spool", "tmp"), filepath.Join(dir, "cache"), filepath.Join(dir, "state"), filepath.Join(dir, "log")} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	sock := filepath.Join(dir, "cups.sock")
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(etc, name), []byte(body), 0o644))
	}
	write("cupsd.conf", fmt.Sprintf(`Listen %s
LogLevel warn
WebInterface No
Browsing Off
DefaultAuthType None
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
`, sock))
	write("cups-files.conf", fmt.Sprintf(`ServerRoot %[1]s/etc
RequestRoot %[1]s/spool
TempDir %[1]s/spool/tmp
CacheDir %[1]s/cache
StateDir %[1]s/state
ErrorLog %[1]s/log/error_log
AccessLog %[1]s/log/access_log
PageLog %[1]s/log/page_log
ServerBin /usr/lib/cups
DataDir /usr/share/cups
SystemGroup root
`, dir))
	cmd := exec.Command("/usr/sbin/cupsd", "-f", "-c", filepath.Join(etc, "cupsd.conf"), "-s", filepath.Join(etc, "cups-files.conf"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	t.Setenv("CUPS_SERVER", sock)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			el, _ := os.ReadFile(filepath.Join(dir, "log", "error_log"))
			t.Fatalf("cupsd did not start: %s\n%s", log.String(), el)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, err := exec.Command("/usr/sbin/lpadmin", "-p", Printer, "-E", "-v", "cups-pdf:/", "-P", "/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd").CombinedOutput(); err != nil {
		el, _ := os.ReadFile(filepath.Join(dir, "log", "error_log"))
		t.Fatalf("lpadmin: %v %s\n%s", err, b, el)
	}
	srv := &Server{Out: cupsPDFOut()}
	// Every file the test's jobs leave in Out goes with the test.
	before := map[string]bool{}
	old, _ := filepath.Glob(filepath.Join(srv.Out, "*"))
	for _, f := range old {
		before[f] = true
	}
	t.Cleanup(func() {
		now, _ := filepath.Glob(filepath.Join(srv.Out, "*"))
		for _, f := range now {
			if !before[f] {
				os.Remove(f)
			}
		}
	})
	return srv
}

// WaitPDF waits for cups-pdf to write the job (CardBridgePDF-N) and
// returns its file, removed when the test ends.
func (c *Server) WaitPDF(t testing.TB, job string) string {
	t.Helper()
	n := job[strings.LastIndex(job, "-")+1:]
	deadline := time.Now().Add(60 * time.Second)
	for {
		found, _ := filepath.Glob(filepath.Join(c.Out, "*job_"+n+".pdf"))
		if len(found) == 1 {
			t.Cleanup(func() { os.Remove(found[0]) })
			time.Sleep(300 * time.Millisecond) // written whole
			return found[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("cups-pdf wrote no file for job %s in %s", job, c.Out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
