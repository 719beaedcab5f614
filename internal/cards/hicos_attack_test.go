package cards

// Attacks on the direct backends' card probe (openToken), the kind and
// certificate cache it shares with the PIV path, and the read-only views
// (security review of the HiCOS commit). Each test is a regression test:
// it failed before the fix it names and passes after it.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	must "github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

var attackCA = sync.OnceValues(func() (*testca.Hierarchy, error) { return testca.New(nil, time.Time{}) })

var (
	attackMu     sync.Mutex
	attackStates = map[string]*softcard.State{}
)

// attackState is a TEST card with the printed number serial, issued once
// per test binary.
func attackState(tb testing.TB, serial string) *softcard.State {
	tb.Helper()
	attackMu.Lock()
	defer attackMu.Unlock()
	if st, ok := attackStates[serial]; ok {
		return st
	}
	ca, err := attackCA()
	must.NoError(tb, err)
	st, err := softcard.Issue(ca, softcard.IssueOptions{Org: testca.Org{Name: "測試幼兒園", UBN: "12345675", CardSerial: serial}})
	must.NoError(tb, err)
	attackStates[serial] = st
	return st
}

// wire records every command a card receives and can rewrite answers.
type wire struct {
	mu     sync.Mutex
	card   apdu.Transmitter
	cmds   [][]byte
	answer func(cmd []byte) ([]byte, bool) // a scripted answer, when ok
}

func (w *wire) Transmit(cmd []byte) ([]byte, error) {
	w.mu.Lock()
	w.cmds = append(w.cmds, bytes.Clone(cmd))
	answer := w.answer
	w.mu.Unlock()
	if answer != nil {
		if r, ok := answer(cmd); ok {
			return r, nil
		}
	}
	if w.card == nil {
		return []byte{0x6A, 0x82}, nil
	}
	return w.card.Transmit(cmd)
}

func (w *wire) sent() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.cmds)
}

// pinCommands are the commands of w that carry a PIN or PUK: VERIFY,
// CHANGE REFERENCE DATA, RESET RETRY COUNTER, with data.
func (w *wire) pinCommands() [][]byte {
	var out [][]byte
	for _, c := range w.sent() {
		if len(c) > 5 && (c[1] == 0x20 || c[1] == 0x24 || c[1] == 0x2C) {
			out = append(out, c)
		}
	}
	return out
}

// slot is a reader of the direct kind (PC/SC on a platform without an
// event counter, or the virtual reader): openToken over whatever card is
// inserted, with its ATR and event counter.
type slot struct {
	mu     sync.Mutex
	reader string
	conn   card.Conn
	atr    []byte
	events int
}

func (s *slot) insert(conn card.Conn, atr []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn, s.atr = conn, atr
}

func (s *slot) Source() Source { return Source{Kind: "pcsc"} }

func (s *slot) Readers() ([]pcsc.ReaderState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []pcsc.ReaderState{{Reader: s.reader, Flags: pcsc.FlagPresent, ATR: s.atr, Events: s.events}}, nil
}

func (s *slot) Open(reader string, cache *card.Cache) (Token, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := card.Identity{Reader: reader, Events: s.events, ATR: s.atr}
	return openToken(s.conn, id, cache), func() {}, nil
}

func idsOf(certs []card.Certificate) []string {
	var out []string
	for _, c := range certs {
		out = append(out, c.ID)
	}
	return out
}

func holderIDs(st *softcard.State) []string {
	return []string{card.CertID(st.Cert(softcard.SlotKeyManagement)), card.CertID(st.Cert(softcard.SlotAuthentication))}
}

// Where the platform keeps no event counter (Windows; the virtual reader)
// the card in a reader is told from the one before by its ATR alone, and
// every gen-1 HiCOS card of a batch has the same ATR. The next citizen's
// card must show its own certificates, never the previous card's (holder's
// name, ID digits), and say its own number.
//
// Before the fix: the kind cache answered "hicos, serial of card A" for
// card B, and the certificate cache, keyed by that remembered serial,
// served card A's certificates without a single APDU.
func TestAttackKindCacheWithoutEventCounterServesPreviousHolder(t *testing.T) {
	a, b := attackState(t, "TEST00000000000A"), attackState(t, "TEST00000000000B")
	cardA := softcard.NewCard(a, softcard.Options{Profile: softcard.ProfileHiCOS})
	cardB := softcard.NewCard(b, softcard.Options{Profile: softcard.ProfileHiCOS})
	must.Equal(t, cardA.ATR(), cardB.ATR())
	cache := card.NewCache()
	id := card.Identity{Reader: "EZ100PU 0", Events: 0, ATR: cardA.ATR()}

	ta := openToken(cardA, id, cache)
	certs, err := ta.Certificates()
	must.NoError(t, err)
	assert.ElementsMatch(t, holderIDs(a), idsOf(certs))

	wb := &wire{card: cardB}
	tb := openToken(wb, id, cache)
	certs, err = tb.Certificates()
	must.NoError(t, err)
	assert.ElementsMatch(t, holderIDs(b), idsOf(certs), "card B shown card A's certificates")
	assert.Equal(t, "TEST00000000000B", tb.Serial())
	assert.NotEmpty(t, wb.sent(), "card B was never asked anything")
}

// A HiCOS card without a card number and no event counter: nothing tells
// two such cards apart, so nothing is served from the cache.
func TestAttackNoSerialNoEventCounterNoCache(t *testing.T) {
	a, b := attackState(t, "TEST00000000000A"), attackState(t, "TEST00000000000B")
	noSerial := func(c *softcard.Card) *wire {
		return &wire{card: c, answer: func(cmd []byte) ([]byte, bool) {
			if len(cmd) >= 4 && cmd[0] == 0x80 && cmd[1] == 0xA4 && bytes.HasSuffix(cmd, []byte{0x09, 0x03}) {
				return []byte{0x6A, 0x82}, true // no card-number file
			}
			return nil, false
		}}
	}
	cardA := softcard.NewCard(a, softcard.Options{Profile: softcard.ProfileHiCOS})
	cardB := softcard.NewCard(b, softcard.Options{Profile: softcard.ProfileHiCOS})
	cache := card.NewCache()
	id := card.Identity{Reader: "EZ100PU 0", Events: 0, ATR: cardA.ATR()}
	_, err := openToken(noSerial(cardA), id, cache).Certificates()
	must.NoError(t, err)
	certs, err := openToken(noSerial(cardB), id, cache).Certificates()
	must.NoError(t, err)
	assert.ElementsMatch(t, holderIDs(b), idsOf(certs))
}

// hostilePIV is a PIV card (it signs, takes PINs) whose CHUID is what the
// attacker wants; with fail set, every GET DATA fails (so nothing it lists
// is cached).
func hostilePIV(st *softcard.State, chuid []byte, fail *bool) *wire {
	c := softcard.NewCard(st, softcard.Options{})
	return &wire{card: c, answer: func(cmd []byte) ([]byte, bool) {
		if len(cmd) < 2 || cmd[1] != 0xCB {
			return nil, false
		}
		if *fail {
			return []byte{0x6F, 0x00}, true
		}
		if bytes.Contains(cmd, []byte{0x5C, 0x03, 0x5F, 0xC1, 0x02}) {
			return append(apdu.TLVBytes(0x53, chuid), 0x90, 0x00), true
		}
		return nil, false
	}}
}

// The certificate cache is shared by the PIV path, keyed (without an
// event counter) by the CHUID the card itself reports, and the HiCOS path,
// keyed by "hicos:"+card number. A hostile PIV card that reports the CHUID
// "hicos:<the victim's card number>" (printed on the card) with the HiCOS
// ATR was served the victim's read-only certificates as its own; a PIN
// change (or PIN status, or unblock) by the victim's certificate id then
// ran on the hostile card: the PIN window shows the victim's name, and the
// old and new PIN went to the attacker's card.
func TestAttackHiCOSCacheEntryServedToAPIVCard(t *testing.T) {
	victim := attackState(t, "TEST0000000000VV")
	attacker := attackState(t, "TEST0000000000EE")
	hicosCard := softcard.NewCard(victim, softcard.Options{Profile: softcard.ProfileHiCOS})
	hicosATR := hicosCard.ATR()

	s := &slot{reader: "EZ100PU 0"}
	m := New(Options{Backends: []Backend{s}})
	ctx := context.Background()

	// 1. The victim's HiCOS card is listed (read-only).
	s.insert(hicosCard, hicosATR)
	certs, err := m.Certificates(ctx, "")
	must.NoError(t, err)
	must.Len(t, certs, 2)
	victimID := certs[0].ID
	assert.True(t, certs[0].ReadOnly)

	// 2. The attacker's card, first with another ATR and failing reads
	// (the kind cache now says PIV for the reader), then with the HiCOS ATR
	// and the forged CHUID.
	fail := true
	evil := hostilePIV(attacker, []byte("hicos:TEST0000000000VV"), &fail)
	s.insert(evil, []byte{0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09})
	_, _ = m.Certificates(ctx, "")
	fail = false
	s.insert(evil, hicosATR)

	listed, err := m.Certificates(ctx, "")
	must.NoError(t, err)
	for _, c := range listed {
		assert.NotEqual(t, victimID, c.ID, "the hostile card lists the victim's certificate")
	}

	for _, op := range []struct {
		name string
		run  func() error
	}{
		{"change PIN", func() error {
			_, err := m.ChangePIN(ctx, Ref{CertificateID: victimID}, []byte("123456"), []byte("654321"))
			return err
		}},
		{"unblock PIN", func() error {
			_, err := m.UnblockPIN(ctx, Ref{CertificateID: victimID}, []byte("12345678"), []byte("654321"))
			return err
		}},
	} {
		err := op.run()
		assert.Error(t, err, op.name)
	}
	assert.Empty(t, evil.pinCommands(), "a PIN reached the hostile card")
}

// recordingToken is a Token whose key and PIN operations are recorded and
// succeed: what a card other than the one a read-only view came from would
// do.
type recordingToken struct {
	certs []card.Certificate
	ops   []string
}

func (r *recordingToken) Certificates() ([]card.Certificate, error) { return r.certs, nil }
func (r *recordingToken) Serial() string                            { return "" }
func (r *recordingToken) PINStatus() (card.PINStatus, error) {
	r.ops = append(r.ops, "status")
	return card.PINStatus{TriesLeft: 3}, nil
}
func (r *recordingToken) VerifyPIN([]byte) error { r.ops = append(r.ops, "verify"); return nil }
func (r *recordingToken) ChangePIN(_, _ []byte) error {
	r.ops = append(r.ops, "change")
	return nil
}
func (r *recordingToken) UnblockPIN(_, _ []byte) error {
	r.ops = append(r.ops, "unblock")
	return nil
}
func (r *recordingToken) Sign(string, []byte, crypto.SignerOpts, []byte) ([]byte, error) {
	r.ops = append(r.ops, "sign")
	return []byte{1}, nil
}
func (r *recordingToken) Decrypt(string, []byte, crypto.DecrypterOpts, []byte) ([]byte, error) {
	r.ops = append(r.ops, "decrypt")
	return []byte{1}, nil
}

type oneCard struct {
	t *recordingToken
}

func (o oneCard) Readers() ([]pcsc.ReaderState, error) {
	return []pcsc.ReaderState{{Reader: "R", Flags: pcsc.FlagPresent, ATR: []byte{0x3B, 0x00}, Events: 1}}, nil
}
func (o oneCard) Open(string, *card.Cache) (Token, func(), error) { return o.t, func() {}, nil }

// A read-only view is for showing only: no PIN operation by its
// certificate id reaches whatever token carries it. Key operations were
// refused by the view itself (require); PIN status, change and unblock by
// certificate (WithCard) relied on the token refusing.
func TestAttackReadOnlyViewNeverReachesPINOperations(t *testing.T) {
	st := attackState(t, "TEST00000000000A")
	c, err := x509.ParseCertificate(st.Cert(softcard.SlotAuthentication))
	must.NoError(t, err)
	k := card.Certificate{Cert: c, ID: card.CertID(c.Raw), ReadOnly: true}
	tok := &recordingToken{certs: []card.Certificate{k}}
	m := New(Options{Backends: []Backend{oneCard{tok}}})
	ctx := context.Background()

	_, err = m.PINStatus(ctx, Ref{CertificateID: k.ID})
	assert.ErrorIs(t, err, ErrClientNeeded)
	_, err = m.ChangePIN(ctx, Ref{CertificateID: k.ID}, []byte("123456"), []byte("654321"))
	assert.ErrorIs(t, err, ErrClientNeeded)
	_, err = m.UnblockPIN(ctx, Ref{CertificateID: k.ID}, []byte("12345678"), []byte("654321"))
	assert.ErrorIs(t, err, ErrClientNeeded)
	assert.Empty(t, tok.ops)
}

// A card that is neither PIV nor HiCOS (a health-insurance card) is
// probed once while it stays inserted: one PIV SELECT and the HiCOS
// SELECT at its first opening, nothing more at that opening and nothing
// at the next ones; it still reads as "not PIV", so a fallback module may
// take it.
func TestAttackUnknownCardProbedOnce(t *testing.T) {
	w := &wire{answer: func(cmd []byte) ([]byte, bool) {
		if cmd[0] == 0x00 {
			return []byte{0x6A, 0x82}, true // no PIV application
		}
		return []byte{0x6E, 0x00}, true // class 80 refused
	}}
	cache := card.NewCache()
	id := card.Identity{Reader: "R", Events: 3, ATR: []byte{0x3B, 0x01}}
	for i := range 3 {
		_, err := openToken(w, id, cache).Certificates()
		assert.ErrorIs(t, err, card.ErrNotPIV, "opening %d", i)
	}
	var piv, other int
	for _, c := range w.sent() {
		if c[0] == 0x00 && c[1] == 0xA4 {
			piv++
		} else {
			other++
		}
	}
	assert.Equal(t, 1, piv, "PIV SELECTs sent: % X", w.sent())
	assert.Equal(t, 1, other, "HiCOS commands sent: % X", w.sent())

	// Reinserted (a new event counter): probed again.
	id.Events++
	_, _ = openToken(w, id, cache).Certificates()
	assert.Len(t, w.sent(), 4)
}
