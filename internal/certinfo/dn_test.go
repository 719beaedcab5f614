package certinfo

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
)

func TestFormatDN(t *testing.T) {
	oidCN := asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO := asn1.ObjectIdentifier{2, 5, 4, 10}
	oidUnknown := asn1.ObjectIdentifier{1, 2, 3, 4}
	tests := []struct {
		name string
		rdns pkix.RDNSequence
		want string
	}{
		{"empty", pkix.RDNSequence{}, ""},
		{"Chinese kept readable", dn("C", "TW", "O", "行政院", "OU", "組織及團體憑證管理中心"),
			"OU=組織及團體憑證管理中心,O=行政院,C=TW"},
		{"BMPString", dn("O", bmp("測試")), "O=測試"},
		{"special characters", dn("O", `a,b+c"d\e<f>g;h=i`), `O=a\,b\+c\"d\\e\<f\>g\;h\=i`},
		{"leading and trailing space, leading hash", dn("CN", " #x ", "O", "#y"), `O=\#y,CN=\ #x\ `},
		{"full-width space kept", dn("O", "測試　協會"), "O=測試　協會"},
		{"control and bidi characters escaped", dn("CN", "a\nb\u202ec"), `CN=a\0Ab\E2\80\AEc`},
		{"multi-valued RDN", pkix.RDNSequence{{{Type: oidO, Value: "x"}, {Type: oidCN, Value: "y"}}, {{Type: oidCN, Value: "z"}}},
			"CN=z,CN=y+O=x"}, // DER sorts the SET members
		{"unknown type with string value", pkix.RDNSequence{{{Type: oidUnknown, Value: "v"}}}, "1.2.3.4=v"},
		{"non-string value", pkix.RDNSequence{{{Type: oidUnknown, Value: 5}}}, "1.2.3.4=#020105"},
	}
	for _, tc := range tests {
		raw, err := asn1.Marshal(tc.rdns)
		if err != nil {
			t.Fatalf("%s: marshal: %v", tc.name, err)
		}
		if got := formatDN(raw, pkix.Name{}); got != tc.want {
			t.Errorf("formatDN(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFormatDNFallback(t *testing.T) {
	parsed := pkix.Name{Names: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "TW"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "測試"},
	}}
	if got, want := formatDN([]byte{0x30, 0x01}, parsed), "O=測試,C=TW"; got != want {
		t.Errorf("formatDN(bad DER) = %q, want %q", got, want)
	}
}

func TestEscapeDNValueInvalidUTF8(t *testing.T) {
	var b strings.Builder
	escapeDNValue(&b, "a\xffb\xef\xbf\xbd")
	if got, want := b.String(), `a\FFb\EF\BF\BD`; got != want {
		t.Errorf("escapeDNValue(invalid UTF-8) = %q, want %q", got, want)
	}
}
