package softcard

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/testca"
)

// cardOpts selects the test card newTestCard builds. The zero value is the
// default card: RSA-2048 cert1 in 9A, cert2 in 9D, PIN 123456, PUK
// 12345678, three tries each.
type cardOpts struct {
	SignAlg      string // "" (rsa2048) or "p256"
	SignSlot     Slot   // 0 (9A) or SlotSignature
	NotActivated bool
	Path         string // state file; empty keeps the state in memory
}

type issueKey struct {
	alg          string
	slot         Slot
	notActivated bool
}

// Issuing a card generates RSA keys, which is slow: each kind of card is
// issued once per test binary and every test gets a deep copy.
var (
	issuedMu sync.Mutex
	issued   = map[issueKey][]byte{} // JSON of the State
	testCA   = sync.OnceValues(func() (*testca.Hierarchy, error) { return testca.New(nil, time.Time{}) })
)

// issuedState returns a fresh deep copy of the state for o.
func issuedState(tb testing.TB, o cardOpts) *State {
	tb.Helper()
	key := issueKey{o.SignAlg, o.SignSlot, o.NotActivated}
	issuedMu.Lock()
	b, ok := issued[key]
	if !ok {
		ca, err := testCA()
		if err != nil {
			issuedMu.Unlock()
			tb.Fatalf("testca.New: %v", err)
		}
		st, err := Issue(ca, IssueOptions{
			Org:          testca.Org{Name: "測試幼兒園", UBN: "12345675", CardSerial: "TEST000000000001"},
			SignAlg:      o.SignAlg,
			SignSlot:     o.SignSlot,
			NotActivated: o.NotActivated,
		})
		if err != nil {
			issuedMu.Unlock()
			tb.Fatalf("Issue(%+v): %v", key, err)
		}
		if b, err = json.Marshal(st); err != nil {
			issuedMu.Unlock()
			tb.Fatalf("marshal state: %v", err)
		}
		issued[key] = b
	}
	issuedMu.Unlock()
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		tb.Fatalf("unmarshal state: %v", err)
	}
	return &st
}

// newTestCard returns a powered-on card over a private copy of an issued
// state, and that state (which the card shares).
func newTestCard(tb testing.TB, o cardOpts) (*Card, *State) {
	tb.Helper()
	st := issuedState(tb, o)
	c := NewCard(st, Options{Path: o.Path})
	c.Reset()
	return c, st
}

// h decodes hex, ignoring spaces; it panics on bad test data.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(fmt.Sprintf("bad hex %q: %v", s, err))
	}
	return b
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// berLen encodes a BER definite length.
func berLen(n int) []byte {
	switch {
	case n < 0x80:
		return []byte{byte(n)}
	case n < 0x100:
		return []byte{0x81, byte(n)}
	}
	return []byte{0x82, byte(n >> 8), byte(n)}
}

// tlv encodes one BER-TLV object; tag is given as its bytes.
func tlv(tag []byte, v []byte) []byte { return cat(tag, berLen(len(v)), v) }

// pad8 pads a PIN or PUK with FF to the 8 bytes PIV expects.
func pad8(s string) []byte {
	b := bytes.Repeat([]byte{0xFF}, 8)
	copy(b, s)
	return b
}

// capdu encodes a short command APDU; le < 0 means no Le field, 0 means
// Le=00 (256).
func capdu(cla, ins, p1, p2 byte, data []byte, le int) []byte {
	b := []byte{cla, ins, p1, p2}
	if len(data) > 0 {
		if len(data) > 255 {
			panic("capdu: data over 255 bytes")
		}
		b = append(b, byte(len(data)))
		b = append(b, data...)
	}
	if le >= 0 {
		b = append(b, byte(le))
	}
	return b
}

// Command builders for the PIV commands the tests send.
func selectAID(aid []byte) []byte { return capdu(0, insSelect, 0x04, 0, aid, 0) }

func getData(tag []byte, le int) []byte {
	return capdu(0, insGetData, 0x3F, 0xFF, tlv([]byte{0x5C}, tag), le)
}

func verifyPIN(pin string) []byte {
	if pin == "" {
		return capdu(0, insVerify, 0, keyRefPIN, nil, -1)
	}
	return capdu(0, insVerify, 0, keyRefPIN, pad8(pin), -1)
}

func changeRef(ref byte, oldV, newV string) []byte {
	return capdu(0, insChangeRef, 0, ref, cat(pad8(oldV), pad8(newV)), -1)
}

func resetRetry(puk, pin string) []byte {
	return capdu(0, insResetRetry, 0, keyRefPIN, cat(pad8(puk), pad8(pin)), -1)
}

// gaData is the GENERAL AUTHENTICATE template 7C { 82 00, tag value }.
func gaData(tag byte, v []byte) []byte {
	return tlv([]byte{0x7C}, cat([]byte{0x82, 0x00}, tlv([]byte{tag}, v)))
}

// Object tags.
var (
	tagDiscovery = []byte{0x7E}
	tagCHUID     = []byte{0x5F, 0xC1, 0x02}
	tagCert9A    = []byte{0x5F, 0xC1, 0x05}
	tagCert9C    = []byte{0x5F, 0xC1, 0x0A}
	tagCert9D    = []byte{0x5F, 0xC1, 0x0B}
	tagCert9E    = []byte{0x5F, 0xC1, 0x01}
)

// transmit sends cmd and returns the response, failing the test on an
// error or a response shorter than a status word.
func transmit(tb testing.TB, c *Card, cmd []byte) []byte {
	tb.Helper()
	r, err := c.Transmit(cmd)
	if err != nil {
		tb.Fatalf("Transmit(% X) error: %v", cmd, err)
	}
	if len(r) < 2 {
		tb.Fatalf("Transmit(% X) = % X, shorter than a status word", cmd, r)
	}
	return r
}

// swOf returns the status word at the end of a response.
func swOf(r []byte) uint16 { return uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1]) }

// step is one exchange of a script: a command and the status word wanted.
type step struct {
	name string
	cmd  []byte
	sw   uint16
}

// runSteps sends each step and checks its status word. It returns the
// responses.
func runSteps(tb testing.TB, c *Card, steps []step) [][]byte {
	tb.Helper()
	var out [][]byte
	for i, s := range steps {
		r := transmit(tb, c, s.cmd)
		if got := swOf(r); got != s.sw {
			tb.Errorf("step %d (%s): Transmit(% X) SW = %04X, want %04X", i, s.name, s.cmd, got, s.sw)
		}
		out = append(out, r)
	}
	return out
}

// mustSelect selects PIV and fails the test if the card refuses.
func mustSelect(tb testing.TB, c *Card) {
	tb.Helper()
	if r := transmit(tb, c, selectAID(PIVAID[:9])); swOf(r) != 0x9000 {
		tb.Fatalf("SELECT PIV: SW %04X", swOf(r))
	}
}

// exchangeAll sends cmd, or its command chain when the data is over 255
// bytes, and collects the response with GET RESPONSE. It returns the data
// and final status word.
func exchangeAll(tb testing.TB, c *Card, cla, ins, p1, p2 byte, data []byte) ([]byte, uint16) {
	tb.Helper()
	for len(data) > 255 {
		r := transmit(tb, c, capdu(cla|0x10, ins, p1, p2, data[:255], -1))
		if swOf(r) != 0x9000 {
			return nil, swOf(r)
		}
		data = data[255:]
	}
	r := transmit(tb, c, capdu(cla, ins, p1, p2, data, 0))
	return collect(tb, c, r)
}

// collect follows 61xx with GET RESPONSE and returns the whole data and the
// final status word.
func collect(tb testing.TB, c *Card, r []byte) ([]byte, uint16) {
	tb.Helper()
	out := append([]byte(nil), r[:len(r)-2]...)
	for i := 0; r[len(r)-2] == 0x61; i++ {
		if i > 100 {
			tb.Fatalf("GET RESPONSE does not end")
		}
		r = transmit(tb, c, capdu(0, insGetResponse, 0, 0, nil, int(r[len(r)-1])))
		out = append(out, r[:len(r)-2]...)
	}
	return out, swOf(r)
}
