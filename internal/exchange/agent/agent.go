// Package agent is one agency's 公文 exchange client (docs/exchange.md):
// its state in a home folder (an embedded SQLite store, one agent per home
// at a time), sending (queued, sealed once, uploaded under a stable send id
// that every retry reuses, retried with back-off until a visible final
// failure), and receiving (fetched, verified, decrypted with the card,
// written to the archive folder durably, and only then acknowledged with a
// receipt the card signs), so that a crash at any point loses nothing and
// a redelivery is stored once.
//
// The card is behind Card: the command line and the extension's agent
// implement it with cards.Manager and the PIN the clerk typed for the
// session; tests with software keys.
package agent

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/authtoken"
	cardpkg "github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/exchange/di"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/exchange/printer"
)

// ErrArchive is a document that could not be written to the archive
// folder; it stays unacknowledged and is taken again by the next sync.
var ErrArchive = errors.New("無法寫入收文資料夾（磁碟已滿或沒有權限），公文未簽收，清出空間或修正權限後再同步即可 / cannot write to the archive folder (disk full or no permission); the document is not acknowledged: free space or fix the permission and sync again")

// faultPoint marks the steps of sending and receiving where a crash must
// lose nothing and double nothing. The crash tests stop the process there
// with kill -9 (crash_test.go); otherwise it does nothing.
var faultPoint = func(step string) {}

// Card is what the agent needs of the agency's card.
type Card interface {
	// Token signs the centre's login challenge (cards.Manager.Authenticate).
	Token(ctx context.Context, origin, challenge string) (authtoken.Token, error)
	// Signer is cert1 and its key: manifests and receipts.
	Signer() (*x509.Certificate, crypto.Signer)
	// Decrypter is cert2 and its key: envelopes addressed to the agency.
	Decrypter() (*x509.Certificate, crypto.Decrypter)
}

// Options configure an Agent.
type Options struct {
	// Home is the agency's state folder.
	Home string
	// Trust is what incoming signatures must chain to (Now is set per use).
	Trust parcel.Trust
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAttempts bounds a send's uploads before it is failed (default 8).
	MaxAttempts int
	// Dial reaches the centre at an origin; nil means the reference
	// centre's API (NewClient). A connector to another centre goes here.
	Dial func(origin string) (Transport, error)
	// Spooler prints; nil means the system's (printer.System) with the
	// printer of the settings.
	Spooler printer.Spooler
	// Font is the TrueType font of the 可攜式公文; nil means the system's
	// (portable.FindFont).
	Font []byte
}

// Agent is one agency's exchange client over its home.
type Agent struct {
	st *state
	o  Options
	// mu makes the calls that reach the centre one at a time (an
	// extension page and the watch share one agent): the session, the
	// cursor and the outbox are read and moved under it.
	mu     sync.Mutex
	client Transport
	agency string
}

// Open opens the agent's home (creating it), taking its lock.
func Open(ctx context.Context, o Options) (*Agent, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 8
	}
	if o.Dial == nil {
		o.Dial = dialClient
	}
	st, err := openState(ctx, o.Home)
	if err != nil {
		return nil, err
	}
	if o.Trust.Roots == nil {
		if b, err := os.ReadFile(filepath.Join(o.Home, "roots.pem")); err == nil {
			o.Trust.Roots, o.Trust.Intermediates = pools(b)
		}
	}
	return &Agent{st: st, o: o}, nil
}

// pools splits PEM certificates into self-signed roots and the issuing
// CAs that complete chains.
func pools(pemData []byte) (roots, inter *x509.CertPool) {
	var cas []*x509.Certificate
	for {
		var blk *pem.Block
		blk, pemData = pem.Decode(pemData)
		if blk == nil {
			t := parcel.TrustOf(cas)
			return t.Roots, t.Intermediates
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			cas = append(cas, c)
		}
	}
}

// Close releases the home.
func (a *Agent) Close() { a.st.close() }

// Setup records the centre, the agency's 機關代碼, the archive folder and,
// when given, the CA certificates (PEM) senders' certificates must chain
// to (kept as roots.pem in the home).
func (a *Agent) Setup(ctx context.Context, centre, agency, archive string, rootsPEM []byte) error {
	if _, err := a.o.Dial(centre); err != nil {
		return err
	}
	if err := di.CheckAgencyCode(agency); err != nil {
		return fmt.Errorf("setup: %s", err.EN)
	}
	if !filepath.IsAbs(archive) {
		return fmt.Errorf("setup: the archive folder %q must be an absolute path", archive)
	}
	if rootsPEM != nil {
		roots, _ := pools(rootsPEM)
		if len(roots.Subjects()) == 0 { //lint:ignore SA1019 counting the parsed roots
			return errors.New("setup: the roots file holds no self-signed CA certificate")
		}
		if err := os.WriteFile(filepath.Join(a.o.Home, "roots.pem"), rootsPEM, 0o600); err != nil {
			return err
		}
		a.o.Trust.Roots, a.o.Trust.Intermediates = pools(rootsPEM)
	}
	for k, v := range map[string]string{"centre": centre, "agency": agency, "archive": archive} {
		if err := a.st.set(ctx, k, v); err != nil {
			return err
		}
	}
	return nil
}

// connect logs in once per Agent with the card; the centre's answer must
// be the agency this home is set up for.
func (a *Agent) connect(ctx context.Context, card Card) error {
	if a.client != nil {
		return nil
	}
	centre, err := a.st.get(ctx, "centre")
	if err != nil {
		return err
	}
	want, _ := a.st.get(ctx, "agency")
	if centre == "" || want == "" {
		return errors.New("exchange: not set up: run cardbridge exchange setup --centre URL --agency CODE")
	}
	c, err := a.o.Dial(centre)
	if err != nil {
		return err
	}
	got, err := c.Login(ctx, card.Token)
	if err != nil {
		return err
	}
	if got != want {
		_ = c.Logout(ctx)
		return fmt.Errorf("exchange: the card is %q's, this home is set up for %s", got, want) // the centre's word, quoted
	}
	a.client, a.agency = c, got
	return nil
}

// Draft is a document to send: a DI, or a subject and a Body from which
// the agent composes the 函 (di.Compose: the sender's name from the card,
// the recipients' from the centre's directory, today's date).
type Draft struct {
	To      []string
	Subject string
	Number  string
	DI      parcel.File
	Body    string
	Files   []parcel.File
}

// Queue builds, signs and seals a document to every recipient's
// encryption certificate from the centre's directory (and our own), and
// puts it in the outbox under a new send id. Nothing is uploaded yet
// (Sync does): what is queued survives a crash and is sent as it is.
func (a *Agent) Queue(ctx context.Context, card Card, d Draft) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.connect(ctx, card); err != nil {
		return "", err
	}
	dir, err := a.client.Directory(ctx)
	if err != nil {
		return "", err
	}
	certs := map[string]*x509.Certificate{}
	expired := map[string]bool{}
	for _, e := range dir {
		c, err := x509.ParseCertificate(e.EncCert)
		if err != nil {
			continue
		}
		if e.Suspended {
			continue
		}
		if e.Expired {
			expired[e.Code] = true
			continue
		}
		certs[e.Code] = c
	}
	if len(d.DI.Data) == 0 {
		if d.DI, err = a.compose(ctx, card, d, dir); err != nil {
			return "", err
		}
		if d.Number == "" {
			if l, err := di.Parse(d.DI.Data); err == nil {
				d.Number = l.Number.String()
			}
		}
	}
	l, err := di.Parse(d.DI.Data)
	if err != nil {
		return "", fmt.Errorf("exchange: the DI: %w", err)
	}
	if code := l.Sender.Code; code != a.agency && !strings.HasPrefix(code, a.agency) {
		return "", fmt.Errorf("exchange: the DI's 發文機關 is %s, but this agency is %s / 公文的發文機關代碼與本機關不符", code, a.agency)
	}
	if len(d.To) > api.MaxRecipients {
		return "", fmt.Errorf("exchange: %d 個受文者超過一份公文的上限 %d，請分批發文 / %d recipients, more than the %d one document may have: send it in parts", len(d.To), api.MaxRecipients, len(d.To), api.MaxRecipients)
	}
	trust := a.o.Trust
	trust.Now = a.o.Now()
	var to []*x509.Certificate
	for _, r := range d.To {
		c, ok := certs[r]
		if expired[r] {
			return "", fmt.Errorf("exchange: %s 的憑證卡已過期，公文交換暫停至換發為止 / %s's card certificate has expired: its exchange is paused until it renews the card", r, r)
		}
		if !ok {
			return "", fmt.Errorf("exchange: %s 不在交換中心的通訊錄，或已停用 / %s is not in the centre's directory, or is suspended", r, r)
		}
		// The directory is the centre's word: the certificate must be the
		// recipient's, from a trusted CA, before anything is sealed to it.
		if err := parcel.CheckRecipient(c, r, trust); err != nil {
			return "", fmt.Errorf("exchange: %w", err)
		}
		to = append(to, c)
	}
	own, _ := card.Decrypter()
	to = append(to, own)
	id := newID()
	files := append([]parcel.File{{Name: d.DI.Name, Role: parcel.RoleDI, Data: d.DI.Data}}, d.Files...)
	cert, key := card.Signer()
	inner, err := parcel.Build(parcel.Draft{ID: id, Sender: a.agency, Recipients: d.To, Subject: d.Subject, Number: d.Number, Created: a.o.Now(), Files: files},
		parcel.Signer{Cert: cert, Key: key})
	if err != nil {
		return "", err
	}
	env, err := parcel.Seal(inner, to)
	if err != nil {
		return "", err
	}
	now := a.o.Now().Unix()
	tx, err := a.st.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var names []string
	for _, f := range d.Files {
		names = append(names, f.Name)
	}
	number := d.Number
	if number == "" {
		number = l.Number.String()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (send_id, subject, recipients, created, state, envelope, number, files) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		id, d.Subject, strings.Join(d.To, ","), now, Queued, env, number, strings.Join(names, "\n")); err != nil {
		return "", err
	}
	for _, r := range d.To {
		if _, err := tx.ExecContext(ctx, `INSERT INTO out_recipients (send_id, recipient, state, updated) VALUES (?, ?, ?, ?)`, id, r, Queued, now); err != nil {
			return "", err
		}
	}
	faultPoint("queue:sealed")
	if err := tx.Commit(); err != nil {
		return "", err
	}
	faultPoint("queue:queued")
	return id, nil
}

// compose writes the 函 of a draft without a DI.
func (a *Agent) compose(ctx context.Context, card Card, d Draft, dir []api.DirectoryEntry) (parcel.File, error) {
	if strings.TrimSpace(d.Subject) == "" {
		return parcel.File{}, errors.New("exchange: 主旨不能空白 / a subject is needed")
	}
	names := map[string]string{}
	for _, e := range dir {
		names[e.Code] = e.Name
	}
	cert, _ := card.Signer()
	sender := di.Party{Name: a.agency, Code: a.agency}
	if len(cert.Subject.Organization) > 0 {
		sender.Name = cert.Subject.Organization[0]
	}
	c := di.Compose{Sender: sender, Subject: d.Subject, Body: d.Body, Date: a.o.Now(), Number: d.Number}
	for _, r := range d.To {
		c.To = append(c.To, di.Party{Name: names[r], Code: r, WithAttachments: len(d.Files) > 0})
	}
	for _, f := range d.Files {
		c.Attachments = append(c.Attachments, f.Name)
	}
	if c.Number == "" {
		// No 文號 of the agency's own: the year and a serial of this home.
		var n int
		_ = a.st.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
		c.Number = fmt.Sprintf("發字第%03d%07d號", a.o.Now().Year()-1911, n+1)
	}
	l, err := c.Letter()
	if err != nil {
		return parcel.File{}, fmt.Errorf("exchange: %w", err)
	}
	if ps := di.Validate(l); len(ps) > 0 {
		return parcel.File{}, fmt.Errorf("exchange: %s：%s / %s", ps[0].Element, ps[0].ZH, ps[0].EN)
	}
	b, err := di.Marshal(l)
	if err != nil {
		return parcel.File{}, err
	}
	num := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, l.Number.String())
	return parcel.File{Name: num + ".di", Data: b}, nil
}

// newID is a random send id (UUID v4 form).
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// backoff is the wait before attempt n+1: 30 s doubling to an hour.
func backoff(n int) time.Duration {
	d := 30 * time.Second << min(n, 7)
	return min(d, time.Hour)
}

// Report is what one Sync did.
type Report struct {
	Sent     []string `json:"sent"`
	Retrying []string `json:"retrying"`
	Failed   []string `json:"failed"`
	Received []string `json:"received"`
	Refused  []string `json:"refused"` // 收文異常, with the reason in the inbox
	Updated  int      `json:"updated"` // sender-side states learned
	// Printed is what 啟用收文列印 handed to the spooler, each with its job
	// or why not (補列印 prints it again).
	Printed []Printed `json:"printed,omitempty"`
}

// Empty reports whether the sync did nothing.
func (r Report) Empty() bool {
	return len(r.Sent)+len(r.Retrying)+len(r.Failed)+len(r.Received)+len(r.Refused)+r.Updated == 0
}

// Sync sends what is due in the outbox, then receives: reads the events
// after the stored cursor, updates our sent documents' recipient states,
// and takes in every document that arrived.
func (a *Agent) Sync(ctx context.Context, card Card) (Report, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var rep Report
	if err := a.connect(ctx, card); err != nil {
		return rep, err
	}
	if err := a.send(ctx, &rep); err != nil {
		return rep, err
	}
	return rep, a.receive(ctx, card, &rep)
}

func (a *Agent) send(ctx context.Context, rep *Report) error {
	now := a.o.Now()
	rows, err := a.st.db.QueryContext(ctx, `SELECT send_id, recipients, attempts, envelope FROM outbox WHERE state IN (?, ?, ?) AND next_try <= ? ORDER BY created`,
		Queued, Retrying, Sending, now.Unix())
	if err != nil {
		return err
	}
	type due struct {
		id, to   string
		attempts int
		env      []byte
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.to, &d.attempts, &d.env); err != nil {
			rows.Close()
			return err
		}
		list = append(list, d)
	}
	rows.Close()
	for _, d := range list {
		if _, err := a.st.db.ExecContext(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1 WHERE send_id = ?`, Sending, d.id); err != nil {
			return err
		}
		faultPoint("send:sending")
		p, err := a.client.Upload(ctx, d.id, strings.Split(d.to, ","), d.env)
		if err == nil {
			faultPoint("send:uploaded")
		}
		switch {
		case err == nil:
			if _, err := a.st.db.ExecContext(ctx, `UPDATE outbox SET state = ?, package_id = ?, last_error = '' WHERE send_id = ?`, Sent, p.ID, d.id); err != nil {
				return err
			}
			for _, r := range p.Recipients {
				a.setRecipient(ctx, d.id, r.Recipient, r.SenderView, r.Reason, r.UpdatedAt)
			}
			rep.Sent = append(rep.Sent, d.id)
		case Temporary(err) && d.attempts+1 < a.o.MaxAttempts:
			next := now.Add(backoff(d.attempts)).Unix()
			if _, err2 := a.st.db.ExecContext(ctx, `UPDATE outbox SET state = ?, next_try = ?, last_error = ? WHERE send_id = ?`, Retrying, next, err.Error(), d.id); err2 != nil {
				return err2
			}
			rep.Retrying = append(rep.Retrying, d.id)
		default:
			if _, err2 := a.st.db.ExecContext(ctx, `UPDATE outbox SET state = ?, last_error = ? WHERE send_id = ?`, Failed, err.Error(), d.id); err2 != nil {
				return err2
			}
			rep.Failed = append(rep.Failed, d.id)
		}
	}
	return nil
}

func (a *Agent) setRecipient(ctx context.Context, sendID, recipient, state, reason string, at time.Time) {
	_, _ = a.st.db.ExecContext(ctx, `UPDATE out_recipients SET state = ?, reason = ?, updated = ? WHERE send_id = ? AND recipient = ?`,
		state, reason, at.Unix(), sendID, recipient)
}

// receive applies the events after the cursor; the cursor moves only past
// events fully handled, so a crash replays them (each step is idempotent).
func (a *Agent) receive(ctx context.Context, card Card, rep *Report) error {
	cur, _ := a.st.get(ctx, "cursor")
	var after int64
	fmt.Sscan(cur, &after)
	for {
		evs, err := a.client.Events(ctx, after)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, e := range evs {
			if e.Seq <= after {
				// Asked again from a cursor that did not move on, a centre
				// answering so would be asked for ever.
				return fmt.Errorf("%w: its event %d is not after %d", ErrUnreachable, e.Seq, after)
			}
			sender, sendID, _ := strings.Cut(e.Package, "/")
			switch {
			case sender == a.agency && e.Recipient != a.agency:
				a.setRecipient(ctx, sendID, e.Recipient, e.SenderState, e.Reason, e.At)
				rep.Updated++
			case e.Recipient == a.agency && e.State == "arrived":
				if err := a.take(ctx, card, e.Package, sender, rep); err != nil {
					return err
				}
			}
			after = e.Seq
			if err := a.st.set(ctx, "cursor", fmt.Sprint(after)); err != nil {
				return err
			}
		}
	}
}

// take receives one package: fetch, verify, decrypt, archive, acknowledge.
// A refusal is reported to the centre (收文異常 with the reason) and kept in
// the inbox; a failure that may pass (the centre unreachable, the card
// removed) is returned, so the event is handled again on the next Sync.
func (a *Agent) take(ctx context.Context, card Card, id, sender string, rep *Report) error {
	var state string
	_ = a.st.db.QueryRowContext(ctx, `SELECT state FROM inbox WHERE package_id = ?`, id).Scan(&state)
	if state == "completed" || state == "failed" || state == "returned" {
		return nil // stored once: a redelivery changes nothing
	}
	now := a.o.Now().Unix()
	if _, err := a.st.db.ExecContext(ctx, `INSERT INTO inbox (package_id, sender, state, updated) VALUES (?, ?, 'downloading', ?) ON CONFLICT (package_id) DO NOTHING`, id, sender, now); err != nil {
		return err
	}
	faultPoint("receive:downloading")
	env, err := a.client.Fetch(ctx, id)
	var ce *CentreError
	if errors.As(err, &ce) && ce.Code == "NOT_FOUND" {
		// The centre no longer holds it (past its retention, the delivery
		// failed as expired): final, or every later document would wait
		// behind it.
		_, _ = a.st.db.ExecContext(ctx, `UPDATE inbox SET state = 'failed', reason = ?, updated = ? WHERE package_id = ?`, store.Expired, now, id)
		rep.Refused = append(rep.Refused, id)
		return nil
	}
	if err != nil {
		return err
	}
	faultPoint("receive:fetched")
	cert, key := card.Decrypter()
	t := a.o.Trust
	t.Now = a.o.Now()
	if t.Roots == nil {
		return errors.New("exchange: no CA certificates set up (cardbridge exchange setup --roots FILE)")
	}
	o, err := parcel.Open(env, cert, key, t)
	if errors.Is(err, cardpkg.ErrDecrypt) {
		// The card could not unwrap the key: final, and reported as any
		// other decryption failure (the sender learns no more).
		err = fmt.Errorf("%w: %w", parcel.ErrDecrypt, err)
	}
	if err == nil {
		err = a.addressed(o, id, sender)
	}
	if err == nil {
		_, err = o.Letter() // the DI's 發文機關 is the signer; its files are the package's
	}
	if err == nil {
		faultPoint("receive:opened")
	}
	if err != nil {
		reason, final := refusal(err)
		if !final {
			return err
		}
		// Before the refusal is final: the envelope must be the one the
		// centre holds, not one cut short or replaced on the way (a proxy
		// without Content-Length, a captive portal's page), which the
		// network would have refused for good in the sender's name.
		p, perr := a.client.Package(ctx, id)
		if perr != nil {
			return perr
		}
		if sum := sha256.Sum256(env); p.SHA256 != hex.EncodeToString(sum[:]) {
			return fmt.Errorf("%w: the envelope received (%d bytes) is not the one it holds", ErrUnreachable, len(env))
		}
		if rerr := a.client.Report(ctx, id, api.ReportRequest{State: "failed", Reason: reason}); rerr != nil {
			return rerr
		}
		_, _ = a.st.db.ExecContext(ctx, `UPDATE inbox SET state = 'failed', reason = ?, updated = ? WHERE package_id = ?`, reason, now, id)
		rep.Refused = append(rep.Refused, id)
		return nil
	}
	set, err := a.Settings(ctx)
	if err != nil {
		return err
	}
	archive := set.Archive
	if !set.SaveArchive { // 收文存檔 off: kept in the agency's exchange folder only
		archive = filepath.Join(a.o.Home, "received")
	}
	folder, err := writeArchive(archive, a.o.Now(), o, !set.KeepDINames)
	diFile := ""
	for _, f := range o.Files {
		if f.Role == parcel.RoleDI {
			diFile = archivedName(o, f, !set.KeepDINames)
		}
	}
	if err != nil {
		// The disk full, say: not acknowledged, taken again next time.
		return fmt.Errorf("%w %s: %w", ErrArchive, archive, err)
	}
	faultPoint("receive:archived")
	receipt, err := a.receipt(card, id, env, o)
	if err != nil {
		return err
	}
	faultPoint("receive:receipt-signed")
	if err := a.client.Report(ctx, id, api.ReportRequest{State: "completed", Receipt: receipt}); err != nil {
		return err
	}
	faultPoint("receive:acknowledged")
	if _, err = a.st.db.ExecContext(ctx, `UPDATE inbox SET state = 'completed', subject = ?, number = ?, folder = ?, di = ?, updated = ? WHERE package_id = ?`,
		o.Manifest.Subject, o.Manifest.Number, folder, diFile, now, id); err != nil {
		return err
	}
	faultPoint("receive:stored")
	rep.Received = append(rep.Received, id)
	if set.Print { // 啟用收文列印: a printer out of paper stops nothing
		rep.Printed = append(rep.Printed, a.Print(ctx, []string{id}, set.PrintAttachments)...)
	}
	return nil
}

// addressed checks that the package is what the centre says: sent by the
// agency the centre names under the send id the signed manifest carries
// (so the centre cannot replay it under another id), and for us.
func (a *Agent) addressed(o *parcel.Opened, id, sender string) error {
	if o.Manifest.Sender != sender {
		return fmt.Errorf("%w: the centre says %s, the signature %s", parcel.ErrSender, sender, o.Manifest.Sender)
	}
	if _, sendID, _ := strings.Cut(id, "/"); o.Manifest.ID != sendID {
		return fmt.Errorf("%w: the centre's id %s is not the signed manifest's %s", parcel.ErrMalformed, id, o.Manifest.ID)
	}
	for _, r := range o.Manifest.Recipients {
		if r == a.agency {
			return nil
		}
	}
	return fmt.Errorf("%w: not among the manifest's recipients", parcel.ErrNotForUs)
}

// refusal turns why a package did not open into the reason a clerk and
// the sender read (收文異常), and whether it is final.
func refusal(err error) (reason string, final bool) {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{parcel.ErrNotForUs, "not-for-us: 這份公文不是給本機關的 / not addressed to this agency"},
		{parcel.ErrDecrypt, "cannot-decrypt: 無法以本機關的憑證解密 / cannot be decrypted with this agency's certificate"},
		{parcel.ErrSignature, "bad-signature: 發文機關的簽章不正確 / the sender's signature does not verify"},
		{parcel.ErrUntrusted, "untrusted-signer: 簽章憑證不是受信任的憑證機構所發 / signed by a certificate of an untrusted CA"},
		{parcel.ErrExpired, "certificate-expired: 發文機關的憑證已過期或尚未生效 / the sender's certificate has expired or is not yet valid"},
		{parcel.ErrSender, "wrong-sender: 簽章的機關與發文機關不符 / signed by another agency than the sender"},
		{parcel.ErrDigest, "tampered: 公文內容與簽章不符 / the content does not match the signature"},
		{parcel.ErrBadName, "unsafe-name: 附件檔名不安全 / an attachment name is not safe"},
		{parcel.ErrTooLarge, "too-large: 公文過大 / too large"},
		{parcel.ErrMalformed, "malformed: 公文格式錯誤 / malformed"},
		{parcel.ErrNoDocument, "malformed: 沒有公文本文 / no DI"},
		{cms.ErrRecipient, "cannot-decrypt: 無法解密 / cannot be decrypted"},
	} {
		if errors.Is(err, r.err) {
			return r.reason, true
		}
	}
	return err.Error(), false
}

// receipt is the machine receipt the card signs: which package, the
// digests of the envelope and of the signed manifest, who and when. It is
// a detached CMS over this JSON, sent with it.
func (a *Agent) receipt(card Card, id string, env []byte, o *parcel.Opened) ([]byte, error) {
	sum := sha256.Sum256(env)
	body, _ := json.Marshal(map[string]any{"package": id, "envelopeSha256": hex.EncodeToString(sum[:]), "manifestSha256": o.ManifestSHA256,
		"recipient": a.agency, "received": a.o.Now().UTC().Truncate(time.Second)})
	cert, key := card.Signer()
	sig, err := cms.SignDetached(body, cert, key, cms.Options{Hash: crypto.SHA256})
	if err != nil {
		return nil, err
	}
	out, _ := json.Marshal(map[string]any{"receipt": body, "signature": sig.DER})
	return out, nil
}

// Return sends a received document back with a reason (使用者退文).
func (a *Agent) Return(ctx context.Context, card Card, id, reason string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if strings.TrimSpace(reason) == "" {
		return errors.New("exchange return: a reason is needed")
	}
	if err := a.connect(ctx, card); err != nil {
		return err
	}
	if err := a.client.Report(ctx, id, api.ReportRequest{State: "returned", Reason: reason}); err != nil {
		return err
	}
	_, err := a.st.db.ExecContext(ctx, `UPDATE inbox SET state = 'returned', reason = ?, updated = ? WHERE package_id = ?`, reason, a.o.Now().Unix(), id)
	return err
}

// KeepDINames sets eClient's 「不修改DI檔名」 (on by default): off, received
// DIs are archived under their 發文字號.
func (a *Agent) KeepDINames(ctx context.Context, keep bool) error {
	return a.st.set(ctx, "keepDIName", fmt.Sprint(keep))
}

// Directory is the centre's directory of agencies, for picking recipients.
func (a *Agent) Directory(ctx context.Context, card Card) ([]api.DirectoryEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.connect(ctx, card); err != nil {
		return nil, err
	}
	dir, err := a.client.Directory(ctx)
	for i := range dir {
		dir[i].Name = printable(dir[i].Name)
	}
	return dir, err
}

// Logout ends the session with the centre; the next call logs in again.
func (a *Agent) Logout(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client == nil {
		return nil
	}
	err := a.client.Logout(ctx)
	a.client = nil
	return err
}

// Centre is the centre this home is set up for, and Agency its 機關代碼.
func (a *Agent) Centre(ctx context.Context) (centre, agency string, err error) {
	if centre, err = a.st.get(ctx, "centre"); err == nil {
		agency, err = a.st.get(ctx, "agency")
	}
	return centre, agency, err
}

// Announcements are the centre's announcements not yet seen here; they
// are marked seen.
func (a *Agent) Announcements(ctx context.Context, card Card) ([]Announcement, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.connect(ctx, card); err != nil {
		return nil, err
	}
	cur, _ := a.st.get(ctx, "announcements")
	var after int64
	fmt.Sscan(cur, &after)
	as, err := a.client.Announcements(ctx, after)
	if err == nil && len(as) > 0 {
		err = a.st.set(ctx, "announcements", fmt.Sprint(as[len(as)-1].Seq))
	}
	for i := range as { // the centre's text, shown on a terminal, in lines
		lines := strings.Split(as[i].Text, "\n")
		for j := range lines {
			lines[j] = printable(lines[j])
		}
		as[i].Text = strings.Join(lines, "\n")
	}
	return as, err
}
