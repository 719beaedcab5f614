// Command bench measures CardBridge against OpenSC on one virtual PIV card:
// the card's APDU count and the wall-clock time of each operation, for the
// same card in the same run. scripts/bench.sh builds it and the CLI, makes
// sure pcscd runs, starts the softcard (removed) and then runs this program,
// which inserts and pulls the card through the softcard's control endpoint.
// A second section (native.go) measures the native-messaging host on the
// same card: start-up and memory against two minimal Go hosts (plain, and
// linked to libpcsclite with cgo), warm round trips, and a signature
// through the host against the library in-process.
//
// CardBridge's library is reached as the host reaches it, through a
// cards.Manager (rows 2 and 6); the bench's own PC/SC context only watches
// the reader for the card coming and going.
//
// Every run is checked (exit status, certificate count, and each signature
// with openssl against the certificate OpenSC reads), so a broken path can
// never be reported as a fast one.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cardbridge/cardbridge/bench/benchfmt"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// The TEST card's PIN (softcard.DefaultPIN) and the number of certificates
// `softcard issue` puts on it (cert1 in 9A, cert2 in 9D).
const (
	testPIN   = "123456"
	wantCerts = 2
)

// presenceTimeout bounds each wait for pcscd to see the card come or go;
// pcscd polls vpcd about every 0.4 s.
const presenceTimeout = 10 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type bench struct {
	n           int
	cli         string // cardbridge binary
	minimal     string // the minimal native-messaging host (bench/minimalhost)
	minimalPCSC string // the same linked to libpcsclite (bench/minimalhost-pcsc)
	ctl         string // softcard control address
	reader      string
	dir         string
	x           *pcsc.Context
	hc          *http.Client
	env         []string // environment of every child process
	oscReader   int      // OpenSC reader index of b.reader
	p11Slot     int      // pkcs11-tool slot index of b.reader
	data        string   // file to sign
	pub         string   // public key of OpenSC's certificate 01 (slot 9A)
	certID      string   // CardBridge id (hex SHA-256 of the DER) of that certificate
	verified    int      // signatures checked with openssl
}

func run() error {
	b := &bench{hc: &http.Client{Timeout: 30 * time.Second}}
	out := flag.String("out", "", "also write the report to this file")
	pcscdNote := flag.String("pcscd", "", "how pcscd was found, for the header")
	rev := flag.String("rev", "unknown commit", "source revision of the CLI, for the header")
	flag.IntVar(&b.n, "n", 20, "runs per measurement")
	flag.StringVar(&b.cli, "cardbridge", "out/cardbridge", "cardbridge binary")
	flag.StringVar(&b.minimal, "minimalhost", "", "minimal native-messaging host binary (go build ./bench/minimalhost)")
	flag.StringVar(&b.minimalPCSC, "minimalpcsc", "", "minimal native-messaging host linked to libpcsclite (go build ./bench/minimalhost-pcsc)")
	flag.StringVar(&b.ctl, "control", "", "softcard control address (host:port)")
	flag.StringVar(&b.reader, "reader", "Virtual PCD 00 01", "PC/SC reader of the softcard")
	flag.StringVar(&b.dir, "dir", "", "scratch directory")
	flag.Parse()
	if b.ctl == "" || b.dir == "" || b.minimal == "" || b.minimalPCSC == "" || b.n < 1 {
		return errors.New("-control, -dir, -minimalhost, -minimalpcsc and -n ≥ 1 are required")
	}
	var err error
	if b.cli, err = filepath.Abs(b.cli); err != nil {
		return err
	}
	if b.minimal, err = filepath.Abs(b.minimal); err != nil {
		return err
	}
	if b.minimalPCSC, err = filepath.Abs(b.minimalPCSC); err != nil {
		return err
	}
	if b.x, err = pcsc.Establish(); err != nil {
		return fmt.Errorf("pcscd: %w", err)
	}
	defer b.x.Close()
	if err := b.setup(); err != nil {
		return err
	}
	start := time.Now()
	rep, err := b.measure()
	if err != nil {
		return err
	}
	nat, err := b.measureNative()
	if err != nil {
		return err
	}
	rep.elapsed = time.Since(start)
	st, err := b.status()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	b.header(&buf, *rev, *pcscdNote)
	rep.write(&buf, b.n)
	nat.write(&buf, b.n, b.reader)
	fmt.Fprintf(&buf, "\nChecks: %d signatures verified with openssl dgst -sha256 -verify (key from pkcs15-tool --read-certificate 01); PIN tries left after the bench: %d, PUK tries: %d.\n",
		b.verified, st.PINTries, st.PUKTries)
	os.Stdout.Write(buf.Bytes())
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(*out, buf.Bytes(), 0o644)
	}
	return nil
}

// setup checks that the reader is ours, inserts the card, finds OpenSC's
// index for the reader and gets the certificate and key to verify with.
func (b *bench) setup() error {
	// A pcscd started just now may not list its readers yet.
	var names []string
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if names, err = b.x.Readers(); err != nil {
			return err
		}
		if slices.Contains(names, b.reader) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Contains(names, b.reader) {
		return fmt.Errorf("pcscd has no reader %q (readers: %q); is vsmartcard-vpcd installed, and pcscd restarted since?", b.reader, names)
	}
	if present, err := b.present(); err != nil {
		return err
	} else if present {
		return fmt.Errorf("another card is already in %q; the bench's softcard starts removed, so slot 1 is in use by someone else", b.reader)
	}
	// OpenSC would otherwise connect to every card pcscd knows, including
	// the one other tests use in slot 0. Ignoring that reader changes
	// nothing on ours.
	conf := filepath.Join(b.dir, "opensc.conf")
	if err := os.WriteFile(conf, []byte("app default {\n\tignored_readers = \"Virtual PCD 00 00\";\n}\n"), 0o644); err != nil {
		return err
	}
	b.env = append(slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, "OPENSC_CONF=") }),
		"OPENSC_CONF="+conf, "LC_ALL=C")
	if err := b.insert(); err != nil {
		return err
	}
	if b.oscReader, err = b.findIndex([]string{"opensc-tool", "--list-readers"}, regexp.MustCompile(`^\s*(\d+)\s`)); err != nil {
		return err
	}
	if b.p11Slot, err = b.findIndex([]string{"pkcs11-tool", "--list-slots"}, regexp.MustCompile(`^Slot (\d+) \(0x[0-9a-fA-F]+\):`)); err != nil {
		return err
	}
	pemCert, err := b.output("pkcs15-tool", "--reader", strconv.Itoa(b.oscReader), "--read-certificate", "01")
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(pemCert)
	if blk == nil {
		return errors.New("pkcs15-tool --read-certificate 01: no PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("pkcs15-tool --read-certificate 01: %w", err)
	}
	b.certID = card.CertID(cert.Raw)
	certPath := filepath.Join(b.dir, "cert01.pem")
	if err := os.WriteFile(certPath, pemCert, 0o644); err != nil {
		return err
	}
	pub, err := b.output("openssl", "x509", "-in", certPath, "-pubkey", "-noout")
	if err != nil {
		return err
	}
	b.pub = filepath.Join(b.dir, "pub.pem")
	if err := os.WriteFile(b.pub, pub, 0o644); err != nil {
		return err
	}
	data := make([]byte, 4096)
	rand.Read(data)
	b.data = filepath.Join(b.dir, "data.bin")
	if err := os.WriteFile(b.data, data, 0o644); err != nil {
		return err
	}
	// The card in the reader must be the one whose counter we read.
	s, _, err := b.cliCerts()
	if err != nil {
		return err
	}
	if s.apdus == 0 {
		return fmt.Errorf("cardbridge certs sent no APDU to the softcard: the card in %q is not ours", b.reader)
	}
	return nil
}

// findIndex runs a listing command and returns the number (re's first
// group) on the line that ends with b.reader.
func (b *bench) findIndex(args []string, re *regexp.Regexp) (int, error) {
	out, err := b.output(args[0], args[1:]...)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(out)) {
		m := re.FindStringSubmatch(line)
		if m != nil && strings.HasSuffix(strings.TrimSpace(line), " "+b.reader) {
			return strconv.Atoi(m[1])
		}
	}
	return 0, fmt.Errorf("%s: no line for %q:\n%s", strings.Join(args, " "), b.reader, out)
}

// output runs a helper command (not timed) and returns its standard output.
func (b *bench) output(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = b.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

func (b *bench) control(method, path string) (softcard.Status, error) {
	return softcard.Control(b.hc, b.ctl, method, path)
}

func (b *bench) status() (softcard.Status, error) { return b.control(http.MethodGet, "/status") }

func (b *bench) present() (bool, error) {
	st, err := b.x.Status([]string{b.reader})
	if err != nil {
		return false, err
	}
	return len(st) == 1 && st[0].Present(), nil
}

// waitPresent polls pcscd until it reports the card in (want) or out.
func (b *bench) waitPresent(want bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	for {
		p, err := b.present()
		if err != nil {
			return err
		}
		if p == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pcscd did not see the card %s within %v", map[bool]string{true: "inserted", false: "removed"}[want], presenceTimeout)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (b *bench) insert() error {
	if _, err := b.control(http.MethodPost, "/insert"); err != nil {
		return err
	}
	return b.waitPresent(true)
}

// reinsert pulls the card and puts it back: the card is reset (nothing
// selected, PIN not verified) and pcscd's event counter changes.
func (b *bench) reinsert() error {
	if _, err := b.control(http.MethodPost, "/remove"); err != nil {
		return err
	}
	if err := b.waitPresent(false); err != nil {
		return err
	}
	return b.insert()
}

// sample is one timed run.
type sample struct {
	d     time.Duration
	apdus uint64
}

// timed runs a command once: wall clock from fork/exec to exit, and the
// APDUs the card answered meanwhile.
func (b *bench) timed(stdin string, name string, args ...string) (sample, []byte, error) {
	before, err := b.status()
	if err != nil {
		return sample{}, nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = b.env
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		return sample{}, nil, fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	after, err := b.status()
	if err != nil {
		return sample{}, nil, err
	}
	return sample{d: d, apdus: after.APDUs - before.APDUs}, stdout.Bytes(), nil
}

func (b *bench) cliCerts() (sample, []byte, error) {
	s, out, err := b.timed("", b.cli, "certs", "--json", "--reader", b.reader)
	if err != nil {
		return s, nil, err
	}
	var v struct {
		Certificates []struct {
			ID string `json:"id"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return s, nil, fmt.Errorf("cardbridge certs --json: %w", err)
	}
	found := false
	for _, c := range v.Certificates {
		found = found || c.ID == b.certID
	}
	if len(v.Certificates) != wantCerts || !found {
		return s, nil, fmt.Errorf("cardbridge certs: want %d certificates including %.16s…, got %s", wantCerts, b.certID, out)
	}
	return s, out, nil
}

// counted runs an OpenSC listing and checks it names every certificate.
func (b *bench) counted(marker string, name string, args ...string) (sample, error) {
	s, out, err := b.timed("", name, args...)
	if err != nil {
		return s, err
	}
	if n := bytes.Count(out, []byte(marker)); n != wantCerts {
		return s, fmt.Errorf("%s: %d %q, want %d:\n%s", name, n, marker, wantCerts, out)
	}
	return s, nil
}

func (b *bench) pkcs15List() (sample, error) {
	return b.counted("X.509 Certificate", "pkcs15-tool", "--reader", strconv.Itoa(b.oscReader), "--list-certificates")
}

func (b *bench) pkcs11List() (sample, error) {
	return b.counted("Certificate Object", "pkcs11-tool", "--slot-index", strconv.Itoa(b.p11Slot), "--list-objects", "--type", "cert")
}

func (b *bench) cliSign() (sample, error) {
	s, out, err := b.timed(testPIN+"\n", b.cli, "sign", "--in", b.data, "--pin-stdin", "--json", "--reader", b.reader)
	if err != nil {
		return s, err
	}
	var v struct {
		Certificate string `json:"certificate"`
		Algorithm   string `json:"algorithm"`
		Signature   string `json:"signature"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return s, fmt.Errorf("cardbridge sign --json: %w", err)
	}
	if v.Certificate != b.certID || v.Algorithm != "RSA-PKCS1-v1_5" {
		return s, fmt.Errorf("cardbridge sign: signed with %.16s… (%s), want %.16s… (RSA-PKCS1-v1_5)", v.Certificate, v.Algorithm, b.certID)
	}
	sig, err := base64.StdEncoding.DecodeString(v.Signature)
	if err != nil {
		return s, fmt.Errorf("cardbridge sign: signature: %w", err)
	}
	path := filepath.Join(b.dir, "cb.sig")
	if err := os.WriteFile(path, sig, 0o644); err != nil {
		return s, err
	}
	return s, b.verify(path)
}

func (b *bench) pkcs11Sign() (sample, error) {
	path := filepath.Join(b.dir, "osc.sig")
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return sample{}, err
	}
	s, _, err := b.timed("", "pkcs11-tool", "--slot-index", strconv.Itoa(b.p11Slot), "--login", "--pin", testPIN,
		"--sign", "--id", "01", "--mechanism", "SHA256-RSA-PKCS", "--input-file", b.data, "--output-file", path)
	if err != nil {
		return s, err
	}
	return s, b.verify(path)
}

// verify checks a signature over b.data with openssl, outside the timing.
func (b *bench) verify(sig string) error {
	out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", b.pub, "-signature", sig, b.data).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Verified OK")) {
		return fmt.Errorf("openssl dgst -verify %s: %v: %s", filepath.Base(sig), err, out)
	}
	b.verified++
	return nil
}

// libList is the host's warm path, in-process: a cards.Manager lists the
// certificates of the card in b.reader (fresh PC/SC context, the card's
// identity checked against the Manager's cache, list, disconnect).
func (b *bench) libList(m *cards.Manager) (sample, error) {
	before, err := b.status()
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	certs, err := m.Certificates(context.Background(), b.reader)
	d := time.Since(start)
	if err != nil {
		return sample{}, err
	}
	if len(certs) != wantCerts || !slices.ContainsFunc(certs, func(c cards.Certificate) bool { return c.ID == b.certID && c.Reader == b.reader }) {
		return sample{}, fmt.Errorf("library: %d certificates, want %d including %.16s…", len(certs), wantCerts, b.certID)
	}
	after, err := b.status()
	if err != nil {
		return sample{}, err
	}
	return sample{d: d, apdus: after.APDUs - before.APDUs}, nil
}

// series is the samples of one tool in one row.
type series []sample

// times returns the durations sorted.
func (s series) times() []time.Duration {
	t := make([]time.Duration, len(s))
	for i, x := range s {
		t[i] = x.d
	}
	slices.Sort(t)
	return t
}

func (s series) median() time.Duration {
	t := s.times()
	if len(t)%2 == 1 {
		return t[len(t)/2]
	}
	return (t[len(t)/2-1] + t[len(t)/2]) / 2
}

func (s series) min() time.Duration { return s.times()[0] }

// apdus returns the median APDU count, and the range if runs differed.
func (s series) apdus() (med float64, text string) {
	a := make([]uint64, len(s))
	for i, x := range s {
		a[i] = x.apdus
	}
	slices.Sort(a)
	if len(a)%2 == 1 {
		med = float64(a[len(a)/2])
	} else {
		med = float64(a[len(a)/2-1]+a[len(a)/2]) / 2
	}
	text = strconv.FormatFloat(med, 'f', -1, 64)
	if a[0] != a[len(a)-1] {
		text += fmt.Sprintf(" (%d-%d)", a[0], a[len(a)-1])
	}
	return med, text
}

// row is one line of the table.
type row struct {
	op     string
	cbHow  string
	cb     series
	oscHow string
	osc    series
}

// report is the measured table.
type report struct {
	rows    []row
	libCold sample
	elapsed time.Duration
}

// step is one timed run of one tool; cold steps re-insert the card first.
type step struct {
	dst  *series
	cold bool
	f    func() (sample, error)
}

// loop runs the steps n times in turn, so that load from other work on the
// machine falls on both tools alike. Warm loops first run each step once
// untimed.
func (b *bench) loop(warm bool, steps ...step) error {
	if warm {
		for _, st := range steps {
			if _, err := st.f(); err != nil {
				return err
			}
		}
	}
	for range b.n {
		for _, st := range steps {
			if st.cold {
				if err := b.reinsert(); err != nil {
					return err
				}
			}
			s, err := st.f()
			if err != nil {
				return err
			}
			*st.dst = append(*st.dst, s)
		}
	}
	return nil
}

// measure runs every series.
func (b *bench) measure() (*report, error) {
	start := time.Now()
	progress := func(what string) {
		fmt.Fprintf(os.Stderr, "bench: %5.1f s  %s\n", time.Since(start).Seconds(), what)
	}
	cliCerts := func() (sample, error) { s, _, err := b.cliCerts(); return s, err }
	var cbCold, p15Cold, p11Cold, cbWarm, p15Warm, libWarm, cbSignCold, p11SignCold, cbSignWarm, p11SignWarm series

	progress(fmt.Sprintf("list certificates, cold (%d×3 insertions)", b.n))
	if err := b.loop(false, step{&cbCold, true, cliCerts}, step{&p15Cold, true, b.pkcs15List}, step{&p11Cold, true, b.pkcs11List}); err != nil {
		return nil, err
	}
	progress("list certificates, warm")
	if err := b.loop(true, step{&cbWarm, false, cliCerts}, step{&p15Warm, false, b.pkcs15List}); err != nil {
		return nil, err
	}
	progress("list certificates, library with a shared cache")
	if err := b.reinsert(); err != nil {
		return nil, err
	}
	lib := cards.New(cards.Options{}) // as the host's, with no configuration file
	libCold, err := b.libList(lib)
	if err != nil {
		return nil, err
	}
	if err := b.loop(false, step{&libWarm, false, func() (sample, error) { return b.libList(lib) }}); err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("verify PIN + sign, cold (%d×2 insertions)", b.n))
	if err := b.loop(false, step{&cbSignCold, true, b.cliSign}, step{&p11SignCold, true, b.pkcs11Sign}); err != nil {
		return nil, err
	}
	progress("verify PIN + sign, warm")
	if err := b.loop(true, step{&cbSignWarm, false, b.cliSign}, step{&p11SignWarm, false, b.pkcs11Sign}); err != nil {
		return nil, err
	}
	progress("done")

	return &report{
		libCold: libCold,
		elapsed: time.Since(start),
		rows: []row{
			{"1  list certificates, cold", "cli certs", cbCold, "pkcs15-tool --list-certificates", p15Cold},
			{"1b list certificates, cold", "cli certs (=1)", cbCold, "pkcs11-tool --list-objects", p11Cold},
			{"2  list certificates, warm", "library+cache", libWarm, "pkcs15-tool, run again", p15Warm},
			{"2b list certificates, warm", "cli certs, run again", cbWarm, "pkcs15-tool, run again", p15Warm},
			{"3  verify PIN + sign, cold", "cli sign", cbSignCold, "pkcs11-tool --sign", p11SignCold},
			{"3b verify PIN + sign, warm", "cli sign, run again", cbSignWarm, "pkcs11-tool --sign, again", p11SignWarm},
		},
	}, nil
}

// fmtDur prints a duration in ms, or µs below one millisecond.
func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// write prints the table and what its rows mean.
func (r *report) write(w io.Writer, n int) {
	// Right-aligned cells; the text columns are padded here to one width,
	// and the two spaces AlignRight puts before the first column are cut.
	var tab bytes.Buffer
	tw := tabwriter.NewWriter(&tab, 0, 0, 2, ' ', tabwriter.AlignRight)
	opW, cbW, oscW := 0, 0, 0
	for _, x := range r.rows {
		opW, cbW, oscW = max(opW, len(x.op)), max(cbW, len(x.cbHow)), max(oscW, len(x.oscHow))
	}
	left := func(s string, w int) string { return s + strings.Repeat(" ", w-len(s)) }
	fmt.Fprintf(tw, "%s\t%s\tmedian\tmin\tAPDUs\t  %s\tmedian\tmin\tAPDUs\t  ratio time\tratio APDUs\t\n",
		left("operation", opW), left("CardBridge", cbW), left("OpenSC", oscW))
	for _, x := range r.rows {
		cbA, cbAT := x.cb.apdus()
		oA, oAT := x.osc.apdus()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t  %s\t%s\t%s\t%s\t  %s\t%s\t\n",
			left(x.op, opW), left(x.cbHow, cbW), fmtDur(x.cb.median()), fmtDur(x.cb.min()), cbAT,
			left(x.oscHow, oscW), fmtDur(x.osc.median()), fmtDur(x.osc.min()), oAT,
			benchfmt.Ratio(float64(x.osc.median()), float64(x.cb.median())), benchfmt.Ratio(oA, cbA))
	}
	tw.Flush()
	for line := range strings.Lines(tab.String()) {
		io.WriteString(w, strings.TrimPrefix(line, "  "))
	}
	fmt.Fprintf(w, `
Ratios are OpenSC / CardBridge (median time; median APDUs). N = %d runs per cell, whole bench %.0f s.
cold  = card pulled and re-inserted (softcard control) before every run of either tool: nothing selected, PIN not verified.
warm  = card left in; one untimed warm-up run of each tool first; runs of the two tools alternate.
Row 2 CardBridge is in-process, not a CLI: cards.Manager.Certificates(reader) on one cards.New(cards.Options{}) kept for
      every run (fresh PC/SC contexts per call, as in the host; the Manager's certificate cache stays warm); its first call
      after insertion (cold, same process, new Manager, not in the table) took %s, %d APDUs.
      OpenSC keeps no certificate cache across processes, so its warm figure is simply the same command run again.
Row 2b shows the like-for-like alternative: both tools as fresh processes on a card that stays in.
`, n, r.elapsed.Seconds(), fmtDur(r.libCold.d), r.libCold.apdus)
}

// header prints what was measured, with which versions and how.
func (b *bench) header(w io.Writer, rev, pcscdNote string) {
	ver, err := b.output(b.cli, "version")
	if err != nil {
		ver = []byte("unknown")
	}
	osc := "OpenSC (version unknown)"
	if out, err := b.output("opensc-tool", "--info"); err == nil {
		osc, _, _ = strings.Cut(string(out), "\n")
	}
	driver := "default card-driver probing (OPENSC_DRIVER not set)"
	if d := os.Getenv("OPENSC_DRIVER"); d != "" {
		driver = "OPENSC_DRIVER=" + d + " from the environment (skips other drivers' probes)"
	}
	fmt.Fprintf(w, "CardBridge vs OpenSC: certificate listing and PIN+sign on the SAME virtual PIV card (softcard TEST card: RSA-2048 cert1 in 9A, cert2 in 9D), %s, %s\n",
		b.reader, time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Versions: cardbridge %s (%s); %s; %s\n", strings.TrimSpace(string(ver)), rev, strings.TrimSpace(osc), strings.TrimSpace(pcscdNote))
	fmt.Fprintf(w, "OpenSC: %s; OPENSC_CONF only adds ignored_readers = \"Virtual PCD 00 00\" (OpenSC never touches slot 0); reader index %d, PKCS#11 slot index %d\n",
		driver, b.oscReader, b.p11Slot)
	fmt.Fprintf(w, "Time: wall clock per process, fork/exec to exit (CLI rows), except the CardBridge library row 2 (in-process cards.Manager call). APDUs: counted by the card (control GET /status before and after each run), incl. GET RESPONSE and chained parts; a range means runs differed.\n")
	fmt.Fprintf(w, "Sign: SHA-256 RSA PKCS#1 v1.5 over a 4 KiB file with key 9A: `cardbridge sign --in FILE --pin-stdin --json` (PIN on stdin) vs `pkcs11-tool --login --pin 123456 --sign --id 01 --mechanism SHA256-RSA-PKCS`.\n\n")
}
