package apdu

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// PIV examples (NIST SP 800-73-4 Part 1 §3.3.2, Part 2 §3.1.1, §3.2.4).
var (
	// pivDiscovery is the Discovery Object: PIV AID and PIN usage policy.
	pivDiscovery = mustHexVar("7E 12 4F 0B A0 00 00 03 08 00 00 10 00 01 00 5F 2F 02 40 00")
	// pivAPT is the application property template answered to SELECT.
	pivAPT = mustHexVar("61 11 4F 06 00 00 10 00 01 00 79 07 4F 05 A0 00 00 03 08")
)

// pivCert is a DER-shaped certificate of 737 bytes (30 82 02 DD ...).
func pivCert() []byte {
	return cat([]byte{0x30, 0x82, 0x02, 0xDD}, seq(0x02DD))
}

// pivCertContainer is a certificate data object of 750 bytes as GET DATA
// returns it: 53 82 02 EA { 70 82 02 E1 <cert> 71 01 00 FE 00 }.
func pivCertContainer() []byte {
	cert := pivCert()
	return cat(
		[]byte{0x53, 0x82, 0x02, 0xEA},
		[]byte{0x70, 0x82, 0x02, 0xE1}, cert,
		[]byte{0x71, 0x01, 0x00},
		[]byte{0xFE, 0x00},
	)
}

// pivGenAuth is a GENERAL AUTHENTICATE request template for a 2048-bit RSA
// signature: 7C 82 01 06 { 82 00, 81 82 01 00 <256 bytes> }.
func pivGenAuth() []byte {
	return cat([]byte{0x7C, 0x82, 0x01, 0x06, 0x82, 0x00, 0x81, 0x82, 0x01, 0x00}, seq(256))
}

// parseAllT parses b with ParseAll and fails the test on error.
func parseAllT(t *testing.T, b []byte) []TLV {
	t.Helper()
	got, err := ParseAll(b)
	if err != nil {
		t.Fatalf("ParseAll(%X) error: %v", b, err)
	}
	return got
}

func checkTLVs(t *testing.T, in []byte, got, want []TLV) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("ParseAll(%X) = %d objects, want %d", in, len(got), len(want))
	}
	for i := range want {
		if got[i].Tag != want[i].Tag || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("ParseAll(%X)[%d] = {%X %X}, want {%X %X}", in, i, got[i].Tag, got[i].Value, want[i].Tag, want[i].Value)
		}
	}
}

func TestParseTLVDiscovery(t *testing.T) {
	if len(pivDiscovery) != 20 {
		t.Fatalf("len(pivDiscovery) = %d, want 20", len(pivDiscovery))
	}
	top, rest, err := ParseTLV(pivDiscovery)
	if err != nil {
		t.Fatalf("ParseTLV(%X) error: %v", pivDiscovery, err)
	}
	if top.Tag != 0x7E || len(top.Value) != 0x12 || len(rest) != 0 {
		t.Fatalf("ParseTLV(%X) = {%X len %d}, rest %X, want {7E len 18}, rest empty", pivDiscovery, top.Tag, len(top.Value), rest)
	}
	if !top.Constructed() {
		t.Errorf("TLV{Tag: 7E}.Constructed() = false, want true")
	}
	inner := parseAllT(t, top.Value)
	checkTLVs(t, top.Value, inner, []TLV{
		{Tag: 0x4F, Value: mustHex(t, "A0 00 00 03 08 00 00 10 00 01 00")},
		{Tag: 0x5F2F, Value: []byte{0x40, 0x00}},
	})
	if inner[1].Constructed() {
		t.Errorf("TLV{Tag: 5F2F}.Constructed() = true, want false")
	}
}

func TestParseTLVApplicationPropertyTemplate(t *testing.T) {
	top := parseAllT(t, pivAPT)
	checkTLVs(t, pivAPT, top, []TLV{{Tag: 0x61, Value: pivAPT[2:]}})
	inner := parseAllT(t, top[0].Value)
	checkTLVs(t, top[0].Value, inner, []TLV{
		{Tag: 0x4F, Value: mustHex(t, "00 00 10 00 01 00")},
		{Tag: 0x79, Value: mustHex(t, "4F 05 A0 00 00 03 08")},
	})
	auth := parseAllT(t, inner[1].Value)
	checkTLVs(t, inner[1].Value, auth, []TLV{{Tag: 0x4F, Value: mustHex(t, "A0 00 00 03 08")}})
}

func TestParseTLVCertificateContainer(t *testing.T) {
	in := pivCertContainer()
	if len(in) != 750 {
		t.Fatalf("len(pivCertContainer()) = %d, want 750", len(in))
	}
	v, ok, err := Find(in, 0x53)
	if err != nil || !ok {
		t.Fatalf("Find(container, 53) = %d bytes, %v, %v, want found", len(v), ok, err)
	}
	if len(v) != 0x02EA {
		t.Fatalf("len(Find(container, 53)) = %d, want %d", len(v), 0x02EA)
	}
	inner := parseAllT(t, v)
	checkTLVs(t, v, inner, []TLV{
		{Tag: 0x70, Value: pivCert()},
		{Tag: 0x71, Value: []byte{0x00}},
		{Tag: 0xFE, Value: []byte{}},
	})
	cert, ok, err := Find(v, 0x70)
	if err != nil || !ok || !bytes.Equal(cert, pivCert()) {
		t.Errorf("Find(53 value, 70) = %d bytes, %v, %v, want the %d-byte certificate", len(cert), ok, err, len(pivCert()))
	}
	info, ok, err := Find(v, 0x71)
	if err != nil || !ok || !bytes.Equal(info, []byte{0x00}) {
		t.Errorf("Find(53 value, 71) = %X, %v, %v, want 00, true, nil", info, ok, err)
	}
	// Rebuilding the container with AppendTLV gives the same bytes.
	var body []byte
	for _, o := range inner {
		body = AppendTLV(body, o.Tag, o.Value)
	}
	if got := TLVBytes(0x53, body); !bytes.Equal(got, in) {
		t.Errorf("TLVBytes(53, re-encoded body) = %X, want %X", got, in)
	}
}

func TestParseTLVGeneralAuthenticate(t *testing.T) {
	in := pivGenAuth()
	top := parseAllT(t, in)
	checkTLVs(t, in, top, []TLV{{Tag: 0x7C, Value: in[4:]}})
	if len(top[0].Value) != 0x0106 {
		t.Errorf("len(7C value) = %d, want %d", len(top[0].Value), 0x0106)
	}
	inner := parseAllT(t, top[0].Value)
	checkTLVs(t, top[0].Value, inner, []TLV{
		{Tag: 0x82, Value: []byte{}},
		{Tag: 0x81, Value: seq(256)},
	})
	// The response template a card answers: 7C 82 01 04 82 82 01 00 <sig>.
	resp := TLVBytes(0x7C, TLVBytes(0x82, seq(256)))
	want := cat([]byte{0x7C, 0x82, 0x01, 0x04, 0x82, 0x82, 0x01, 0x00}, seq(256))
	if !bytes.Equal(resp, want) {
		t.Errorf("TLVBytes(7C, TLVBytes(82, 256 bytes)) = %X, want %X", resp, want)
	}
}

func TestParseTLVTags(t *testing.T) {
	tests := []struct {
		name        string
		in          []byte
		tag         uint32
		constructed bool
	}{
		{"1 byte primitive 53", []byte{0x53, 0x00}, 0x53, false},
		{"1 byte constructed 7C", []byte{0x7C, 0x00}, 0x7C, true},
		{"1 byte context 81", []byte{0x81, 0x00}, 0x81, false},
		{"1 byte FE", []byte{0xFE, 0x00}, 0xFE, true},
		{"2 bytes 5F2F", []byte{0x5F, 0x2F, 0x00}, 0x5F2F, false},
		{"2 bytes 7F49", []byte{0x7F, 0x49, 0x00}, 0x7F49, true},
		{"2 bytes 1F05", []byte{0x1F, 0x05, 0x00}, 0x1F05, false},
		{"3 bytes 5FC105", []byte{0x5F, 0xC1, 0x05, 0x00}, 0x5FC105, false},
		{"3 bytes 5FC10A", []byte{0x5F, 0xC1, 0x0A, 0x00}, 0x5FC10A, false},
		{"3 bytes 5FC121", []byte{0x5F, 0xC1, 0x21, 0x00}, 0x5FC121, false},
		{"3 bytes 7FFF7F", []byte{0x7F, 0xFF, 0x7F, 0x00}, 0x7FFF7F, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rest, err := ParseTLV(tc.in)
			if err != nil {
				t.Fatalf("ParseTLV(%X) error: %v", tc.in, err)
			}
			if got.Tag != tc.tag || len(got.Value) != 0 || len(rest) != 0 {
				t.Errorf("ParseTLV(%X) = {%X %X}, rest %X, want {%X empty}, rest empty", tc.in, got.Tag, got.Value, rest, tc.tag)
			}
			if c := got.Constructed(); c != tc.constructed {
				t.Errorf("TLV{Tag: %X}.Constructed() = %v, want %v", got.Tag, c, tc.constructed)
			}
			if enc := TLVBytes(tc.tag, nil); !bytes.Equal(enc, tc.in) {
				t.Errorf("TLVBytes(%X, nil) = %X, want %X", tc.tag, enc, tc.in)
			}
		})
	}
}

func TestTLVLengths(t *testing.T) {
	tests := []struct {
		n      int
		prefix []byte // encoded length
	}{
		{0x00, []byte{0x00}},
		{0x7F, []byte{0x7F}},
		{0x80, []byte{0x81, 0x80}},
		{0xFF, []byte{0x81, 0xFF}},
		{0x100, []byte{0x82, 0x01, 0x00}},
		{0xFFFF, []byte{0x82, 0xFF, 0xFF}},
		{0x10000, []byte{0x83, 0x01, 0x00, 0x00}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%#x", tc.n), func(t *testing.T) {
			if got := AppendLength(nil, tc.n); !bytes.Equal(got, tc.prefix) {
				t.Errorf("AppendLength(nil, %#x) = %X, want %X", tc.n, got, tc.prefix)
			}
			value := seq(tc.n)
			enc := TLVBytes(0x5FC105, value)
			want := cat([]byte{0x5F, 0xC1, 0x05}, tc.prefix, value)
			if !bytes.Equal(enc, want) {
				t.Errorf("TLVBytes(5FC105, %d bytes) = %X..., want %X...", tc.n, enc[:min(len(enc), 8)], want[:min(len(want), 8)])
			}
			trailer := []byte{0x90, 0x00}
			got, rest, err := ParseTLV(cat(enc, trailer))
			if err != nil {
				t.Fatalf("ParseTLV(TLVBytes(5FC105, %d bytes) + 9000) error: %v", tc.n, err)
			}
			if got.Tag != 0x5FC105 || !bytes.Equal(got.Value, value) || !bytes.Equal(rest, trailer) {
				t.Errorf("ParseTLV(TLVBytes(5FC105, %d bytes) + 9000) = {%X, %d bytes}, rest %X, want {5FC105, %d bytes}, rest 9000",
					tc.n, got.Tag, len(got.Value), rest, tc.n)
			}
		})
	}
}

func TestAppendLengthLarge(t *testing.T) {
	tests := []struct {
		n    int
		want []byte
	}{
		{0xFFFFFF, []byte{0x83, 0xFF, 0xFF, 0xFF}},
		{0x1000000, []byte{0x84, 0x01, 0x00, 0x00, 0x00}},
	}
	for _, tc := range tests {
		if got := AppendLength([]byte{0xAA}, tc.n); !bytes.Equal(got, cat([]byte{0xAA}, tc.want)) {
			t.Errorf("AppendLength(AA, %#x) = %X, want AA%X", tc.n, got, tc.want)
		}
	}
}

// TestParseTLVLongLengthForms accepts the non-minimal definite forms a card
// may use (81 05, 84 00 00 00 02), as BER allows.
func TestParseTLVLongLengthForms(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"81 05", cat([]byte{0x53, 0x81, 0x05}, seq(5)), seq(5)},
		{"82 00 02", cat([]byte{0x53, 0x82, 0x00, 0x02}, seq(2)), seq(2)},
		{"83 00 00 01", cat([]byte{0x53, 0x83, 0x00, 0x00, 0x01}, seq(1)), seq(1)},
		{"84 00 00 00 02", cat([]byte{0x53, 0x84, 0x00, 0x00, 0x00, 0x02}, seq(2)), seq(2)},
		{"84 00 00 00 00", []byte{0x53, 0x84, 0x00, 0x00, 0x00, 0x00}, []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rest, err := ParseTLV(tc.in)
			if err != nil || got.Tag != 0x53 || !bytes.Equal(got.Value, tc.want) || len(rest) != 0 {
				t.Errorf("ParseTLV(%X) = {%X %X}, %X, %v, want {53 %X}, empty, nil", tc.in, got.Tag, got.Value, rest, err, tc.want)
			}
		})
	}
}

func TestParseTLVMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"tag only", []byte{0x53}},
		{"truncated 2-byte tag", []byte{0x5F}},
		{"truncated 3-byte tag", []byte{0x5F, 0xC1}},
		{"3-byte tag no length", []byte{0x5F, 0xC1, 0x05}},
		{"4-byte tag", []byte{0x5F, 0xC1, 0x81, 0x05, 0x00}},
		{"4-byte tag 7F", []byte{0x7F, 0xFF, 0xFF, 0x01, 0x00}},
		{"truncated length 81", []byte{0x53, 0x81}},
		{"truncated length 82", []byte{0x53, 0x82, 0x01}},
		{"truncated length 84", []byte{0x53, 0x84, 0x00, 0x00, 0x01}},
		{"indefinite length 80", []byte{0x7C, 0x80, 0x00, 0x00}},
		{"85 length form", []byte{0x53, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01, 0xAA}},
		{"FF length form", []byte{0x53, 0xFF}},
		{"length past end short", []byte{0x53, 0x03, 0xAA, 0xBB}},
		{"length past end 81", cat([]byte{0x53, 0x81, 0x80}, seq(0x7F))},
		{"length past end 82", cat([]byte{0x53, 0x82, 0x01, 0x00}, seq(0xFF))},
		{"length past end 84 huge", []byte{0x53, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}},
		{"length past end 84 7FFFFFFF", []byte{0x53, 0x84, 0x7F, 0xFF, 0xFF, 0xFF, 0x00}},
		{"container one byte short", pivCertContainer()[:749]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rest, err := ParseTLV(tc.in)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseTLV(%X) = {%X %X}, %X, %v, want error matching ErrMalformed", tc.in, got.Tag, got.Value, rest, err)
			}
			if all, err := ParseAll(tc.in); !errors.Is(err, ErrMalformed) && len(tc.in) > 0 {
				t.Errorf("ParseAll(%X) = %v, %v, want error matching ErrMalformed", tc.in, all, err)
			}
		})
	}
}

func TestParseAll(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		got, err := ParseAll(nil)
		if err != nil || len(got) != 0 {
			t.Errorf("ParseAll(nil) = %v, %v, want empty, nil", got, err)
		}
	})
	t.Run("trailing garbage", func(t *testing.T) {
		in := cat(pivDiscovery, []byte{0x53})
		if got, err := ParseAll(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseAll(%X) = %v, %v, want error matching ErrMalformed", in, got, err)
		}
	})
	t.Run("sequence", func(t *testing.T) {
		in := cat(pivDiscovery, pivAPT, []byte{0x53, 0x00})
		got := parseAllT(t, in)
		checkTLVs(t, in, got, []TLV{
			{Tag: 0x7E, Value: pivDiscovery[2:]},
			{Tag: 0x61, Value: pivAPT[2:]},
			{Tag: 0x53, Value: []byte{}},
		})
	})
}

func TestFind(t *testing.T) {
	discovery := pivDiscovery[2:]
	certInner := pivCertContainer()[4:]
	tests := []struct {
		name      string
		in        []byte
		tag       uint32
		want      []byte
		wantFound bool
		wantErr   bool
	}{
		{"discovery AID", discovery, 0x4F, mustHexVar("A0 00 00 03 08 00 00 10 00 01 00"), true, false},
		{"discovery PIN policy", discovery, 0x5F2F, []byte{0x40, 0x00}, true, false},
		{"discovery absent", discovery, 0x5F, nil, false, false},
		{"top level only", pivDiscovery, 0x4F, nil, false, false},
		{"cert info", certInner, 0x71, []byte{0x00}, true, false},
		{"error detection code empty", certInner, 0xFE, []byte{}, true, false},
		{"first of two", []byte{0x01, 0x01, 0xAA, 0x01, 0x01, 0xBB}, 0x01, []byte{0xAA}, true, false},
		{"found before garbage", []byte{0x01, 0x01, 0xAA, 0x5F}, 0x01, []byte{0xAA}, true, false},
		{"garbage before target", []byte{0x02, 0x05, 0x01, 0x01, 0xAA}, 0x01, nil, false, true},
		{"empty", nil, 0x53, nil, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := Find(tc.in, tc.tag)
			if (err != nil) != tc.wantErr || found != tc.wantFound || !bytes.Equal(got, tc.want) {
				t.Errorf("Find(%X, %X) = %X, %v, %v, want %X, %v, error %v", tc.in, tc.tag, got, found, err, tc.want, tc.wantFound, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, ErrMalformed) {
				t.Errorf("Find(%X, %X) error = %v, want error matching ErrMalformed", tc.in, tc.tag, err)
			}
		})
	}
}

func TestAppendTLVParseTLVRoundTrip(t *testing.T) {
	tags := []uint32{0x01, 0x4F, 0x53, 0x70, 0x71, 0x7C, 0x7E, 0x81, 0x82, 0xFE, 0x5F2F, 0x7F49, 0x5FC101, 0x5FC105, 0x5FC10A}
	lens := []int{0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x2EA, 0xFFFF, 0x10000}
	for _, tag := range tags {
		for _, n := range lens {
			t.Run(fmt.Sprintf("%X_%d", tag, n), func(t *testing.T) {
				value := seq(n)
				prefix := []byte{0xAA, 0xBB}
				enc := AppendTLV(bytes.Clone(prefix), tag, value)
				if !bytes.HasPrefix(enc, prefix) {
					t.Fatalf("AppendTLV(%X, %X, %d bytes) = %X..., lost dst", prefix, tag, n, enc[:min(len(enc), 8)])
				}
				got, rest, err := ParseTLV(enc[len(prefix):])
				if err != nil {
					t.Fatalf("ParseTLV(AppendTLV(_, %X, %d bytes)) error: %v", tag, n, err)
				}
				if got.Tag != tag || !bytes.Equal(got.Value, value) || len(rest) != 0 {
					t.Errorf("ParseTLV(AppendTLV(_, %X, %d bytes)) = {%X, %d bytes}, rest %d bytes, want {%X, %d bytes}, rest 0",
						tag, n, got.Tag, len(got.Value), len(rest), tag, n)
				}
			})
		}
	}
}

// TestParseAllReencode re-encodes every object of the PIV examples and gets
// the input back, since all of them use minimal lengths.
func TestParseAllReencode(t *testing.T) {
	inputs := map[string][]byte{
		"discovery":      pivDiscovery,
		"APT":            pivAPT,
		"cert container": pivCertContainer(),
		"general auth":   pivGenAuth(),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			var enc []byte
			for _, o := range parseAllT(t, in) {
				enc = AppendTLV(enc, o.Tag, o.Value)
			}
			if !bytes.Equal(enc, in) {
				t.Errorf("re-encoded ParseAll(%X) = %X, want the input", in, enc)
			}
		})
	}
}

// TestParseTLVLengthOverflowLargeInput gives a 4-byte length whose value does
// not fit a 32-bit int, in an input large enough (8 MiB) that the running
// a check after the shift would pass after three length bytes; on 32-bit
// platforms the fourth shift would then wrap l negative. ParseTLV checks
// before each shift, so the length is reported past end everywhere.
func TestParseTLVLengthOverflowLargeInput(t *testing.T) {
	for _, length := range [][]byte{{0x80, 0x00, 0x00, 0x00}, {0xFF, 0xFF, 0xFF, 0xFF}} {
		b := make([]byte, 1<<24+8)
		copy(b, []byte{0x53, 0x84})
		copy(b[2:], length)
		t.Run(fmt.Sprintf("84 %X", length), func(t *testing.T) {
			got, rest, err := ParseTLV(b)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseTLV(53 84 %X + %d bytes) = {%X, %d bytes}, %d bytes, %v, want error matching ErrMalformed",
					length, len(b)-6, got.Tag, len(got.Value), len(rest), err)
			}
		})
	}
}
