package testca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/certinfo"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Shared fixtures: one hierarchy and one subject key of each type.
var (
	testHierarchy = sync.OnceValues(func() (*Hierarchy, error) { return New(nil, testNow) })
	testRSAKey    = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	testECKey = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func hierarchy(tb testing.TB) *Hierarchy {
	tb.Helper()
	h, err := testHierarchy()
	if err != nil {
		tb.Fatalf("New() error = %v", err)
	}
	return h
}

func TestNew(t *testing.T) {
	h := hierarchy(t)
	start := testNow.Add(-time.Hour)
	tests := []struct {
		name        string
		cert        *x509.Certificate
		subject     string
		notAfter    time.Time
		maxPathLen  int
		parentKeyID []byte
	}{
		{"root", h.Root.Cert, "CN=CardBridge TEST Root CA 僅供測試,O=CardBridge 測試 TEST,C=TW",
			start.AddDate(20, 0, 0), 1, nil},
		{"issuing", h.Issuing.Cert, "CN=CardBridge TEST XCA 僅供測試 NOT FOR PRODUCTION,OU=測試用組織及團體憑證管理中心,O=行政院,C=TW",
			start.AddDate(10, 0, 0), 0, h.Root.Cert.SubjectKeyId},
	}
	for _, tc := range tests {
		c := tc.cert
		if got := c.Subject.String(); got != tc.subject {
			t.Errorf("New() %s subject = %q, want %q", tc.name, got, tc.subject)
		}
		if !c.NotBefore.Equal(start) || !c.NotAfter.Equal(tc.notAfter) {
			t.Errorf("New() %s validity = %v..%v, want %v..%v", tc.name, c.NotBefore, c.NotAfter, start, tc.notAfter)
		}
		if !c.BasicConstraintsValid || !c.IsCA || c.MaxPathLen != tc.maxPathLen {
			t.Errorf("New() %s basicConstraints = valid %v, CA %v, pathlen %d, want true, true, %d",
				tc.name, c.BasicConstraintsValid, c.IsCA, c.MaxPathLen, tc.maxPathLen)
		}
		if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; c.KeyUsage != want {
			t.Errorf("New() %s KeyUsage = %#x, want %#x", tc.name, c.KeyUsage, want)
		}
		if len(c.SubjectKeyId) != 20 {
			t.Errorf("New() %s SubjectKeyId = %x, want 20 bytes", tc.name, c.SubjectKeyId)
		}
		if !bytes.Equal(c.AuthorityKeyId, tc.parentKeyID) {
			t.Errorf("New() %s AuthorityKeyId = %x, want %x", tc.name, c.AuthorityKeyId, tc.parentKeyID)
		}
		if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
			t.Errorf("New() %s key = %T, want ECDSA P-256", tc.name, c.PublicKey)
		}
		checkSerial(t, c)
	}
	if err := h.Issuing.Cert.CheckSignatureFrom(h.Root.Cert); err != nil {
		t.Errorf("issuing.CheckSignatureFrom(root) = %v, want nil", err)
	}
	// Describe reports the issuer of a certificate: both CA certificates
	// were issued by the TEST root.
	for _, c := range []*x509.Certificate{h.Root.Cert, h.Issuing.Cert} {
		if info := certinfo.Describe(c, testNow); info.CA != certinfo.CAUnknown || !info.Test || info.Usage != certinfo.UsageOther {
			t.Errorf("certinfo.Describe(%s) CA, Test, Usage = %q, %v, %q, want unknown, true, other",
				c.Subject.CommonName, info.CA, info.Test, info.Usage)
		}
	}
}

// checkSerial fails unless c's serial number is positive and 16 bytes.
func checkSerial(t *testing.T, c *x509.Certificate) {
	t.Helper()
	if c.SerialNumber.Sign() <= 0 || len(c.SerialNumber.Bytes()) != 16 || c.SerialNumber.Bit(127) != 0 {
		t.Errorf("serial number %x, want positive 16 bytes", c.SerialNumber)
	}
}

func TestIssue(t *testing.T) {
	h := hierarchy(t)
	roots := x509.NewCertPool()
	roots.AddCert(h.Root.Cert)
	inters := x509.NewCertPool()
	inters.AddCert(h.Issuing.Cert)

	full := Org{Name: "測試幼兒園", UBN: "04595252", OrgCode: "A123456789", CardSerial: "TEST000000000001"}
	tests := []struct {
		name      string
		pub       crypto.PublicKey
		org       Org
		usage     Usage
		wantUsage certinfo.Usage
		wantKU    []string
		wantAlg   string
		wantEKU   []x509.ExtKeyUsage
		wantValid bool
	}{
		{"signature RSA", testRSAKey().Public(), full, Signature, certinfo.UsageSignature,
			[]string{"digitalSignature", "nonRepudiation"}, "RSA-2048",
			[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection}, true},
		{"encryption RSA", testRSAKey().Public(), full, Encryption, certinfo.UsageEncryption,
			[]string{"keyEncipherment", "dataEncipherment"}, "RSA-2048", nil, true},
		{"signature ECDSA", testECKey().Public(), full, Signature, certinfo.UsageSignature,
			[]string{"digitalSignature", "nonRepudiation"}, "ECC P-256",
			[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection}, true},
		{"no UBN", testECKey().Public(), Org{Name: "社團法人測試協會", OrgCode: "B000000001"}, Signature,
			certinfo.UsageSignature, []string{"digitalSignature", "nonRepudiation"}, "ECC P-256",
			[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection}, false},
		{"name only", testRSAKey().Public(), Org{Name: "Test Group"}, Encryption, certinfo.UsageEncryption,
			[]string{"keyEncipherment", "dataEncipherment"}, "RSA-2048", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := h.Issue(nil, tc.pub, tc.org, tc.usage, testNow, testNow.AddDate(2, 0, 0))
			if err != nil {
				t.Fatalf("Issue(%s) error = %v", tc.name, err)
			}
			got := certinfo.Describe(cert, testNow)
			want := certinfo.Info{
				Holder: tc.org.Name, UBN: tc.org.UBN, UBNValid: tc.wantValid, OrgCode: tc.org.OrgCode,
				SubjectClass: "2.16.886.1.100.3.2.2.1.1", CardSerial: tc.org.CardSerial, SubjectSerial: tc.org.UBN,
				CA: certinfo.CAXCA, CAName: IssuingOrgUnit, Test: true, Usage: tc.wantUsage, KeyUsage: tc.wantKU,
				KeyAlgorithm: tc.wantAlg, Status: certinfo.StatusValid, DaysLeft: 730,
			}
			trimmed := got
			trimmed.Subject, trimmed.Issuer, trimmed.SerialHex, trimmed.Fingerprint = "", "", "", ""
			trimmed.NotBefore, trimmed.NotAfter, trimmed.CANameZH, trimmed.CANameEN = time.Time{}, time.Time{}, "", ""
			if !reflect.DeepEqual(trimmed, want) {
				t.Errorf("certinfo.Describe(Issue(%s)) =\n%+v\nwant\n%+v", tc.name, trimmed, want)
			}
			subject := "CN=" + tc.org.Name + ",O=" + tc.org.Name + ",C=TW"
			if tc.org.UBN != "" {
				subject = "CN=" + tc.org.Name + ",SERIALNUMBER=" + tc.org.UBN + ",O=" + tc.org.Name + ",C=TW"
			}
			if got.Subject != subject {
				t.Errorf("Issue(%s) subject = %q, want %q", tc.name, got.Subject, subject)
			}
			if !reflect.DeepEqual(cert.ExtKeyUsage, tc.wantEKU) {
				t.Errorf("Issue(%s) ExtKeyUsage = %v, want %v", tc.name, cert.ExtKeyUsage, tc.wantEKU)
			}
			if cert.IsCA {
				t.Errorf("Issue(%s) IsCA = true, want false", tc.name)
			}
			if !bytes.Equal(cert.AuthorityKeyId, h.Issuing.Cert.SubjectKeyId) {
				t.Errorf("Issue(%s) AuthorityKeyId = %x, want %x", tc.name, cert.AuthorityKeyId, h.Issuing.Cert.SubjectKeyId)
			}
			checkSerial(t, cert)
			checkExtensions(t, cert)
			chains, err := cert.Verify(x509.VerifyOptions{
				Roots: roots, Intermediates: inters, CurrentTime: testNow,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
			})
			if err != nil || len(chains) != 1 || len(chains[0]) != 3 {
				t.Errorf("Issue(%s).Verify() = %d chains, %v, want one chain of 3", tc.name, len(chains), err)
			}
		})
	}
}

// checkExtensions checks criticality and the encoding of the subject
// directory attributes: PrintableString strings, an OID subject class.
func checkExtensions(t *testing.T, cert *x509.Certificate) {
	t.Helper()
	oidKeyUsage := asn1.ObjectIdentifier{2, 5, 29, 15}
	var sawSDA bool
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal(oidKeyUsage) && !ext.Critical:
			t.Errorf("keyUsage extension is not critical")
		case ext.Id.Equal(certinfo.OIDSubjectDirectoryAttributes):
			sawSDA = true
			if ext.Critical {
				t.Errorf("subject directory attributes extension is critical")
			}
			var attrs []sdaAttribute
			if rest, err := asn1.Unmarshal(ext.Value, &attrs); err != nil || len(rest) != 0 {
				t.Fatalf("subject directory attributes: %v, %d trailing bytes", err, len(rest))
			}
			for _, a := range attrs {
				want := asn1.TagPrintableString
				if a.Type.Equal(certinfo.OIDSubjectClass) {
					want = asn1.TagOID
				}
				if len(a.Values) != 1 || a.Values[0].Tag != want {
					t.Errorf("attribute %s = %v, want one value with tag %d", a.Type, a.Values, want)
				}
			}
		}
	}
	if !sawSDA {
		t.Errorf("no subject directory attributes extension")
	}
}

func TestIssueSerialsDiffer(t *testing.T) {
	h := hierarchy(t)
	a, err := h.Issue(nil, testECKey().Public(), Org{Name: "測試"}, Signature, testNow, testNow.AddDate(1, 0, 0))
	if err != nil {
		t.Fatalf("Issue() error = %v", err)
	}
	b, err := h.Issue(nil, testECKey().Public(), Org{Name: "測試"}, Signature, testNow, testNow.AddDate(1, 0, 0))
	if err != nil {
		t.Fatalf("Issue() error = %v", err)
	}
	if a.SerialNumber.Cmp(b.SerialNumber) == 0 {
		t.Errorf("two Issue() calls gave the same serial %x", a.SerialNumber)
	}
}

func TestIssueExpired(t *testing.T) {
	h := hierarchy(t)
	c, err := h.Issue(nil, testECKey().Public(), Org{Name: "過期測試"}, Encryption, testNow.AddDate(-3, 0, 0), testNow.AddDate(-1, 0, 0))
	if err != nil {
		t.Fatalf("Issue(expired) error = %v", err)
	}
	if got := certinfo.Describe(c, testNow).Status; got != certinfo.StatusExpired {
		t.Errorf("certinfo.Describe(Issue(expired)).Status = %q, want %q", got, certinfo.StatusExpired)
	}
}

func TestIssueErrors(t *testing.T) {
	h := hierarchy(t)
	pub := testECKey().Public()
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ok := Org{Name: "測試幼兒園", UBN: "04595252", OrgCode: "A1"}
	tests := []struct {
		name     string
		h        *Hierarchy
		pub      crypto.PublicKey
		org      Org
		usage    Usage
		from, to time.Time
	}{
		{"nil hierarchy", nil, pub, ok, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"no issuing CA", &Hierarchy{Root: h.Root}, pub, ok, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"empty name", h, pub, Org{}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"blank name", h, pub, Org{Name: "  "}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"name with trailing space", h, pub, Org{Name: "測試 "}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"name with newline", h, pub, Org{Name: "測試\n幼兒園"}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"name invalid UTF-8", h, pub, Org{Name: "\xff"}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"name too long", h, pub, Org{Name: strings.Repeat("測", 65)}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"UBN 7 digits", h, pub, Org{Name: "x", UBN: "0459525"}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"UBN letters", h, pub, Org{Name: "x", UBN: "0459525A"}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"UBN full-width", h, pub, Org{Name: "x", UBN: "０４５９５２５２"}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"OrgCode not printable", h, pub, Org{Name: "x", OrgCode: "代碼"}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"CardSerial not printable", h, pub, Org{Name: "x", CardSerial: "a_b"}, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"zero usage", h, pub, ok, 0, testNow, testNow.AddDate(1, 0, 0)},
		{"unknown usage", h, pub, ok, 3, testNow, testNow.AddDate(1, 0, 0)},
		{"empty validity", h, pub, ok, Signature, testNow, testNow},
		{"reversed validity", h, pub, ok, Signature, testNow, testNow.Add(-time.Second)},
		{"nil public key", h, nil, ok, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"unsupported public key", h, "not a key", ok, Signature, testNow, testNow.AddDate(1, 0, 0)},
		{"RSA key without modulus", h, &rsa.PublicKey{}, ok, Signature, testNow, testNow.AddDate(1, 0, 0)},
	}
	for _, tc := range tests {
		if c, err := tc.h.Issue(nil, tc.pub, tc.org, tc.usage, tc.from, tc.to); err == nil {
			t.Errorf("Issue(%s) = %v, nil, want error", tc.name, c.Subject)
		}
	}
	if _, err := h.Issue(nil, edPub, ok, Signature, testNow, testNow.AddDate(1, 0, 0)); err != nil {
		t.Errorf("Issue(Ed25519 key) error = %v, want nil", err)
	}
	if _, err := h.Issue(errReader{}, pub, ok, Signature, testNow, testNow.AddDate(1, 0, 0)); !errors.Is(err, errRead) {
		t.Errorf("Issue(failing rand) error = %v, want %v", err, errRead)
	}
}

var errRead = errors.New("read failed")

// errReader is a rand that always fails.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errRead }

func TestUsageString(t *testing.T) {
	tests := []struct {
		u    Usage
		want string
	}{
		{Signature, "signature"},
		{Encryption, "encryption"},
		{0, "Usage(0)"},
	}
	for _, tc := range tests {
		if got := tc.u.String(); got != tc.want {
			t.Errorf("Usage(%d).String() = %q, want %q", int(tc.u), got, tc.want)
		}
	}
}
