package main

// The native-host section: CardBridge started as a Chrome-family browser
// starts it, talking native-messaging frames over pipes, measured against
// a bare Go host (start-up, memory) and against the library in-process
// (signature).

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/install"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// chromeOrigin is the argument Chrome passes the host: the calling
// extension's origin (here CardBridge's development extension).
var chromeOrigin = "chrome-extension://" + install.DevExtensionID + "/"

// nativeOrigin is the page origin the bench's requests carry, as the
// extension forwards a page's.
const nativeOrigin = "https://bench.cardbridge.test"

// frameTimeout bounds each wait for a frame from a host.
const frameTimeout = 30 * time.Second

// nativeHost is one host process with its stdin and stdout on pipes.
type nativeHost struct {
	cmd    *exec.Cmd
	stdin  *os.File // our end of the host's stdin
	stdout *os.File // our end of the host's stdout
	stderr bytes.Buffer
	nextID int
	events int // event frames skipped while waiting for replies
}

// nativeMessage is any frame a host writes: a reply or an event.
type nativeMessage struct {
	ID     json.RawMessage `json:"id"`
	Event  string          `json:"event"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// nativeBench measures the native-messaging host.
type nativeBench struct {
	*bench
	env      []string // the hosts' environment: private HOME, no configuration file
	digest   []byte   // SHA-256 of b.data, signed by row 6
	pub      *rsa.PublicKey
	cache    *card.Cache // the library side of row 6
	verified int         // signatures checked with crypto/rsa
}

// startNative starts bin with Chrome's argument and returns once it has
// read the first frame, which must be the hello event; d runs from just
// before fork/exec to that read.
func (nb *nativeBench) startNative(bin string) (h *nativeHost, d time.Duration, err error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, 0, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, 0, err
	}
	h = &nativeHost{stdin: inW, stdout: outR}
	h.cmd = exec.Command(bin, chromeOrigin)
	h.cmd.Env = nb.env
	h.cmd.Stdin, h.cmd.Stdout, h.cmd.Stderr = inR, outW, &h.stderr
	start := time.Now()
	err = h.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, 0, err
	}
	f, t, err := h.read()
	if err == nil {
		var m nativeMessage
		if json.Unmarshal(f, &m) != nil || m.Event != protocol.EventHello {
			err = fmt.Errorf("first frame %.200q, want the hello event", f)
		}
	}
	if err != nil {
		h.kill()
		return nil, 0, fmt.Errorf("%s: hello: %w\n%s", filepath.Base(bin), err, h.stderr.Bytes())
	}
	return h, t.Sub(start), nil
}

// read reads one frame and returns the time it was read.
func (h *nativeHost) read() ([]byte, time.Time, error) {
	if err := h.stdout.SetReadDeadline(time.Now().Add(frameTimeout)); err != nil {
		return nil, time.Time{}, err
	}
	f, err := protocol.ReadFrame(h.stdout)
	return f, time.Now(), err
}

// call sends one request and decodes its result into result (unless nil).
// The time runs from writing the request to reading its reply; events
// read meanwhile are skipped.
func (h *nativeHost) call(command string, args, result any) (time.Duration, error) {
	h.nextID++
	id := strconv.Itoa(h.nextID)
	req := map[string]any{"id": h.nextID, "command": command, "origin": nativeOrigin}
	if args != nil {
		req["args"] = args
	}
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := protocol.WriteFrame(h.stdin, body); err != nil {
		return 0, fmt.Errorf("%s: %w", command, err)
	}
	for {
		f, t, err := h.read()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", command, err)
		}
		var m nativeMessage
		if err := json.Unmarshal(f, &m); err != nil {
			return 0, fmt.Errorf("%s: host wrote %.200q: %w", command, f, err)
		}
		switch {
		case m.Event != "":
			h.events++
			continue
		case string(m.ID) != id:
			return 0, fmt.Errorf("%s: reply for id %s, want %s", command, m.ID, id)
		case m.Error != nil:
			return 0, fmt.Errorf("%s: %s: %s", command, m.Error.Code, m.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				return 0, fmt.Errorf("%s: result: %w", command, err)
			}
		}
		return t.Sub(start), nil
	}
}

// peakRSS returns the host's VmHWM (peak resident set) in bytes.
func (h *nativeHost) peakRSS() (uint64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// errNoExit reports a host still running exitGrace after its stdin ended.
var errNoExit = errors.New("did not exit after stdin closed")

// exitGrace is how long a host gets to exit after its stdin ends; Chrome
// too gives a host a short grace before it kills it.
const exitGrace = 3 * time.Second

// close ends stdin, as a browser does when the port closes, and expects
// the host to exit 0 within exitGrace; one that does not is killed and
// errNoExit returned.
func (h *nativeHost) close() error {
	h.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(exitGrace):
		h.cmd.Process.Kill()
		<-done
		err = errNoExit
	}
	h.stdout.Close()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(h.cmd.Path), err, h.stderr.Bytes())
	}
	return nil
}

// kill ends a host after a failure.
func (h *nativeHost) kill() {
	h.cmd.Process.Kill()
	h.stdin.Close()
	h.cmd.Wait()
	h.stdout.Close()
}

// startSettle is how long a started host is left to finish starting up
// before its memory is read and its stdin closed. Without it the
// CardBridge host often misses the end of stdin: closed a few ms after
// hello, its reader watcher's SCardCancel can come before the watcher's
// SCardGetStatusChange starts, which then waits for the next reader event.
const startSettle = 50 * time.Millisecond

// startRun is one run of row 4 (and 7): start → hello, then the peak RSS.
// The CardBridge host first answers one version, so that its read loop is
// running; then each host gets startSettle before its memory is read. A
// host that does not exit at stdin EOF is killed and reported in hung.
func (nb *nativeBench) startRun(bin string, isCardBridge bool) (d time.Duration, rss uint64, hung bool, err error) {
	h, d, err := nb.startNative(bin)
	if err != nil {
		return 0, 0, false, err
	}
	if isCardBridge {
		if _, err := h.call(protocol.CmdVersion, nil, nil); err != nil {
			h.kill()
			return 0, 0, false, err
		}
	}
	time.Sleep(startSettle)
	if rss, err = h.peakRSS(); err != nil {
		h.kill()
		return 0, 0, false, err
	}
	err = h.close()
	if errors.Is(err, errNoExit) {
		return d, rss, true, nil
	}
	return d, rss, false, err
}

// withAPDUs wraps an operation with the card's APDU counter.
func (nb *nativeBench) withAPDUs(f func() (time.Duration, error)) (sample, error) {
	before, err := nb.status()
	if err != nil {
		return sample{}, err
	}
	d, err := f()
	if err != nil {
		return sample{}, err
	}
	after, err := nb.status()
	if err != nil {
		return sample{}, err
	}
	return sample{d: d, apdus: after.APDUs - before.APDUs}, nil
}

// hostSign is row 6 through the host: sign a digest with certificate 9A.
func (nb *nativeBench) hostSign(h *nativeHost) (time.Duration, error) {
	var res struct {
		Signature   []byte `json:"signature"`
		Algorithm   string `json:"algorithm"`
		Certificate []byte `json:"certificate"`
	}
	d, err := h.call(protocol.CmdSign, map[string]any{
		"certificateId": nb.certID, "pin": testPIN, "hashAlgorithm": "SHA-256", "digest": nb.digest,
	}, &res)
	if err != nil {
		return 0, err
	}
	if card.CertID(res.Certificate) != nb.certID || res.Algorithm != "RS256" {
		return 0, fmt.Errorf("host sign: signed with %.16s… (%s), want %.16s… (RS256)", card.CertID(res.Certificate), res.Algorithm, nb.certID)
	}
	return d, nb.verifySig("host sign", res.Signature)
}

// libSign is row 6 in-process: what the host does per request, minus the
// process boundary, JSON and the search across readers.
func (nb *nativeBench) libSign() (time.Duration, error) {
	start := time.Now()
	p, conn, err := card.Open(nb.x, nb.reader, nb.cache)
	if err != nil {
		return 0, err
	}
	sig, err := p.Sign(nb.certID, nb.digest, crypto.SHA256, []byte(testPIN))
	conn.Close()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("library sign: %w", err)
	}
	return d, nb.verifySig("library sign", sig)
}

func (nb *nativeBench) verifySig(who string, sig []byte) error {
	if err := rsa.VerifyPKCS1v15(nb.pub, crypto.SHA256, nb.digest, sig); err != nil {
		return fmt.Errorf("%s: signature does not verify: %w", who, err)
	}
	nb.verified++
	return nil
}

// slotCertificate asks the host for the certificates of b.reader and
// returns the public key of the one the rest of the bench signs with.
func (nb *nativeBench) slotCertificate(h *nativeHost) (*rsa.PublicKey, error) {
	var res struct {
		Certificates []struct {
			ID          string `json:"id"`
			Reader      string `json:"reader"`
			Certificate []byte `json:"certificate"`
		} `json:"certificates"`
	}
	if _, err := h.call(protocol.CmdCertificates, map[string]any{"reader": nb.reader}, &res); err != nil {
		return nil, err
	}
	for _, c := range res.Certificates {
		if c.ID != nb.certID || c.Reader != nb.reader {
			continue
		}
		cert, err := x509.ParseCertificate(c.Certificate)
		if err != nil {
			return nil, fmt.Errorf("host certificates: %w", err)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || pub.Size() != 256 {
			return nil, fmt.Errorf("host certificates: %.16s… has a %T key, want RSA-2048", c.ID, cert.PublicKey)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("host certificates of %q: no %.16s…", nb.reader, nb.certID)
}

// nativeReport is the native-host section's measurements.
type nativeReport struct {
	cbStart, minStart series
	cbRSS, minRSS     []uint64 // VmHWM per start run
	longRSS           uint64   // VmHWM of the long-lived host after rows 5-6
	version, readers  series
	hostSign, libSign series
	verified, events  int
	cbHung, minHung   int      // hosts of rows 4 and 7 killed after exitGrace
	cardReaders       []string // readers with a card before rows 5-6
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// measureNative runs the native-host rows.
func (b *bench) measureNative() (*nativeReport, error) {
	start := time.Now()
	progress := func(what string) {
		fmt.Fprintf(os.Stderr, "bench: %5.1f s  native host: %s\n", time.Since(start).Seconds(), what)
	}
	home := filepath.Join(b.dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	nb := &nativeBench{bench: b, cache: card.NewCache()}
	nb.env = append(slices.DeleteFunc(slices.Clone(b.env), func(s string) bool {
		return strings.HasPrefix(s, "HOME=") || strings.HasPrefix(s, "XDG_CONFIG_HOME=") || strings.HasPrefix(s, "CARDBRIDGE_CONFIG=")
	}), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "CARDBRIDGE_CONFIG="+filepath.Join(home, "absent.json"))
	data, err := os.ReadFile(b.data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	nb.digest = sum[:]
	r := &nativeReport{}

	progress(fmt.Sprintf("start → hello (%d×2 processes, after one untimed start of each)", b.n))
	for i := range b.n + 1 {
		cbD, cbRSS, cbHung, err := nb.startRun(b.cli, true)
		if err != nil {
			return nil, err
		}
		minD, minRSS, minHung, err := nb.startRun(b.minimal, false)
		if err != nil {
			return nil, err
		}
		r.cbHung, r.minHung = r.cbHung+b2i(cbHung), r.minHung+b2i(minHung)
		if i == 0 { // warm-up
			continue
		}
		r.cbStart, r.minStart = append(r.cbStart, sample{d: cbD}), append(r.minStart, sample{d: minD})
		r.cbRSS, r.minRSS = append(r.cbRSS, cbRSS), append(r.minRSS, minRSS)
	}

	progress("round trips and sign in one long-lived host, sign through the library")
	h, _, err := nb.startNative(b.cli)
	if err != nil {
		return nil, err
	}
	defer func() {
		if h != nil {
			h.kill()
		}
	}()
	if nb.pub, err = nb.slotCertificate(h); err != nil {
		return nil, err
	}
	if r.cardReaders, err = b.cardReaders(); err != nil {
		return nil, err
	}
	call := func(command string) func() (sample, error) {
		return func() (sample, error) {
			return nb.withAPDUs(func() (time.Duration, error) { return h.call(command, nil, nil) })
		}
	}
	err = b.loop(true,
		step{&r.version, false, call(protocol.CmdVersion)},
		step{&r.readers, false, call(protocol.CmdReaders)},
		step{&r.hostSign, false, func() (sample, error) {
			return nb.withAPDUs(func() (time.Duration, error) { return nb.hostSign(h) })
		}},
		step{&r.libSign, false, func() (sample, error) { return nb.withAPDUs(nb.libSign) }},
	)
	if err != nil {
		return nil, err
	}
	if r.longRSS, err = h.peakRSS(); err != nil {
		return nil, err
	}
	r.events = h.events
	err = h.close()
	h = nil
	if err != nil {
		return nil, err
	}
	r.verified = nb.verified
	progress("done")
	return r, nil
}

// cardReaders lists the readers that have a card, slot 0's included.
func (b *bench) cardReaders() ([]string, error) {
	names, err := b.x.Readers()
	if err != nil {
		return nil, err
	}
	states, err := b.x.Status(names)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range states {
		if s.Present() {
			out = append(out, strconv.Quote(s.Reader))
		}
	}
	return out, nil
}

// fmtMiB prints a byte count in MiB.
func fmtMiB(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }

// medianMin returns the median and the minimum of v.
func medianMin(v []uint64) (med, lo float64) {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		med = float64(s[len(s)/2])
	} else {
		med = float64(s[len(s)/2-1]+s[len(s)/2]) / 2
	}
	return med, float64(s[0])
}

// write prints the section: what it measures, the table, what rows mean.
func (r *nativeReport) write(w io.Writer, n int, reader string) {
	fmt.Fprintf(w, "\nNative-messaging host: `cardbridge %s` started as Chrome starts it, frames over pipes, private HOME and no configuration file; same card, same run.\n", chromeOrigin)
	fmt.Fprintf(w, "Time: row 4 from fork/exec to the hello frame read on stdout; rows 5-6 from request frame written to reply frame read, in one long-lived host process (event frames meanwhile skipped).\n")
	fmt.Fprintf(w, "      Row 6 library: card.Open + PIV.Sign + Close in the bench's process, one PC/SC context, shared card.NewCache(). APDUs: softcard GET /status before and after each run.\n")
	fmt.Fprintf(w, "Memory: VmHWM (peak resident set) from /proc/PID/status, read while the host still runs (before its stdin is closed).\n\n")

	type nrow struct{ op, cbHow, cbMed, cbMin, cbA, peerHow, peerMed, peerMin, peerA, ratio, ratioA string }
	timed := func(op, cbHow string, cb series, peerHow string, peer series) nrow {
		x := nrow{op: op, cbHow: cbHow, cbMed: fmtDur(cb.median()), cbMin: fmtDur(cb.min()), peerHow: peerHow,
			peerMed: "–", peerMin: "–", peerA: "–", ratio: "–", ratioA: "–"}
		var cbA float64
		cbA, x.cbA = cb.apdus()
		if peer != nil {
			var pA float64
			pA, x.peerA = peer.apdus()
			x.peerMed, x.peerMin = fmtDur(peer.median()), fmtDur(peer.min())
			x.ratio, x.ratioA = fmtRatio(float64(cb.median()), float64(peer.median())), fmtRatio(cbA, pA)
		}
		return x
	}
	cbMed, cbMin := medianMin(r.cbRSS)
	minMed, minMin := medianMin(r.minRSS)
	rows := []nrow{
		timed("4  start → hello", "cardbridge, new process", r.cbStart, "minimal Go host", r.minStart),
		timed("5  round trip: version, warm", "long-lived host", r.version, "–", nil),
		timed("5b round trip: readers, warm", "long-lived host", r.readers, "–", nil),
		timed("6  verify PIN + sign, warm", "host sign", r.hostSign, "library Open+Sign", r.libSign),
		{"7  peak RSS, fresh process", "after hello + version", fmtMiB(cbMed), fmtMiB(cbMin), "–",
			"minimal, after hello", fmtMiB(minMed), fmtMiB(minMin), "–", fmtRatio(cbMed, minMed), "–"},
		{"7b peak RSS, after rows 5-6", "long-lived host", fmtMiB(float64(r.longRSS)), "–", "–",
			"minimal (=7)", fmtMiB(minMed), fmtMiB(minMin), "–", fmtRatio(float64(r.longRSS), minMed), "–"},
	}

	var tab bytes.Buffer
	tw := tabwriter.NewWriter(&tab, 0, 0, 2, ' ', tabwriter.AlignRight)
	opW, cbW, peerW := len("operation"), len("CardBridge host"), len("peer")
	for _, x := range rows {
		opW, cbW, peerW = max(opW, len(x.op)), max(cbW, len(x.cbHow)), max(peerW, len(x.peerHow))
	}
	// Pad by characters, not bytes: "→" and "–" are one column wide.
	left := func(s string, w int) string { return s + strings.Repeat(" ", w-len([]rune(s))) }
	fmt.Fprintf(tw, "%s\t%s\tmedian\tmin\tAPDUs\t  %s\tmedian\tmin\tAPDUs\t  ratio\tratio APDUs\t\n",
		left("operation", opW), left("CardBridge host", cbW), left("peer", peerW))
	for _, x := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t  %s\t%s\t%s\t%s\t  %s\t%s\t\n",
			left(x.op, opW), left(x.cbHow, cbW), x.cbMed, x.cbMin, x.cbA,
			left(x.peerHow, peerW), x.peerMed, x.peerMin, x.peerA, x.ratio, x.ratioA)
	}
	tw.Flush()
	for line := range strings.Lines(tab.String()) {
		io.WriteString(w, strings.TrimPrefix(line, "  "))
	}
	fmt.Fprintf(w, `
Ratios here are CardBridge host / peer (median time, or median peak RSS in rows 7 and 7b; median APDUs): above 1x the host is slower or larger.
Row 4 peer: bench/minimalhost, plain Go (encoding/binary, io, os) that writes one hello frame and exits at stdin EOF, the floor a
      bare Go program reaches. One untimed start of each first; starts alternate. For comparison only, not measured here:
      Web eID's Qt host is about 46 ms to start per our reference notes.
Rows 5, 5b: version is answered from memory; readers lists every PC/SC reader (fresh PC/SC context per request). One untimed
      warm-up of each row; rows 5, 5b and both sides of 6 alternate.
Row 6: RSA-2048 PKCS#1 v1.5 over the SHA-256 digest of the 4 KiB file, key 9A (certificateId from the host's certificates for
      %q), PIN 123456. sign takes no reader, so the host looks the certificate up in every reader with a card
      (%d with a card when row 6 began: %s).
Row 7: every start of row 4, read after hello and a %v pause (CardBridge: after hello, one version round trip, the
      pause); row 7b: the long-lived host of rows 5-6 after all its runs (one reading, so no min).
Checks, native host: %d signatures from row 6 verified with crypto/rsa (key from the host's certificate); %d event frames skipped; N = %d.
Exit at stdin EOF (within %v, else killed): CardBridge %d of %d starts hung, minimal %d of %d.
`, reader, len(r.cardReaders), strings.Join(r.cardReaders, ", "), startSettle, r.verified, r.events, n, exitGrace, r.cbHung, n+1, r.minHung, n+1)
}
