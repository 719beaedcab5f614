package main

// Row 2: many agents sending and receiving at once through one centre,
// on SQLite and on PostgreSQL.

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardbridge/cardbridge/internal/centre/pgtest"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
)

// loadTimeout bounds one store's run: a delivery stuck behind a retry
// (30 s back-off) or lost fails the row instead of hanging.
const loadTimeout = 2 * time.Minute

type loadResult struct {
	store    string
	skipped  string // why it was not measured
	docs     int
	elapsed  time.Duration
	queued   time.Duration
	req      counts
	syncErrs int
	firstErr string
	logged   string // errors the centre logged
	db       sql.DBStats
}

func (r *loadResult) reqRate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.req.total) / r.elapsed.Seconds()
}

func (r *loadResult) firstErrNote() string {
	var notes []string
	if r.firstErr != "" {
		notes = append(notes, "first: "+r.firstErr)
	}
	if r.logged != "" {
		line, _, _ := strings.Cut(r.logged, "\n")
		notes = append(notes, "centre logged: "+line)
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, "; ") + ")"
}

// loadRows runs the same workload on SQLite and on PostgreSQL.
func (b *bench) loadRows(ctx context.Context) ([]*loadResult, error) {
	start := time.Now()
	keys, err := rsaKeys(2 * b.agents)
	if err != nil {
		return nil, err
	}
	ags := make([]*softAgency, b.agents)
	for i := range ags {
		if ags[i], err = b.issue(fmt.Sprintf("測試幼兒園%03d", i+1), b.newUBN(), keys[2*i], keys[2*i+1]); err != nil {
			return nil, err
		}
	}
	progress(fmt.Sprintf("row 2: %d agencies' RSA keys and certificates in %s", b.agents, fmtDur(time.Since(start))))
	trust := parcel.TrustOf([]*x509.Certificate{b.ca.Root.Cert, b.ca.Issuing.Cert})

	sq, err := b.load(ctx, "SQLite", ags, trust, func() (*sql.DB, store.Dialect, error) {
		db, err := openSQLite(filepath.Join(b.dir, "load-sqlite", "centre.db"))
		return db, store.SQLite, err
	})
	if err != nil {
		return nil, fmt.Errorf("SQLite: %w", err)
	}

	pg := &loadResult{store: "PostgreSQL"}
	srv, err := pgtest.StartWith(pgtest.Options{Durable: true})
	if err != nil {
		pg.skipped = err.Error()
		if !errors.Is(err, pgtest.ErrNotInstalled) {
			return nil, fmt.Errorf("PostgreSQL: %w", err)
		}
		return []*loadResult{sq, pg}, nil
	}
	stop := cleanups.add(srv.Stop)
	defer stop()
	dsn, err := srv.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	pg, err = b.load(ctx, "PostgreSQL", ags, trust, func() (*sql.DB, store.Dialect, error) {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, "", err
		}
		var version string
		if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&version); err != nil {
			db.Close()
			return nil, "", err
		}
		pgNote = "PostgreSQL " + version + ": internal/centre/pgtest, a throwaway cluster on loopback TCP, fsync on"
		return db, store.Postgres, nil
	})
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	return []*loadResult{sq, pg}, nil
}

// load runs the workload against a fresh centre over the database open
// gives.
func (b *bench) load(ctx context.Context, name string, ags []*softAgency, trust parcel.Trust, open func() (*sql.DB, store.Dialect, error)) (*loadResult, error) {
	n, k := len(ags), b.perAgent
	res := &loadResult{store: name, docs: n * k}
	db, d, err := open()
	if err != nil {
		return nil, err
	}
	var dir []store.Agency
	for _, a := range ags {
		dir = append(dir, a.directory())
	}
	c, err := startCentre(ctx, db, d, trust, dir)
	if err != nil {
		db.Close()
		return nil, err
	}
	defer c.close()

	agents := make([]*agent.Agent, n)
	defer func() {
		for _, a := range agents {
			if a != nil {
				a.Close()
			}
		}
	}()
	// Log in one after another (untimed): see the report on logins from
	// one address.
	for i, ag := range ags {
		if agents[i], err = openAgent(ctx, filepath.Join(b.dir, "load-"+strings.ToLower(name), fmt.Sprint(i)), c.url, ag.code, trust); err != nil {
			return nil, err
		}
		if _, err := agents[i].Sync(ctx, ag); err != nil {
			return nil, fmt.Errorf("%s: login: %w", ag.code, err)
		}
	}

	// Each agent queues one document to each of its next k neighbours.
	want := make([]map[string]doc, n) // by receiver: package id → document
	for i := range want {
		want[i] = map[string]doc{}
	}
	start := time.Now()
	serial := 0
	for i, ag := range ags {
		for j := 1; j <= k; j++ {
			to := ags[(i+j)%n]
			serial++
			dr, w, err := b.draft(party{ag.code, ag.name}, []party{{to.code, to.name}}, serial)
			if err != nil {
				return nil, err
			}
			id, err := agents[i].Queue(ctx, ag, dr)
			if err != nil {
				return nil, err
			}
			want[(i+j)%n][ag.code+"/"+id] = w
		}
	}
	res.queued = time.Since(start)
	progress(fmt.Sprintf("row 2, %s: %d documents queued in %s; all agents watching", name, n*k, fmtDur(res.queued)))

	// Every agent watches at once until every sender knows each of its
	// documents received (使用者確認) and every receiver has archived its own.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		done    atomic.Int32
		allDone = make(chan struct{})
		end     time.Time
		fatal   = make(chan error, 1)
	)
	fail := func(err error) {
		select {
		case fatal <- err:
		default:
		}
	}
	before := c.counts()
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		finished := false // only this agent's Watch goroutine reads it
		wg.Go(func() {
			err := agents[i].Watch(wctx, ags[i], 2*time.Second, func(rep agent.Report, err error) {
				if err != nil {
					mu.Lock()
					if res.syncErrs++; res.firstErr == "" {
						res.firstErr = err.Error()
					}
					mu.Unlock()
					return
				}
				if len(rep.Failed)+len(rep.Refused) > 0 {
					fail(fmt.Errorf("%s: %d sends failed, %d documents refused (收文異常)", ags[i].code, len(rep.Failed), len(rep.Refused)))
					return
				}
				if finished || rep.Empty() {
					return
				}
				ok, err := loadDone(wctx, agents[i], k, len(want[i]))
				if err != nil {
					fail(err)
					return
				}
				if ok {
					finished = true
					if done.Add(1) == int32(n) {
						end = time.Now()
						close(allDone)
					}
				}
			})
			if err != nil {
				fail(fmt.Errorf("%s: %w", ags[i].code, err))
			}
		})
	}
	select {
	case <-allDone:
	case err := <-fatal:
		cancel()
		wg.Wait()
		return nil, err
	case <-time.After(loadTimeout):
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return nil, fmt.Errorf("%d of %d agents done after %v (%d sync errors; first: %s); centre log:\n%s",
			done.Load(), n, loadTimeout, res.syncErrs, res.firstErr, c.log.String())
	}
	res.elapsed = end.Sub(t0)
	res.req = c.counts().sub(before)
	cancel()
	wg.Wait()
	res.db = db.Stats()
	res.logged = c.log.String()
	for i := range agents {
		if err := checkInbox(ctx, agents[i], want[i]); err != nil {
			return nil, fmt.Errorf("%s: %w", ags[i].code, err)
		}
	}
	progress(fmt.Sprintf("row 2, %s: %d documents delivered and confirmed in %s", name, n*k, fmtDur(res.elapsed)))
	return res, nil
}

// loadDone reports whether an agent has sent its sends documents, each
// user-confirmed by its recipient, and received its recv.
func loadDone(ctx context.Context, a *agent.Agent, sends, recv int) (bool, error) {
	out, err := a.Outbox(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		return false, err
	}
	if len(out) != sends {
		return false, fmt.Errorf("outbox holds %d documents, want %d", len(out), sends)
	}
	for _, o := range out {
		for _, r := range o.Recipients {
			if r.State != "user-confirmed" {
				return false, nil
			}
		}
	}
	in, err := a.Inbox(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		return false, err
	}
	got := 0
	for _, i := range in {
		if i.State == "completed" {
			got++
		}
	}
	return got == recv, nil
}
