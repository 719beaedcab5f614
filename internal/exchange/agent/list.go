package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"
)

// Outbox lists the documents sent or queued since from, newest first.
func (a *Agent) Outbox(ctx context.Context, from, to time.Time) ([]Outgoing, error) {
	rows, err := a.st.db.QueryContext(ctx, `SELECT send_id, subject, created, state, attempts, last_error, package_id, number, files FROM outbox WHERE created >= ? AND created < ? ORDER BY created DESC`, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	var out []Outgoing
	for rows.Next() {
		var o Outgoing
		var at int64
		var files string
		if err := rows.Scan(&o.SendID, &o.Subject, &at, &o.State, &o.Attempts, &o.LastError, &o.PackageID, &o.Number, &files); err != nil {
			rows.Close()
			return nil, err
		}
		o.Created, o.Label = time.Unix(at, 0), OutLabel(o.State)
		o.Files = []string{}
		if files != "" {
			o.Files = strings.Split(files, "\n")
		}
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
			if r.State == Queued && out[i].State != Sent {
				r.State = out[i].State // sending, retrying, failed: the upload's state is each recipient's
			}
			r.Label = OutLabel(r.State)
			out[i].Recipients = append(out[i].Recipients, r)
		}
		rs.Close()
		out[i].printable()
	}
	return out, nil
}

// Inbox lists the documents received (or refused) since from, newest first.
func (a *Agent) Inbox(ctx context.Context, from, to time.Time) ([]Incoming, error) {
	rows, err := a.st.db.QueryContext(ctx, `SELECT package_id, sender, subject, number, state, reason, unread, folder, updated, printed, print_error FROM inbox WHERE updated >= ? AND updated < ? ORDER BY updated DESC`, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Incoming
	for rows.Next() {
		var in Incoming
		var unread int
		var at, printed int64
		if err := rows.Scan(&in.PackageID, &in.Sender, &in.Subject, &in.Number, &in.State, &in.Reason, &unread, &in.Folder, &at, &printed, &in.PrintError); err != nil {
			return nil, err
		}
		in.Unread, in.Updated, in.Label = unread != 0, time.Unix(at, 0), InLabel(in.State)
		in.setPrinted(printed)
		in.printable()
		out = append(out, in)
	}
	return out, rows.Err()
}

// MarkRead marks a received document read (eClient had no such thing).
func (a *Agent) MarkRead(ctx context.Context, id string) error {
	_, err := a.st.db.ExecContext(ctx, `UPDATE inbox SET unread = 0 WHERE package_id = ?`, strings.TrimSpace(id))
	return err
}

// ErrNoDocument is an id that names no document of this home.
var ErrNoDocument = errors.New("找不到這份公文（請以 cardbridge exchange list 查看編號）/ no such document in this agency's exchange folder (cardbridge exchange list shows the ids)")

// Document is one document as `exchange show` prints it: received
// (with the files archived for it) or sent (with each recipient's state).
type Document struct {
	Incoming *Incoming `json:"incoming,omitempty"`
	Files    []string  `json:"files,omitempty"`
	Outgoing *Outgoing `json:"outgoing,omitempty"`
}

// Show finds a document by its package id (sender/send id) or, for one we
// sent, its send id. A received document shown is marked read.
func (a *Agent) Show(ctx context.Context, id string) (Document, error) {
	id = strings.TrimSpace(id)
	var d Document
	var in Incoming
	var unread int
	var at, printed int64
	err := a.st.db.QueryRowContext(ctx, `SELECT package_id, sender, subject, number, state, reason, unread, folder, updated, printed, print_error FROM inbox WHERE package_id = ?`, id).
		Scan(&in.PackageID, &in.Sender, &in.Subject, &in.Number, &in.State, &in.Reason, &unread, &in.Folder, &at, &printed, &in.PrintError)
	switch {
	case err == nil:
		in.Unread, in.Updated, in.Label = unread != 0, time.Unix(at, 0), InLabel(in.State)
		in.setPrinted(printed)
		in.printable()
		d.Incoming = &in
		if in.Folder != "" {
			if es, err := os.ReadDir(in.Folder); err == nil {
				for _, e := range es {
					if !e.IsDir() && !strings.HasPrefix(e.Name(), tempPrefix) {
						d.Files = append(d.Files, e.Name())
					}
				}
			}
		}
		return d, a.MarkRead(ctx, id)
	case !errors.Is(err, sql.ErrNoRows):
		return d, err
	}
	var created int64
	err = a.st.db.QueryRowContext(ctx, `SELECT created FROM outbox WHERE send_id = ? OR package_id = ?`, id, id).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("%s: %w", id, ErrNoDocument)
	}
	if err != nil {
		return d, err
	}
	t := time.Unix(created, 0)
	out, err := a.Outbox(ctx, t, t.Add(time.Second))
	if err != nil {
		return d, err
	}
	for i := range out {
		if out[i].SendID == id || out[i].PackageID == id {
			d.Outgoing = &out[i]
			return d, nil
		}
	}
	return d, fmt.Errorf("%s: %w", id, ErrNoDocument)
}

// printable is s as it may be shown, on a terminal too: the subject and
// 發文字號 are the sender's text, states, reasons and error messages the
// centre's, and an escape sequence in them would clear the clerk's screen
// or rewrite what is shown beside it, a bidirectional override show one
// text as another. Line breaks and tabs become spaces; other control and
// invisible formatting characters, and invalid UTF-8, become U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

func (in *Incoming) printable() {
	for _, s := range []*string{&in.PackageID, &in.Sender, &in.Subject, &in.Number, &in.State, &in.Label, &in.Reason, &in.PrintError} {
		*s = printable(*s)
	}
}

func (o *Outgoing) printable() {
	for _, s := range []*string{&o.Subject, &o.State, &o.Label, &o.LastError, &o.PackageID} {
		*s = printable(*s)
	}
	for i := range o.Recipients {
		r := &o.Recipients[i]
		for _, s := range []*string{&r.Code, &r.State, &r.Label, &r.Reason} {
			*s = printable(*s)
		}
	}
}

// InLabel is a receiver status as eClient names it (the seed's four, and
// our 使用者退文 from the receiver's side).
func InLabel(state string) string {
	if l, ok := map[string]string{"arrived": "公文到達", "downloading": "收文下載處理中", "completed": "收文完成", "failed": "收文異常", "returned": "已退文"}[state]; ok {
		return l
	}
	return state
}

// OutLabel is a sender-side status: eClient's three for a recipient's
// answer, and the upload's own before it.
func OutLabel(state string) string {
	if l, ok := map[string]string{Queued: "待送出", Sending: "傳送中", Retrying: "重試中", Sent: "已送出", Failed: "傳送失敗",
		"system-confirmed": "系統確認", "user-confirmed": "使用者確認", "user-returned": "使用者退文"}[state]; ok {
		return l
	}
	return state
}

func (in *Incoming) setPrinted(at int64) {
	if at > 0 {
		t := time.Unix(at, 0)
		in.Printed = &t
	}
}
