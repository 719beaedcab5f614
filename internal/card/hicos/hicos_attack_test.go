package hicos_test

// Attacks by a hostile or broken card on what package hicos sends
// (security review of the HiCOS commit): whatever a card answers,
// CardBridge sends it class-80 SELECT FILE and READ BINARY only, a bounded
// number of them.

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/card/hicos"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// onlyReadOnlyCommands fails t for any command other than 80 A4 / 80 B0.
func onlyReadOnlyCommands(t testing.TB, cmds [][]byte) {
	t.Helper()
	for _, c := range cmds {
		if len(c) < 4 || c[0] != 0x80 || (c[1] != 0xA4 && c[1] != 0xB0) {
			t.Fatalf("sent % X: not a class-80 SELECT FILE or READ BINARY", c)
		}
	}
}

// moreData answers like card, but says "61xx: more data" where card says
// 9000 to a SELECT (with readToo, to a READ BINARY as well) and answers a
// GET RESPONSE with 256 bytes and "61 00" again, forever.
type moreData struct {
	card    apdu.Transmitter
	readToo bool
	cmds    [][]byte
}

func (m *moreData) Transmit(cmd []byte) ([]byte, error) {
	m.cmds = append(m.cmds, bytes.Clone(cmd))
	if len(cmd) >= 2 && cmd[1] == 0xC0 {
		return append(make([]byte, 256), 0x61, 0x00), nil
	}
	r, err := m.card.Transmit(cmd)
	if err != nil || len(r) < 2 || !bytes.HasSuffix(r, []byte{0x90, 0x00}) {
		return r, err
	}
	switch {
	case cmd[1] == 0xA4:
		return append(r[:len(r)-2:len(r)-2], 0x61, 0x10), nil
	case cmd[1] == 0xB0 && m.readToo:
		return []byte{0x61, 0x00}, nil
	}
	return r, nil
}

// A SELECT answered "61xx" (T=0 cards announce the file's FCI so) selects
// the file; CardBridge does not ask for the FCI with GET RESPONSE (80 C0),
// which is not a command it may send such a card, and the card reads as
// usual.
func TestAttackSelectAnsweredMoreDataSendsNoGetResponse(t *testing.T) {
	st := testState(t)
	c := &moreData{card: softcard.NewCard(st, softcard.Options{Profile: softcard.ProfileHiCOS})}
	info, err := hicos.Identify(c)
	require.NoError(t, err)
	assert.Equal(t, "CHT V32N", info.Version)
	certs, skipped, err := hicos.Certificates(c)
	require.NoError(t, err)
	assert.Empty(t, skipped)
	assert.Len(t, certs, 4)
	onlyReadOnlyCommands(t, c.cmds)
}

// A READ BINARY answered "61xx" is a broken answer, not a reason to send
// GET RESPONSE (up to 256 of them per read before).
func TestAttackReadBinaryAnsweredMoreDataSendsNoGetResponse(t *testing.T) {
	st := testState(t)
	c := &moreData{card: softcard.NewCard(st, softcard.Options{Profile: softcard.ProfileHiCOS}), readToo: true}
	_, err := hicos.Identify(c)
	require.Error(t, err)
	_, _, _ = hicos.Certificates(c)
	onlyReadOnlyCommands(t, c.cmds)
	assert.Less(t, len(c.cmds), 40, "commands sent")
}

// replay answers each command with the next answer of a script (two
// length bytes, then the answer), 6A82 when the script is over.
type replay struct {
	in   []byte
	cmds [][]byte
}

func (r *replay) Transmit(cmd []byte) ([]byte, error) {
	r.cmds = append(r.cmds, bytes.Clone(cmd))
	if len(r.cmds) > 10000 {
		return nil, errors.New("runaway")
	}
	if len(r.in) < 2 {
		return []byte{0x6A, 0x82}, nil
	}
	n := int(r.in[0])<<8 | int(r.in[1])
	r.in = r.in[2:]
	n = min(n, len(r.in))
	out := r.in[:n]
	r.in = r.in[n:]
	return out, nil
}

// Whatever a card answers, Identify and Certificates send class-80
// SELECT FILE and READ BINARY only, and a bounded number of them.
func FuzzCardAnswers(f *testing.F) {
	frame := func(answers ...[]byte) []byte {
		var b []byte
		for _, a := range answers {
			b = append(b, byte(len(a)>>8), byte(len(a)))
			b = append(b, a...)
		}
		return b
	}
	ok := []byte{0x90, 0x00}
	f.Add(frame(ok, ok, ok, append([]byte("CHT V32N"), 0x90, 0x00)))
	f.Add(frame([]byte{0x61, 0x10}, []byte{0x61, 0xFF}, []byte{0x6C, 0x05}, []byte{0x61, 0x00}))
	f.Add(frame(ok, ok, ok, []byte{0x30, 0x82, 0x06, 0xFF, 0x90, 0x00}, []byte{0x6C, 0xC8}))
	f.Fuzz(func(t *testing.T, script []byte) {
		r := &replay{in: script}
		_, _ = hicos.Identify(r)
		_, _, _ = hicos.Certificates(r)
		onlyReadOnlyCommands(t, r.cmds)
		if len(r.cmds) > 200 {
			t.Fatalf("%d commands sent", len(r.cmds))
		}
	})
}
