package agent

import (
	"context"
	"strings"
	"time"
)

// Outbox lists the documents sent or queued since from, newest first.
func (a *Agent) Outbox(ctx context.Context, from, to time.Time) ([]Outgoing, error) {
	rows, err := a.st.db.QueryContext(ctx, `SELECT send_id, subject, created, state, attempts, last_error, package_id FROM outbox WHERE created >= ? AND created < ? ORDER BY created DESC`, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	var out []Outgoing
	for rows.Next() {
		var o Outgoing
		var at int64
		if err := rows.Scan(&o.SendID, &o.Subject, &at, &o.State, &o.Attempts, &o.LastError, &o.PackageID); err != nil {
			rows.Close()
			return nil, err
		}
		o.Created = time.Unix(at, 0)
		out = append(out, o)
	}
	rows.Close()
	for i := range out {
		rs, err := a.st.db.QueryContext(ctx, `SELECT recipient, state, reason, updated FROM out_recipients WHERE send_id = ? ORDER BY recipient`, out[i].SendID)
		if err != nil {
			return nil, err
		}
		for rs.Next() {
			var r Recipient
			var at int64
			if err := rs.Scan(&r.Code, &r.State, &r.Reason, &at); err != nil {
				rs.Close()
				return nil, err
			}
			r.Updated = time.Unix(at, 0)
			out[i].Recipients = append(out[i].Recipients, r)
		}
		rs.Close()
	}
	return out, nil
}

// Inbox lists the documents received (or refused) since from, newest first.
func (a *Agent) Inbox(ctx context.Context, from, to time.Time) ([]Incoming, error) {
	rows, err := a.st.db.QueryContext(ctx, `SELECT package_id, sender, subject, number, state, reason, unread, folder, updated FROM inbox WHERE updated >= ? AND updated < ? ORDER BY updated DESC`, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Incoming
	for rows.Next() {
		var in Incoming
		var unread int
		var at int64
		if err := rows.Scan(&in.PackageID, &in.Sender, &in.Subject, &in.Number, &in.State, &in.Reason, &unread, &in.Folder, &at); err != nil {
			return nil, err
		}
		in.Unread, in.Updated = unread != 0, time.Unix(at, 0)
		out = append(out, in)
	}
	return out, rows.Err()
}

// MarkRead marks a received document read (eClient had no such thing).
func (a *Agent) MarkRead(ctx context.Context, id string) error {
	_, err := a.st.db.ExecContext(ctx, `UPDATE inbox SET unread = 0 WHERE package_id = ?`, strings.TrimSpace(id))
	return err
}
