package certinfo

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// Keys shared by all generated test certificates; generating them once
// keeps the tests and the fuzz seeding fast.
var (
	testECKey = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// testNow is the fixed "now" of the Describe tests.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// dnTypes maps the short names used by dn to attribute types.
var dnTypes = map[string]asn1.ObjectIdentifier{
	"C":            {2, 5, 4, 6},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"CN":           {2, 5, 4, 3},
	"SERIALNUMBER": {2, 5, 4, 5},
}

// dn builds a name from type, value pairs in encoding order (C first), one
// attribute per RDN. A value may be a string (PrintableString or
// UTF8String as encoding/asn1 chooses) or an asn1.RawValue.
func dn(pairs ...any) pkix.RDNSequence {
	var seq pkix.RDNSequence
	for i := 0; i+1 < len(pairs); i += 2 {
		typ := dnTypes[pairs[i].(string)]
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: typ, Value: pairs[i+1]}})
	}
	return seq
}

// bmp returns s as an ASN.1 BMPString value.
func bmp(s string) asn1.RawValue {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagBMPString, Bytes: b}
}

// str returns s as a universal string value with the given tag.
func str(tag int, s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(s)}
}

// oidValue returns oid as an attribute value.
func oidValue(oid asn1.ObjectIdentifier) asn1.RawValue {
	der, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return asn1.RawValue{FullBytes: der}
}

// sdaAttr is one attribute for encodeSDA.
type sdaAttr struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// encodeSDA encodes a subject directory attributes extension value.
func encodeSDA(attrs ...sdaAttr) []byte {
	der, err := asn1.Marshal(attrs)
	if err != nil {
		panic(err)
	}
	return der
}

// attr builds an sdaAttr.
func attr(oid asn1.ObjectIdentifier, values ...asn1.RawValue) sdaAttr {
	return sdaAttr{Type: oid, Values: values}
}

// certSpec describes a certificate for makeCert. Zero fields get
// defaults: a generic issuer, a one-year validity around testNow, and the
// shared ECDSA key.
type certSpec struct {
	issuer, subject     pkix.RDNSequence
	sda                 []byte // extension value; nil for none
	keyUsage            x509.KeyUsage
	isCA                bool
	notBefore, notAfter time.Time
	pub                 crypto.PublicKey
}

// makeCert creates a certificate signed by the shared ECDSA key under an
// issuer named spec.issuer, and returns it parsed along with its DER.
func makeCert(tb testing.TB, spec certSpec) (*x509.Certificate, []byte) {
	tb.Helper()
	if spec.issuer == nil {
		spec.issuer = dn("C", "TW", "O", "行政院", "OU", "組織及團體憑證管理中心")
	}
	if spec.subject == nil {
		spec.subject = dn("C", "TW", "O", "測試幼兒園", "CN", "測試幼兒園")
	}
	if spec.notBefore.IsZero() {
		spec.notBefore = testNow.AddDate(-1, 0, 0)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = testNow.AddDate(1, 0, 0)
	}
	if spec.pub == nil {
		spec.pub = testECKey().Public()
	}
	rawIssuer, err := asn1.Marshal(spec.issuer)
	if err != nil {
		tb.Fatalf("marshal issuer: %v", err)
	}
	rawSubject, err := asn1.Marshal(spec.subject)
	if err != nil {
		tb.Fatalf("marshal subject: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(0x0123456789abcdef),
		RawSubject:            rawSubject,
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		KeyUsage:              spec.keyUsage,
		BasicConstraintsValid: spec.isCA,
		IsCA:                  spec.isCA,
	}
	if spec.sda != nil {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: OIDSubjectDirectoryAttributes, Value: spec.sda}}
	}
	parent := &x509.Certificate{RawSubject: rawIssuer, PublicKey: testECKey().Public()}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, spec.pub, testECKey())
	if err != nil {
		tb.Fatalf("CreateCertificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("ParseCertificate: %v", err)
	}
	return cert, der
}
