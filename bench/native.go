package main

// The native-host section: CardBridge started as a Chrome-family browser
// starts it, talking native-messaging frames over pipes
// (internal/nativeclient, the integration tests' client), measured against
// two minimal Go hosts (start-up, memory): plain Go, and Go linked to
// libpcsclite with cgo; and against the library in-process (signature
// through a cards.Manager).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cardbridge/cardbridge/bench/benchfmt"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/p11"
	"github.com/cardbridge/cardbridge/internal/install"
	"github.com/cardbridge/cardbridge/internal/nativeclient"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// chromeArgs is the argument Chrome passes the host: the calling
// extension's origin (here CardBridge's development extension).
var chromeArgs = nativeclient.ChromeArgs(install.DevExtensionID)

// nativeOrigin is the page origin the bench's requests carry, as the
// extension forwards a page's.
const nativeOrigin = "https://bench.cardbridge.test"

// frameTimeout bounds each wait for a frame from a host.
const frameTimeout = 30 * time.Second

// nativeHost is one host process, reached through the native-protocol
// client the integration tests use too.
type nativeHost struct {
	*nativeclient.Host
}

// nativeBench measures the native-messaging host.
type nativeBench struct {
	*bench
	env      []string // the hosts' environment: private HOME, no configuration file
	digest   []byte   // SHA-256 of b.data, signed by row 6
	pub      *rsa.PublicKey
	lib      *cards.Manager // the library side of row 6
	viaP11   *cards.Manager // row 6b: the same card through OpenSC's PKCS#11 module; nil without it
	verified int            // signatures checked with crypto/rsa
}

// startNative starts bin with Chrome's argument and returns once it has
// read the first frame, which must be the hello event; d runs from just
// before fork/exec to that read.
func (nb *nativeBench) startNative(bin string) (h *nativeHost, d time.Duration, err error) {
	c, err := nativeclient.Start(bin, nativeclient.Options{Args: chromeArgs, Env: nb.env})
	if err != nil {
		return nil, 0, err
	}
	h = &nativeHost{c}
	hello, err := h.Hello(frameTimeout)
	if err != nil {
		h.Kill()
		return nil, 0, fmt.Errorf("%s: %w\n%s", filepath.Base(bin), err, h.Stderr())
	}
	return h, hello.At.Sub(h.Started()), nil
}

// call sends one request and decodes its result into result (unless nil).
// The time runs from writing the request to reading its reply; events
// read meanwhile are set aside (and counted).
func (h *nativeHost) call(command string, args, result any) (time.Duration, error) {
	m, d, err := h.Call(command, nativeOrigin, args, frameTimeout)
	if err == nil {
		err = m.Err()
	}
	if err == nil && result != nil {
		if err = m.DecodeResult(result); err != nil {
			err = fmt.Errorf("result: %w", err)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", command, err)
	}
	return d, nil
}

// exitGrace is how long a host gets to exit after its stdin ends; Chrome
// too gives a host a short grace before it kills it.
const exitGrace = 3 * time.Second

// startSettle is how long a started host is left to finish starting up
// before its memory is read and its stdin closed. Without it the
// CardBridge host often misses the end of stdin: closed a few ms after
// hello, its reader watcher's SCardCancel can come before the watcher's
// SCardGetStatusChange starts, which then waits for the next reader event.
const startSettle = 50 * time.Millisecond

// startRun is one run of rows 4 and 7: start → hello, then the peak RSS.
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
			h.Kill()
			return 0, 0, false, err
		}
	}
	time.Sleep(startSettle)
	if rss, err = h.PeakRSS(); err != nil {
		h.Kill()
		return 0, 0, false, err
	}
	err = h.Close(exitGrace)
	if errors.Is(err, nativeclient.ErrNoExit) {
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
// A page may ask for raw signatures only when the system configuration
// lists it in rawSignOrigins (see systemConfig).
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

// libSign is row 6 in-process: the card agent's sign minus the process
// boundary and JSON. cards.Manager.SignDigest searches every reader with
// a card for the certificate, as the host's sign does.
func (nb *nativeBench) libSign() (time.Duration, error) {
	start := time.Now()
	sig, err := nb.lib.SignDigest(context.Background(), nb.certID, nb.digest, crypto.SHA256, []byte(testPIN))
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("library sign: %w", err)
	}
	if card.CertID(sig.Certificate) != nb.certID || sig.Algorithm != "RS256" {
		return 0, fmt.Errorf("library sign: signed with %.16s… (%s), want %.16s… (RS256)", card.CertID(sig.Certificate), sig.Algorithm, nb.certID)
	}
	return d, nb.verifySig("library sign", sig.Signature)
}

// p11Sign is row 6b: the same signature in-process through OpenSC's
// PKCS#11 module (internal/cards/p11), the way a vendor module reaches a
// card, against row 6's PIV directly.
func (nb *nativeBench) p11Sign() (time.Duration, error) {
	start := time.Now()
	sig, err := nb.viaP11.SignDigest(context.Background(), nb.certID, nb.digest, crypto.SHA256, []byte(testPIN))
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("PKCS#11 sign: %w", err)
	}
	return d, nb.verifySig("PKCS#11 sign", sig.Signature)
}

// openscModule finds OpenSC's PKCS#11 module, "" when it is not installed.
func openscModule() string {
	for _, pat := range []string{"/usr/lib/*/opensc-pkcs11.so", "/usr/lib/opensc-pkcs11.so", "/usr/lib64/opensc-pkcs11.so"} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return m[0]
		}
	}
	return ""
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

// starter is one host of rows 4 and 7 with its measurements.
type starter struct {
	bin   string
	cb    bool // the CardBridge host (answers one version before its memory is read)
	start series
	rss   []uint64 // VmHWM per start run
	hung  int      // starts killed after exitGrace
}

// nativeReport is the native-host section's measurements.
type nativeReport struct {
	cb, min, pcsc     *starter // rows 4 and 7: CardBridge, bench/minimalhost, bench/minimalhost-pcsc
	longRSS           uint64   // VmHWM of the long-lived host after rows 5-6
	version, readers  series
	hostSign, libSign series
	p11Sign           series // row 6b; empty without OpenSC's module
	p11Module         string
	verified, events  int
	cardReaders       []string // readers with a card before rows 5-6
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
	// The host's own Manager: PC/SC only, as with no configuration file.
	nb := &nativeBench{bench: b, lib: cards.New(cards.Options{})}
	var r0 nativeReport
	if r0.p11Module = openscModule(); r0.p11Module != "" {
		if bs := p11.Backends([]string{r0.p11Module}, nil); len(bs) == 1 {
			nb.viaP11 = cards.New(cards.Options{Backends: []cards.Backend{}, Extra: bs})
		}
	}
	// Raw signatures for a page need the page in the administrator's
	// rawSignOrigins; a development build reads its system file from
	// CARDBRIDGE_SYSTEM_CONFIG (owned by this user, writable by nobody else).
	systemConfig := filepath.Join(home, "system.json")
	if err := os.WriteFile(systemConfig, []byte(`{"rawSignOrigins":["`+nativeOrigin+`"]}`+"\n"), 0o644); err != nil {
		return nil, err
	}
	nb.env = append(slices.DeleteFunc(slices.Clone(b.env), func(s string) bool {
		return strings.HasPrefix(s, "HOME=") || strings.HasPrefix(s, "XDG_CONFIG_HOME=") || strings.HasPrefix(s, "CARDBRIDGE_CONFIG=") || strings.HasPrefix(s, "CARDBRIDGE_SYSTEM_CONFIG=")
	}), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "CARDBRIDGE_CONFIG="+filepath.Join(home, "absent.json"), "CARDBRIDGE_SYSTEM_CONFIG="+systemConfig)
	data, err := os.ReadFile(b.data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	nb.digest = sum[:]
	r := &nativeReport{cb: &starter{bin: b.cli, cb: true}, min: &starter{bin: b.minimal}, pcsc: &starter{bin: b.minimalPCSC}}
	if nb.viaP11 != nil {
		r.p11Module = r0.p11Module
	}

	progress(fmt.Sprintf("start → hello (%d×3 processes, after one untimed start of each)", b.n))
	for i := range b.n + 1 {
		for _, s := range []*starter{r.cb, r.min, r.pcsc} {
			d, rss, hung, err := nb.startRun(s.bin, s.cb)
			if err != nil {
				return nil, err
			}
			s.hung += b2i(hung)
			if i == 0 { // warm-up
				continue
			}
			s.start = append(s.start, sample{d: d})
			s.rss = append(s.rss, rss)
		}
	}

	progress("round trips and sign in one long-lived host, sign through the library")
	h, _, err := nb.startNative(b.cli)
	if err != nil {
		return nil, err
	}
	defer func() {
		if h != nil {
			h.Kill()
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
	steps := []step{
		{&r.version, false, call(protocol.CmdVersion)},
		{&r.readers, false, call(protocol.CmdReaders)},
		{&r.hostSign, false, func() (sample, error) {
			return nb.withAPDUs(func() (time.Duration, error) { return nb.hostSign(h) })
		}},
		{&r.libSign, false, func() (sample, error) { return nb.withAPDUs(nb.libSign) }},
	}
	if nb.viaP11 != nil {
		steps = append(steps, step{&r.p11Sign, false, func() (sample, error) { return nb.withAPDUs(nb.p11Sign) }})
	}
	err = b.loop(true, steps...)
	if err != nil {
		return nil, err
	}
	if r.longRSS, err = h.PeakRSS(); err != nil {
		return nil, err
	}
	r.events = h.EventsSetAside()
	err = h.Close(exitGrace)
	h = nil
	if err != nil {
		return nil, err
	}
	r.verified = nb.verified
	progress("done")
	return r, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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

// The targets for the host's start-up, checked in the report.
const (
	targetStartRatio = 1.25    // start → hello, median, over the cgo-libpcsclite floor (row 4b)
	targetRSS        = 6 << 20 // peak RSS of a fresh host after hello, median (row 7)
)

// metOrMissed says whether a figure is within its target.
func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// write prints the section: what it measures, the table, what rows mean.
func (r *nativeReport) write(w io.Writer, n int, reader string) {
	fmt.Fprintf(w, "\nNative-messaging host: `cardbridge %s` started as Chrome starts it, frames over pipes, private HOME, no user configuration file, a system one that only lists the bench's origin in rawSignOrigins; same card, same run.\n", chromeArgs[0])
	fmt.Fprintf(w, "Time: rows 4, 4b from fork/exec to the hello frame read on stdout; rows 5-6 from request frame written to reply frame read, in one long-lived host process (event frames meanwhile set aside).\n")
	fmt.Fprintf(w, "      Row 6 library: cards.Manager.SignDigest in the bench's process, one cards.New(cards.Options{}) for all runs. APDUs: softcard GET /status before and after each run.\n")
	if r.p11Module != "" {
		fmt.Fprintf(w, "      Row 6b: the same SignDigest through internal/cards/p11 with OpenSC's module %s (C_Login, C_Sign CKM_RSA_PKCS, C_Logout), against row 6's PIV directly; ratio PKCS#11 / PIV.\n", r.p11Module)
	}
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
			x.ratio, x.ratioA = benchfmt.Ratio(float64(cb.median()), float64(peer.median())), benchfmt.Ratio(cbA, pA)
		}
		return x
	}
	cbMed, cbMin := medianMin(r.cb.rss)
	minMed, minMin := medianMin(r.min.rss)
	pcMed, pcMin := medianMin(r.pcsc.rss)
	rows := []nrow{
		timed("4  start → hello", "cardbridge, new process", r.cb.start, "minimal Go host", r.min.start),
		timed("4b start → hello", "cardbridge (=4)", r.cb.start, "minimal Go + libpcsclite (cgo)", r.pcsc.start),
		timed("5  round trip: version, warm", "long-lived host", r.version, "–", nil),
		timed("5b round trip: readers, warm", "long-lived host", r.readers, "–", nil),
		timed("6  verify PIN + sign, warm", "host sign", r.hostSign, "library Manager.SignDigest", r.libSign),
		{"7  peak RSS, fresh process", "after hello + version", fmtMiB(cbMed), fmtMiB(cbMin), "–",
			"minimal, after hello", fmtMiB(minMed), fmtMiB(minMin), "–", benchfmt.Ratio(cbMed, minMed), "–"},
		{"7b peak RSS, fresh process", "cardbridge (=7)", fmtMiB(cbMed), fmtMiB(cbMin), "–",
			"minimal + libpcsclite, after hello", fmtMiB(pcMed), fmtMiB(pcMin), "–", benchfmt.Ratio(cbMed, pcMed), "–"},
		{"7c peak RSS, after rows 5-6", "long-lived host", fmtMiB(float64(r.longRSS)), "–", "–",
			"minimal + libpcsclite (=7b)", fmtMiB(pcMed), fmtMiB(pcMin), "–", benchfmt.Ratio(float64(r.longRSS), pcMed), "–"},
	}
	if len(r.p11Sign) > 0 { // after row 6
		row := timed("6b verify PIN + sign, warm", "library via PKCS#11 (OpenSC)", r.p11Sign, "library PIV direct (=6)", r.libSign)
		rows = slices.Insert(rows, 5, row)
	}

	var tab bytes.Buffer
	tw := tabwriter.NewWriter(&tab, 0, 0, 2, ' ', tabwriter.AlignRight)
	opW, cbW, peerW := len("operation"), len("CardBridge host"), len("peer")
	for _, x := range rows {
		opW, cbW, peerW = max(opW, len([]rune(x.op))), max(cbW, len([]rune(x.cbHow))), max(peerW, len([]rune(x.peerHow)))
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

	startRatio := float64(r.cb.start.median()) / float64(r.pcsc.start.median())
	minRatio := float64(r.cb.start.min()) / float64(r.pcsc.start.min())
	fmt.Fprintf(w, `
Targets: start → hello ≤ %.2fx the cgo-libpcsclite floor (row 4b): %.2fx (%s / %s, medians; mins %.2fx) – %s.
         peak RSS of a fresh host after hello ≤ %s (row 7): %s median, %s min – %s.
`, targetStartRatio, startRatio, fmtDur(r.cb.start.median()), fmtDur(r.pcsc.start.median()), minRatio, metOrMissed(startRatio <= targetStartRatio),
		fmtMiB(targetRSS), fmtMiB(cbMed), fmtMiB(cbMin), metOrMissed(cbMed <= targetRSS))
	fmt.Fprintf(w, `
Ratios here are CardBridge host / peer (median time, or median peak RSS in rows 7-7c; median APDUs): above 1x the host is slower or larger.
Row 4 peer: bench/minimalhost, plain Go (encoding/binary, io, os) that writes one hello frame and exits at stdin EOF, the floor a
      bare Go program reaches. Row 4b peer: bench/minimalhost-pcsc, the same program linked with cgo to libpcsclite through
      github.com/ebfe/scard (what CardBridge links for PC/SC; nothing in it is called before the hello), the floor for any Go
      host that talks PC/SC. One untimed start of each first; starts of the three alternate. For comparison only, not measured
      here: Web eID's Qt host is about 46 ms to start per our reference notes.
Rows 5, 5b: version is answered from memory; readers lists every PC/SC reader (fresh PC/SC context per request). One untimed
      warm-up of each row; rows 5, 5b and both sides of 6 alternate.
Row 6: RSA-2048 PKCS#1 v1.5 over the SHA-256 digest of the 4 KiB file, key 9A (certificateId from the host's certificates for
      %q), PIN 123456; the bench's page origin is in rawSignOrigins of the hosts' system configuration
      (CARDBRIDGE_SYSTEM_CONFIG, development builds). sign takes no reader, so the host and the library alike look the certificate up in every
      reader with a card (%d with a card when row 6 began: %s); the library side is the host's per-request
      work (cards.Manager: fresh PC/SC contexts, reader lock, certificate cache) minus the process boundary and JSON.
Rows 7, 7b: every start of rows 4 and 4b, read after hello and a %v pause (CardBridge: after hello, one version round trip,
      the pause); row 7c: the long-lived host of rows 5-6 after all its runs (one reading, so no min).
Checks, native host: %d signatures from row 6 verified with crypto/rsa (key from the host's certificate); %d event frames set aside; N = %d.
Exit at stdin EOF (within %v, else killed): CardBridge %d of %d starts hung, minimal %d of %d, minimal + libpcsclite %d of %d.
`, reader, len(r.cardReaders), strings.Join(r.cardReaders, ", "), startSettle, r.verified, r.events, n, exitGrace,
		r.cb.hung, n+1, r.min.hung, n+1, r.pcsc.hung, n+1)
}
