package apdu

import (
	"fmt"
)

// MaxTagBytes caps BER-TLV tag numbers at three bytes: PIV's longest tag is
// 5FC1xx, so a longer tag is malformed input, not a feature.
const MaxTagBytes = 3

// TLV is one BER-TLV data object (ISO 7816-4 §5.2). Tag holds the tag bytes
// big-endian (0x5FC105 for tag 5F C1 05); Value aliases the parsed input.
type TLV struct {
	Tag   uint32
	Value []byte
}

// Constructed reports whether the tag's first byte has the constructed bit.
func (t TLV) Constructed() bool {
	return firstTagByte(t.Tag)&0x20 != 0
}

func firstTagByte(tag uint32) byte {
	switch {
	case tag > 0xFFFF:
		return byte(tag >> 16)
	case tag > 0xFF:
		return byte(tag >> 8)
	}
	return byte(tag)
}

// ParseTLV reads one BER-TLV object from the front of b and returns it with
// the remaining bytes. Definite lengths up to four bytes are accepted and
// always checked against what b holds.
func ParseTLV(b []byte) (TLV, []byte, error) {
	if len(b) == 0 {
		return TLV{}, nil, fmt.Errorf("tlv: empty input: %w", ErrMalformed)
	}
	tag := uint32(b[0])
	i := 1
	if b[0]&0x1F == 0x1F {
		for {
			if i >= len(b) {
				return TLV{}, nil, fmt.Errorf("tlv: truncated tag: %w", ErrMalformed)
			}
			if i >= MaxTagBytes {
				return TLV{}, nil, fmt.Errorf("tlv: tag longer than %d bytes: %w", MaxTagBytes, ErrMalformed)
			}
			tag = tag<<8 | uint32(b[i])
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return TLV{}, nil, fmt.Errorf("tlv: missing length: %w", ErrMalformed)
	}
	l := int(b[i])
	i++
	if l&0x80 != 0 {
		n := l & 0x7F
		if n == 0 || n > 4 {
			return TLV{}, nil, fmt.Errorf("tlv: length form %02X unsupported: %w", 0x80|n, ErrMalformed)
		}
		if i+n > len(b) {
			return TLV{}, nil, fmt.Errorf("tlv: truncated length: %w", ErrMalformed)
		}
		l = 0
		for _, c := range b[i : i+n] {
			// Checked before the shift, so l never overflows an int,
			// even a 32-bit one.
			if l > len(b)>>8 {
				return TLV{}, nil, fmt.Errorf("tlv: length past end of %d bytes: %w", len(b), ErrMalformed)
			}
			l = l<<8 | int(c)
		}
		i += n
	}
	if l > len(b)-i {
		return TLV{}, nil, fmt.Errorf("tlv: tag %X length %d past end (%d left): %w", tag, l, len(b)-i, ErrMalformed)
	}
	return TLV{Tag: tag, Value: b[i : i+l]}, b[i+l:], nil
}

// ParseAll reads consecutive BER-TLV objects until b is used up.
func ParseAll(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		t, rest, err := ParseTLV(b)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		b = rest
	}
	return out, nil
}

// Find returns the value of the first top-level object with the given tag.
func Find(b []byte, tag uint32) ([]byte, bool, error) {
	for len(b) > 0 {
		t, rest, err := ParseTLV(b)
		if err != nil {
			return nil, false, err
		}
		if t.Tag == tag {
			return t.Value, true, nil
		}
		b = rest
	}
	return nil, false, nil
}

// AppendTLV appends tag, the definite length of value and value to dst.
func AppendTLV(dst []byte, tag uint32, value []byte) []byte {
	switch {
	case tag > 0xFFFF:
		dst = append(dst, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		dst = append(dst, byte(tag>>8), byte(tag))
	default:
		dst = append(dst, byte(tag))
	}
	dst = AppendLength(dst, len(value))
	return append(dst, value...)
}

// AppendLength appends the BER definite-length encoding of n.
func AppendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xFF:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xFFFFFF:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// TLVBytes is AppendTLV into a new slice.
func TLVBytes(tag uint32, value []byte) []byte {
	return AppendTLV(make([]byte, 0, len(value)+8), tag, value)
}
