package apdu

import (
	"bytes"
	"testing"
)

// commandSeeds are the encodings of commandCases plus PIV commands and
// malformed near misses.
func commandSeeds() [][]byte {
	var seeds [][]byte
	for _, tc := range commandCases {
		if len(tc.enc) < 1024 { // keep the corpus small; the fuzzer grows it
			seeds = append(seeds, tc.enc)
		}
	}
	return append(seeds,
		mustHexVar("00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 00"),          // PIV SELECT
		mustHexVar("00 20 00 80 08 31 32 33 34 35 36 FF FF"),                // VERIFY
		mustHexVar("00 CB 3F FF 05 5C 03 5F C1 05 00"),                      // GET DATA
		cat(mustHexVar("00 87 07 9A 00 01 0A"), pivGenAuth(), []byte{0, 0}), // GENERAL AUTHENTICATE, 4E
		cat(mustHexVar("10 DB 3F FF FF"), pivCertContainer()[:255]),         // chained PUT DATA
		mustHexVar("00 A4 04"),                   // 3 bytes
		mustHexVar("00 A4 04 00 02 AA"),          // Lc mismatch
		mustHexVar("00 A4 04 00 00 00 00 00 00"), // extended Lc 0
		mustHexVar("00 A4 04 00 00 01"),          // truncated extended
		mustHexVar("00 A4 04 00 00 00 02 AA"),    // truncated extended data
	)
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range commandSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCommand(in)
		if err != nil {
			return
		}
		if len(c.Data) > MaxExtendedData || c.Ne < 0 || c.Ne > MaxExtendedNe {
			t.Fatalf("ParseCommand(%X) = %v, lengths out of range", in, c)
		}
		b, err := c.Bytes()
		if err != nil {
			t.Fatalf("ParseCommand(%X).Bytes() error: %v", in, err)
		}
		// The canonical encoding may differ from in (an extended form for
		// lengths that fit the short one), so compare fields, not bytes.
		c2, err := ParseCommand(b)
		if err != nil {
			t.Fatalf("ParseCommand(%X) error on re-encoding of ParseCommand(%X) = %v: %v", b, in, c, err)
		}
		if !equalCommand(c, c2) {
			t.Fatalf("ParseCommand(ParseCommand(%X).Bytes()) = %v, want %v", in, c2, c)
		}
		// The canonical encoding is a fixed point.
		if b2, err := c2.Bytes(); err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("Bytes() of re-parsed %X = %X, %v, want %X", b, b2, err, b)
		}
		// String never renders the data field: it does not change when the
		// data is replaced by zeros of the same length.
		blank := c
		blank.Data = make([]byte, len(c.Data))
		if c.String() != blank.String() {
			t.Fatalf("%v.String() depends on the data field (%q with zeros)", c, blank.String())
		}
		// A chain reassembles to the same data.
		var data []byte
		parts := c.Chain(MaxShortData)
		for i, p := range parts {
			if i < len(parts)-1 && (p.CLA&ClaChaining == 0 || p.Ne != 0) {
				t.Fatalf("%v.Chain(255)[%d] = %v, want chaining bit and Ne 0", c, i, p)
			}
			data = append(data, p.Data...)
		}
		if !bytes.Equal(data, c.Data) {
			t.Fatalf("%v.Chain(255) data = %X, want %X", c, data, c.Data)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range [][]byte{
		{}, {0x90}, {0x90, 0x00}, {0x63, 0xC2}, {0x69, 0x83}, {0x61, 0x10},
		cat(pivAPT, []byte{0x90, 0x00}),
		cat(pivDiscovery, []byte{0x90, 0x00}),
		cat(pivCertContainer()[:256], []byte{0x61, 0xEE}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseResponse(in)
		if err != nil {
			if len(in) >= 2 {
				t.Fatalf("ParseResponse(%X) error: %v", in, err)
			}
			return
		}
		if got := r.Bytes(); !bytes.Equal(got, in) {
			t.Fatalf("ParseResponse(%X).Bytes() = %X, want the input", in, got)
		}
		err = r.Err()
		if (err == nil) != (r.SW == SWOK) {
			t.Fatalf("Response{SW: %04X}.Err() = %v", r.SW, err)
		}
		if err != nil {
			_ = err.Error()
			n, ok := Status(r.SW).TriesLeft()
			if ok != (r.SW1() == 0x63 && r.SW2()&0xF0 == 0xC0) || (ok && n != int(r.SW2()&0x0F)) {
				t.Fatalf("Status(%04X).TriesLeft() = %d, %v", r.SW, n, ok)
			}
		}
	})
}

// tlvSeeds are the PIV examples plus length and tag edge cases.
func tlvSeeds() [][]byte {
	return [][]byte{
		pivDiscovery,
		pivAPT,
		pivCertContainer(),
		pivGenAuth(),
		{0x5F, 0xC1, 0x05, 0x00},
		{0x53, 0x81, 0x80},
		{0x53, 0x82, 0x01, 0x00},
		{0x53, 0x83, 0x01, 0x00, 0x00},
		{0x53, 0x84, 0xFF, 0xFF, 0xFF, 0xFF},
		{0x53, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01},
		{0x5F, 0xC1, 0x81, 0x05, 0x00},
		{0x7C, 0x80, 0x00, 0x00},
		{0x5F},
		{0x53, 0x82, 0x01},
	}
}

// checkReencode re-encodes o and checks it parses back to the same object.
func checkReencode(t *testing.T, in []byte, o TLV) {
	t.Helper()
	enc := TLVBytes(o.Tag, o.Value)
	got, rest, err := ParseTLV(enc)
	if err != nil {
		t.Fatalf("ParseTLV(TLVBytes(%X, %X)) from %X error: %v", o.Tag, o.Value, in, err)
	}
	if got.Tag != o.Tag || !bytes.Equal(got.Value, o.Value) || len(rest) != 0 {
		t.Fatalf("ParseTLV(TLVBytes(%X, %X)) from %X = {%X %X}, rest %X", o.Tag, o.Value, in, got.Tag, got.Value, rest)
	}
}

func FuzzParseTLV(f *testing.F) {
	for _, s := range tlvSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		o, rest, err := ParseTLV(in)
		if err != nil {
			return
		}
		if len(rest) > len(in) || len(o.Value) > len(in) {
			t.Fatalf("ParseTLV(%X) = {%X %d bytes}, rest %d bytes: longer than input", in, o.Tag, len(o.Value), len(rest))
		}
		if o.Tag > 0xFFFFFF {
			t.Fatalf("ParseTLV(%X) tag %X over %d bytes", in, o.Tag, MaxTagBytes)
		}
		checkReencode(t, in, o)
		// rest is a suffix of in.
		if !bytes.HasSuffix(in, rest) {
			t.Fatalf("ParseTLV(%X) rest %X is not a suffix of the input", in, rest)
		}
		_ = o.Constructed()
	})
}

func FuzzParseAll(f *testing.F) {
	for _, s := range tlvSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		objs, err := ParseAll(in)
		if err != nil {
			return
		}
		for _, o := range objs {
			checkReencode(t, in, o)
			// Constructed values are parsed one level down; an error there is
			// fine, a panic is not.
			if o.Constructed() {
				_, _ = ParseAll(o.Value)
			}
			if v, ok, err := Find(in, o.Tag); err != nil || !ok || len(v) > len(in) {
				t.Fatalf("Find(%X, %X) = %X, %v, %v, want found", in, o.Tag, v, ok, err)
			}
		}
	})
}
