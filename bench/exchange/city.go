package main

// Row 3: a city's agents idle on the push channel of one centre process,
// and one document sent to all of them.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
)

// cityTimeout bounds each wait of row 3 (all connected, all pushed).
const cityTimeout = 2 * time.Minute

// singles is how many one-recipient packages row 3's peer sends.
const singles = 5

type cityResult struct {
	n, packages                     int
	fanout, medians, upload, single []time.Duration
	rssBefore, rssAfter, rssPushed  int64 // kB
	connect                         time.Duration
	uploadIdle                      time.Duration // the same packages, no agent connected
	fds, fdsPushed                  int
	dbFilesIdle, dbFiles            int // the centre's open SQLite files, idle and after the pushes
	nofile                          uint64
	centreNofile                    string
}

// delivery is one package's (or one round's packages') push messages:
// when each expected agent got it.
type delivery struct {
	expect    []atomic.Bool // by agent: the agent must get it
	got       []atomic.Bool
	at        []time.Time
	remaining atomic.Int32
	done      chan struct{}
}

func newDelivery(n int, agents []int) *delivery {
	d := &delivery{expect: make([]atomic.Bool, n), got: make([]atomic.Bool, n), at: make([]time.Time, n), done: make(chan struct{})}
	for _, i := range agents {
		d.expect[i].Store(true)
	}
	d.remaining.Store(int32(len(agents)))
	return d
}

// mark records agent i's push message; false if i was not a recipient.
func (d *delivery) mark(i int, t time.Time) bool {
	if !d.expect[i].Load() {
		return false
	}
	if d.got[i].CompareAndSwap(false, true) {
		d.at[i] = t
		if d.remaining.Add(-1) == 0 {
			close(d.done)
		}
	}
	return true
}

// since returns the last and the median arrival after t0.
func (d *delivery) since(t0 time.Time) (last, med time.Duration) {
	var ds []time.Duration
	for i := range d.at {
		if d.got[i].Load() {
			ds = append(ds, d.at[i].Sub(t0))
		}
	}
	slices.Sort(ds)
	return ds[len(ds)-1], median(ds)
}

// sealed is a package ready to upload.
type sealed struct {
	sendID string
	to     []string
	env    []byte
}

func (b *bench) cityRow(ctx context.Context) (*cityResult, error) {
	n := b.city
	res := &cityResult{n: n, packages: (n + api.MaxRecipients - 1) / api.MaxRecipients}

	// File descriptors: this process holds the agents' ends, the centre
	// the others. Go raises the soft limit to the hard one at start-up.
	var err error
	if res.nofile, err = raiseNofile(uint64(n) + 512); err != nil {
		return nil, err
	}

	// The agencies: a P-256 cert1 each (card tokens are ES256); their
	// cert2s share one RSA key, which only the sender's sealing uses.
	start := time.Now()
	sender, err := b.rsaAgency("測試市政府教育局")
	if err != nil {
		return nil, err
	}
	encKey, err := rsaKeys(1)
	if err != nil {
		return nil, err
	}
	ubns := make([]string, n)
	for i := range ubns {
		ubns[i] = b.newUBN()
	}
	city := make([]*softAgency, n)
	if err := parallel(n, runtime.NumCPU(), func(i int) error {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		city[i], err = b.issue(fmt.Sprintf("測試幼兒園%04d", i+1), ubns[i], k, encKey[0])
		return err
	}); err != nil {
		return nil, err
	}

	// The centre's directory, filled beforehand as `agency add` would
	// (without a sync per agency: this is set-up).
	dir := filepath.Join(b.dir, "city")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, "centre.db")
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "centre.key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(OFF)")
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, db, store.SQLite, key)
	if err != nil {
		db.Close()
		return nil, err
	}
	for _, a := range append([]*softAgency{sender}, city...) {
		if err := st.AddAgency(ctx, a.directory()); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	roots := filepath.Join(dir, "roots.pem")
	var rootsPEM []byte
	for _, c := range []*x509.Certificate{b.ca.Root.Cert, b.ca.Issuing.Cert} {
		rootsPEM = append(rootsPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(roots, rootsPEM, 0o644); err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("row 3: %s agencies' keys, certificates and directory in %s", thousands(n), fmtDur(time.Since(start))))

	// The centre, its own process.
	logPath := filepath.Join(dir, "centre.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(b.centreBin, "serve", "--db", "sqlite:"+dbPath, "--roots", roots, "--listen", "127.0.0.1:0")
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stopCentre := cleanups.add(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	defer stopCentre()
	pid := cmd.Process.Pid
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	var origin string
	select {
	case l := <-line:
		m := regexp.MustCompile(`listening on \S+ \(origin (\S+)\)`).FindStringSubmatch(l)
		if m == nil {
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("cardbridge-centre serve: %q\n%s", l, log)
		}
		origin = m[1]
	case <-time.After(15 * time.Second):
		return nil, errors.New("cardbridge-centre serve did not start within 15 s")
	}
	if res.centreNofile, err = nofileOf(pid); err != nil {
		return nil, err
	}

	// The sender, and every package sealed beforehand: a warm-up (which
	// also tells that an agent's push channel is up), the measured rounds,
	// and the one-recipient peers.
	sc, err := agent.NewClient(origin, nil)
	if err != nil {
		return nil, err
	}
	if _, err := sc.Login(ctx, sender.Token); err != nil {
		return nil, fmt.Errorf("sender login: %w", err)
	}
	serial := 0
	seal := func(to []int) (sealed, error) {
		var codes []string
		var certs []*x509.Certificate
		for _, i := range to {
			codes = append(codes, city[i].code)
			certs = append(certs, city[i].enc)
		}
		serial++
		dr, _, err := b.draft(party{sender.code, sender.name}, []party{{city[to[0]].code, city[to[0]].name}}, serial)
		if err != nil {
			return sealed{}, err
		}
		id := fmt.Sprintf("city-%d-%d", time.Now().UnixNano(), serial)
		inner, err := parcel.Build(parcel.Draft{ID: id, Sender: sender.code, Recipients: codes, Subject: dr.Subject, Number: dr.Number,
			Created: time.Now(), Files: append([]parcel.File{dr.DI}, dr.Files...)}, parcel.Signer{Cert: sender.sign, Key: sender.signKey})
		if err != nil {
			return sealed{}, err
		}
		env, err := parcel.Seal(inner, append(certs, sender.enc))
		return sealed{sendID: id, to: codes, env: env}, err
	}
	deliveries := map[string]*delivery{} // package id → its delivery; read-only once the agents connect
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	round := func() ([]sealed, *delivery, error) {
		d := newDelivery(n, all)
		var ps []sealed
		for lo := 0; lo < n; lo += api.MaxRecipients {
			p, err := seal(all[lo:min(lo+api.MaxRecipients, n)])
			if err != nil {
				return nil, nil, err
			}
			ps = append(ps, p)
			deliveries[sender.code+"/"+p.sendID] = d
		}
		return ps, d, nil
	}
	warm, connected, err := round()
	if err != nil {
		return nil, err
	}
	type measured struct {
		ps []sealed
		d  *delivery
	}
	var rounds, peers []measured
	for range b.rounds {
		ps, d, err := round()
		if err != nil {
			return nil, err
		}
		rounds = append(rounds, measured{ps, d})
	}
	for s := range singles {
		to := (s * 397) % n
		p, err := seal([]int{to})
		if err != nil {
			return nil, err
		}
		d := newDelivery(n, []int{to})
		deliveries[sender.code+"/"+p.sendID] = d
		peers = append(peers, measured{[]sealed{p}, d})
	}
	upload := func(ps []sealed) error {
		for _, p := range ps {
			v, err := sc.Upload(ctx, p.sendID, p.to, p.env)
			if err != nil {
				return err
			}
			if len(v.Recipients) != len(p.to) {
				return fmt.Errorf("package %s: %d recipients at the centre, want %d", v.ID, len(v.Recipients), len(p.to))
			}
			for _, r := range v.Recipients {
				if r.State != "arrived" {
					return fmt.Errorf("package %s: %s is %s", v.ID, r.Recipient, r.State)
				}
			}
		}
		return nil
	}
	t0 := time.Now()
	if err := upload(warm); err != nil {
		return nil, err
	}
	res.uploadIdle = time.Since(t0)
	time.Sleep(500 * time.Millisecond)
	if res.rssBefore, err = vmRSS(pid); err != nil {
		return nil, err
	}

	// Every agent logs in from its own loopback address (a centre keeps
	// a few login challenges per address) and holds the push channel.
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	var pwg sync.WaitGroup
	var stray, pushErrs atomic.Int32
	var pushErr atomic.Value
	start = time.Now()
	if err := parallel(n, 32, func(i int) error {
		tr := &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: 10 * time.Second,
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(i%250+1))}}).DialContext}
		cl, err := agent.NewClient(origin, &http.Client{Transport: tr, Timeout: 30 * time.Second})
		if err != nil {
			return err
		}
		got, err := cl.Login(pctx, city[i].Token)
		if err != nil {
			return fmt.Errorf("%s: login: %w", city[i].code, err)
		}
		if got != city[i].code {
			return fmt.Errorf("logged in as %s, want %s", got, city[i].code)
		}
		code := city[i].code
		pwg.Go(func() {
			err := cl.Push(pctx, 0, func(evs []api.EventView) {
				now := time.Now()
				for _, e := range evs {
					d := deliveries[e.Package]
					if e.Recipient != code || e.State != "arrived" || d == nil || !d.mark(i, now) {
						stray.Add(1)
					}
				}
			})
			if pctx.Err() == nil {
				pushErrs.Add(1)
				pushErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", code, err))
			}
		})
		return nil
	}); err != nil {
		return nil, err
	}
	if err := waitDelivery(connected, &pushErr, "the push channels to connect"); err != nil {
		return nil, err
	}
	res.connect = time.Since(start)
	progress(fmt.Sprintf("row 3: %s agents logged in and on the push channel in %s", thousands(n), fmtDur(res.connect)))
	time.Sleep(time.Second)
	if res.rssAfter, err = vmRSS(pid); err != nil {
		return nil, err
	}
	res.dbFilesIdle, res.fds = dbHandles(pid, dbPath)

	for _, r := range rounds {
		t0 := time.Now()
		if err := upload(r.ps); err != nil {
			return nil, err
		}
		res.upload = append(res.upload, time.Since(t0))
		if err := waitDelivery(r.d, &pushErr, "every agent's push message"); err != nil {
			return nil, err
		}
		last, med := r.d.since(t0)
		res.fanout, res.medians = append(res.fanout, last), append(res.medians, med)
	}
	if res.rssPushed, err = vmRSS(pid); err != nil {
		return nil, err
	}
	res.dbFiles, res.fdsPushed = dbHandles(pid, dbPath)
	for _, p := range peers {
		t0 := time.Now()
		if err := upload(p.ps); err != nil {
			return nil, err
		}
		if err := waitDelivery(p.d, &pushErr, "the one agent's push message"); err != nil {
			return nil, err
		}
		last, _ := p.d.since(t0)
		res.single = append(res.single, last)
	}
	if s := stray.Load(); s != 0 {
		return nil, fmt.Errorf("%d push events were not the expected package for the agent", s)
	}
	if e := pushErrs.Load(); e != 0 {
		return nil, fmt.Errorf("%d push channels ended early (first: %v)", e, pushErr.Load())
	}
	pcancel()
	pwg.Wait()
	stopCentre()
	log, _ := os.ReadFile(logPath)
	for l := range strings.Lines(string(log)) {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
			return nil, fmt.Errorf("the centre logged: %s", l)
		}
	}
	return res, nil
}

// waitDelivery waits until every agent d expects got its push message.
func waitDelivery(d *delivery, pushErr *atomic.Value, what string) error {
	select {
	case <-d.done:
		return nil
	case <-time.After(cityTimeout):
		return fmt.Errorf("%d agents still waiting for %s after %v (first push error: %v)", d.remaining.Load(), what, cityTimeout, pushErr.Load())
	}
}

// vmRSS is a process's resident set (kB), from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// nofileOf is a process's open-files limit, from /proc/PID/limits.
func nofileOf(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "", err
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "Max open files"); ok {
			f := strings.Fields(v)
			if len(f) >= 2 {
				return f[0] + " (hard " + f[1] + ")", nil
			}
		}
	}
	return "", fmt.Errorf("/proc/%d/limits: no Max open files", pid)
}

// dbHandles counts a process's open files, and those that are the SQLite
// database (its main file, write-ahead log and shared memory): about three
// per SQLite connection.
func dbHandles(pid int, db string) (dbFiles, all int) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, fd := range fds {
		if t, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasPrefix(t, db) {
			dbFiles++
		}
	}
	return dbFiles, len(fds)
}
