package certinfo

import (
	"crypto/x509"
	"encoding/asn1"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// seedCerts returns DER certificates covering every profile, for seeding
// the fuzz targets.
func seedCerts(f *testing.F) [][]byte {
	f.Helper()
	specs := []certSpec{
		{issuer: issuerXCA, subject: subjectXCA, sda: sdaXCA, keyUsage: signature},
		{issuer: issuerTestXCA, subject: subjectXCA, sda: sdaXCA, keyUsage: encryption},
		{issuer: issuerGCA, subject: subjectGCA, keyUsage: signature,
			sda: encodeSDA(attr(OIDOrgCode, str(asn1.TagPrintableString, "376000000A")))},
		{issuer: issuerGTESTCA, subject: subjectGCA, keyUsage: signature | encryption},
		{issuer: issuerMOICA, subject: subjectMOICA, keyUsage: x509.KeyUsageDigitalSignature,
			sda: encodeSDA(attr(OIDIDLast4, str(asn1.TagPrintableString, "6789")))},
		{issuer: issuerMOEACA, subject: subjectMOEA, keyUsage: signature, pub: testRSAKey().Public()},
		{issuer: issuerOther, subject: dn("O", bmp("測試")), isCA: true, keyUsage: x509.KeyUsageCertSign},
		{issuer: issuerXCA, subject: subjectXCA, sda: []byte{0x30, 0x05, 0x01}},
	}
	var ders [][]byte
	for _, s := range specs {
		_, der := makeCert(f, s)
		ders = append(ders, der)
	}
	return ders
}

// checkText fails if s is not valid UTF-8 or holds control characters.
func checkText(t *testing.T, field, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("Parse().%s = %q, not valid UTF-8", field, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			t.Errorf("Parse().%s = %q, holds control character %U", field, s, r)
		}
	}
}

func FuzzParse(f *testing.F) {
	now := testNow.Unix()
	for _, der := range seedCerts(f) {
		f.Add(der, now)
		f.Add(der[:len(der)/2], now)
	}
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, der []byte, unix int64) {
		info, err := Parse(der, time.Unix(unix, 0))
		if err != nil {
			return
		}
		if len(info.Fingerprint) != 64 {
			t.Errorf("Parse().Fingerprint = %q, want 64 hex digits", info.Fingerprint)
		}
		switch info.Status {
		case StatusValid, StatusExpiring, StatusExpired, StatusNotYetValid:
		default:
			t.Errorf("Parse().Status = %q, not a known status", info.Status)
		}
		switch info.Usage {
		case UsageSignature, UsageEncryption, UsageSignatureEncryption, UsageOther:
		default:
			t.Errorf("Parse().Usage = %q, not a known usage", info.Usage)
		}
		if info.UBNValid && !ValidUBN(info.UBN) {
			t.Errorf("Parse() UBN %q UBNValid = true, want false", info.UBN)
		}
		checkText(t, "Subject", info.Subject)
		checkText(t, "Issuer", info.Issuer)
	})
}

func FuzzParseSubjectDirectoryAttributes(f *testing.F) {
	for _, der := range seedCerts(f) {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			f.Fatalf("ParseCertificate(seed): %v", err)
		}
		for _, ext := range cert.Extensions {
			if ext.Id.Equal(OIDSubjectDirectoryAttributes) {
				f.Add(ext.Value)
			}
		}
	}
	f.Add(encodeSDA(attr(OIDCardSerial, str(asn1.TagUTF8String, "測試"), bmp("幼兒園"),
		str(asn1.TagIA5String, "a@b"), asn1.RawValue{FullBytes: []byte{0x02, 0x01, 0x05}})))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		attrs, err := ParseSubjectDirectoryAttributes(in)
		if err != nil {
			return
		}
		if len(attrs) > maxAttributes {
			t.Errorf("ParseSubjectDirectoryAttributes() returned %d attributes, want <= %d", len(attrs), maxAttributes)
		}
		for _, a := range attrs {
			if len(a.Values) > maxAttributeValues {
				t.Errorf("ParseSubjectDirectoryAttributes() attribute %s has %d values, want <= %d", a.Type, len(a.Values), maxAttributeValues)
			}
			for _, v := range a.Values {
				if !utf8.ValidString(v) {
					t.Errorf("ParseSubjectDirectoryAttributes() attribute %s value %q is not valid UTF-8", a.Type, v)
				}
			}
		}
	})
}

func FuzzValidUBN(f *testing.F) {
	for _, s := range []string{"04595252", "10458570", "04595257", "10458575", "10458574", "22099131", "12345678", "", "０４５９５２５２"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid, old := ValidUBN(s), ValidUBNOld(s)
		if old && !valid {
			t.Errorf("ValidUBNOld(%q) = true but ValidUBN(%q) = false", s, s)
		}
		if valid && !isASCIIDigits(s, 8) {
			t.Errorf("ValidUBN(%q) = true, want false for anything but 8 ASCII digits", s)
		}
	})
}
