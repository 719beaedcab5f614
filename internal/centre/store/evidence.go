package store

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EvidenceSigner signs the evidence log: the centre's own key (Ed25519),
// kept beside its database.
type EvidenceSigner = crypto.Signer

// Evidence is one entry of the log: what happened, to what, when.
type Evidence struct {
	Kind      string    `json:"kind"` // package-accepted, delivery-<state>, receipt, agency-…
	Agency    string    `json:"agency,omitempty"`
	Package   string    `json:"package,omitempty"`
	Recipient string    `json:"recipient,omitempty"`
	SHA256    string    `json:"sha256,omitempty"` // the envelope's, or the receipt's
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

// Record is an entry as stored: its place, the entry's exact JSON, the
// hash of the previous record, its own hash and the centre's signature.
type Record struct {
	Seq       int64  `json:"seq"`
	Entry     string `json:"entry"`
	Prev      string `json:"prev"`
	Hash      string `json:"hash"`
	Signature []byte `json:"signature"`
}

// genesis is the Prev of the first record.
var genesis = hex.EncodeToString(make([]byte, sha256.Size))

// recordHash chains an entry to its predecessor: SHA-256 of the previous
// hash, a newline and the entry's JSON.
func recordHash(prev, entry string) string {
	h := sha256.Sum256([]byte(prev + "\n" + entry))
	return hex.EncodeToString(h[:])
}

// appendEvidence adds e to the log inside tx, after the last record: the
// log is append-only (nothing updates or deletes it) and hash-chained, so
// a record removed or changed breaks every hash after it, and each record
// is signed, so none can be forged without the centre's key.
func (s *Store) appendEvidence(ctx context.Context, tx *sql.Tx, e Evidence) error {
	if e.At.IsZero() {
		e.At = s.now().UTC().Truncate(time.Second)
	}
	entry, err := json.Marshal(e)
	if err != nil {
		return err
	}
	var seq int64
	prev := genesis
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM evidence ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("evidence: %w", err)
	}
	hash := recordHash(prev, string(entry))
	raw, _ := hex.DecodeString(hash)
	sig, err := s.signer.Sign(rand.Reader, raw, crypto.Hash(0))
	if err != nil {
		return fmt.Errorf("evidence: sign: %w", err)
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO evidence (seq, entry, prev, hash, signature) VALUES (?, ?, ?, ?, ?)`), seq+1, string(entry), prev, hash, sig)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	return nil
}

// Evidence returns the records that name pkg (or all, for ""), in order.
func (s *Store) Evidence(ctx context.Context, pkg string) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, entry, prev, hash, signature FROM evidence ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		if err := rows.Scan(&r.Seq, &r.Entry, &r.Prev, &r.Hash, &r.Signature); err != nil {
			return nil, err
		}
		if pkg != "" {
			var e Evidence
			if json.Unmarshal([]byte(r.Entry), &e) != nil || e.Package != pkg {
				continue
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ErrEvidence reports a record whose hash or signature does not hold, or
// a broken chain.
var ErrEvidence = errors.New("evidence does not verify")

// VerifyRecords checks records offline against the centre's public key:
// each record's hash is the hash of its Prev and entry and its signature
// holds; consecutive records (seq n, n+1) chain. With full, the records
// must be the whole log from the first.
func VerifyRecords(records []Record, pub ed25519.PublicKey, full bool) error {
	for i, r := range records {
		if recordHash(r.Prev, r.Entry) != r.Hash {
			return fmt.Errorf("%w: record %d: hash", ErrEvidence, r.Seq)
		}
		raw, err := hex.DecodeString(r.Hash)
		if err != nil || !ed25519.Verify(pub, raw, r.Signature) {
			return fmt.Errorf("%w: record %d: signature", ErrEvidence, r.Seq)
		}
		switch {
		case i == 0 && full && (r.Seq != 1 || r.Prev != genesis):
			return fmt.Errorf("%w: the log does not start at its first record", ErrEvidence)
		case i > 0 && r.Seq <= records[i-1].Seq:
			return fmt.Errorf("%w: record %d out of order", ErrEvidence, r.Seq)
		case i > 0 && r.Seq == records[i-1].Seq+1 && r.Prev != records[i-1].Hash:
			return fmt.Errorf("%w: record %d does not follow %d", ErrEvidence, r.Seq, records[i-1].Seq)
		case i > 0 && full && r.Seq != records[i-1].Seq+1:
			return fmt.Errorf("%w: records missing before %d", ErrEvidence, r.Seq)
		}
	}
	return nil
}
