package softcard

import (
	"bytes"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

// Profile is what kind of card the virtual card answers as.
type Profile string

const (
	// ProfilePIV is a PIV card (the default): every operation CardBridge
	// and OpenSC's PIV driver use.
	ProfilePIV Profile = ""
	// ProfileHiCOS is a first-generation HiCOS card (MOICA, MOEACA, XCA,
	// GCA) as far as its public read-only commands go: class 80 SELECT
	// FILE and READ BINARY on the version, card-number and certificate files
	// (github.com/orsonwang/Taiwan_CDC_RI). Every other command is refused
	// (6E00 for class 00, 6D00 otherwise): a real card's PIN verification
	// and key operations need the vendor's secret, which a test card must
	// not imitate. It serves TEST certificates only.
	ProfileHiCOS Profile = "hicos"
)

// hicosVersion is the version string the TEST HiCOS card reports (the
// gen-1 cards' current one).
const hicosVersion = "CHT V32N"

// hicosATR is a T=1 ATR that names no application, so no client takes the
// card for PIV: TS 3B, T0 8A (TD1, 10 historical bytes), TD1 01, category
// 80 and "CB HICOS T" as historical bytes, then TCK. Real HiCOS ATRs are
// not published.
func hicosATR() []byte {
	atr := []byte{0x3B, 0x8A, 0x01, 0x80}
	atr = append(atr, []byte("CBHICOS T")...)
	var tck byte
	for _, b := range atr[1:] {
		tck ^= b
	}
	return append(atr, tck)
}

// hicosFile is a file of the HiCOS profile: its identifier, its parent
// (zero for the MF) and its content (nil for a folder).
type hicosFile struct {
	fid, parent [2]byte
	data        []byte
}

// hicosFiles builds the profile's files from st: the version, the card
// number and 08F2 with the TEST root and issuing CA and the card's two
// certificates at the offsets the real cards use (encryption at 0E00,
// signature at 1500, as Taiwan_CDC_RI reads them), unused room FF.
func hicosFiles(st *State) []hicosFile {
	version := make([]byte, 0x14)
	copy(version, hicosVersion)
	serial := bytes.Repeat([]byte{' '}, 0x10)
	copy(serial, st.Serial)
	certs := bytes.Repeat([]byte{0xFF}, 0x1C00)
	put := func(off int, der []byte) {
		if len(der) > 0 && len(der) <= 0x700 {
			copy(certs[off:], der)
		}
	}
	if len(st.CACerts) > 0 {
		put(0x0000, st.CACerts[0])
	}
	if len(st.CACerts) > 1 {
		put(0x0700, st.CACerts[1])
	}
	put(0x0E00, st.Cert(SlotKeyManagement))
	sign := st.Cert(SlotSignature)
	if sign == nil {
		sign = st.Cert(SlotAuthentication)
	}
	put(0x1500, sign)
	mf, info, certDF := [2]byte{0x3F, 0x00}, [2]byte{0x09, 0x00}, [2]byte{0x50, 0x30}
	return []hicosFile{
		{fid: mf},
		{fid: info, parent: mf},
		{fid: [2]byte{0x09, 0x03}, parent: info, data: serial},
		{fid: [2]byte{0x09, 0x05}, parent: info, data: version},
		{fid: certDF, parent: mf},
		{fid: [2]byte{0x08, 0xF2}, parent: certDF, data: certs},
	}
}

// processHiCOS answers cmd as the HiCOS profile: SELECT FILE among the
// current folder's children (or the MF from anywhere) and READ BINARY of
// the selected file; anything else is refused.
func (c *Card) processHiCOS(cmd apdu.Command) apdu.Response {
	if cmd.CLA != 0x80 {
		return sw(apdu.ErrClaNotSupported)
	}
	switch cmd.INS {
	case 0xA4:
		if cmd.P1 != 0 || cmd.P2 != 0 || len(cmd.Data) != 2 {
			return sw(apdu.ErrIncorrectP1P2)
		}
		fid := [2]byte{cmd.Data[0], cmd.Data[1]}
		for i, f := range c.hicos {
			mf := fid == [2]byte{0x3F, 0x00} && f.fid == fid
			child := f.parent == c.hicosDF && f.fid == fid && f.parent != [2]byte{}
			if !mf && !child {
				continue
			}
			if f.data == nil {
				c.hicosDF, c.hicosEF = f.fid, -1
			} else {
				c.hicosEF = i
			}
			return apdu.Response{SW: apdu.SWOK}
		}
		return sw(apdu.ErrNotFound)
	case 0xB0:
		if c.hicosEF < 0 {
			return sw(apdu.ErrConditions)
		}
		if cmd.P1&0x80 != 0 {
			return sw(apdu.ErrIncorrectP1P2)
		}
		data := c.hicos[c.hicosEF].data
		off := int(cmd.P1)<<8 | int(cmd.P2)
		if off >= len(data) {
			return sw(0x6B00)
		}
		end := min(off+cmd.Ne, len(data))
		if cmd.Ne == 0 {
			end = min(off+256, len(data))
		}
		return apdu.Response{Data: bytes.Clone(data[off:end]), SW: apdu.SWOK}
	}
	return sw(apdu.ErrInsNotSupported)
}
