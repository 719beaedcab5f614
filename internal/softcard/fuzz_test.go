package softcard

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

// splitAPDUs cuts fuzz input into command APDUs: each is a length byte
// followed by that many bytes (fewer at the end of the input). APDUs are
// thus at most 255 bytes long, so longer data needs command chaining.
func splitAPDUs(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := int(b[0])
		b = b[1:]
		if n > len(b) {
			n = len(b)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// joinAPDUs is the inverse of splitAPDUs, for seeds.
func joinAPDUs(cmds ...[]byte) []byte {
	var out []byte
	for _, c := range cmds {
		if len(c) > 255 {
			panic("joinAPDUs: APDU over 255 bytes")
		}
		out = append(out, byte(len(c)))
		out = append(out, c...)
	}
	return out
}

func FuzzTransmit(f *testing.F) {
	sel := selectAID(PIVAID[:9])
	ver := verifyPIN(DefaultPIN)
	ga := gaData(0x81, pkcs1Block(256, make([]byte, 32)))
	f.Add(joinAPDUs(sel))
	f.Add(joinAPDUs(getData(tagDiscovery, 8), sel, getData(tagDiscovery, 8), capdu(0, insGetResponse, 0, 0, nil, 0x0C)))
	f.Add(joinAPDUs(sel, getData(tagCert9A, 8), capdu(0, insGetResponse, 0, 0, nil, 0), capdu(0, insGetResponse, 0, 0, nil, 0)))
	f.Add(joinAPDUs(sel, verifyPIN("000000"), verifyPIN("000000"), verifyPIN("000000"), verifyPIN("000000"), verifyPIN("")))
	f.Add(joinAPDUs(sel, changeRef(keyRefPIN, DefaultPIN, "654321"), changeRef(keyRefPUK, DefaultPUK, "87654321")))
	f.Add(joinAPDUs(sel, resetRetry("00000000", "111111"), resetRetry(DefaultPUK, "111111"), verifyPIN("111111")))
	f.Add(joinAPDUs(sel, ver,
		capdu(0x10, insGeneralAuth, AlgRSA2048, 0x9A, ga[:250], -1),
		capdu(0x00, insGeneralAuth, AlgRSA2048, 0x9A, ga[250:], 0),
		capdu(0, insGetResponse, 0, 0, nil, 8)))
	f.Add(joinAPDUs(sel, ver, capdu(0, insGeneralAuth, AlgECCP256, 0x9A, gaData(0x81, make([]byte, 32)), 0)))
	f.Add(joinAPDUs(sel, ver, capdu(0, insGeneralAuth, AlgECCP256, 0x9A, gaData(0x85, h("04 01 02")), 0)))
	f.Add(joinAPDUs(sel, h("00 CB 3F FF 00 00 05 5C 03 5F C1 05 00 00"), h("00 CB 3F FF 00 00 00")))
	f.Add(joinAPDUs(sel, h("10 A4 04 00 05 A0 00 00 03 08"), h("00 20 00 80 08 31 32 33 34 35 36 FF FF")))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, in []byte) {
		path := filepath.Join(t.TempDir(), "card.json")
		c, st := newTestCard(t, cardOpts{Path: path})
		for _, cmd := range splitAPDUs(in) {
			r, err := c.Transmit(cmd)
			if err != nil {
				t.Fatalf("Transmit(% X) error: %v", cmd, err)
			}
			if len(r) < 2 {
				t.Fatalf("Transmit(% X) = % X, shorter than a status word", cmd, r)
			}
			if parsed, err := apdu.ParseCommand(cmd); err == nil && parsed.Ne > 0 && len(r)-2 > parsed.Ne {
				t.Fatalf("Transmit(% X) gave %d data bytes for Ne %d", cmd, len(r)-2, parsed.Ne)
			}
			if pin, puk := c.Tries(); pin < 0 || pin > MaxTries || puk < 0 || puk > MaxTries {
				t.Fatalf("after % X: Tries() = %d, %d, want 0…%d", cmd, pin, puk, MaxTries)
			}
		}
		if err := st.validate(); err != nil {
			t.Fatalf("in-memory state after % X: %v", in, err)
		}
		saved, err := LoadState(path)
		if errors.Is(err, os.ErrNotExist) {
			return // nothing changed
		}
		if err != nil {
			t.Fatalf("LoadState after % X: %v", in, err)
		}
		if saved.PINTries != st.PINTries || saved.PUKTries != st.PUKTries || string(saved.PIN) != string(st.PIN) || string(saved.PUK) != string(st.PUK) {
			t.Fatalf("saved state (PIN %q %d, PUK %q %d) differs from the card's (PIN %q %d, PUK %q %d)",
				saved.PIN, saved.PINTries, saved.PUK, saved.PUKTries, st.PIN, st.PINTries, st.PUK, st.PUKTries)
		}
	})
}
