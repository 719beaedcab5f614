// Package pgtest runs a throwaway PostgreSQL server for the centre's tests
// and benchmarks: Debian's postgresql, a cluster in a temporary folder,
// listening on a loopback port only, each caller's database created fresh.
// It is never linked into a shipped program.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver, as the centre uses it
)

// ErrNotInstalled reports a machine without Debian's postgresql.
var ErrNotInstalled = errors.New("PostgreSQL is not installed (Debian package postgresql; scripts/deps.sh installs it)")

// Server is a running throwaway cluster.
type Server struct {
	dir, port string
	stop      func()
	n         atomic.Int32
}

// Options change the cluster Start would run.
type Options struct {
	// Durable keeps fsync on, PostgreSQL's default: a commit is on disk
	// when it returns, as a production centre's is. For benchmarks that
	// compare PostgreSQL with SQLite, whose store syncs every commit.
	Durable bool
}

// Start initialises and starts a cluster. As root it runs as the postgres
// user (PostgreSQL refuses to run as root). fsync is off: the data is
// thrown away.
func Start() (*Server, error) { return StartWith(Options{}) }

// StartWith is Start with options.
func StartWith(o Options) (*Server, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		return nil, ErrNotInstalled
	}
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "cardbridge-pg-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	run := func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bin, name), args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(errors.New("running as root and there is no postgres user to run PostgreSQL as"))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
		run = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v: %s", err, out))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	fsync := "off"
	if o.Durable {
		fsync = "on"
	}
	opts := "-c listen_addresses=127.0.0.1 -p " + port + " -k " + dir + " -c fsync=" + fsync + " -c max_connections=300"
	if out, err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return fail(fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log))
	}
	return &Server{dir: dir, port: port, stop: func() {
		_ = run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop").Run()
		os.RemoveAll(dir)
	}}, nil
}

// Stop stops the cluster and removes it.
func (s *Server) Stop() { s.stop() }

// NewDatabase creates an empty database and returns its connection
// string (postgres://… on the loopback port, as cardbridge-centre takes).
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("centre%d", s.n.Add(1))
	admin, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return s.dsn(name), nil
}

func (s *Server) dsn(db string) string {
	return "postgres://postgres@127.0.0.1:" + s.port + "/" + db + "?sslmode=disable"
}
