package certinfo

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// dnTypeNames are the short names used when formatting a distinguished
// name. RFC 4514 §3 names plus SERIALNUMBER, as Go's pkix does.
var dnTypeNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "T",
	"2.5.4.17":                   "POSTALCODE",
	"2.5.4.42":                   "GN",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1":       "emailAddress",
}

// formatDN formats a DER-encoded Name in RFC 4514 order (most specific
// RDN first), keeping non-ASCII text such as Chinese readable. When raw
// does not parse with encoding/asn1 it falls back to the attributes the
// x509 parser already extracted, one per RDN.
func formatDN(raw []byte, parsed pkix.Name) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) != 0 {
		rdns = rdns[:0]
		for _, atv := range parsed.Names {
			rdns = append(rdns, pkix.RelativeDistinguishedNameSET{atv})
		}
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i != len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			formatATV(&b, atv)
		}
	}
	return b.String()
}

// formatATV writes one type=value pair. Types without a short name are
// written dotted; values that are not strings are written as #hex of
// their DER, as RFC 4514 §2.4 prescribes.
func formatATV(b *strings.Builder, atv pkix.AttributeTypeAndValue) {
	oid := atv.Type.String()
	if name, ok := dnTypeNames[oid]; ok {
		b.WriteString(name)
	} else {
		b.WriteString(oid)
	}
	b.WriteByte('=')
	s, ok := atv.Value.(string)
	if !ok {
		der, err := asn1.Marshal(atv.Value)
		if err != nil {
			escapeDNValue(b, fmt.Sprint(atv.Value))
			return
		}
		b.WriteByte('#')
		b.WriteString(hex.EncodeToString(der))
		return
	}
	escapeDNValue(b, s)
}

// escapeDNValue writes s escaped per RFC 4514 §2.4: the special
// characters get a backslash, and bytes that would not display safely
// (control and format characters such as bidi overrides, invalid UTF-8)
// are written as \XX hex. Printable non-ASCII text is kept as is.
func escapeDNValue(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(b, "\\%02X", s[i])
		case r == ',' || r == '+' || r == '"' || r == '\\' || r == '<' || r == '>' || r == ';' || r == '=':
			b.WriteByte('\\')
			b.WriteRune(r)
		case (r == ' ' || r == '#') && i == 0, r == ' ' && i+size == len(s):
			b.WriteByte('\\')
			b.WriteRune(r)
		case !unicode.IsGraphic(r) || r == utf8.RuneError:
			for k := 0; k < size; k++ {
				fmt.Fprintf(b, "\\%02X", s[i+k])
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}
