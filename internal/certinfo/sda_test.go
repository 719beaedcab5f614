package certinfo

import (
	"encoding/asn1"
	"errors"
	"reflect"
	"testing"
)

func TestParseSubjectDirectoryAttributes(t *testing.T) {
	integer := asn1.RawValue{FullBytes: []byte{0x02, 0x01, 0x05}}
	genTime := asn1.RawValue{FullBytes: []byte("\x18\x0f19700101000000Z")}
	context := asn1.RawValue{FullBytes: []byte{0xa0, 0x00}}
	many := func(n int) []sdaAttr {
		attrs := make([]sdaAttr, n)
		for i := range attrs {
			attrs[i] = attr(OIDCardRank, str(asn1.TagPrintableString, "1"))
		}
		return attrs
	}
	values := func(n int) []asn1.RawValue {
		vs := make([]asn1.RawValue, n)
		for i := range vs {
			vs[i] = str(asn1.TagPrintableString, "v")
		}
		return vs
	}
	rankValues := func(n int) []string {
		vs := make([]string, n)
		for i := range vs {
			vs[i] = "v"
		}
		return vs
	}
	tests := []struct {
		name string
		in   []byte
		want []Attribute
	}{
		{"empty SEQUENCE", []byte{0x30, 0x00}, nil},
		{"XCA profile", sdaXCA, []Attribute{
			{OIDSubjectClass, []string{"2.16.886.1.100.3.2.2.1.1"}},
			{OIDOrgCode, []string{"A123456789"}},
			{OIDUBN, []string{"04595252"}},
		}},
		{"all string types", encodeSDA(attr(OIDCardSerial,
			str(asn1.TagUTF8String, "測試"), str(asn1.TagPrintableString, "AB 12"),
			str(asn1.TagIA5String, "a@b"), bmp("幼兒園"), str(asn1.TagPrintableString, "x*y&z"))),
			[]Attribute{{OIDCardSerial, []string{"測試", "AB 12", "x*y&z", "a@b", "幼兒園"}}}}, // DER sorts the SET by encoding
		{"other value types skipped", encodeSDA(attr(OIDCardRank, integer, str(asn1.TagPrintableString, "2"), genTime, context)),
			[]Attribute{{OIDCardRank, []string{"2"}}}},
		{"attribute with no understood values", encodeSDA(attr(OIDCardRank, integer)),
			[]Attribute{{OIDCardRank, nil}}},
		{"empty SET of values", encodeSDA(attr(OIDCardRank)), []Attribute{{OIDCardRank, nil}}},
		{"64 attributes", encodeSDA(many(64)...), func() []Attribute {
			as := make([]Attribute, 64)
			for i := range as {
				as[i] = Attribute{OIDCardRank, []string{"1"}}
			}
			return as
		}()},
		{"16 values", encodeSDA(attr(OIDCardRank, values(16)...)), []Attribute{{OIDCardRank, rankValues(16)}}},
	}
	for _, tc := range tests {
		got, err := ParseSubjectDirectoryAttributes(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSubjectDirectoryAttributes(%s) = %v, %v, want %v, nil", tc.name, got, err, tc.want)
		}
	}
}

func TestParseSubjectDirectoryAttributesErrors(t *testing.T) {
	withTrailer := func(b []byte) []byte { return append(append([]byte{}, b...), 0x00, 0x00) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"truncated", sdaXCA[:len(sdaXCA)-1]},
		{"trailing data", withTrailer(sdaXCA)},
		{"outer SET instead of SEQUENCE", []byte{0x31, 0x00}},
		{"outer primitive", []byte{0x04, 0x00}},
		{"attribute not a SEQUENCE", []byte{0x30, 0x02, 0x05, 0x00}},
		{"attribute type not an OID", []byte{0x30, 0x07, 0x30, 0x05, 0x02, 0x01, 0x01, 0x31, 0x00}},
		{"attribute without values", []byte{0x30, 0x05, 0x30, 0x03, 0x06, 0x01, 0x2a}},
		{"values not a SET", []byte{0x30, 0x07, 0x30, 0x05, 0x06, 0x01, 0x2a, 0x30, 0x00}},
		{"trailing data inside attribute", []byte{0x30, 0x09, 0x30, 0x07, 0x06, 0x01, 0x2a, 0x31, 0x00, 0x05, 0x00}},
		{"non-minimal length", []byte{0x30, 0x81, 0x00}},
		{"invalid UTF8String", encodeSDA(attr(OIDOrgCode, str(asn1.TagUTF8String, "\xff")))},
		{"non-ASCII PrintableString", encodeSDA(attr(OIDOrgCode, str(asn1.TagPrintableString, "測試")))},
		{"non-ASCII IA5String", encodeSDA(attr(OIDOrgCode, str(asn1.TagIA5String, "\x80")))},
		{"odd-length BMPString", encodeSDA(attr(OIDOrgCode, str(asn1.TagBMPString, "abc")))},
		{"bad OID value", encodeSDA(attr(OIDOrgCode, asn1.RawValue{FullBytes: []byte{0x06, 0x01, 0x80}}))},
		{"65 attributes", encodeSDA(func() []sdaAttr {
			as := make([]sdaAttr, 65)
			for i := range as {
				as[i] = attr(OIDCardRank)
			}
			return as
		}()...)},
		{"17 values", encodeSDA(attr(OIDCardRank, func() []asn1.RawValue {
			vs := make([]asn1.RawValue, 17)
			for i := range vs {
				vs[i] = str(asn1.TagPrintableString, "v")
			}
			return vs
		}()...))},
	}
	for _, tc := range tests {
		got, err := ParseSubjectDirectoryAttributes(tc.in)
		if !errors.Is(err, ErrMalformedSDA) {
			t.Errorf("ParseSubjectDirectoryAttributes(%s) = %v, %v, want error wrapping ErrMalformedSDA", tc.name, got, err)
		}
	}
}

func TestAttributeValue(t *testing.T) {
	tests := []struct {
		a    Attribute
		want string
	}{
		{Attribute{}, ""},
		{Attribute{Values: []string{"a", "b"}}, "a"},
	}
	for _, tc := range tests {
		if got := tc.a.Value(); got != tc.want {
			t.Errorf("%v.Value() = %q, want %q", tc.a, got, tc.want)
		}
	}
}
