package card

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// cardOpts selects the virtual card newTestCard builds; the zero value is
// RSA-2048 cert1 (signature) in 9A and cert2 (encryption) in 9D.
type cardOpts struct {
	SignAlg      string        // "" (rsa2048) or "p256"
	SignSlot     softcard.Slot // 0 (9A) or softcard.SlotSignature
	NotActivated bool
}

type issueKey struct {
	alg          string
	slot         softcard.Slot
	notActivated bool
}

// Issuing a card generates RSA keys, which is slow: each kind of card is
// issued once per test binary and every test gets a deep copy.
var (
	issuedMu sync.Mutex
	issued   = map[issueKey][]byte{}
	testCA   = sync.OnceValues(func() (*testca.Hierarchy, error) { return testca.New(nil, time.Time{}) })
)

func issuedState(tb testing.TB, o cardOpts) *softcard.State {
	tb.Helper()
	key := issueKey{o.SignAlg, o.SignSlot, o.NotActivated}
	issuedMu.Lock()
	defer issuedMu.Unlock()
	b, ok := issued[key]
	if !ok {
		ca, err := testCA()
		if err != nil {
			tb.Fatalf("testca.New: %v", err)
		}
		st, err := softcard.Issue(ca, softcard.IssueOptions{
			Org:          testca.Org{Name: "測試幼兒園", UBN: "12345675", CardSerial: "TEST000000000001"},
			SignAlg:      o.SignAlg,
			SignSlot:     o.SignSlot,
			NotActivated: o.NotActivated,
		})
		if err != nil {
			tb.Fatalf("softcard.Issue(%+v): %v", key, err)
		}
		if b, err = json.Marshal(st); err != nil {
			tb.Fatalf("marshal state: %v", err)
		}
		issued[key] = b
	}
	var st softcard.State
	if err := json.Unmarshal(b, &st); err != nil {
		tb.Fatalf("unmarshal state: %v", err)
	}
	return &st
}

const testReader = "Virtual PCD 00 00"

// newTestCard returns a virtual card over a private copy of an issued
// state, a PIV client reaching it through a recording connection (see
// recorderOf) with Events 1 and its own cache, and the card's state.
func newTestCard(tb testing.TB, o cardOpts) (*softcard.Card, *PIV, *softcard.State) {
	tb.Helper()
	st := issuedState(tb, o)
	sc := softcard.NewCard(st, softcard.Options{})
	sc.Reset()
	p := NewPIV(&recorder{conn: sc}, Identity{Reader: testReader, Events: 1, ATR: sc.ATR()}, NewCache())
	return sc, p, st
}

// recorder is a Conn that passes commands on and records them.
type recorder struct {
	conn Conn
	mu   sync.Mutex
	cmds [][]byte
}

func (r *recorder) Transmit(cmd []byte) ([]byte, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, bytes.Clone(cmd))
	r.mu.Unlock()
	return r.conn.Transmit(cmd)
}

// take returns the commands recorded since the last take.
func (r *recorder) take() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cmds
	r.cmds = nil
	return c
}

func recorderOf(tb testing.TB, p *PIV) *recorder {
	tb.Helper()
	r, ok := p.conn.(*recorder)
	if !ok {
		tb.Fatalf("PIV conn is %T, not *recorder", p.conn)
	}
	return r
}

// insCount counts commands with instruction ins; withData counts only
// those carrying a data field (a VERIFY with a PIN, not a status query).
func insCount(cmds [][]byte, ins byte, withData bool) int {
	n := 0
	for _, c := range cmds {
		if len(c) >= 4 && c[1] == ins && (!withData || len(c) > 5) {
			n++
		}
	}
	return n
}

// insList renders the instruction bytes of cmds, for messages.
func insList(cmds [][]byte) string {
	var b strings.Builder
	for i, c := range cmds {
		if i > 0 {
			b.WriteByte(' ')
		}
		if len(c) >= 2 {
			fmt.Fprintf(&b, "%02X", c[1])
		}
	}
	return b.String()
}

// certBySlot returns the certificate of slot from a Certificates call.
func certBySlot(tb testing.TB, p *PIV, slot Slot) Certificate {
	tb.Helper()
	certs, err := p.Certificates()
	if err != nil {
		tb.Fatalf("Certificates() error: %v", err)
	}
	for _, c := range certs {
		if c.Slot == slot {
			return c
		}
	}
	tb.Fatalf("no certificate in slot %s", slot)
	return Certificate{}
}

// h decodes hex, ignoring spaces; it panics on bad test data.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(fmt.Sprintf("bad hex %q: %v", s, err))
	}
	return b
}

// exchange is one step of a scripted card: the C-APDU expected and the
// R-APDU (or transport error) to answer.
type exchange struct {
	cmd, resp string
	err       error
}

// script is a scripted card: it answers the expected commands in order
// and reports anything else with t.Errorf (it may run off the test
// goroutine, so it never calls Fatal).
type script struct {
	t     testing.TB
	mu    sync.Mutex
	steps []exchange
	next  int
}

var errScript = errors.New("scripted card: unexpected command")

func newScript(t testing.TB, steps ...exchange) *script {
	return &script{t: t, steps: steps}
}

func (s *script) Transmit(cmd []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= len(s.steps) {
		s.t.Errorf("script: command % X after the last step", cmd)
		return nil, errScript
	}
	st := s.steps[s.next]
	s.next++
	if want := h(st.cmd); !bytes.Equal(cmd, want) {
		s.t.Errorf("script step %d: command % X, want % X", s.next-1, cmd, want)
		return nil, errScript
	}
	if st.err != nil {
		return nil, st.err
	}
	return h(st.resp), nil
}

// finish checks that every step was used.
func (s *script) finish() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next != len(s.steps) {
		s.t.Errorf("script: %d of %d steps used", s.next, len(s.steps))
	}
}

// selectCmd is the SELECT the PIV client sends.
const selectCmd = "00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 00"
