package certinfo

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Caps on what [ParseSubjectDirectoryAttributes] accepts. Real certificates
// carry a handful of attributes with one value each.
const (
	maxAttributes      = 64
	maxAttributeValues = 16
)

// ErrMalformedSDA is returned (wrapped) by [ParseSubjectDirectoryAttributes]
// when the extension value is not a well-formed, bounded
// SEQUENCE OF Attribute.
var ErrMalformedSDA = errors.New("certinfo: malformed subject directory attributes")

// Attribute is one attribute of the subject directory attributes
// extension: its type and the string forms of the values this package
// understands.
type Attribute struct {
	// Type is the attribute type, e.g. [OIDUBN].
	Type asn1.ObjectIdentifier
	// Values holds string values as they are (BMPString decoded to
	// UTF-8) and OBJECT IDENTIFIER values in dotted form. Values of other
	// ASN.1 types are skipped, so Values may be empty.
	Values []string
}

// Value returns the first value of the attribute, or "" if it has none.
func (a Attribute) Value() string {
	if len(a.Values) == 0 {
		return ""
	}
	return a.Values[0]
}

// ParseSubjectDirectoryAttributes parses the value of the subject directory
// attributes extension (2.5.29.9, RFC 5280 §4.2.1.8):
//
//	SubjectDirectoryAttributes ::= SEQUENCE OF Attribute
//	Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET OF ANY }
//
// Values that are UTF8String, PrintableString, IA5String, BMPString or
// OBJECT IDENTIFIER are returned in string form; values of other types are
// skipped. It returns an error wrapping [ErrMalformedSDA] for bad DER,
// trailing data, wrong tags, invalid string contents, or more than 64
// attributes or 16 values in one attribute.
func ParseSubjectDirectoryAttributes(ext []byte) ([]Attribute, error) {
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(ext, &seq)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSDA, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes of trailing data", ErrMalformedSDA, len(rest))
	}
	if !isUniversal(seq, asn1.TagSequence, true) {
		return nil, fmt.Errorf("%w: outer element is not a SEQUENCE", ErrMalformedSDA)
	}
	var attrs []Attribute
	for in := seq.Bytes; len(in) > 0; {
		if len(attrs) == maxAttributes {
			return nil, fmt.Errorf("%w: more than %d attributes", ErrMalformedSDA, maxAttributes)
		}
		var raw asn1.RawValue
		in, err = asn1.Unmarshal(in, &raw)
		if err != nil {
			return nil, fmt.Errorf("%w: attribute %d: %w", ErrMalformedSDA, len(attrs), err)
		}
		a, err := parseAttribute(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: attribute %d: %w", ErrMalformedSDA, len(attrs), err)
		}
		attrs = append(attrs, a)
	}
	return attrs, nil
}

// parseAttribute parses SEQUENCE { type OBJECT IDENTIFIER, values SET OF ANY }.
func parseAttribute(raw asn1.RawValue) (Attribute, error) {
	if !isUniversal(raw, asn1.TagSequence, true) {
		return Attribute{}, errors.New("not a SEQUENCE")
	}
	var a Attribute
	rest, err := asn1.Unmarshal(raw.Bytes, &a.Type)
	if err != nil {
		return Attribute{}, fmt.Errorf("type: %w", err)
	}
	var set asn1.RawValue
	rest, err = asn1.Unmarshal(rest, &set)
	if err != nil {
		return Attribute{}, fmt.Errorf("values of %s: %w", a.Type, err)
	}
	if len(rest) != 0 {
		return Attribute{}, fmt.Errorf("%s: trailing data", a.Type)
	}
	if !isUniversal(set, asn1.TagSet, true) {
		return Attribute{}, fmt.Errorf("values of %s: not a SET", a.Type)
	}
	n := 0
	for in := set.Bytes; len(in) > 0; n++ {
		if n == maxAttributeValues {
			return Attribute{}, fmt.Errorf("%s: more than %d values", a.Type, maxAttributeValues)
		}
		var v asn1.RawValue
		in, err = asn1.Unmarshal(in, &v)
		if err != nil {
			return Attribute{}, fmt.Errorf("value %d of %s: %w", n, a.Type, err)
		}
		s, ok, err := attributeString(v)
		if err != nil {
			return Attribute{}, fmt.Errorf("value %d of %s: %w", n, a.Type, err)
		}
		if ok {
			a.Values = append(a.Values, s)
		}
	}
	return a, nil
}

// attributeString returns the string form of v and true for the value
// types this package understands, and false for others.
func attributeString(v asn1.RawValue) (string, bool, error) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false, nil
	}
	switch v.Tag {
	case asn1.TagUTF8String:
		if !utf8.Valid(v.Bytes) {
			return "", false, errors.New("invalid UTF8String")
		}
		return string(v.Bytes), true, nil
	case asn1.TagPrintableString, asn1.TagIA5String:
		// PrintableString is checked only for being ASCII: real
		// certificates put '*', '&', '@' and '_' in it.
		for _, c := range v.Bytes {
			if c >= utf8.RuneSelf {
				return "", false, errors.New("non-ASCII byte in PrintableString or IA5String")
			}
		}
		return string(v.Bytes), true, nil
	case asn1.TagBMPString:
		s, err := decodeBMPString(v.Bytes)
		return s, err == nil, err
	case asn1.TagOID:
		var oid asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(v.FullBytes, &oid); err != nil {
			return "", false, fmt.Errorf("OBJECT IDENTIFIER: %w", err)
		}
		return oid.String(), true, nil
	}
	return "", false, nil
}

// decodeBMPString decodes big-endian UCS-2/UTF-16. Unpaired surrogates
// become U+FFFD.
func decodeBMPString(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", errors.New("odd-length BMPString")
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i < len(b); i += 2 {
		u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
	}
	return string(utf16.Decode(u)), nil
}

// isUniversal reports whether v is a universal-class element with the
// given tag and constructed bit.
func isUniversal(v asn1.RawValue, tag int, compound bool) bool {
	return v.Class == asn1.ClassUniversal && v.Tag == tag && v.IsCompound == compound
}
