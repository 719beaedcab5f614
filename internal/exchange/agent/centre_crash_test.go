package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
)

// centreSpec is what a centre child serves.
type centreSpec struct {
	DB       string
	Listen   string
	Origin   string
	Roots    []byte
	Agencies map[string][]byte
	Seed     []byte // the evidence key's seed, the same across restarts
}

// centreChild serves a centre over SQLite until it is killed, as
// cardbridge-centre serve does.
func centreChild(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var s centreSpec
	if err := json.Unmarshal(b, &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	db, err := sql.Open("sqlite", store.SQLiteDSN(s.DB))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err := store.Open(ctx, db, store.SQLite, ed25519.NewKeyFromSeed(s.Seed))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for code, der := range s.Agencies {
		if err := st.AddAgency(ctx, store.Agency{Code: code, Name: code, EncCert: der}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	roots, inter := rootsOf(s.Roots)
	srv := &api.Server{Store: st, Verifier: &authtoken.Verifier{Roots: roots, Intermediates: inter, Origin: s.Origin}}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("READY")
	os.Stdout.Sync()
	fmt.Fprintln(os.Stderr, http.Serve(ln, srv.Handler()))
	return 1
}

// centreProc is a centre in a child process behind a proxy that can cut a
// transfer and kill the centre in the middle of it.
type centreProc struct {
	t     *testing.T
	spec  string
	cmd   *exec.Cmd
	URL   string // the proxy's origin, which agents use
	Store *store.Store
	trap  atomic.Pointer[trap]
}

// trap cuts the first connection whose request contains match once more
// than after bytes went the given way after it (up: to the centre, down:
// to the agent), and kills the centre first when kill is set.
type trap struct {
	match string
	up    bool
	after int
	kill  bool
	fired chan struct{}
}

// startCentreProc starts a centre child with the TEST agencies.
func startCentreProc(t *testing.T) *centreProc {
	t.Helper()
	startCentre(t) // the TEST CA and agencies
	dir := t.TempDir()
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	backend := hold.Addr().String()
	hold.Close()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { front.Close() })
	c := &centreProc{t: t, URL: "http://" + front.Addr().String()}
	agencies := map[string][]byte{}
	for _, a := range []*exchangetest.Agency{bureau, kindergarten, school, evil} {
		agencies[a.Code] = a.Enc.Raw
	}
	spec, err := json.Marshal(centreSpec{DB: filepath.Join(dir, "centre.db"), Listen: backend, Origin: c.URL, Roots: exchangetest.RootsPEM(ca),
		Agencies: agencies, Seed: bytes.Repeat([]byte{7}, ed25519.SeedSize)})
	require.NoError(t, err)
	c.spec = filepath.Join(dir, "spec.json")
	require.NoError(t, os.WriteFile(c.spec, spec, 0o600))
	c.start()
	t.Cleanup(c.kill)
	db, err := sql.Open("sqlite", store.SQLiteDSN(filepath.Join(dir, "centre.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	c.Store, err = store.Open(context.Background(), db, store.SQLite, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	require.NoError(t, err)
	go c.proxy(front, backend)
	return c
}

// start runs the centre and waits until it listens.
func (c *centreProc) start() {
	c.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CARDBRIDGE_CENTRE_CHILD="+c.spec)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(c.t, err)
	require.NoError(c.t, cmd.Start())
	line, _ := bufio.NewReader(out).ReadString('\n')
	require.Equal(c.t, "READY\n", line, "the centre child did not start")
	c.cmd = cmd
}

// kill kills the centre with SIGKILL.
func (c *centreProc) kill() {
	if c.cmd != nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
		c.cmd = nil
	}
}

func (c *centreProc) proxy(front net.Listener, backend string) {
	for {
		in, err := front.Accept()
		if err != nil {
			return
		}
		go c.relay(in, backend)
	}
}

// relay copies one connection both ways, watching for the trap.
func (c *centreProc) relay(in net.Conn, backend string) {
	out, err := net.Dial("tcp", backend)
	if err != nil {
		in.Close()
		return
	}
	var (
		mu      sync.Mutex
		request []byte // what went up since the trap matched, or the tail
		armed   *trap
		sent    int
		once    sync.Once
	)
	cut := func() { once.Do(func() { in.Close(); out.Close() }) }
	// pass decides, under mu, how much of p may go on before the cut.
	pass := func(p []byte, up bool) (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if up && armed == nil {
			tr := c.trap.Load()
			if tr != nil {
				request = append(request, p...)
				if i := bytes.Index(request, []byte(tr.match)); i >= 0 && c.trap.CompareAndSwap(tr, nil) {
					armed = tr
					if tr.up {
						sent = len(request) - i // counted from the match
					}
				} else if len(request) > 4096 {
					request = request[len(request)-4096:]
				}
			}
			return len(p), false
		}
		if armed == nil || armed.up != up {
			return len(p), false
		}
		if sent+len(p) <= armed.after {
			sent += len(p)
			return len(p), false
		}
		n := armed.after - sent
		if n < 0 {
			n = 0
		}
		return n, true
	}
	fire := func() {
		mu.Lock()
		tr := armed
		mu.Unlock()
		if tr.kill {
			c.kill()
		}
		cut()
		close(tr.fired)
	}
	pipe := func(dst, src net.Conn, up bool) {
		buf := make([]byte, 16<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				m, trip := pass(buf[:n], up)
				if m > 0 {
					if _, werr := dst.Write(buf[:m]); werr != nil {
						cut()
						return
					}
				}
				if trip {
					fire()
					return
				}
			}
			if err != nil {
				cut()
				return
			}
		}
	}
	go pipe(out, in, true)
	pipe(in, out, false)
}

// arm sets the trap for the next matching request; the returned channel
// closes when it fired.
func (c *centreProc) arm(match string, up bool, after int, kill bool) chan struct{} {
	tr := &trap{match: match, up: up, after: after, kill: kill, fired: make(chan struct{})}
	c.trap.Store(tr)
	return tr.fired
}

// fired waits for a trap.
func fired(t *testing.T, ch chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("the trap never fired")
	}
}

// The centre is killed (SIGKILL) in the middle of an upload and in the
// middle of a download, the network is cut after the centre stored an
// upload and after it took an acknowledgement (the answers never arrive),
// and the centre is stopped and started again between two syncs. The
// agents stay up throughout, so they also log in again once the new
// centre process has forgotten their sessions. Each time the document is
// delivered once, whole.
func TestCentreKilledAndNetworkCut(t *testing.T) {
	const upload, envelope, report = "POST /v1/packages HTTP/1.1", "/envelope HTTP/1.1", "/report HTTP/1.1"
	for _, tc := range []struct {
		name      string
		match     string
		up, kill  bool
		after     int
		receiving bool // the trap is for the receiver's sync
	}{
		{name: "centre killed mid-upload", match: upload, up: true, after: 100 << 10, kill: true},
		{name: "upload stored, answer lost", match: upload, after: 0},
		{name: "centre killed mid-download", match: envelope, after: 100 << 10, kill: true, receiving: true},
		{name: "acknowledgement taken, answer lost", match: report, after: 0, receiving: true},
		{name: "centre stopped between syncs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := startCentreProc(t)
			homeB, _ := setupHome(t, c.URL, bureau)
			homeK, archive := setupHome(t, c.URL, kindergarten)
			d, files := crashDraft(t)
			clk := &clock{t: time.Now()}
			ab, err := agent.Open(ctx, agent.Options{Home: homeB, Now: clk.now})
			require.NoError(t, err)
			t.Cleanup(ab.Close)
			ak := open(t, homeK)
			_, err = ab.Queue(ctx, bureau, d) // logged in to the first centre process
			require.NoError(t, err)
			_, err = ak.Sync(ctx, kindergarten)
			require.NoError(t, err)

			switch {
			case tc.match == "":
				c.kill()
				rep, err := ab.Sync(ctx, bureau)
				assert.True(t, agent.Temporary(err), "%v", err)
				assert.Len(t, rep.Retrying, 1)
				_, err = ak.Sync(ctx, kindergarten)
				assert.True(t, agent.Temporary(err), "%v", err)
				c.start()
				clk.add(time.Minute)
				_, err = ab.Sync(ctx, bureau)
				require.NoError(t, err)
			case !tc.receiving:
				ch := c.arm(tc.match, tc.up, tc.after, tc.kill)
				rep, err := ab.Sync(ctx, bureau)
				fired(t, ch)
				if tc.kill {
					assert.True(t, agent.Temporary(err), "receiving from a dead centre: %v", err)
				} else {
					assert.NoError(t, err, "a failed upload is retried later; the sync goes on")
				}
				assert.Len(t, rep.Retrying, 1, "%+v", rep)
				if tc.kill {
					c.start()
				}
				clk.add(time.Minute)
				rep, err = ab.Sync(ctx, bureau)
				require.NoError(t, err)
				assert.Len(t, rep.Sent, 1, "the retry, under the same send id")
			default:
				_, err := ab.Sync(ctx, bureau)
				require.NoError(t, err)
				ch := c.arm(tc.match, tc.up, tc.after, tc.kill)
				_, err = ak.Sync(ctx, kindergarten)
				fired(t, ch)
				assert.True(t, agent.Temporary(err), "%v", err)
				if tc.kill {
					c.start()
				}
			}
			deliveredOnce(t, c.Store, ab, ak, archive, files)
		})
	}
}

// rootsOf reads PEM CA certificates into roots and issuing CAs.
func rootsOf(b []byte) (roots, inter *x509.CertPool) {
	var cas []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			t := parcel.TrustOf(cas)
			return t.Roots, t.Intermediates
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			cas = append(cas, c)
		}
	}
}
