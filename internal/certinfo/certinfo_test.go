package certinfo

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	issuerXCA     = dn("C", "TW", "O", "行政院", "OU", "組織及團體憑證管理中心")
	issuerTestXCA = dn("C", "TW", "O", "行政院", "OU", "測試用組織及團體憑證管理中心", "CN", "CardBridge TEST XCA 僅供測試")
	issuerGCA     = dn("C", "TW", "O", "行政院", "OU", "政府憑證管理中心")
	issuerGTESTCA = dn("C", "TW", "O", "行政院", "OU", "政府測試憑證管理中心")
	issuerMOICA   = dn("C", "TW", "O", "行政院", "OU", "內政部憑證管理中心")
	issuerMOEACA  = dn("C", "TW", "O", "行政院", "OU", "工商憑證管理中心")
	issuerOther   = dn("C", "US", "O", "Example Trust", "CN", "Example Issuing CA")

	subjectXCA   = dn("C", "TW", "O", "測試幼兒園", "SERIALNUMBER", "04595257", "CN", "測試幼兒園")
	subjectGCA   = dn("C", "TW", "O", "測試市政府", "CN", "測試市政府")
	subjectMOICA = dn("C", "TW", "CN", "王小明", "SERIALNUMBER", "0000000000000001")
	subjectMOEA  = dn("C", "TW", "O", "弘捷資訊服務有限公司", "SERIALNUMBER", "22099131")

	sdaXCA = encodeSDA(
		attr(OIDSubjectClass, oidValue(asn1.ObjectIdentifier{2, 16, 886, 1, 100, 3, 2, 2, 1, 1})),
		attr(OIDOrgCode, str(asn1.TagPrintableString, "A123456789")),
		attr(OIDUBN, str(asn1.TagPrintableString, "04595252")),
	)
	signature  = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	encryption = x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment
)

// trimmed clears the fields of Info that TestDescribe does not compare;
// they have tests of their own.
func trimmed(i Info) Info {
	i.Subject, i.Issuer, i.SerialHex, i.Fingerprint = "", "", "", ""
	i.NotBefore, i.NotAfter = time.Time{}, time.Time{}
	i.CANameZH, i.CANameEN = "", ""
	return i
}

func TestDescribe(t *testing.T) {
	sigNames := []string{"digitalSignature", "nonRepudiation"}
	encNames := []string{"keyEncipherment", "dataEncipherment"}
	tests := []struct {
		name string
		spec certSpec
		want Info
	}{
		{
			name: "XCA signature cert1",
			spec: certSpec{issuer: issuerXCA, subject: subjectXCA, sda: sdaXCA, keyUsage: signature},
			want: Info{Holder: "測試幼兒園", UBN: "04595252", UBNValid: true, OrgCode: "A123456789",
				SubjectClass: "2.16.886.1.100.3.2.2.1.1", SubjectSerial: "04595257",
				CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature, KeyUsage: sigNames,
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "XCA encryption cert2",
			spec: certSpec{issuer: issuerXCA, subject: subjectXCA, sda: sdaXCA, keyUsage: encryption},
			want: Info{Holder: "測試幼兒園", UBN: "04595252", UBNValid: true, OrgCode: "A123456789",
				SubjectClass: "2.16.886.1.100.3.2.2.1.1", SubjectSerial: "04595257",
				CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageEncryption, KeyUsage: encNames,
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "test XCA",
			spec: certSpec{issuer: issuerTestXCA, subject: subjectXCA, sda: sdaXCA, keyUsage: signature},
			want: Info{Holder: "測試幼兒園", UBN: "04595252", UBNValid: true, OrgCode: "A123456789",
				SubjectClass: "2.16.886.1.100.3.2.2.1.1", SubjectSerial: "04595257",
				CA: CAXCA, CAName: "測試用組織及團體憑證管理中心", Test: true, Usage: UsageSignature, KeyUsage: sigNames,
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "GCA organisation code, no UBN",
			spec: certSpec{issuer: issuerGCA, subject: subjectGCA, keyUsage: signature,
				sda: encodeSDA(attr(OIDOrgCode, str(asn1.TagPrintableString, "376000000A")))},
			want: Info{Holder: "測試市政府", OrgCode: "376000000A", CA: CAGCA, CAName: "政府憑證管理中心",
				Usage: UsageSignature, KeyUsage: sigNames, DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "GTESTCA is a test CA",
			spec: certSpec{issuer: issuerGTESTCA, subject: subjectGCA, keyUsage: encryption},
			want: Info{Holder: "測試市政府", CA: CAGTESTCA, CAName: "政府測試憑證管理中心", Test: true,
				Usage: UsageEncryption, KeyUsage: encNames, DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "MOICA person",
			spec: certSpec{issuer: issuerMOICA, subject: subjectMOICA, keyUsage: x509.KeyUsageDigitalSignature,
				sda: encodeSDA(attr(OIDIDLast4, str(asn1.TagPrintableString, "6789")))},
			want: Info{Holder: "王小明", IDLast4: "6789", SubjectSerial: "0000000000000001", CA: CAMOICA,
				CAName: "內政部憑證管理中心", Usage: UsageSignature, KeyUsage: sigNames[:1],
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "MOICA 8-digit serialNumber is not a UBN",
			spec: certSpec{issuer: issuerMOICA, subject: dn("C", "TW", "CN", "王小明", "SERIALNUMBER", "04595257"),
				keyUsage: x509.KeyUsageDigitalSignature},
			want: Info{Holder: "王小明", SubjectSerial: "04595257", CA: CAMOICA,
				CAName: "內政部憑證管理中心", Usage: UsageSignature, KeyUsage: sigNames[:1],
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "MOEACA UBN from serialNumber, RSA key",
			spec: certSpec{issuer: issuerMOEACA, subject: subjectMOEA, keyUsage: signature, pub: testRSAKey().Public()},
			want: Info{Holder: "弘捷資訊服務有限公司", UBN: "22099131", UBNValid: true, SubjectSerial: "22099131",
				CA: CAMOEACA, CAName: "工商憑證管理中心", Usage: UsageSignature, KeyUsage: sigNames,
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "RSA-2048"},
		},
		{
			name: "MOEACA UBN in SDA wins over serialNumber",
			spec: certSpec{issuer: issuerMOEACA, subject: subjectMOEA, keyUsage: signature,
				sda: encodeSDA(attr(OIDUBN, str(asn1.TagPrintableString, "10458574")))},
			want: Info{Holder: "弘捷資訊服務有限公司", UBN: "10458574", UBNValid: true, SubjectSerial: "22099131",
				CA: CAMOEACA, CAName: "工商憑證管理中心", Usage: UsageSignature, KeyUsage: sigNames,
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "UBN failing the checksum",
			spec: certSpec{issuer: issuerMOEACA, subject: dn("C", "TW", "O", "錯誤公司", "SERIALNUMBER", "12345678"), keyUsage: signature},
			want: Info{Holder: "錯誤公司", UBN: "12345678", SubjectSerial: "12345678",
				CA: CAMOEACA, CAName: "工商憑證管理中心", Usage: UsageSignature, KeyUsage: sigNames,
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "malformed SDA is ignored, UBN falls back to serialNumber",
			spec: certSpec{issuer: issuerXCA, subject: subjectXCA, keyUsage: signature,
				sda: append(append([]byte{}, sdaXCA...), 0x00)},
			want: Info{Holder: "測試幼兒園", UBN: "04595257", UBNValid: true, SubjectSerial: "04595257",
				CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature, KeyUsage: sigNames,
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "SDA that is not DER at all",
			spec: certSpec{issuer: issuerXCA, subject: dn("C", "TW", "O", "測試協會"), keyUsage: signature, sda: []byte{0x30, 0x05, 0x01}},
			want: Info{Holder: "測試協會", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature,
				KeyUsage: sigNames, DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "BMPString organisation name",
			spec: certSpec{issuer: issuerXCA, subject: dn("C", "TW", "O", bmp("社團法人測試協會")), keyUsage: signature},
			want: Info{Holder: "社團法人測試協會", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature,
				KeyUsage: sigNames, DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "unknown issuer",
			spec: certSpec{issuer: issuerOther, subject: dn("CN", "someone"), keyUsage: signature | encryption},
			want: Info{Holder: "someone", CA: CAUnknown, CAName: "Example Issuing CA",
				Usage: UsageSignatureEncryption, KeyUsage: append(append([]string{}, sigNames...), encNames...),
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "CA certificate",
			spec: certSpec{issuer: issuerXCA, subject: issuerTestXCA, isCA: true,
				keyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign},
			want: Info{Holder: "行政院", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageOther,
				KeyUsage: []string{"keyCertSign", "cRLSign"}, DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "no key usage extension",
			spec: certSpec{issuer: issuerXCA, subject: subjectGCA},
			want: Info{Holder: "測試市政府", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageOther,
				DaysLeft: 365, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "expired",
			spec: certSpec{issuer: issuerXCA, subject: subjectGCA, keyUsage: signature,
				notBefore: testNow.AddDate(-2, 0, 0), notAfter: testNow.Add(-36 * time.Hour)},
			want: Info{Holder: "測試市政府", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature,
				KeyUsage: sigNames, DaysLeft: -2, Status: StatusExpired, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "expired one second ago",
			spec: certSpec{issuer: issuerXCA, subject: subjectGCA, keyUsage: signature, notAfter: testNow.Add(-time.Second)},
			want: Info{Holder: "測試市政府", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature,
				KeyUsage: sigNames, DaysLeft: -1, Status: StatusExpired, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "expires exactly now is still valid",
			spec: certSpec{issuer: issuerXCA, subject: subjectGCA, keyUsage: signature, notAfter: testNow},
			want: Info{Holder: "測試市政府", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature,
				KeyUsage: sigNames, DaysLeft: 0, Status: StatusExpiring, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "expiring with 30 days left",
			spec: certSpec{issuer: issuerXCA, subject: subjectGCA, keyUsage: signature, notAfter: testNow.Add(30*24*time.Hour + time.Hour)},
			want: Info{Holder: "測試市政府", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature,
				KeyUsage: sigNames, DaysLeft: 30, Status: StatusExpiring, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "valid with 31 days left",
			spec: certSpec{issuer: issuerXCA, subject: subjectGCA, keyUsage: signature, notAfter: testNow.Add(31 * 24 * time.Hour)},
			want: Info{Holder: "測試市政府", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature,
				KeyUsage: sigNames, DaysLeft: 31, Status: StatusValid, KeyAlgorithm: "ECC P-256"},
		},
		{
			name: "not yet valid",
			spec: certSpec{issuer: issuerXCA, subject: subjectGCA, keyUsage: signature, notBefore: testNow.Add(time.Hour)},
			want: Info{Holder: "測試市政府", CA: CAXCA, CAName: "組織及團體憑證管理中心", Usage: UsageSignature,
				KeyUsage: sigNames, DaysLeft: 365, Status: StatusNotYetValid, KeyAlgorithm: "ECC P-256"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, _ := makeCert(t, tc.spec)
			if got := trimmed(Describe(cert, testNow)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Describe(%s) =\n%+v\nwant\n%+v", tc.name, got, tc.want)
			}
		})
	}
}

func TestDescribeNames(t *testing.T) {
	cert, der := makeCert(t, certSpec{issuer: issuerTestXCA, subject: subjectXCA, sda: sdaXCA, keyUsage: signature})
	got := Describe(cert, testNow)
	sum := sha256.Sum256(der)
	checks := []struct{ field, got, want string }{
		{"Subject", got.Subject, "CN=測試幼兒園,SERIALNUMBER=04595257,O=測試幼兒園,C=TW"},
		{"Issuer", got.Issuer, "CN=CardBridge TEST XCA 僅供測試,OU=測試用組織及團體憑證管理中心,O=行政院,C=TW"},
		{"SerialHex", got.SerialHex, "0123456789abcdef"},
		{"Fingerprint", got.Fingerprint, hex.EncodeToString(sum[:])},
		{"CANameZH", got.CANameZH, "組織及團體憑證管理中心"},
		{"CANameEN", got.CANameEN, "Organization and Group CA (XCA)"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Describe().%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if !got.NotBefore.Equal(cert.NotBefore) || !got.NotAfter.Equal(cert.NotAfter) {
		t.Errorf("Describe() validity = %v..%v, want %v..%v", got.NotBefore, got.NotAfter, cert.NotBefore, cert.NotAfter)
	}
}

func TestDisplayNames(t *testing.T) {
	tests := []struct {
		kind   CAKind
		caName string
		zh, en string
	}{
		{CAXCA, "", "組織及團體憑證管理中心", "Organization and Group CA (XCA)"},
		{CAGCA, "", "政府憑證管理中心", "Government CA (GCA)"},
		{CAMOICA, "", "內政部憑證管理中心", "Ministry of the Interior CA (MOICA)"},
		{CAMOEACA, "", "工商憑證管理中心", "Ministry of Economic Affairs CA (MOEACA)"},
		{CAGTESTCA, "", "政府測試憑證管理中心", "Government Test CA (GTESTCA)"},
		{CAUnknown, "Example CA", "Example CA", "Unknown CA"},
		{CAUnknown, "", "未知的憑證管理中心", "Unknown CA"},
	}
	for _, tc := range tests {
		zh, en := displayNames(tc.kind, tc.caName)
		if zh != tc.zh || en != tc.en {
			t.Errorf("displayNames(%q, %q) = %q, %q, want %q, %q", tc.kind, tc.caName, zh, en, tc.zh, tc.en)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		issuer   []any
		wantKind CAKind
		wantName string
		wantTest bool
	}{
		{[]any{"C", "TW", "O", "行政院", "OU", "組織及團體憑證管理中心"}, CAXCA, "組織及團體憑證管理中心", false},
		{[]any{"C", "TW", "O", "行政院", "OU", "測試用組織及團體憑證管理中心"}, CAXCA, "測試用組織及團體憑證管理中心", true},
		{[]any{"C", "TW", "O", "行政院", "OU", "政府憑證管理中心"}, CAGCA, "政府憑證管理中心", false},
		{[]any{"C", "TW", "O", "行政院", "OU", "政府測試憑證管理中心"}, CAGTESTCA, "政府測試憑證管理中心", true},
		{[]any{"C", "TW", "O", "行政院", "OU", "內政部憑證管理中心"}, CAMOICA, "內政部憑證管理中心", false},
		{[]any{"C", "TW", "O", "行政院", "OU", "工商憑證管理中心"}, CAMOEACA, "工商憑證管理中心", false},
		{[]any{"C", "TW", "O", "行政院", "OU", "工商憑證管理中心", "CN", "MOEACA TEST"}, CAMOEACA, "工商憑證管理中心", true},
		{[]any{"C", "TW", "CN", "內政部憑證管理中心"}, CAMOICA, "內政部憑證管理中心", false},
		{[]any{"C", "TW", "O", "Acme", "OU", "Other CA", "CN", "Acme Test CA"}, CAUnknown, "Other CA", true},
		{[]any{"C", "TW", "O", "Acme", "CN", "Attestation CA"}, CAUnknown, "Attestation CA", false},
		{[]any{"C", "TW", "O", "Acme"}, CAUnknown, "Acme", false},
		{[]any{}, CAUnknown, "", false},
	}
	for _, tc := range tests {
		issuer := dn(tc.issuer...)
		if issuer == nil {
			issuer = pkix.RDNSequence{}
		}
		cert, _ := makeCert(t, certSpec{issuer: issuer})
		kind, name := classify(cert)
		test := isTestIssuer(cert)
		if kind != tc.wantKind || name != tc.wantName || test != tc.wantTest {
			t.Errorf("classify(%v) = %q, %q, test %v, want %q, %q, test %v",
				tc.issuer, kind, name, test, tc.wantKind, tc.wantName, tc.wantTest)
		}
	}
}

func TestUsageOf(t *testing.T) {
	tests := []struct {
		ku   x509.KeyUsage
		want Usage
	}{
		{0, UsageOther},
		{x509.KeyUsageDigitalSignature, UsageSignature},
		{x509.KeyUsageContentCommitment, UsageSignature},
		{x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, UsageSignature},
		{x509.KeyUsageKeyEncipherment, UsageEncryption},
		{x509.KeyUsageDataEncipherment, UsageEncryption},
		{x509.KeyUsageKeyAgreement, UsageEncryption},
		{x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment, UsageEncryption},
		{x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, UsageSignatureEncryption},
		{x509.KeyUsageCertSign | x509.KeyUsageCRLSign, UsageOther},
	}
	for _, tc := range tests {
		if got := UsageOf(&x509.Certificate{KeyUsage: tc.ku}); got != tc.want {
			t.Errorf("UsageOf(KeyUsage %#x) = %q, want %q", tc.ku, got, tc.want)
		}
	}
	if got := UsageOf(nil); got != UsageOther {
		t.Errorf("UsageOf(nil) = %q, want %q", got, UsageOther)
	}
}

func TestDescribeEmpty(t *testing.T) {
	for _, c := range []*x509.Certificate{nil, {}} {
		got := Describe(c, testNow)
		if got.CA != CAUnknown || got.Usage != UsageOther || got.CANameEN != "Unknown CA" {
			t.Errorf("Describe(%v) = %+v, want CA unknown, Usage other, CANameEN Unknown CA", c, got)
		}
	}
}

func TestParse(t *testing.T) {
	_, der := makeCert(t, certSpec{subject: subjectXCA, sda: sdaXCA, keyUsage: signature})
	got, err := Parse(der, testNow)
	if err != nil {
		t.Fatalf("Parse(valid) error = %v, want nil", err)
	}
	if got.UBN != "04595252" || got.CA != CAXCA || got.Usage != UsageSignature {
		t.Errorf("Parse(valid) = %+v, want UBN 04595252, CA XCA, Usage signature", got)
	}
	bad := [][]byte{nil, {0x30, 0x00}, der[:len(der)-1], append(append([]byte{}, der...), 0)}
	for _, b := range bad {
		if _, err := Parse(b, testNow); err == nil || !strings.HasPrefix(err.Error(), "certinfo: parsing certificate: ") {
			t.Errorf("Parse(%d bytes) error = %v, want certinfo: parsing certificate: ...", len(b), err)
		}
	}
}

func TestDaysLeft(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		notAfter, now time.Time
		want          int
	}{
		{base, base, 0},
		{base.Add(24 * time.Hour), base, 1},
		{base.Add(24*time.Hour - time.Nanosecond), base, 0},
		{base.Add(48*time.Hour - time.Second), base, 1},
		{base, base.Add(time.Nanosecond), -1},
		{base, base.Add(time.Second), -1},
		{base, base.Add(24 * time.Hour), -1},
		{base, base.Add(24*time.Hour + time.Nanosecond), -2},
		{base.Add(500 * time.Millisecond), base.Add(24*time.Hour + 600*time.Millisecond), -2},
		{base.Add(500 * time.Millisecond), base.Add(24*time.Hour + 400*time.Millisecond), -1},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), base, 2912807},
		{time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), base, -27394},
	}
	for _, tc := range tests {
		if got := daysLeft(tc.notAfter, tc.now); got != tc.want {
			t.Errorf("daysLeft(%v, %v) = %d, want %d", tc.notAfter, tc.now, got, tc.want)
		}
	}
}

func TestSerialHex(t *testing.T) {
	tests := []struct {
		in   *big.Int
		want string
	}{
		{nil, ""},
		{big.NewInt(0), "00"},
		{big.NewInt(1), "01"},
		{big.NewInt(0xabc), "0abc"},
		{big.NewInt(-255), "-ff"},
	}
	for _, tc := range tests {
		if got := serialHex(tc.in); got != tc.want {
			t.Errorf("serialHex(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
