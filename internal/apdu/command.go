package apdu

import (
	"errors"
	"fmt"
)

// Length limits of ISO 7816-4 §5.1.
const (
	// MaxShortData is the largest command data field a short APDU carries.
	MaxShortData = 255
	// MaxShortNe is the largest response length a short Le can ask for (Le=00).
	MaxShortNe = 256
	// MaxExtendedData is the largest command data field an extended APDU carries.
	MaxExtendedData = 65535
	// MaxExtendedNe is the largest response length an extended Le can ask for (Le=0000).
	MaxExtendedNe = 65536
)

// ClaChaining is the class-byte bit that marks every command of a chain but
// the last (ISO 7816-4 §5.4.1); PIV uses it for data over 255 bytes.
const ClaChaining = 0x10

// ErrMalformed reports bytes that are not a well-formed APDU.
var ErrMalformed = errors.New("apdu: malformed")

// Command is a command APDU. Ne is the number of response bytes expected:
// 0 means no Le field, 256 a short Le of 00, 65536 an extended Le of 0000.
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	Ne               int
}

// Extended reports whether c needs the extended-length encoding.
func (c Command) Extended() bool {
	return len(c.Data) > MaxShortData || c.Ne > MaxShortNe
}

// Bytes encodes c, choosing the short form unless the data or Ne needs the
// extended form (ISO 7816-4 §5.1, cases 1 to 4).
func (c Command) Bytes() ([]byte, error) {
	if len(c.Data) > MaxExtendedData {
		return nil, fmt.Errorf("apdu: data length %d over %d: %w", len(c.Data), MaxExtendedData, ErrMalformed)
	}
	if c.Ne < 0 || c.Ne > MaxExtendedNe {
		return nil, fmt.Errorf("apdu: Ne %d out of range: %w", c.Ne, ErrMalformed)
	}
	b := make([]byte, 0, 4+3+len(c.Data)+3)
	b = append(b, c.CLA, c.INS, c.P1, c.P2)
	if !c.Extended() {
		if len(c.Data) > 0 {
			b = append(b, byte(len(c.Data)))
			b = append(b, c.Data...)
		}
		if c.Ne > 0 {
			b = append(b, byte(c.Ne)) // 256 encodes as 00
		}
		return b, nil
	}
	if len(c.Data) > 0 {
		b = append(b, 0, byte(len(c.Data)>>8), byte(len(c.Data)))
		b = append(b, c.Data...)
	}
	if c.Ne > 0 {
		if len(c.Data) == 0 {
			b = append(b, 0)
		}
		b = append(b, byte(c.Ne>>8), byte(c.Ne)) // 65536 encodes as 0000
	}
	return b, nil
}

// Chain splits c into a command chain whose data fields are at most max
// bytes: every command but the last has CLA bit ClaChaining set and no Le.
// A command that fits is returned alone and unchanged.
func (c Command) Chain(max int) []Command {
	if max <= 0 || len(c.Data) <= max {
		return []Command{c}
	}
	var out []Command
	data := c.Data
	for len(data) > max {
		part := c
		part.CLA |= ClaChaining
		part.Data = data[:max]
		part.Ne = 0
		out = append(out, part)
		data = data[max:]
	}
	last := c
	last.Data = data
	return append(out, last)
}

// String renders the header and lengths, never the data field: command data
// may hold a PIN, so logs and error messages must not carry it.
func (c Command) String() string {
	return fmt.Sprintf("%02X %02X %02X %02X Lc=%d Ne=%d", c.CLA, c.INS, c.P1, c.P2, len(c.Data), c.Ne)
}

// ParseCommand decodes a command APDU in any of the seven encodings of
// ISO 7816-4 §5.1 (cases 1, 2S, 3S, 4S, 2E, 3E, 4E). Data aliases b.
func ParseCommand(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, fmt.Errorf("apdu: command of %d bytes: %w", len(b), ErrMalformed)
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, nil
	case len(body) == 1: // case 2S
		c.Ne = shortNe(body[0])
		return c, nil
	case body[0] != 0: // case 3S or 4S
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
		case 2 + lc:
			c.Ne = shortNe(body[1+lc])
		default:
			return Command{}, fmt.Errorf("apdu: Lc %d with %d body bytes: %w", lc, len(body), ErrMalformed)
		}
		c.Data = body[1 : 1+lc]
		return c, nil
	case len(body) == 3: // case 2E
		c.Ne = extendedNe(body[1], body[2])
		return c, nil
	}
	// case 3E or 4E: 00 Lc1 Lc2 data [Le1 Le2]
	if len(body) < 3 {
		return Command{}, fmt.Errorf("apdu: truncated extended length: %w", ErrMalformed)
	}
	lc := int(body[1])<<8 | int(body[2])
	if lc == 0 {
		return Command{}, fmt.Errorf("apdu: extended Lc of zero: %w", ErrMalformed)
	}
	switch len(body) {
	case 3 + lc:
	case 5 + lc:
		c.Ne = extendedNe(body[3+lc], body[4+lc])
	default:
		return Command{}, fmt.Errorf("apdu: extended Lc %d with %d body bytes: %w", lc, len(body), ErrMalformed)
	}
	c.Data = body[3 : 3+lc]
	return c, nil
}

func shortNe(le byte) int {
	if le == 0 {
		return MaxShortNe
	}
	return int(le)
}

func extendedNe(hi, lo byte) int {
	n := int(hi)<<8 | int(lo)
	if n == 0 {
		return MaxExtendedNe
	}
	return n
}
