// Package store keeps the exchange centre's state: the directory of
// agencies and their encryption certificates, the packages in transit (as
// the sealed envelopes agents upload: the centre never holds plaintext),
// each recipient's delivery state and its history, the announcements, and
// the evidence log. It runs on SQLite (embedded, modernc.org/sqlite, no
// cgo) and on PostgreSQL (github.com/jackc/pgx/v5) with the same SQL; the
// same test suite runs on both.
//
// Every change that matters as evidence (a package accepted, a delivery
// state reached, a receipt) is appended to the evidence log in the same
// transaction (evidence.go), so the log and the state cannot disagree.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Dialect is the database the store runs on.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the centre's state over one database.
type Store struct {
	db      *sql.DB
	dialect Dialect
	now     func() time.Time
	signer  EvidenceSigner
}

// Errors callers map to API answers.
var (
	ErrNotFound     = errors.New("not found")
	ErrSuspended    = errors.New("agency suspended")
	ErrExists       = errors.New("already exists")
	ErrForbidden    = errors.New("not this agency's")
	ErrState        = errors.New("not allowed in this delivery state")
	ErrUnknownAgent = errors.New("unknown agency")
)

// SQLiteDSN is the data source name OpenSQLite uses for the database file
// at path, for every connection of the pool: write-ahead logging (readers
// do not wait for the writer), a 10-second wait for the write lock,
// transactions that take it at BEGIN (two deferred transactions that both
// read and then write would deadlock and fail with SQLITE_BUSY), foreign
// keys, and a full sync at every commit (an accepted package survives a
// power cut).
func SQLiteDSN(path string) string {
	return "file:" + path + "?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
}

// Open wraps db (opened with the driver of d; for SQLite with SQLiteDSN)
// and creates the tables it lacks. signer signs the evidence log.
func Open(ctx context.Context, db *sql.DB, d Dialect, signer EvidenceSigner) (*Store, error) {
	s := &Store{db: db, dialect: d, now: time.Now, signer: signer}
	for _, stmt := range schema(d) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("store: schema: %w", err)
		}
	}
	return s, nil
}

// SetClock replaces the store's clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// schema is the tables, in the dialect's types.
func schema(d Dialect) []string {
	blob, serial := "BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"
	if d == Postgres {
		blob, serial = "BYTEA", "BIGSERIAL PRIMARY KEY"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS agencies (
			code TEXT PRIMARY KEY,
			name TEXT NOT NULL,
			enc_cert ` + blob + ` NOT NULL,
			suspended INTEGER NOT NULL DEFAULT 0,
			added_at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS packages (
			id TEXT PRIMARY KEY,
			sender TEXT NOT NULL REFERENCES agencies(code),
			send_id TEXT NOT NULL,
			sha256 TEXT NOT NULL,
			size BIGINT NOT NULL,
			envelope ` + blob + `,
			accepted_at BIGINT NOT NULL,
			expires_at BIGINT NOT NULL,
			UNIQUE (sender, send_id))`,
		`CREATE TABLE IF NOT EXISTS deliveries (
			package_id TEXT NOT NULL REFERENCES packages(id),
			recipient TEXT NOT NULL REFERENCES agencies(code),
			state TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '',
			receipt ` + blob + `,
			updated_at BIGINT NOT NULL,
			PRIMARY KEY (package_id, recipient))`,
		`CREATE TABLE IF NOT EXISTS events (
			seq ` + serial + `,
			agency TEXT NOT NULL,
			package_id TEXT NOT NULL,
			recipient TEXT NOT NULL,
			state TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '',
			at BIGINT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS events_agency ON events (agency, seq)`,
		`CREATE TABLE IF NOT EXISTS announcements (
			seq ` + serial + `,
			text TEXT NOT NULL,
			at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS evidence (
			seq BIGINT PRIMARY KEY,
			entry TEXT NOT NULL,
			prev TEXT NOT NULL,
			hash TEXT NOT NULL,
			signature ` + blob + ` NOT NULL)`,
	}
}

// q rewrites ? placeholders as $1, $2 … for PostgreSQL.
func (s *Store) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writerLock is the PostgreSQL advisory lock every write transaction
// takes first. The evidence log appends after the last record, so two
// writers must not both read the same last record; SQLite gets the same
// by taking its write lock at BEGIN (SQLiteDSN). Taking it first, before
// any row lock, means writers cannot deadlock on it.
const writerLock = 0x43424358 // "CBCX"

// tx runs f in one write transaction, committed when f returns nil.
func (s *Store) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writerLock); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Agency is an entry of the directory.
type Agency struct {
	Code      string
	Name      string
	EncCert   []byte // DER of the encryption certificate (cert2)
	Suspended bool
	AddedAt   time.Time
}

// AddAgency adds an agency, or replaces the name and certificate of one
// (a renewed card); a suspended one stays suspended.
func (s *Store) AddAgency(ctx context.Context, a Agency) error {
	now := s.now().Unix()
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE agencies SET name = ?, enc_cert = ? WHERE code = ?`), a.Name, a.EncCert, a.Code)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return s.appendEvidence(ctx, tx, Evidence{Kind: "agency-updated", Agency: a.Code})
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO agencies (code, name, enc_cert, added_at) VALUES (?, ?, ?, ?)`), a.Code, a.Name, a.EncCert, now); err != nil {
			return err
		}
		return s.appendEvidence(ctx, tx, Evidence{Kind: "agency-added", Agency: a.Code})
	})
}

// Agencies lists the directory, by code.
func (s *Store) Agencies(ctx context.Context) ([]Agency, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT code, name, enc_cert, suspended, added_at FROM agencies ORDER BY code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Agency
	for rows.Next() {
		var a Agency
		var susp int
		var at int64
		if err := rows.Scan(&a.Code, &a.Name, &a.EncCert, &susp, &at); err != nil {
			return nil, err
		}
		a.Suspended, a.AddedAt = susp != 0, time.Unix(at, 0)
		out = append(out, a)
	}
	return out, rows.Err()
}

// AgencyByCode returns one agency.
func (s *Store) AgencyByCode(ctx context.Context, code string) (Agency, error) {
	var a Agency
	var susp int
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT code, name, enc_cert, suspended, added_at FROM agencies WHERE code = ?`), code).Scan(&a.Code, &a.Name, &a.EncCert, &susp, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Agency{}, fmt.Errorf("agency %s: %w", code, ErrUnknownAgent)
	}
	a.Suspended, a.AddedAt = susp != 0, time.Unix(at, 0)
	return a, err
}

// SetSuspended suspends an agency (an expired card, the rule in
// docs/exchange.md) or lifts it.
func (s *Store) SetSuspended(ctx context.Context, code string, suspended bool) error {
	v := 0
	kind := "agency-resumed"
	if suspended {
		v, kind = 1, "agency-suspended"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE agencies SET suspended = ? WHERE code = ?`), v, code)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("agency %s: %w", code, ErrUnknownAgent)
		}
		return s.appendEvidence(ctx, tx, Evidence{Kind: kind, Agency: code})
	})
}

// Announce adds an announcement. It is written in a write transaction
// like every other change: on PostgreSQL two announcements committed out
// of the order of their numbers would let an agent's cursor pass one.
func (s *Store) Announce(ctx context.Context, text string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO announcements (text, at) VALUES (?, ?)`), text, s.now().Unix())
		return err
	})
}

// Announcement is one announcement.
type Announcement struct {
	Seq  int64
	Text string
	At   time.Time
}

// Announcements lists the announcements after seq, oldest first.
func (s *Store) Announcements(ctx context.Context, after int64) ([]Announcement, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, text, at FROM announcements WHERE seq > ? ORDER BY seq`), after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Announcement
	for rows.Next() {
		var a Announcement
		var at int64
		if err := rows.Scan(&a.Seq, &a.Text, &at); err != nil {
			return nil, err
		}
		a.At = time.Unix(at, 0)
		out = append(out, a)
	}
	return out, rows.Err()
}
