package store_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/centre/store"
)

// pg is a throwaway PostgreSQL server for the test binary: Debian's
// postgresql, a cluster in a temporary folder, listening on a loopback
// port only, started by TestMain and stopped after the tests.
var pg struct {
	dir, port, why string
	n              atomic.Int32
}

// startPostgres starts the cluster; it returns why it could not.
func startPostgres() (stop func(), why string) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		return func() {}, "PostgreSQL is not installed (Debian package postgresql; scripts/deps.sh installs it)"
	}
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "cardbridge-pg-")
	if err != nil {
		return func() {}, err.Error()
	}
	cleanup := func() { os.RemoveAll(dir) }
	// PostgreSQL refuses to run as root: as root, run it as postgres.
	run := func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bin, name), args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return cleanup, "running as root and there is no postgres user to run PostgreSQL as"
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return cleanup, err.Error()
		}
		run = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		return cleanup, fmt.Sprintf("initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return cleanup, err.Error()
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	opts := "-c listen_addresses=127.0.0.1 -p " + port + " -k " + dir + " -c fsync=off"
	if out, err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return cleanup, fmt.Sprintf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
	pg.dir, pg.port = dir, port
	return func() {
		_ = run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop").Run()
		cleanup()
	}, ""
}

func TestMain(m *testing.M) {
	stop, why := startPostgres()
	pg.why = why
	code := m.Run()
	stop()
	os.Exit(code)
}

// pgBackend opens a fresh database on the test server for each store.
func pgBackend(t *testing.T) (backend, bool) {
	if pg.why != "" {
		if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
			t.Fatalf("PostgreSQL required: %s", pg.why)
		}
		t.Logf("PostgreSQL suite skipped: %s", pg.why)
		return backend{}, false
	}
	return backend{"postgres", func(t *testing.T, key ed25519.PrivateKey) *store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		name := fmt.Sprintf("centre%d", pg.n.Add(1))
		admin, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:"+pg.port+"/postgres?sslmode=disable")
		require.NoError(t, err)
		defer admin.Close()
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
		require.NoError(t, err)
		db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:"+pg.port+"/"+name+"?sslmode=disable")
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s, err := store.Open(ctx, db, store.Postgres, key)
		require.NoError(t, err)
		return s
	}}, true
}
