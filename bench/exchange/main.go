// Command exchange measures CardBridge's 公文 document exchange
// (docs/exchange.md) for `make bench`. scripts/bench.sh builds it and the
// centre (cmd/cardbridge-centre), runs it after the card bench on the same
// virtual TEST card, and appends its table to out/bench.txt. Three rows,
// measured in one run:
//
// Row 1, receiving with the card: the documents per second agent.Sync
// receives (events read, envelope fetched, key unwrapped with cert2,
// content decrypted, signature, chain and DI checked, every file written
// to the archive through a temporary file, fsync and rename, the receipt
// signed with cert1 and reported), with the TEST card that
// cardbridge-softcard serves on vpcd slot 1 as the card (a cards.Manager
// session: every RSA operation goes through pcscd to the card), against the
// same number of documents received by an agent whose keys are software
// RSA-2048 keys (the raw cryptography floor; the same agency model as
// internal/exchange/exchangetest.Agency, without its testing dependency).
// A software sender queues and uploads the documents beforehand, in two
// batches that alternate between the receivers, each taken by one Sync;
// the centre is in-process (internal/centre/api over SQLite, a loopback
// port, as cardbridge-centre serves it). The
// card is inserted through the softcard's control endpoint, as the card
// bench does, and the CA certificates the centre and agents trust are the
// ones in the softcard state (State.CACerts) plus the software agencies'
// TEST CA.
//
// Row 2, the centre under load: -agents agencies (software keys, each its
// own agent home), whose agents all run agent.Watch at once (the push
// channel, a sync at each wake-up), each sending -per-agent documents to
// its next neighbours and receiving as many: documents per second from
// the start until every sender's outbox shows 使用者確認 (user-confirmed),
// and the centre's request rate, on SQLite and on PostgreSQL (pgtest, with
// fsync on as SQLite syncs every commit; not measured when PostgreSQL is
// not installed), the same workload and keys on each.
//
// Row 3, a city's idle agents: cardbridge-centre serve in its own process
// over SQLite, with -city agencies put in its directory beforehand
// (store.AddAgency), each logged in with its own card key (P-256, ES256
// tokens) from its own loopback address and holding the push channel
// (agent.Client.Push); then one document sent to all of them (packages of
// api.MaxRecipients): the time from the first upload until the last agent
// got its push message, against a package to one agent with all of them
// connected; and the centre's VmRSS (/proc/PID/status) before and after
// they connected, divided by their number. The row needs an open-files
// limit above -city (Go raises the soft limit to the hard one).
//
// Every result is checked, so that a broken path is never reported as a
// fast one: the counts of documents received, every archived file byte for
// byte against what was sent, every receipt's CMS signature against the
// receiver's cert1 and the envelope digest, every sender-side state, every
// push message's package and recipient, and no error under load.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	_ "modernc.org/sqlite" // the centre's and agents' store

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/bench/benchfmt"
	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/di"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench exchange: %v\n", err)
		cleanups.run()
		os.Exit(1)
	}
	cleanups.run()
}

type bench struct {
	dir       string
	ctl       string // softcard control address
	reader    string
	pin       string
	state     string // softcard state file
	centreBin string // cardbridge-centre
	docs      int    // row 1
	attach    int    // attachment size, bytes
	agents    int    // row 2
	perAgent  int
	city      int // row 3
	rounds    int
	hc        *http.Client
	ca        *testca.Hierarchy // the software agencies' TEST CA
	nextUBN   int
	start     time.Time
}

func run() error {
	b := &bench{hc: &http.Client{Timeout: 30 * time.Second}, start: time.Now(), nextUBN: 20000000}
	out := flag.String("out", "", "append the table to this file")
	flag.StringVar(&b.dir, "dir", "", "scratch directory")
	flag.StringVar(&b.ctl, "control", "", "softcard control address (host:port)")
	flag.StringVar(&b.reader, "reader", "Virtual PCD 00 01", "PC/SC reader of the softcard")
	flag.StringVar(&b.pin, "pin", "123456", "the TEST card's PIN")
	flag.StringVar(&b.state, "state", "", "softcard state file (card.json)")
	flag.StringVar(&b.centreBin, "centre", "", "cardbridge-centre binary (row 3)")
	flag.IntVar(&b.docs, "docs", 50, "row 1: documents received by each agent")
	attachKiB := flag.Int("attach", 100, "attachment size of every document, KiB")
	flag.IntVar(&b.agents, "agents", 50, "row 2: agents at once")
	flag.IntVar(&b.perAgent, "per-agent", 4, "row 2: documents each agent sends (and receives)")
	flag.IntVar(&b.city, "city", 2000, "row 3: idle agents connected to one centre")
	flag.IntVar(&b.rounds, "rounds", 3, "row 3: documents sent to all of them")
	rows := flag.String("rows", "123", "the rows to run (for trying one; make bench runs all)")
	flag.Parse()
	b.attach = *attachKiB << 10
	run1, run2, run3 := strings.Contains(*rows, "1"), strings.Contains(*rows, "2"), strings.Contains(*rows, "3")
	if b.dir == "" || run1 && (b.ctl == "" || b.state == "") || run3 && b.centreBin == "" {
		return errors.New("-dir, and -control and -state for row 1, -centre for row 3, are required")
	}
	if b.docs < 1 || b.agents < 2 || b.perAgent < 1 || b.perAgent >= b.agents || b.city < 1 || b.rounds < 1 || b.attach < 0 {
		return errors.New("-docs ≥ 1, -agents ≥ 2, 1 ≤ -per-agent < -agents, -city ≥ 1, -rounds ≥ 1")
	}
	var err error
	if b.centreBin, err = filepath.Abs(b.centreBin); err != nil {
		return err
	}
	if b.ca, err = testca.New(nil, time.Now()); err != nil {
		return err
	}
	// A signal ends the run at once, after the cleanups (PostgreSQL, the
	// centre process).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cleanups.run()
		os.Exit(130)
	}()
	ctx := context.Background()
	// Many agents in one process share http.DefaultTransport, which keeps
	// two idle connections per host; each real agent is its own process
	// with its own, so the bench lets every agent keep its connection.
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = 4 * b.agents

	var r1 *receiveResult
	var r2 []*loadResult
	var r3 *cityResult
	if run1 {
		progress("row 1: receiving with the card and with software keys")
		if r1, err = b.receiving(ctx); err != nil {
			return fmt.Errorf("row 1: %w", err)
		}
	}
	if run2 {
		progress("row 2: the centre under load")
		if r2, err = b.loadRows(ctx); err != nil {
			return fmt.Errorf("row 2: %w", err)
		}
	}
	if run3 {
		progress("row 3: a city's idle agents")
		if r3, err = b.cityRow(ctx); err != nil {
			return fmt.Errorf("row 3: %w", err)
		}
	}
	progress("done")

	var buf bytes.Buffer
	b.write(&buf, r1, r2, r3)
	os.Stdout.Write(buf.Bytes())
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(append([]byte("\n"), buf.Bytes()...)); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

var progressStart = time.Now()

func progress(what string) {
	fmt.Fprintf(os.Stderr, "bench exchange: %5.1f s  %s\n", time.Since(progressStart).Seconds(), what)
}

// cleanups are what must not outlive the bench (PostgreSQL, the centre
// process), run once at exit, on error or on a signal.
var cleanups cleanupList

type cleanupList struct {
	mu sync.Mutex
	fs []func()
}

func (c *cleanupList) add(f func()) func() {
	var once sync.Once
	g := func() { once.Do(f) }
	c.mu.Lock()
	c.fs = append(c.fs, g)
	c.mu.Unlock()
	return g
}

func (c *cleanupList) run() {
	c.mu.Lock()
	fs := slices.Clone(c.fs)
	c.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// --- agencies with software keys ---------------------------------------------

// softAgency is a TEST agency whose card is software keys: cert1 (RSA or
// P-256) and cert2 (RSA) issued by the bench's TEST CA. It is an
// agent.Card, as exchangetest.Agency is.
type softAgency struct {
	code, name string
	sign, enc  *x509.Certificate
	signKey    crypto.Signer
	encKey     *rsa.PrivateKey
}

// newUBN returns the next valid 統一編號 the bench has not used.
func (b *bench) newUBN() string {
	for {
		b.nextUBN++
		s := strconv.Itoa(b.nextUBN)
		if certinfo.ValidUBN(s) {
			return s
		}
	}
}

// issue issues cert1 and cert2 for an organisation with 統一編號 ubn.
func (b *bench) issue(name, ubn string, signKey crypto.Signer, encKey *rsa.PrivateKey) (*softAgency, error) {
	a := &softAgency{code: di.AgencyCodeOf(ubn), name: name, signKey: signKey, encKey: encKey}
	if a.code == "" {
		return nil, fmt.Errorf("統一編號 %s is not valid", ubn)
	}
	org := testca.Org{Name: name, UBN: ubn, CardSerial: "TEST000000000001"}
	nb, na := time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0)
	var err error
	if a.sign, err = b.ca.Issue(rand.Reader, signKey.Public(), org, testca.Signature, nb, na); err != nil {
		return nil, err
	}
	if a.enc, err = b.ca.Issue(rand.Reader, encKey.Public(), org, testca.Encryption, nb, na); err != nil {
		return nil, err
	}
	if got := parcel.AgencyCodeOf(a.sign); got != a.code {
		return nil, fmt.Errorf("cert1 of %s names %q", a.code, got)
	}
	return a, nil
}

// rsaAgency issues an agency with two new RSA-2048 keys.
func (b *bench) rsaAgency(name string) (*softAgency, error) {
	keys, err := rsaKeys(2)
	if err != nil {
		return nil, err
	}
	return b.issue(name, b.newUBN(), keys[0], keys[1])
}

// rsaKeys generates n RSA-2048 keys on every CPU.
func rsaKeys(n int) ([]*rsa.PrivateKey, error) {
	keys := make([]*rsa.PrivateKey, n)
	err := parallel(n, runtime.NumCPU(), func(i int) (err error) {
		keys[i], err = rsa.GenerateKey(rand.Reader, 2048)
		return err
	})
	return keys, err
}

// parallel runs f(0) … f(n-1) on workers goroutines; the first error wins.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// Token signs a login challenge as a card does (cards.Manager.Authenticate):
// PS256 for an RSA cert1, ES256 for a P-256 one.
func (a *softAgency) Token(_ context.Context, origin, challenge string) (authtoken.Token, error) {
	d := authtoken.SignedDigest(origin, challenge)
	tok := authtoken.Token{Format: authtoken.Format, Certificate: base64.StdEncoding.EncodeToString(a.sign.Raw)}
	var sig []byte
	switch k := a.signKey.(type) {
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}); err != nil {
			return tok, err
		}
		tok.Algorithm = authtoken.PS256
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, d)
		if err != nil {
			return tok, err
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		tok.Algorithm = authtoken.ES256
	default:
		return tok, fmt.Errorf("key %T", a.signKey)
	}
	tok.Signature = base64.StdEncoding.EncodeToString(sig)
	return tok, nil
}

// Signer is cert1 and its key.
func (a *softAgency) Signer() (*x509.Certificate, crypto.Signer) { return a.sign, a.signKey }

// Decrypter is cert2 and its key.
func (a *softAgency) Decrypter() (*x509.Certificate, crypto.Decrypter) { return a.enc, a.encKey }

func (a *softAgency) directory() store.Agency {
	return store.Agency{Code: a.code, Name: a.name, EncCert: a.enc.Raw}
}

// --- documents -----------------------------------------------------------------

// party is an agency as a letter names it.
type party struct{ code, name string }

// attachName is the attachment of every bench document.
const attachName = "研習計畫.pdf"

// letter is a 函 from one agency to another declaring the attachment.
func letter(from, to party, serial int) ([]byte, string, error) {
	l := &di.Letter{
		DocType: "函", DTD: "104_2_utf8.dtd", Encoding: di.UTF8,
		Sender: di.Party{Name: from.name, Code: from.code}, Kind: "函",
		Address:   "測試市中正路1號",
		Contacts:  []string{"承辦人：王○○", "電話：(02)2345-6789"},
		Recipient: di.Recipient{Party: di.Party{Name: to.name, Code: to.code}},
		Date:      "中華民國115年12月6日",
		Number:    di.DocNumber{Word: "測教幼字", Year: "115", Serial: fmt.Sprintf("%07d", serial%10000000)},
		Speed:     "普通件",
		Attachment: di.Attachments{Text: "研習計畫1份",
			Files: []di.File{{Entity: "ATTCH1", Name: attachName, Notation: "DI"}}},
		Subject: "檢送本局116年度幼兒園教保人員研習計畫1份，請　查照。",
		Paragraphs: []di.Paragraph{{Title: "說明：", Items: []di.Item{
			{Number: "一、", Text: "依據教育部115年11月1日函辦理。"},
			{Number: "二、", Text: "請於115年12月20日前報名。"}}}},
		Originals: []di.Party{{Name: to.name, Code: to.code, WithAttachments: true}},
		Signature: "局長　林○○",
	}
	if p := di.Validate(l); len(p) > 0 {
		return nil, "", fmt.Errorf("the bench's DI: %v", p[0])
	}
	b, err := di.Marshal(l)
	diSize = len(b)
	return b, l.Number.String(), err
}

// doc is a document sent, as the receiver must archive it.
type doc struct {
	diName    string
	diSum     [32]byte
	attachSum [32]byte
}

// draft makes a document from one agency to others: the DI and a random
// (incompressible, as a PDF is) attachment of b.attach bytes.
func (b *bench) draft(from party, to []party, serial int) (agent.Draft, doc, error) {
	dib, number, err := letter(from, to[0], serial)
	if err != nil {
		return agent.Draft{}, doc{}, err
	}
	att := make([]byte, b.attach)
	rand.Read(att)
	name := fmt.Sprintf("115%07d.di", serial%10000000)
	d := agent.Draft{Subject: "研習計畫", Number: number, DI: parcel.File{Name: name, Role: parcel.RoleDI, Data: dib},
		Files: []parcel.File{{Name: attachName, Role: parcel.RoleAttachment, Data: att}}}
	for _, p := range to {
		d.To = append(d.To, p.code)
	}
	return d, doc{diName: name, diSum: sha256.Sum256(dib), attachSum: sha256.Sum256(att)}, nil
}

// --- agents ----------------------------------------------------------------------

// openAgent opens an agent home set up for agency code at the centre.
func openAgent(ctx context.Context, home, centreURL, code string, trust parcel.Trust) (*agent.Agent, error) {
	a, err := agent.Open(ctx, agent.Options{Home: home, Trust: parcel.Trust{Roots: trust.Roots, Intermediates: trust.Intermediates}})
	if err != nil {
		return nil, err
	}
	if err := a.Setup(ctx, centreURL, code, filepath.Join(home, "archive"), nil); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// checkInbox checks that the agent received exactly the documents in want
// (package id → document), each completed and archived byte for byte.
func checkInbox(ctx context.Context, a *agent.Agent, want map[string]doc) error {
	in, err := a.Inbox(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, i := range in {
		w, ok := want[i.PackageID]
		if !ok {
			continue // an earlier (warm-up) document
		}
		if i.State != "completed" {
			return fmt.Errorf("%s: %s (%s)", i.PackageID, i.State, i.Reason)
		}
		for name, sum := range map[string][32]byte{w.diName: w.diSum, attachName: w.attachSum} {
			data, err := os.ReadFile(filepath.Join(i.Folder, name))
			if err != nil {
				return fmt.Errorf("%s: %w", i.PackageID, err)
			}
			if sha256.Sum256(data) != sum {
				return fmt.Errorf("%s: archived %s differs from what was sent", i.PackageID, name)
			}
		}
		seen[i.PackageID] = true
	}
	if len(seen) != len(want) {
		return fmt.Errorf("%d of %d documents in the inbox", len(seen), len(want))
	}
	return nil
}

// --- the centre, in-process ------------------------------------------------------

// centre is the exchange centre served in-process on a loopback port, as
// cardbridge-centre serve runs it, with its requests counted.
type centre struct {
	url   string
	st    *store.Store
	db    *sql.DB
	hs    *http.Server
	log   *syncBuffer // errors the API logged
	total atomic.Int64
	push  atomic.Int64
	busy  atomic.Int64 // 429
	c4xx  atomic.Int64 // other 4xx
	c5xx  atomic.Int64
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCentre serves a centre over db trusting trust, with agencies in
// its directory.
func startCentre(ctx context.Context, db *sql.DB, d store.Dialect, trust parcel.Trust, agencies []store.Agency) (*centre, error) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st, err := store.Open(ctx, db, d, key)
	if err != nil {
		return nil, err
	}
	for _, a := range agencies {
		if err := st.AddAgency(ctx, a); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &centre{url: "http://" + ln.Addr().String(), st: st, db: db, log: &syncBuffer{}}
	srv := &api.Server{Store: st, Verifier: &authtoken.Verifier{Roots: trust.Roots, Intermediates: trust.Intermediates, Origin: c.url},
		Log: slog.New(slog.NewTextHandler(c.log, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	h := srv.Handler()
	// As cardbridge-centre's httpServer.
	c.hs = &http.Server{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.total.Add(1)
			if r.URL.Path == "/v1/push" {
				c.push.Add(1)
			}
			sw := &statusWriter{ResponseWriter: w}
			h.ServeHTTP(sw, r)
			switch {
			case sw.status == http.StatusTooManyRequests:
				c.busy.Add(1)
			case sw.status >= 500:
				c.c5xx.Add(1)
			case sw.status >= 400:
				c.c4xx.Add(1)
			}
		})}
	go c.hs.Serve(ln)
	return c, nil
}

func (c *centre) close() {
	c.hs.Close()
	c.db.Close()
}

// counts is a snapshot of the request counters.
type counts struct{ total, push, busy, c4xx, c5xx int64 }

func (c *centre) counts() counts {
	return counts{c.total.Load(), c.push.Load(), c.busy.Load(), c.c4xx.Load(), c.c5xx.Load()}
}

func (a counts) sub(b counts) counts {
	return counts{a.total - b.total, a.push - b.push, a.busy - b.busy, a.c4xx - b.c4xx, a.c5xx - b.c5xx}
}

// statusWriter records the status of an answer; it hijacks for the push
// channel's WebSocket and unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.status = http.StatusSwitchingProtocols
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// openSQLite opens a SQLite database file as the centre does.
func openSQLite(path string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return sql.Open("sqlite", store.SQLiteDSN(path))
}

// --- receipts ---------------------------------------------------------------------

// receipt is what the agent reports with 收文完成 (agent.receipt).
type receipt struct {
	Receipt   []byte `json:"receipt"`
	Signature []byte `json:"signature"`
}

type receiptBody struct {
	Package        string `json:"package"`
	EnvelopeSHA256 string `json:"envelopeSha256"`
	Recipient      string `json:"recipient"`
}

// --- the softcard's control endpoint ----------------------------------------------

func (b *bench) control(method, path string) (softcard.Status, error) {
	return softcard.Control(b.hc, b.ctl, method, path)
}

// --- the table ----------------------------------------------------------------------

type row struct {
	op, how, val, peerHow, peerVal, ratio string
}

func fmtRate(n int, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	r := float64(n) / d.Seconds()
	if r >= 100 {
		return fmt.Sprintf("%.0f docs/s", r)
	}
	return fmt.Sprintf("%.1f docs/s", r)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func fmtMB(kB int64) string { return fmt.Sprintf("%.1f MB", float64(kB)/1024) }

func (b *bench) write(w io.Writer, r1 *receiveResult, r2 []*loadResult, r3 *cityResult) {
	fmt.Fprintf(w, "公文 exchange: receiving with the card, the centre under %d agents, %s idle push agents; %s, %d CPUs, %s, loopback HTTP\n",
		b.agents, thousands(b.city), time.Now().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(w, "Documents: a 函 DI (%d bytes) + a %d KiB random attachment, signed (cert1, CMS) and sealed (RSA-OAEP-SHA-256 to cert2, AES-256-GCM).\n\n",
		diSize, b.attach>>10)
	var rows []row
	if r1 != nil {
		rows = append(rows,
			row{fmt.Sprintf("1  receive %d documents, agent.Sync", r1.n), "TEST card (softcard, pcscd)", fmtRate(r1.n, r1.card),
				"software RSA-2048 keys", fmtRate(r1.n, r1.soft), benchfmt.Ratio(r1.card.Seconds(), r1.soft.Seconds())},
			row{"1b the same, per document", "TEST card", fmtDur(r1.card / time.Duration(r1.n)),
				"software keys", fmtDur(r1.soft / time.Duration(r1.n)), benchfmt.Ratio(r1.card.Seconds(), r1.soft.Seconds())})
	}
	if r2 != nil {
		sq, pg := r2[0], r2[1]
		load := fmt.Sprintf("2  %d agents send+receive %d docs", b.agents, sq.docs)
		if pg.skipped != "" {
			rows = append(rows,
				row{load, "SQLite centre", fmtRate(sq.docs, sq.elapsed), "PostgreSQL centre", "not measured", "n/a"},
				row{"2b centre requests", "SQLite", fmt.Sprintf("%.0f req/s", sq.reqRate()), "PostgreSQL", "not measured", "n/a"})
		} else {
			rows = append(rows,
				row{load, "SQLite centre", fmtRate(sq.docs, sq.elapsed), "PostgreSQL centre", fmtRate(pg.docs, pg.elapsed),
					benchfmt.Ratio(pg.elapsed.Seconds(), sq.elapsed.Seconds())},
				row{"2b centre requests", "SQLite", fmt.Sprintf("%.0f req/s", sq.reqRate()), "PostgreSQL", fmt.Sprintf("%.0f req/s", pg.reqRate()),
					benchfmt.Ratio(sq.reqRate(), pg.reqRate())})
		}
	}
	if r3 != nil {
		fan, single := median(r3.fanout), median(r3.single)
		rows = append(rows,
			row{fmt.Sprintf("3  1 document to %s idle agents", thousands(r3.n)), "upload → last push", fmtDur(fan),
				"1 recipient, same centre", fmtDur(single), benchfmt.Ratio(fan.Seconds(), single.Seconds())},
			row{"3b centre memory, agents connected", fmt.Sprintf("VmRSS, %s connected", thousands(r3.n)), fmtMB(r3.rssAfter),
				"VmRSS, none connected", fmtMB(r3.rssBefore), benchfmt.Ratio(float64(r3.rssAfter), float64(r3.rssBefore))},
		)
	}
	var tab bytes.Buffer
	tw := tabwriter.NewWriter(&tab, 0, 0, 2, ' ', tabwriter.AlignRight)
	opW, howW, peerW := len("operation"), len("measured"), len("peer")
	for _, x := range rows {
		opW, howW, peerW = max(opW, width(x.op)), max(howW, width(x.how)), max(peerW, width(x.peerHow))
	}
	left := func(s string, n int) string { return s + strings.Repeat(" ", n-width(s)) }
	fmt.Fprintf(tw, "%s\t%s\tresult\t  %s\tresult\t  ratio\t\n", left("operation", opW), left("measured", howW), left("peer", peerW))
	for _, x := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t  %s\t%s\t  %s\t\n", left(x.op, opW), left(x.how, howW), x.val, left(x.peerHow, peerW), x.peerVal, x.ratio)
	}
	tw.Flush()
	for line := range strings.Lines(tab.String()) {
		io.WriteString(w, strings.TrimPrefix(line, "  "))
	}
	fmt.Fprintf(w, "\nRatios: row 1 card time / software time; row 2 PostgreSQL time / SQLite time (SQLite docs/s ÷ PostgreSQL's); 2b SQLite ÷\n"+
		"PostgreSQL request rate; row 3 fan-out / one recipient; 3b VmRSS connected / idle. Above 1x: the first is slower (or larger).\n")

	if r1 != nil {
		fmt.Fprintf(w, "Row 1: %d documents (envelope %d bytes each) queued and uploaded beforehand by a software sender, received in %d\n"+
			"      batches alternating between the two receivers, each by ONE agent.Sync (after a login and a warm-up document,\n"+
			"      untimed): events, fetch, CMS decrypt (RSA-OAEP unwrap with cert2), signature + chain + DI checks, archive\n"+
			"      (temporary file, fsync, rename, folder fsync), receipt signed with cert1 and reported. Centre in-process over\n"+
			"      SQLite (synchronous FULL). Card: %s through pcscd, a cards.Manager session; %.1f APDUs per\n"+
			"      document; PIN tries left after: %d. Checked: %d documents archived byte for byte, %d receipts' CMS signatures\n"+
			"      (the receiver's cert1, the envelope digest), every sender-side state 使用者確認.\n",
			r1.n, r1.envelope, r1.batches, b.reader, float64(r1.apdus)/float64(r1.n), r1.pinTries, 2*r1.n, 2*r1.n)
	}
	if r2 != nil {
		sq := r2[0]
		fmt.Fprintf(w, "Row 2: %d agencies (software RSA-2048 keys), one agent home each, all in agent.Watch at once (push channel,\n"+
			"      2 s poll); each sends %d documents (one to each of its next %d neighbours, queued beforehand: sign + seal took\n"+
			"      %s) and receives %d. Time from the start until every sender's outbox shows 使用者確認 for every recipient\n"+
			"      (and every receiver archived its own, checked byte for byte). Agents and centre (in-process, as\n"+
			"      cardbridge-centre serves it) share the %d CPUs.\n",
			b.agents, b.perAgent, b.perAgent, fmtDur(sq.queued), b.perAgent, runtime.NumCPU())
		for _, r := range r2 {
			if r.skipped != "" {
				fmt.Fprintf(w, "      %s: not measured: %s\n", r.store, r.skipped)
				continue
			}
			fmt.Fprintf(w, "      %s: %s; %d requests (%d push connections), 429 TOO_MANY %d, other 4xx %d, 5xx %d; agent sync\n"+
				"        errors %d%s; database/sql: %d connections closed beyond the idle limit, %d waits for one.\n",
				r.store, fmtDur(r.elapsed), r.req.total, r.req.push, r.req.busy, r.req.c4xx, r.req.c5xx, r.syncErrs, r.firstErrNote(),
				r.db.MaxIdleClosed, r.db.WaitCount)
		}
		if r2[1].skipped == "" {
			fmt.Fprintf(w, "      %s.\n", pgNote)
		}
	}
	if r3 != nil {
		fmt.Fprintf(w, "Row 3: cardbridge-centre serve (its own process, SQLite) with %s agencies in its directory; each agent logs in\n"+
			"      (ES256: a P-256 cert1 per agency; their cert2s share one RSA key) from its own loopback address, and holds\n"+
			"      GET /v1/push (agent.Client.Push, in this process). %d times one document to all: %d packages of ≤ %d recipients\n"+
			"      uploaded one after another (%s per round, median; %s with no agent connected). Upload start → last\n"+
			"      agent's push message: %s (rounds: %s); → median agent %s.\n"+
			"      Peer: one package to one agent, %d times, median. Memory: centre VmRSS %s before they connected, %s with\n"+
			"      %s connected: %.1f KB per connected agent (session, login challenge, push connection, its goroutines and\n"+
			"      buffers); %s after the pushes. Logins + push connections took %s. Centre open files: %d idle (%d on\n"+
			"      the SQLite database), %d after the pushes (%d on the database); its limit %s; this process's soft limit %d.\n",
			thousands(r3.n), len(r3.fanout), r3.packages, api.MaxRecipients, fmtDur(median(r3.upload)), fmtDur(r3.uploadIdle),
			fmtDur(median(r3.fanout)), fmtDurs(r3.fanout), fmtDur(median(r3.medians)), len(r3.single),
			fmtMB(r3.rssBefore), fmtMB(r3.rssAfter), thousands(r3.n), float64(r3.rssAfter-r3.rssBefore)/float64(r3.n),
			fmtMB(r3.rssPushed), fmtDur(r3.connect), r3.fds, r3.dbFilesIdle, r3.fdsPushed, r3.dbFiles, r3.centreNofile, r3.nofile)
	}
	fmt.Fprintf(w, "Whole exchange bench %.0f s.\n", time.Since(b.start).Seconds())
}

// diSize is the size of the bench's DI (set by letter).
var diSize int

// pgNote says how PostgreSQL ran (set by row 2).
var pgNote = "not run"

func width(s string) int { return len([]rune(s)) + eastAsian(s) }

// eastAsian counts the wide characters of s, which take two columns.
func eastAsian(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x1100 && (r <= 0x115f || r >= 0x2e80 && r <= 0xa4cf || r >= 0xac00 && r <= 0xd7a3 || r >= 0xf900 && r <= 0xfaff || r >= 0xfe30 && r <= 0xfe4f || r >= 0xff00 && r <= 0xff60) {
			n++
		}
	}
	return n
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtDurs(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmtDur(d))
	}
	return strings.Join(out, ", ")
}
