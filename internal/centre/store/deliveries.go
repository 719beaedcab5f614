package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// Delivery states at the centre, per recipient; the receiver sees them as
// eClient's four (and a return), the sender as the pairing of the seed's
// table (SenderView).
const (
	Arrived     = "arrived"     // 公文到達
	Downloading = "downloading" // 收文下載處理中
	Completed   = "completed"   // 收文完成 (with the receiver's signed receipt)
	Failed      = "failed"      // 收文異常 (with the reason)
	Returned    = "returned"    // 使用者退文 (with the reason)
)

// SenderView is what the sender sees of a recipient's state: 系統確認
// while the document is at the recipient's system, 使用者確認 once it is
// received, 使用者退文 when it could not be or was returned.
func SenderView(state string) string {
	switch state {
	case Arrived, Downloading:
		return "system-confirmed"
	case Completed:
		return "user-confirmed"
	case Failed, Returned:
		return "user-returned"
	}
	return state
}

// MaxEnvelope caps a package the store accepts.
const MaxEnvelope = 256 << 20

// MaxRecipients is the most recipients of one package: a whole city's
// kindergartens in one document (New Taipei has about a thousand), their
// codes in the API's X-Recipients header well under its 64 KiB cap.
const MaxRecipients = 3000

// Package is an accepted package.
type Package struct {
	ID         string // sender + "/" + the sender's send id
	Sender     string
	SendID     string
	SHA256     string // of the envelope
	Size       int64
	AcceptedAt time.Time
	ExpiresAt  time.Time
	Recipients []Delivery
}

// Delivery is one recipient's state of a package.
type Delivery struct {
	Recipient string
	State     string
	Reason    string
	Receipt   []byte
	UpdatedAt time.Time
}

// Accept stores a package for recipients. The sender's send id makes it
// idempotent: the same id with the same envelope returns the package
// already accepted (a retry after a lost answer), with another envelope
// ErrExists. Sender and recipients must be in the directory and not
// suspended.
func (s *Store) Accept(ctx context.Context, sender, sendID string, envelope []byte, recipients []string, retention time.Duration) (Package, error) {
	if len(envelope) == 0 || len(envelope) > MaxEnvelope {
		return Package{}, fmt.Errorf("package of %d bytes: %w", len(envelope), ErrState)
	}
	if !ValidSendID(sendID) || len(recipients) == 0 || len(recipients) > MaxRecipients {
		return Package{}, fmt.Errorf("send id or recipients: %w", ErrState)
	}
	sum := sha256.Sum256(envelope)
	digest := hex.EncodeToString(sum[:])
	id := sender + "/" + sendID
	now := s.now().UTC().Truncate(time.Second)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var have string
		err := tx.QueryRowContext(ctx, s.q(`SELECT sha256 FROM packages WHERE id = ?`), id).Scan(&have)
		switch {
		case err == nil && have == digest:
			return errAlready
		case err == nil:
			return fmt.Errorf("package %s: another envelope under the same send id: %w", id, ErrExists)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		for _, code := range append([]string{sender}, recipients...) {
			var susp int
			err := tx.QueryRowContext(ctx, s.q(`SELECT suspended FROM agencies WHERE code = ?`), code).Scan(&susp)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("agency %s: %w", code, ErrUnknownAgent)
			}
			if err != nil {
				return err
			}
			if susp != 0 {
				return fmt.Errorf("agency %s: %w", code, ErrSuspended)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO packages (id, sender, send_id, sha256, size, envelope, accepted_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			id, sender, sendID, digest, len(envelope), envelope, now.Unix(), now.Add(retention).Unix()); err != nil {
			return err
		}
		if err := s.appendEvidence(ctx, tx, Evidence{Kind: "package-accepted", Agency: sender, Package: id, SHA256: digest, At: now}); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, r := range recipients {
			if seen[r] {
				continue
			}
			seen[r] = true
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO deliveries (package_id, recipient, state, updated_at) VALUES (?, ?, ?, ?)`), id, r, Arrived, now.Unix()); err != nil {
				return err
			}
			if err := s.event(ctx, tx, id, sender, r, Arrived, "", now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errAlready) {
		return Package{}, err
	}
	return s.Package(ctx, id, sender)
}

// ValidSendID reports whether id can be a send id: 1 to 128 letters,
// digits and . _ : - (a UUID is one), starting with a letter or digit. It
// becomes the package id (sender/id), a URL path segment and evidence
// JSON, so nothing else is taken: no "/", no "..", no control characters,
// no invalid UTF-8 (which the evidence would store as U+FFFD, under
// another name).
func ValidSendID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// errAlready ends Accept's transaction for a retried package.
var errAlready = errors.New("already accepted")

// event records a recipient's state change for the recipient and the
// sender to read (their event cursors), and as evidence.
func (s *Store) event(ctx context.Context, tx *sql.Tx, pkg, sender, recipient, state, reason string, at time.Time) error {
	for _, agency := range []string{recipient, sender} {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO events (agency, package_id, recipient, state, reason, at) VALUES (?, ?, ?, ?, ?, ?)`),
			agency, pkg, recipient, state, reason, at.Unix()); err != nil {
			return err
		}
		if sender == recipient {
			break
		}
	}
	return s.appendEvidence(ctx, tx, Evidence{Kind: "delivery-" + state, Agency: recipient, Package: pkg, Recipient: recipient, Reason: reason, At: at})
}

// Package returns a package as agency may see it: the sender sees every
// recipient, a recipient only itself; anyone else gets ErrForbidden.
func (s *Store) Package(ctx context.Context, id, agency string) (Package, error) {
	var p Package
	var acc, exp int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, sender, send_id, sha256, size, accepted_at, expires_at FROM packages WHERE id = ?`), id).
		Scan(&p.ID, &p.Sender, &p.SendID, &p.SHA256, &p.Size, &acc, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return Package{}, fmt.Errorf("package %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Package{}, err
	}
	p.AcceptedAt, p.ExpiresAt = time.Unix(acc, 0), time.Unix(exp, 0)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT recipient, state, reason, receipt, updated_at FROM deliveries WHERE package_id = ? ORDER BY recipient`), id)
	if err != nil {
		return Package{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var d Delivery
		var at int64
		if err := rows.Scan(&d.Recipient, &d.State, &d.Reason, &d.Receipt, &at); err != nil {
			return Package{}, err
		}
		d.UpdatedAt = time.Unix(at, 0)
		if agency == p.Sender || d.Recipient == agency {
			p.Recipients = append(p.Recipients, d)
		}
	}
	if err := rows.Err(); err != nil {
		return Package{}, err
	}
	if agency != p.Sender && len(p.Recipients) == 0 {
		return Package{}, fmt.Errorf("package %s: %w", id, ErrForbidden)
	}
	return p, nil
}

// Fetch hands a recipient its envelope and marks the delivery
// downloading (from arrived; later states keep theirs, so a redelivery
// after a crash is allowed and changes nothing).
func (s *Store) Fetch(ctx context.Context, id, recipient string) ([]byte, error) {
	var env []byte
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sender, state, err := s.delivery(ctx, tx, id, recipient)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT envelope FROM packages WHERE id = ?`), id).Scan(&env); err != nil {
			return err
		}
		if env == nil {
			return fmt.Errorf("package %s: past its retention: %w", id, ErrNotFound)
		}
		if state == Arrived {
			return s.setState(ctx, tx, id, sender, recipient, Downloading, "", nil)
		}
		return nil
	})
	return env, err
}

// delivery returns the package's sender and recipient's state, or
// ErrForbidden when recipient is not one of its recipients.
func (s *Store) delivery(ctx context.Context, tx *sql.Tx, id, recipient string) (sender, state string, err error) {
	err = tx.QueryRowContext(ctx, s.q(`SELECT p.sender, d.state FROM deliveries d JOIN packages p ON p.id = d.package_id WHERE d.package_id = ? AND d.recipient = ?`), id, recipient).Scan(&sender, &state)
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM packages WHERE id = ?`), id).Scan(&n); err != nil {
			return "", "", err
		}
		if n == 0 {
			return "", "", fmt.Errorf("package %s: %w", id, ErrNotFound)
		}
		return "", "", fmt.Errorf("package %s: %w", id, ErrForbidden)
	}
	return sender, state, err
}

func (s *Store) setState(ctx context.Context, tx *sql.Tx, id, sender, recipient, state, reason string, receipt []byte) error {
	now := s.now().UTC().Truncate(time.Second)
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE deliveries SET state = ?, reason = ?, receipt = ?, updated_at = ? WHERE package_id = ? AND recipient = ?`),
		state, reason, receipt, now.Unix(), id, recipient); err != nil {
		return err
	}
	if receipt != nil {
		sum := sha256.Sum256(receipt)
		if err := s.appendEvidence(ctx, tx, Evidence{Kind: "receipt", Agency: recipient, Package: id, Recipient: recipient, SHA256: hex.EncodeToString(sum[:]), At: now}); err != nil {
			return err
		}
	}
	return s.event(ctx, tx, id, sender, recipient, state, reason, now)
}

// transitions lists, for each state a recipient may report, the states it
// may come from. Reporting the state a delivery is already in is allowed
// and changes nothing (a retried acknowledgement).
var transitions = map[string][]string{
	Completed: {Arrived, Downloading},
	Failed:    {Arrived, Downloading},
	Returned:  {Completed},
}

// Report records a recipient's outcome: completed with its signed receipt
// (which makes the sender's 使用者確認), failed or returned with a reason.
func (s *Store) Report(ctx context.Context, id, recipient, state, reason string, receipt []byte) error {
	from, ok := transitions[state]
	if !ok {
		return fmt.Errorf("state %q: %w", state, ErrState)
	}
	if len(reason) > 2000 || len(receipt) > 64<<10 {
		return fmt.Errorf("reason or receipt too long: %w", ErrState)
	}
	if !plainText(reason) {
		return fmt.Errorf("reason with control or formatting characters: %w", ErrState)
	}
	if state == Completed && len(receipt) == 0 {
		return fmt.Errorf("completed without a receipt: %w", ErrState)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		sender, cur, err := s.delivery(ctx, tx, id, recipient)
		if err != nil {
			return err
		}
		if cur == state {
			return nil
		}
		if !slices.Contains(from, cur) {
			return fmt.Errorf("package %s for %s: %s after %s: %w", id, recipient, state, cur, ErrState)
		}
		return s.setState(ctx, tx, id, sender, recipient, state, reason, receipt)
	})
}

// plainText reports whether s is valid UTF-8 without control characters
// other than newline and tab, and without formatting ones (bidirectional
// overrides, zero-width characters): a recipient's reason is shown to the
// sender's clerk, on terminals too, where escapes would rewrite the screen.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (unicode.IsControl(r) && r != '\n' && r != '\t') || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

// Event is a delivery state change an agency learns of.
type Event struct {
	Seq       int64
	Package   string
	Recipient string
	State     string
	Reason    string
	At        time.Time
}

// Events returns agency's events after the cursor seq, oldest first, at
// most limit: what the push channel sends, and the polling fallback.
func (s *Store) Events(ctx context.Context, agency string, after int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, package_id, recipient, state, reason, at FROM events WHERE agency = ? AND seq > ? ORDER BY seq LIMIT ?`), agency, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.Seq, &e.Package, &e.Recipient, &e.State, &e.Reason, &at); err != nil {
			return nil, err
		}
		e.At = time.Unix(at, 0)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Expired is the reason of a delivery failed because its envelope was
// dropped at the end of the retention before the recipient took it.
const Expired = "expired: 超過保存期限未收文 / not received before the retention ended"

// Purge drops the envelopes of packages past their retention; their
// deliveries, events and evidence stay. A delivery not yet taken
// (arrived, downloading) fails with Expired, with an event for both sides,
// and each purge is recorded as evidence, all in one transaction. It
// returns how many envelopes it dropped.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now().Unix()
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, sender FROM packages WHERE expires_at < ? AND envelope IS NOT NULL ORDER BY id`), now)
		if err != nil {
			return err
		}
		type pkg struct{ id, sender string }
		var expired []pkg
		for rows.Next() {
			var p pkg
			if err := rows.Scan(&p.id, &p.sender); err != nil {
				rows.Close()
				return err
			}
			expired = append(expired, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range expired {
			drows, err := tx.QueryContext(ctx, s.q(`SELECT recipient FROM deliveries WHERE package_id = ? AND state IN (?, ?) ORDER BY recipient`), p.id, Arrived, Downloading)
			if err != nil {
				return err
			}
			var pending []string
			for drows.Next() {
				var r string
				if err := drows.Scan(&r); err != nil {
					drows.Close()
					return err
				}
				pending = append(pending, r)
			}
			drows.Close()
			if err := drows.Err(); err != nil {
				return err
			}
			for _, r := range pending {
				if err := s.setState(ctx, tx, p.id, p.sender, r, Failed, Expired, nil); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE packages SET envelope = NULL WHERE id = ?`), p.id); err != nil {
				return err
			}
			if err := s.appendEvidence(ctx, tx, Evidence{Kind: "envelope-purged", Agency: p.sender, Package: p.id}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
