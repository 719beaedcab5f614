package apdu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// seq returns n bytes counting up from 0 (mod 256), so that a misplaced
// slice boundary shows up as a wrong byte rather than an equal one.
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// mustHex decodes a hex string that may contain spaces.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("hex.DecodeString(%q): %v", s, err)
	}
	return b
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// equalCommand compares commands field by field; Data compares by content so
// that nil and empty data are the same (both encode as no Lc field).
func equalCommand(a, b Command) bool {
	return a.CLA == b.CLA && a.INS == b.INS && a.P1 == b.P1 && a.P2 == b.P2 &&
		bytes.Equal(a.Data, b.Data) && a.Ne == b.Ne
}

var selectHdr = []byte{0x00, 0xA4, 0x04, 0x00}

// commandCases are well-formed encodings in each of the seven cases, shared by
// the encoding, parsing and round-trip tests. Each encoding is the canonical
// (shortest) one, so Bytes reproduces it exactly.
var commandCases = []struct {
	name     string
	cmd      Command
	enc      []byte
	extended bool
}{
	{
		name: "case 1",
		cmd:  Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00},
		enc:  selectHdr,
	},
	{
		name: "case 2S Ne=1",
		cmd:  Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Ne: 1},
		enc:  cat(selectHdr, []byte{0x01}),
	},
	{
		name: "case 2S Ne=255",
		cmd:  Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Ne: 255},
		enc:  cat(selectHdr, []byte{0xFF}),
	},
	{
		name: "case 2S Ne=256 is Le 00",
		cmd:  Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Ne: 256},
		enc:  cat(selectHdr, []byte{0x00}),
	},
	{
		name: "case 3S Lc=1",
		cmd:  Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: []byte{0xAA}},
		enc:  cat(selectHdr, []byte{0x01, 0xAA}),
	},
	{
		name: "case 3S Lc=255",
		cmd:  Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: seq(255)},
		enc:  cat(selectHdr, []byte{0xFF}, seq(255)),
	},
	{
		name: "case 4S Ne=256",
		cmd: Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00,
			Data: mustHexVar("A0 00 00 03 08 00 00 10 00"), Ne: 256},
		enc: mustHexVar("00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 00"),
	},
	{
		name: "case 4S Lc=255 Ne=255",
		cmd:  Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: seq(255), Ne: 255},
		enc:  cat(selectHdr, []byte{0xFF}, seq(255), []byte{0xFF}),
	},
	{
		name:     "case 2E Ne=257",
		cmd:      Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Ne: 257},
		enc:      cat(selectHdr, []byte{0x00, 0x01, 0x01}),
		extended: true,
	},
	{
		name:     "case 2E Ne=65535",
		cmd:      Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Ne: 65535},
		enc:      cat(selectHdr, []byte{0x00, 0xFF, 0xFF}),
		extended: true,
	},
	{
		name:     "case 2E Ne=65536 is Le 00 00 00",
		cmd:      Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Ne: 65536},
		enc:      cat(selectHdr, []byte{0x00, 0x00, 0x00}),
		extended: true,
	},
	{
		name:     "case 3E data 256 bytes",
		cmd:      Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: seq(256)},
		enc:      cat(selectHdr, []byte{0x00, 0x01, 0x00}, seq(256)),
		extended: true,
	},
	{
		name:     "case 3E data 65535 bytes",
		cmd:      Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: seq(65535)},
		enc:      cat(selectHdr, []byte{0x00, 0xFF, 0xFF}, seq(65535)),
		extended: true,
	},
	{
		name:     "case 4E data 256 bytes Ne=256",
		cmd:      Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: seq(256), Ne: 256},
		enc:      cat(selectHdr, []byte{0x00, 0x01, 0x00}, seq(256), []byte{0x01, 0x00}),
		extended: true,
	},
	{
		name:     "case 4E data 256 bytes Ne=65536 is Le 00 00",
		cmd:      Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: seq(256), Ne: 65536},
		enc:      cat(selectHdr, []byte{0x00, 0x01, 0x00}, seq(256), []byte{0x00, 0x00}),
		extended: true,
	},
	{
		name:     "case 4E short data Ne=257",
		cmd:      Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: []byte{0xAA}, Ne: 257},
		enc:      cat(selectHdr, []byte{0x00, 0x00, 0x01, 0xAA, 0x01, 0x01}),
		extended: true,
	},
	{
		name:     "case 4E short data Ne=65536",
		cmd:      Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: []byte{0xAA}, Ne: 65536},
		enc:      cat(selectHdr, []byte{0x00, 0x00, 0x01, 0xAA, 0x00, 0x00}),
		extended: true,
	},
}

// mustHexVar is mustHex for package-level tables, where there is no t.
func mustHexVar(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestCommandBytes(t *testing.T) {
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cmd.Bytes()
			if err != nil {
				t.Fatalf("%v.Bytes() error: %v", tc.cmd, err)
			}
			if !bytes.Equal(got, tc.enc) {
				t.Errorf("%v.Bytes() = %X, want %X", tc.cmd, got, tc.enc)
			}
			if got := tc.cmd.Extended(); got != tc.extended {
				t.Errorf("%v.Extended() = %v, want %v", tc.cmd, got, tc.extended)
			}
		})
	}
}

func TestCommandBytesEmptyDataIsNoData(t *testing.T) {
	c := Command{CLA: 0x00, INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: []byte{}, Ne: 256}
	got, err := c.Bytes()
	want := []byte{0x00, 0xCB, 0x3F, 0xFF, 0x00}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%v.Bytes() = %X, %v, want %X, nil", c, got, err, want)
	}
}

func TestCommandBytesErrors(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
	}{
		{"data 65536 bytes", Command{Data: make([]byte, MaxExtendedData+1)}},
		{"Ne negative", Command{Ne: -1}},
		{"Ne 65537", Command{Ne: MaxExtendedNe + 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cmd.Bytes()
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%v.Bytes() = %X, %v, want error matching ErrMalformed", tc.cmd, got, err)
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCommand(tc.enc)
			if err != nil {
				t.Fatalf("ParseCommand(%X) error: %v", tc.enc, err)
			}
			if !equalCommand(got, tc.cmd) {
				t.Errorf("ParseCommand(%X) = %v data %X, want %v data %X", tc.enc, got, got.Data, tc.cmd, tc.cmd.Data)
			}
		})
	}
}

// TestParseCommandNonCanonical covers encodings that Bytes never produces but
// that a reader or a host may send: the extended form for lengths that fit
// the short one.
func TestParseCommandNonCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Command
	}{
		{
			name: "case 2E Ne=5",
			in:   cat(selectHdr, []byte{0x00, 0x00, 0x05}),
			want: Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Ne: 5},
		},
		{
			name: "case 2E Ne=256",
			in:   cat(selectHdr, []byte{0x00, 0x01, 0x00}),
			want: Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Ne: 256},
		},
		{
			name: "case 3E Lc=1",
			in:   cat(selectHdr, []byte{0x00, 0x00, 0x01, 0xAA}),
			want: Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: []byte{0xAA}},
		},
		{
			name: "case 4E Lc=2 Ne=5",
			in:   cat(selectHdr, []byte{0x00, 0x00, 0x02, 0xAA, 0xBB, 0x00, 0x05}),
			want: Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: []byte{0xAA, 0xBB}, Ne: 5},
		},
		{
			name: "case 4E Lc=1 Le 00 00",
			in:   cat(selectHdr, []byte{0x00, 0x00, 0x01, 0xAA, 0x00, 0x00}),
			want: Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: []byte{0xAA}, Ne: 65536},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCommand(tc.in)
			if err != nil {
				t.Fatalf("ParseCommand(%X) error: %v", tc.in, err)
			}
			if !equalCommand(got, tc.want) {
				t.Errorf("ParseCommand(%X) = %v data %X, want %v data %X", tc.in, got, got.Data, tc.want, tc.want.Data)
			}
		})
	}
}

func TestParseCommandMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"1 byte", []byte{0x00}},
		{"3 bytes", []byte{0x00, 0xA4, 0x04}},
		{"short Lc 2 with 1 data byte", cat(selectHdr, []byte{0x02, 0xAA})},
		{"short Lc 2 with 4 body bytes after Lc", cat(selectHdr, []byte{0x02, 0xAA, 0xBB, 0xCC, 0xDD})},
		{"short Lc 255 with 254 data bytes", cat(selectHdr, []byte{0xFF}, seq(254))},
		{"short Lc 1 with 3 trailing bytes", cat(selectHdr, []byte{0x01, 0xAA, 0x00, 0x00})},
		{"extended marker alone with 1 byte", cat(selectHdr, []byte{0x00, 0x01})},
		{"extended Lc 0 with Le", cat(selectHdr, []byte{0x00, 0x00, 0x00, 0x00, 0x00})},
		{"extended Lc 0 with 1 byte", cat(selectHdr, []byte{0x00, 0x00, 0x00, 0xAA})},
		{"extended Lc 2 truncated data", cat(selectHdr, []byte{0x00, 0x00, 0x02, 0xAA})},
		{"extended Lc 256 truncated data", cat(selectHdr, []byte{0x00, 0x01, 0x00}, seq(255))},
		{"extended Lc 1 with 1-byte Le", cat(selectHdr, []byte{0x00, 0x00, 0x01, 0xAA, 0x05})},
		{"extended Lc 1 with 3-byte Le", cat(selectHdr, []byte{0x00, 0x00, 0x01, 0xAA, 0x00, 0x00, 0x05})},
		{"extended Lc 65535 with no data", cat(selectHdr, []byte{0x00, 0xFF, 0xFF, 0x00})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCommand(tc.in)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseCommand(%X) = %v, %v, want error matching ErrMalformed", tc.in, got, err)
			}
		})
	}
}

func TestParseCommandDataAliasesInput(t *testing.T) {
	in := cat(selectHdr, []byte{0x02, 0xAA, 0xBB})
	c, err := ParseCommand(in)
	if err != nil {
		t.Fatalf("ParseCommand(%X) error: %v", in, err)
	}
	if cap(c.Data) == 0 || &c.Data[0] != &in[5] {
		t.Errorf("ParseCommand(%X).Data does not alias the input", in)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	cmds := []Command{
		{CLA: 0x00, INS: 0x20, P1: 0x00, P2: 0x80, Data: []byte("123456\xFF\xFF")},
		{CLA: 0x10, INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: seq(255)},
		{CLA: 0x00, INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: seq(1000)},
		{CLA: 0x00, INS: 0x87, P1: 0x07, P2: 0x9A, Data: seq(300), Ne: 65536},
		{CLA: 0x00, INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: mustHexVar("5C 03 5F C1 05"), Ne: 256},
		{CLA: 0x00, INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: mustHexVar("5C 03 5F C1 05"), Ne: 65536},
		{CLA: 0x84, INS: 0xC0, P1: 0x00, P2: 0x00, Ne: 1000},
	}
	for _, tc := range commandCases {
		cmds = append(cmds, tc.cmd)
	}
	for _, c := range cmds {
		t.Run(c.String(), func(t *testing.T) {
			b, err := c.Bytes()
			if err != nil {
				t.Fatalf("%v.Bytes() error: %v", c, err)
			}
			got, err := ParseCommand(b)
			if err != nil {
				t.Fatalf("ParseCommand(%X) error: %v", b, err)
			}
			if !equalCommand(got, c) {
				t.Errorf("ParseCommand(%v.Bytes()) = %v, want %v", c, got, c)
			}
		})
	}
}

func TestCommandChain(t *testing.T) {
	tests := []struct {
		name      string
		dataLen   int
		max       int
		ne        int
		wantParts []int // data length of each part
	}{
		{"0 bytes", 0, 255, 256, []int{0}},
		{"1 byte", 1, 255, 0, []int{1}},
		{"255 bytes fits", 255, 255, 256, []int{255}},
		{"256 bytes", 256, 255, 256, []int{255, 1}},
		{"300 bytes", 300, 255, 256, []int{255, 45}},
		{"510 bytes", 510, 255, 0, []int{255, 255}},
		{"511 bytes", 511, 255, 65536, []int{255, 255, 1}},
		{"300 bytes max 100", 300, 100, 256, []int{100, 100, 100}},
		{"300 bytes max 0 is unchanged", 300, 0, 256, []int{300}},
		{"300 bytes max -1 is unchanged", 300, -1, 256, []int{300}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Command{CLA: 0x00, INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: seq(tc.dataLen), Ne: tc.ne}
			parts := c.Chain(tc.max)
			if len(parts) != len(tc.wantParts) {
				t.Fatalf("%v.Chain(%d) = %d commands, want %d", c, tc.max, len(parts), len(tc.wantParts))
			}
			var data []byte
			for i, p := range parts {
				last := i == len(parts)-1
				wantCLA := c.CLA | ClaChaining
				wantNe := 0
				if last {
					wantCLA, wantNe = c.CLA, c.Ne
				}
				if p.CLA != wantCLA {
					t.Errorf("%v.Chain(%d)[%d].CLA = %02X, want %02X", c, tc.max, i, p.CLA, wantCLA)
				}
				if p.INS != c.INS || p.P1 != c.P1 || p.P2 != c.P2 {
					t.Errorf("%v.Chain(%d)[%d] header = %v, want INS P1 P2 of %v", c, tc.max, i, p, c)
				}
				if p.Ne != wantNe {
					t.Errorf("%v.Chain(%d)[%d].Ne = %d, want %d", c, tc.max, i, p.Ne, wantNe)
				}
				if len(p.Data) != tc.wantParts[i] {
					t.Errorf("len(%v.Chain(%d)[%d].Data) = %d, want %d", c, tc.max, i, len(p.Data), tc.wantParts[i])
				}
				if tc.max > 0 && len(p.Data) > tc.max {
					t.Errorf("len(%v.Chain(%d)[%d].Data) = %d, over max", c, tc.max, i, len(p.Data))
				}
				data = append(data, p.Data...)
			}
			if !bytes.Equal(data, c.Data) {
				t.Errorf("concatenated data of %v.Chain(%d) = %X, want %X", c, tc.max, data, c.Data)
			}
		})
	}
}

// TestCommandChainShortEncoding checks that a PIV PUT DATA over 255 bytes,
// chained at MaxShortData, encodes every part in the short form with the CLA
// chaining bit on all but the last part.
func TestCommandChainShortEncoding(t *testing.T) {
	c := Command{CLA: 0x00, INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: seq(600)}
	parts := c.Chain(MaxShortData)
	for i, p := range parts {
		b, err := p.Bytes()
		if err != nil {
			t.Fatalf("%v.Bytes() error: %v", p, err)
		}
		if p.Extended() {
			t.Errorf("part %d %v.Extended() = true, want false", i, p)
		}
		wantCLA := byte(ClaChaining)
		if i == len(parts)-1 {
			wantCLA = 0x00
		}
		if b[0] != wantCLA {
			t.Errorf("part %d %v.Bytes()[0] = %02X, want %02X", i, p, b[0], wantCLA)
		}
		if want := 5 + len(p.Data); len(b) != want {
			t.Errorf("len(part %d %v.Bytes()) = %d, want %d", i, p, len(b), want)
		}
	}
}

func TestCommandString(t *testing.T) {
	pin := []byte("123456\xFF\xFF")
	c := Command{CLA: 0x00, INS: 0x20, P1: 0x00, P2: 0x80, Data: pin}
	got := c.String()
	if want := "00 20 00 80 Lc=8 Ne=0"; got != want {
		t.Errorf("%#v.String() = %q, want %q", c, got, want)
	}
	leaks := []string{
		"123456",
		"313233343536",           // hex, upper or lower case
		"31 32 33 34 35 36",      // spaced hex
		"[49 50 51 52 53 54",     // %v of []byte
		"0x31, 0x32, 0x33, 0x34", // %#v of []byte
	}
	for _, leak := range leaks {
		if strings.Contains(strings.ToUpper(got), strings.ToUpper(leak)) {
			t.Errorf("%v.String() = %q, contains PIN rendering %q", c, got, leak)
		}
	}
	// Neither must the chain parts or the Ne=256 form.
	c.Ne = 256
	for _, p := range c.Chain(3) {
		s := p.String()
		for _, leak := range []string{"123", "456", "313233", "343536"} {
			if strings.Contains(s, leak) {
				t.Errorf("%v.String() = %q, contains PIN rendering %q", p, s, leak)
			}
		}
	}
}
