package hicos_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/card/hicos"
	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

var (
	issueOnce sync.Once
	issued    *softcard.State
	issueErr  error
)

// testState is one TEST card, issued once for the package.
func testState(t *testing.T) *softcard.State {
	t.Helper()
	issueOnce.Do(func() {
		var ca *testca.Hierarchy
		if ca, issueErr = testca.New(nil, time.Now()); issueErr != nil {
			return
		}
		issued, issueErr = softcard.Issue(ca, softcard.IssueOptions{
			Org: testca.Org{Name: "測試幼兒園", UBN: "12345675", CardSerial: "TEST000000000042"},
		})
	})
	require.NoError(t, issueErr)
	return issued
}

// recorder is a Transmitter that remembers every command it passed on.
type recorder struct {
	t    apdu.Transmitter
	cmds [][]byte
}

func (r *recorder) Transmit(cmd []byte) ([]byte, error) {
	r.cmds = append(r.cmds, bytes.Clone(cmd))
	return r.t.Transmit(cmd)
}

func TestIdentifyAndReadTheHiCOSProfile(t *testing.T) {
	st := testState(t)
	c := softcard.NewCard(st, softcard.Options{Profile: softcard.ProfileHiCOS})
	rec := &recorder{t: c}

	info, err := hicos.Identify(rec)
	require.NoError(t, err)
	assert.Equal(t, hicos.Info{Version: "CHT V32N", Serial: "TEST000000000042"}, info)

	certs, skipped, err := hicos.Certificates(rec)
	require.NoError(t, err)
	assert.Empty(t, skipped)
	require.Len(t, certs, 4, "root, issuing CA, cert2, cert1")
	assert.True(t, certs[0].IsCA)
	assert.True(t, certs[1].IsCA)
	assert.Equal(t, st.Cert(softcard.SlotKeyManagement), certs[2].Raw)
	assert.Equal(t, st.Cert(softcard.SlotAuthentication), certs[3].Raw)

	// Only the public read-only commands: class 80, SELECT FILE or READ
	// BINARY. Never a PIN verify (8C 20 / 00 20), never a key operation.
	for _, cmd := range rec.cmds {
		require.GreaterOrEqual(t, len(cmd), 4)
		assert.Equal(t, byte(0x80), cmd[0], "% X", cmd)
		assert.Contains(t, []byte{0xA4, 0xB0}, cmd[1], "% X", cmd)
		if cmd[1] == 0xB0 {
			assert.LessOrEqual(t, int(cmd[4]), 200, "reads in chunks of at most 200 bytes")
		}
	}
}

func TestIdentifyRefusesOtherCards(t *testing.T) {
	st := testState(t)
	piv := softcard.NewCard(st, softcard.Options{})
	_, err := hicos.Identify(piv)
	assert.ErrorIs(t, err, hicos.ErrNotHiCOS)

	// A card that answers the version file with something else.
	other := scripted(map[string][]byte{"80B0000014": []byte("JCOP 4.0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")})
	_, err = hicos.Identify(other)
	assert.ErrorIs(t, err, hicos.ErrNotHiCOS)
}

// scripted answers SELECTs with 9000 and READ BINARY from reads (keyed by
// the command's hex header and Le), 6A82 for other reads.
type scripted map[string][]byte

func (s scripted) Transmit(cmd []byte) ([]byte, error) {
	if len(cmd) >= 2 && cmd[1] == 0xA4 {
		return []byte{0x90, 0x00}, nil
	}
	key := ""
	for _, b := range cmd {
		key += string("0123456789ABCDEF"[b>>4]) + string("0123456789ABCDEF"[b&15])
	}
	if d, ok := s[key]; ok {
		return append(bytes.Clone(d), 0x90, 0x00), nil
	}
	return []byte{0x6A, 0x82}, nil
}

func TestDERLength(t *testing.T) {
	for _, tc := range []struct {
		head []byte
		n    int
		err  error
	}{
		{[]byte{0x30, 0x82, 0x04, 0xD2}, 0x4D6, nil},
		{[]byte{0x30, 0x81, 0x90, 0x00}, 0x93, nil},
		{[]byte{0x30, 0x10, 0x00, 0x00}, 0x12, nil},
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF}, 0, nil},               // erased: empty
		{[]byte{0x00, 0x00, 0x00, 0x00}, 0, nil},               // never written: empty
		{[]byte{0x30, 0x82, 0x07, 0x00}, 0, apdu.ErrMalformed}, // larger than its slot
		{[]byte{0x30, 0x83, 0x00, 0x01}, 0, apdu.ErrMalformed},
		{[]byte{0x30, 0x82, 0x01}, 0, apdu.ErrMalformed},
		{nil, 0, nil},
	} {
		n, err := hicos.DERLength(tc.head)
		if tc.err != nil {
			assert.ErrorIs(t, err, tc.err, "% X", tc.head)
			continue
		}
		if tc.n == 0 {
			assert.Error(t, err, "% X is empty", tc.head)
			continue
		}
		assert.NoError(t, err, "% X", tc.head)
		assert.Equal(t, tc.n, n, "% X", tc.head)
	}
}

func TestParseVersionAndSerial(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"CHT V32N\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "CHT V32N", true},
		{"CHT V21N\xff\xff\xff", "CHT V21N", true},
		{"CHT V31N    ", "CHT V31N", true},
		{"", "", false},
		{"CHT", "", false},
		{"PIV V1", "", false},
		{"CHT V\x01\x02", "", false},
	} {
		v, err := hicos.ParseVersion([]byte(tc.in))
		if !tc.ok {
			assert.ErrorIs(t, err, hicos.ErrNotHiCOS, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, v)
	}
	assert.Equal(t, "TEST000000000042", hicos.ParseSerial([]byte("TEST000000000042")))
	assert.Equal(t, "AB12", hicos.ParseSerial([]byte("AB12\x00\x00")))
	assert.Equal(t, "", hicos.ParseSerial([]byte("\x01\x02\x03")))
	assert.Equal(t, "", hicos.ParseSerial(bytes.Repeat([]byte{0xFF}, 16)))
}

// image is a certificate file: 0x1C00 bytes of FF with ders at the offsets.
func image(ders map[int][]byte) []byte {
	img := bytes.Repeat([]byte{0xFF}, 0x1C00)
	for off, d := range ders {
		copy(img[off:], d)
	}
	return img
}

func readerOf(img []byte) func(off, n int) ([]byte, error) {
	return func(off, n int) ([]byte, error) {
		if off >= len(img) {
			return nil, apdu.Status(0x6B00)
		}
		return bytes.Clone(img[off:min(off+n, len(img))]), nil
	}
}

func TestReadCertFileSkipsBadSlotsAndKeepsTheOthers(t *testing.T) {
	st := testState(t)
	good := st.Cert(softcard.SlotAuthentication)
	enc := st.Cert(softcard.SlotKeyManagement)
	garbage := append([]byte{0x30, 0x82, 0x01, 0x00}, bytes.Repeat([]byte{0x01}, 0x100)...)
	tooLong := []byte{0x30, 0x82, 0x10, 0x00}

	for _, tc := range []struct {
		name    string
		img     []byte
		want    [][]byte
		skipped int
	}{
		{"all empty", image(nil), nil, 0},
		{"holder certificates only", image(map[int][]byte{0x0E00: enc, 0x1500: good}), [][]byte{enc, good}, 0},
		{"a certificate that does not parse", image(map[int][]byte{0x0000: garbage, 0x1500: good}), [][]byte{good}, 1},
		{"a length beyond the slot", image(map[int][]byte{0x0700: tooLong, 0x1500: good}), [][]byte{good}, 1},
		{"a file cut short", image(map[int][]byte{0x0E00: enc})[:0x1500+10], [][]byte{enc}, 0},
		{"a certificate cut by the file's end", append(image(map[int][]byte{0x0E00: enc})[:0x1500], good[:300]...), [][]byte{enc}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certs, skipped := hicos.ReadCertFile(readerOf(tc.img))
			var got [][]byte
			for _, c := range certs {
				got = append(got, c.Raw)
			}
			assert.Equal(t, tc.want, got)
			assert.Len(t, skipped, tc.skipped, "%v", skipped)
		})
	}
}

func TestReadCertFileRefusesOversizedAnswers(t *testing.T) {
	st := testState(t)
	img := image(map[int][]byte{0x1500: st.Cert(softcard.SlotAuthentication)})
	// A card that answers more than it was asked for.
	certs, skipped := hicos.ReadCertFile(func(off, n int) ([]byte, error) {
		return bytes.Clone(img[off:min(off+n+5, len(img))]), nil
	})
	assert.Empty(t, certs)
	require.Len(t, skipped, 1)
	assert.ErrorIs(t, skipped[0], apdu.ErrMalformed)
}

func FuzzReadCertFile(f *testing.F) {
	f.Add(image(nil))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00, 0x30})
	f.Add(image(map[int][]byte{0x0E00: {0x30, 0x82, 0x06, 0xFF, 0x02, 0x01, 0x00}}))
	f.Fuzz(func(t *testing.T, img []byte) {
		if len(img) > 0x2000 {
			return
		}
		reads := 0
		certs, _ := hicos.ReadCertFile(func(off, n int) ([]byte, error) {
			reads++
			if n <= 0 || n > 200 {
				t.Fatalf("read of %d bytes", n)
			}
			if off >= len(img) {
				return nil, errors.New("beyond the file")
			}
			return img[off:min(off+n, len(img))], nil
		})
		if reads > 4*(1+0x700/200+1) {
			t.Fatalf("%d reads for four slots", reads)
		}
		for _, c := range certs {
			if _, err := x509.ParseCertificate(c.Raw); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	f.Add([]byte("CHT V32N\x00\x00"))
	f.Add([]byte{0xFF, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := hicos.ParseVersion(b)
		if err == nil && (len(v) < 5 || v[:5] != "CHT V") {
			t.Fatalf("accepted %q", v)
		}
		_ = hicos.ParseSerial(b)
	})
}
