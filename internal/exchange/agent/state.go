package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the agent's embedded store

	"github.com/cardbridge/cardbridge/internal/centre/store"
)

// Sender-side states of a document in the outbox.
const (
	Queued   = "queued"
	Sending  = "sending"
	Retrying = "retrying"
	Sent     = "sent" // the centre accepted it; per-recipient states follow
	Failed   = "failed"
)

// state is one agency's client state: a SQLite file in its home, locked
// so that one agent at a time works on it.
type state struct {
	db   *sql.DB
	lock *os.File
}

// ErrLocked reports a home another agent is working on.
var ErrLocked = errors.New("another CardBridge exchange agent is using this home")

// openState opens (creating) the state in home and takes its lock.
func openState(ctx context.Context, home string) (*state, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	// One that existed keeps its permissions: others must not read the
	// state, nor replace roots.pem or the database (refused if not ours).
	if err := os.Chmod(home, 0o700); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(home, "agent.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%s: %w", home, ErrLocked)
	}
	// The store is the agency's alone, whatever becomes of the folder's
	// permissions (a copy, a backup); SQLite gives its journal the
	// database's.
	path := filepath.Join(home, "agent.db")
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
		f.Close()
	}
	if err := os.Chmod(path, 0o600); err != nil {
		lock.Close()
		return nil, err
	}
	db, err := sql.Open("sqlite", store.SQLiteDSN(path))
	if err != nil {
		lock.Close()
		return nil, err
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS outbox (
			send_id TEXT PRIMARY KEY,
			subject TEXT NOT NULL,
			recipients TEXT NOT NULL,
			created BIGINT NOT NULL,
			state TEXT NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			next_try BIGINT NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT '',
			envelope BLOB NOT NULL,
			package_id TEXT NOT NULL DEFAULT '')`,
		`CREATE TABLE IF NOT EXISTS out_recipients (
			send_id TEXT NOT NULL,
			recipient TEXT NOT NULL,
			state TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '',
			updated BIGINT NOT NULL,
			PRIMARY KEY (send_id, recipient))`,
		`CREATE TABLE IF NOT EXISTS inbox (
			package_id TEXT PRIMARY KEY,
			sender TEXT NOT NULL,
			subject TEXT NOT NULL DEFAULT '',
			number TEXT NOT NULL DEFAULT '',
			state TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '',
			unread INTEGER NOT NULL DEFAULT 1,
			folder TEXT NOT NULL DEFAULT '',
			updated BIGINT NOT NULL)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			lock.Close()
			return nil, fmt.Errorf("agent state: %w", err)
		}
	}
	// Columns added since the first release, to homes made before them.
	for _, c := range [][2]string{{"di", `TEXT NOT NULL DEFAULT ''`}, {"printed", `BIGINT NOT NULL DEFAULT 0`}, {"print_error", `TEXT NOT NULL DEFAULT ''`}} {
		if err := addColumn(ctx, db, "inbox", c[0], c[1]); err != nil {
			db.Close()
			lock.Close()
			return nil, fmt.Errorf("agent state: %w", err)
		}
	}
	// The 發文匣's 文號 and 附件 columns (the page's 收發文狀態表).
	for _, c := range [][2]string{{"number", `TEXT NOT NULL DEFAULT ''`}, {"files", `TEXT NOT NULL DEFAULT ''`}} {
		if err := addColumn(ctx, db, "outbox", c[0], c[1]); err != nil {
			db.Close()
			lock.Close()
			return nil, fmt.Errorf("agent state: %w", err)
		}
	}
	return &state{db: db, lock: lock}, nil
}

// addColumn adds a column to a table that lacks it.
func addColumn(ctx context.Context, db *sql.DB, table, column, def string) error {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n); err != nil || n > 0 {
		return err
	}
	_, err := db.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+column+` `+def)
	return err
}

func (s *state) close() {
	s.db.Close()
	s.lock.Close() // releases the lock
}

func (s *state) get(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func (s *state) set(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// Outgoing is a document in the outbox.
type Outgoing struct {
	SendID     string      `json:"sendId"`
	Subject    string      `json:"subject"`
	Recipients []Recipient `json:"recipients"`
	Created    time.Time   `json:"created"`
	State      string      `json:"state"`
	Label      string      `json:"label"` // State in Traditional Chinese
	Attempts   int         `json:"attempts"`
	LastError  string      `json:"lastError,omitempty"`
	PackageID  string      `json:"packageId,omitempty"`
	// Number is the 發文字號, Files the attachments' names.
	Number string   `json:"number,omitempty"`
	Files  []string `json:"files"`
}

// Recipient is a recipient's state as the sender sees it.
type Recipient struct {
	Code    string    `json:"code"`
	State   string    `json:"state"` // queued, sending, retrying, failed, system-confirmed, user-confirmed, user-returned
	Label   string    `json:"label"` // State as eClient names it
	Reason  string    `json:"reason,omitempty"`
	Updated time.Time `json:"updated"`
}

// Incoming is a document in the inbox.
type Incoming struct {
	PackageID string    `json:"packageId"`
	Sender    string    `json:"sender"`
	Subject   string    `json:"subject"`
	Number    string    `json:"number,omitempty"`
	State     string    `json:"state"` // arrived, downloading, completed, failed (returned)
	Label     string    `json:"label"` // State as eClient names it
	Reason    string    `json:"reason,omitempty"`
	Unread    bool      `json:"unread"`
	Folder    string    `json:"folder,omitempty"`
	Updated   time.Time `json:"updated"`
	// Printed is when it was last printed; PrintError why that failed.
	Printed    *time.Time `json:"printed,omitempty"`
	PrintError string     `json:"printError,omitempty"`
}
