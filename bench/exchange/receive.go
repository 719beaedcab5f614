package main

// Row 1: one agent.Sync receiving documents with the TEST card, against
// the same with software keys.

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// receiveBatches is how many batches row 1's documents come in.
const receiveBatches = 2

type receiveResult struct {
	n, batches int
	card, soft time.Duration
	apdus      uint64
	pinTries   int
	envelope   int64 // bytes, of one document
}

// receiver is one receiving agent of row 1.
type receiver struct {
	party
	card agent.Card
	a    *agent.Agent
	cert *x509.Certificate // cert1, which signs the receipts
	want map[string]doc    // the timed documents, by package id
}

func (b *bench) receiving(ctx context.Context) (*receiveResult, error) {
	// The card as the softcard state has it: cert1 (9A), cert2 (9D) and
	// the TEST CA it was issued by.
	st, err := softcard.LoadState(b.state)
	if err != nil {
		return nil, err
	}
	cert1, err := x509.ParseCertificate(st.Cert(softcard.SlotAuthentication))
	if err != nil {
		return nil, fmt.Errorf("softcard cert1: %w", err)
	}
	cert2, err := x509.ParseCertificate(st.Cert(softcard.SlotKeyManagement))
	if err != nil {
		return nil, fmt.Errorf("softcard cert2: %w", err)
	}
	var cas []*x509.Certificate
	for _, der := range st.CACerts {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("softcard CA: %w", err)
		}
		cas = append(cas, c)
	}
	cardCode := parcel.AgencyCodeOf(cert1)
	if cardCode == "" || len(cas) == 0 {
		return nil, fmt.Errorf("the softcard state has no 機關代碼 in cert1 (%q) or no CA certificates", cardCode)
	}
	trust := parcel.TrustOf(append(cas, b.ca.Root.Cert, b.ca.Issuing.Cert))

	sender, err := b.rsaAgency("測試市政府教育局")
	if err != nil {
		return nil, err
	}
	floor, err := b.rsaAgency("測試國小")
	if err != nil {
		return nil, err
	}
	db, err := openSQLite(filepath.Join(b.dir, "receive", "centre.db"))
	if err != nil {
		return nil, err
	}
	c, err := startCentre(ctx, db, store.SQLite, trust, []store.Agency{sender.directory(), floor.directory(),
		{Code: cardCode, Name: cert1.Subject.CommonName, EncCert: cert2.Raw}})
	if err != nil {
		db.Close()
		return nil, err
	}
	defer c.close()

	sess, err := b.cardSession(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	if got, _ := sess.Signer(); !got.Equal(cert1) {
		return nil, fmt.Errorf("the card in %q is not the softcard's (cert1 differs)", b.reader)
	}

	home := func(n string) string { return filepath.Join(b.dir, "receive", n) }
	aS, err := openAgent(ctx, home("sender"), c.url, sender.code, trust)
	if err != nil {
		return nil, err
	}
	defer aS.Close()
	soft := &receiver{party: party{floor.code, floor.name}, card: floor, cert: floor.sign, want: map[string]doc{}}
	onCard := &receiver{party: party{cardCode, cert1.Subject.CommonName}, card: sess, cert: cert1, want: map[string]doc{}}
	for i, r := range []*receiver{soft, onCard} {
		if r.a, err = openAgent(ctx, home(fmt.Sprint("receiver", i)), c.url, r.code, trust); err != nil {
			return nil, err
		}
		defer r.a.Close()
		// Log in (the card: its PIN and a token), untimed.
		if _, err := r.a.Sync(ctx, r.card); err != nil {
			return nil, fmt.Errorf("%s: login: %w", r.code, err)
		}
	}

	from := party{sender.code, sender.name}
	serial := 0
	res := &receiveResult{n: b.docs}
	queue := func(r *receiver, timed bool) error {
		serial++
		d, want, err := b.draft(from, []party{r.party}, serial)
		if err != nil {
			return err
		}
		id, err := aS.Queue(ctx, sender, d)
		if err != nil {
			return err
		}
		if timed {
			r.want[sender.code+"/"+id] = want
		}
		return nil
	}
	upload := func(n int) error {
		rep, err := aS.Sync(ctx, sender)
		if err == nil && (len(rep.Sent) != n || len(rep.Failed)+len(rep.Retrying) > 0) {
			err = fmt.Errorf("sender: %d sent, %d failed, %d retrying, want %d sent", len(rep.Sent), len(rep.Failed), len(rep.Retrying), n)
		}
		return err
	}
	take := func(r *receiver, n int) (time.Duration, error) {
		start := time.Now()
		rep, err := r.a.Sync(ctx, r.card)
		d := time.Since(start)
		if err == nil && (len(rep.Received) != n || len(rep.Refused) > 0) {
			err = fmt.Errorf("%d received, %d refused (收文異常), want %d received", len(rep.Received), len(rep.Refused), n)
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", r.code, err)
		}
		return d, nil
	}

	// One warm-up document each, untimed.
	for _, r := range []*receiver{soft, onCard} {
		if err := queue(r, false); err != nil {
			return nil, err
		}
	}
	if err := upload(2); err != nil {
		return nil, err
	}
	for _, r := range []*receiver{soft, onCard} {
		if _, err := take(r, 1); err != nil {
			return nil, err
		}
	}

	// The timed documents, in batches that alternate between the two
	// receivers (so that drift in the machine's load falls on both),
	// each batch uploaded before either receiver syncs.
	for done := 0; done < b.docs; {
		n := min(b.docs-done, (b.docs+receiveBatches-1)/receiveBatches)
		for range n {
			for _, r := range []*receiver{soft, onCard} {
				if err := queue(r, true); err != nil {
					return nil, err
				}
			}
		}
		if err := upload(2 * n); err != nil {
			return nil, err
		}
		d, err := take(soft, n)
		if err != nil {
			return nil, err
		}
		res.soft += d
		before, err := b.control(http.MethodGet, "/status")
		if err != nil {
			return nil, err
		}
		if d, err = take(onCard, n); err != nil {
			return nil, err
		}
		res.card += d
		after, err := b.control(http.MethodGet, "/status")
		if err != nil {
			return nil, err
		}
		res.apdus, res.pinTries = res.apdus+after.APDUs-before.APDUs, after.PINTries
		res.batches++
		done += n
	}
	if res.apdus == 0 {
		return nil, errors.New("the card answered no APDU while the card agent received")
	}

	// Checks: archives, receipts, and what the sender learns.
	for _, r := range []*receiver{soft, onCard} {
		if err := checkInbox(ctx, r.a, r.want); err != nil {
			return nil, fmt.Errorf("%s: %w", r.code, err)
		}
	}
	if _, err := aS.Sync(ctx, sender); err != nil {
		return nil, err
	}
	out, err := aS.Outbox(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		return nil, err
	}
	for _, o := range out {
		for _, rc := range o.Recipients {
			if rc.State != "user-confirmed" {
				return nil, fmt.Errorf("sender: %s to %s is %s, not user-confirmed", o.SendID, rc.Code, rc.State)
			}
		}
	}
	cl, err := agent.NewClient(c.url, nil)
	if err != nil {
		return nil, err
	}
	if _, err := cl.Login(ctx, sender.Token); err != nil {
		return nil, err
	}
	for _, r := range []*receiver{soft, onCard} {
		for id := range r.want {
			p, err := cl.Package(ctx, id)
			if err != nil {
				return nil, err
			}
			res.envelope = p.Size
			if err := checkReceipt(p, r.code, r.cert, trust); err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
		}
	}
	if log := c.log.String(); log != "" {
		return nil, fmt.Errorf("the centre logged errors:\n%s", log)
	}
	return res, nil
}

// checkReceipt checks a package's one delivery: completed, with a receipt
// for this envelope signed by the receiver's cert1.
func checkReceipt(p api.PackageView, recipient string, cert1 *x509.Certificate, trust parcel.Trust) error {
	if len(p.Recipients) != 1 || p.Recipients[0].Recipient != recipient || p.Recipients[0].State != "completed" {
		return fmt.Errorf("centre states %+v, want %s completed", p.Recipients, recipient)
	}
	var rc receipt
	if err := json.Unmarshal(p.Recipients[0].Receipt, &rc); err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	v, err := cms.VerifyDetached(rc.Signature, rc.Receipt, trust.Roots, trust.Intermediates, time.Now())
	if err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	if !v.Signer.Equal(cert1) {
		return fmt.Errorf("receipt signed by %s, not the receiver's cert1", v.Signer.Subject)
	}
	var body receiptBody
	if err := json.Unmarshal(rc.Receipt, &body); err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	if body.Package != p.ID || body.EnvelopeSHA256 != p.SHA256 || body.Recipient != recipient {
		return fmt.Errorf("receipt for %s/%s/%s, want %s/%s/%s", body.Package, body.EnvelopeSHA256, body.Recipient, p.ID, p.SHA256, recipient)
	}
	return nil
}

// cardSession inserts the TEST card (the softcard's control endpoint) if
// it is out and opens a session on it with the PIN, as the exchange
// command does.
func (b *bench) cardSession(ctx context.Context) (*cards.Session, error) {
	st, err := b.control(http.MethodGet, "/status")
	if err != nil {
		return nil, err
	}
	if !st.Inserted {
		if _, err := b.control(http.MethodPost, "/insert"); err != nil {
			return nil, err
		}
	}
	m := cards.New(cards.Options{})
	deadline := time.Now().Add(10 * time.Second) // pcscd polls vpcd about every 0.4 s
	for {
		s, err := m.NewSession(ctx, b.reader, []byte(b.pin), "bench-exchange")
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("card session in %q: %w", b.reader, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
