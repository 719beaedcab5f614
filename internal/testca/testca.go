package testca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/certinfo"
)

// Names of the test CAs. Both common names contain "TEST" and "僅供測試"
// ("for testing only"); UnmarshalPEM checks for these markers.
const (
	RootOrganization = "CardBridge 測試 TEST"
	RootCommonName   = "CardBridge TEST Root CA 僅供測試"

	IssuingOrganization = "行政院"
	IssuingOrgUnit      = "測試用組織及團體憑證管理中心"
	IssuingCommonName   = "CardBridge TEST XCA 僅供測試 NOT FOR PRODUCTION"
)

// Validity periods of the CA certificates. They start an hour before the
// creation time to tolerate clock skew between machines.
const (
	RootYears    = 20
	IssuingYears = 10
	backdate     = time.Hour
)

// maxNameLen is the X.520 upper bound on organizationName and commonName
// (ub-organization-name, ub-common-name; RFC 5280 Appendix A.1), in
// characters.
const maxNameLen = 64

// SubjectClassOrg is the subject class written into end-entity
// certificates (SDA 2.16.886.1.100.2.1, the arc of Taiwan's government PKI).
var SubjectClassOrg = asn1.ObjectIdentifier{2, 16, 886, 1, 100, 3, 2, 2, 1, 1}

// CA is one certificate authority: its certificate and signing key.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key signs what the CA issues; its public half is Cert's key.
	Key crypto.Signer
}

// Hierarchy is the two-level TEST PKI: a self-signed root and the XCA-like
// issuing CA it certified.
type Hierarchy struct {
	// Root is the self-signed root (C=TW, O=CardBridge 測試 TEST,
	// CN=CardBridge TEST Root CA 僅供測試).
	Root *CA
	// Issuing signs end-entity certificates (C=TW, O=行政院,
	// OU=測試用組織及團體憑證管理中心, CN=CardBridge TEST XCA 僅供測試 NOT FOR
	// PRODUCTION).
	Issuing *CA
}

// Org describes the organisation an end-entity certificate is issued to.
type Org struct {
	// Name is the 團體名稱, e.g. "測試幼兒園": subject O and CN. Required,
	// at most 64 characters.
	Name string
	// UBN is the 8-digit 統一編號: subject serialNumber and SDA
	// 2.16.886.1.100.2.101. Optional. Its check digit is not enforced,
	// so tests can issue certificates with invalid numbers.
	UBN string
	// OrgCode is the organisation code, SDA 2.16.886.1.100.2.102
	// (PrintableString). Optional.
	OrgCode string
	// CardSerial is the card serial, e.g. "TEST000000000001", written as
	// SDA 2.16.886.1.100.2.204 (PrintableString). Optional.
	CardSerial string
}

// Usage selects which of the card's two certificates to issue.
type Usage int

// Usages. The zero Usage is invalid.
const (
	// Signature is cert1: keyUsage digitalSignature|nonRepudiation,
	// extKeyUsage clientAuth and emailProtection.
	Signature Usage = iota + 1
	// Encryption is cert2: keyUsage keyEncipherment|dataEncipherment.
	// It suits RSA keys; certificates for ECDSA keys get the same bits.
	Encryption
)

// String returns "signature", "encryption" or "Usage(n)".
func (u Usage) String() string {
	switch u {
	case Signature:
		return "signature"
	case Encryption:
		return "encryption"
	}
	return fmt.Sprintf("Usage(%d)", int(u))
}

// New creates a fresh TEST hierarchy valid from an hour before now: a root
// valid for 20 years and an issuing CA valid for 10.
//
// Both CA keys are ECDSA P-256: key generation is instant (tests and the
// demo create hierarchies freely, where RSA-2048 takes a noticeable and
// variable time), the PEM stays small, and every verifier CardBridge
// talks to (Go, browsers, Windows, macOS) accepts ECDSA P-256 chains. The
// CA key type does not constrain the subject keys, which may be RSA as on
// real cards.
//
// rand supplies the serial numbers; nil means crypto/rand.Reader. Go's
// crypto packages ignore rand for key generation and signing unless
// GODEBUG=cryptocustomrand=1, so the output is never deterministic. A zero
// now means time.Now().
func New(rand io.Reader, now time.Time) (*Hierarchy, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	if now.IsZero() {
		now = time.Now()
	}
	start := now.Add(-backdate).UTC().Truncate(time.Second)

	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("testca: generating root key: %w", err)
	}
	rootTmpl := &x509.Certificate{
		Subject: pkix.Name{
			Country:      []string{"TW"},
			Organization: []string{RootOrganization},
			CommonName:   RootCommonName,
		},
		NotBefore:             start,
		NotAfter:              start.AddDate(RootYears, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	root, err := create(rand, rootTmpl, nil, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("testca: creating root: %w", err)
	}

	issKey, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("testca: generating issuing key: %w", err)
	}
	issTmpl := &x509.Certificate{
		Subject: pkix.Name{
			Country:            []string{"TW"},
			Organization:       []string{IssuingOrganization},
			OrganizationalUnit: []string{IssuingOrgUnit},
			CommonName:         IssuingCommonName,
		},
		NotBefore:             start,
		NotAfter:              start.AddDate(IssuingYears, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	rootCA := &CA{Cert: root, Key: rootKey}
	iss, err := create(rand, issTmpl, rootCA, issKey.Public(), nil)
	if err != nil {
		return nil, fmt.Errorf("testca: creating issuing CA: %w", err)
	}
	return &Hierarchy{Root: rootCA, Issuing: &CA{Cert: iss, Key: issKey}}, nil
}

// Issue issues an XCA-style end-entity certificate for pub, signed by the
// issuing CA. The subject is C=TW, O=org.Name, serialNumber=org.UBN (when
// given), CN=org.Name; the non-critical subject directory attributes
// extension carries the subject class, org.OrgCode, org.UBN and
// org.CardSerial (the last three when given). The key usage extension is
// critical and follows usage; the serial number is 16 random bytes,
// positive. pub may be RSA or ECDSA: the card keeps the private key.
//
// rand supplies the serial number; nil means crypto/rand.Reader. Issue
// does not require the validity period to lie within the CA's, so tests
// can make expired certificates.
func (h *Hierarchy) Issue(rand io.Reader, pub crypto.PublicKey, org Org, usage Usage, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	if h == nil || h.Issuing == nil || h.Issuing.Cert == nil || h.Issuing.Key == nil {
		return nil, errors.New("testca: hierarchy has no issuing CA")
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	if err := org.validate(); err != nil {
		return nil, err
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("testca: notAfter %v is not after notBefore %v", notAfter, notBefore)
	}
	tmpl := &x509.Certificate{
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
	}
	switch usage {
	case Signature:
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection}
	case Encryption:
		tmpl.KeyUsage = x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment
	default:
		return nil, fmt.Errorf("testca: unknown usage %v", usage)
	}

	rdns := pkix.RDNSequence{
		{{Type: oidCountry, Value: "TW"}},
		{{Type: oidOrganization, Value: org.Name}},
	}
	if org.UBN != "" {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oidSerialNumber, Value: org.UBN}})
	}
	rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oidCommonName, Value: org.Name}})
	var err error
	if tmpl.RawSubject, err = asn1.Marshal(rdns); err != nil {
		return nil, fmt.Errorf("testca: encoding subject: %w", err)
	}
	sda, err := org.subjectDirectoryAttributes()
	if err != nil {
		return nil, err
	}
	tmpl.ExtraExtensions = []pkix.Extension{{Id: certinfo.OIDSubjectDirectoryAttributes, Value: sda}}

	cert, err := create(rand, tmpl, h.Issuing, pub, nil)
	if err != nil {
		return nil, fmt.Errorf("testca: issuing %s certificate for %q: %w", usage, org.Name, err)
	}
	return cert, nil
}

// Attribute types used in subjects.
var (
	oidCountry      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}
)

// validate checks org before anything is signed.
func (o Org) validate() error {
	name := strings.TrimSpace(o.Name)
	switch {
	case name == "":
		return errors.New("testca: organisation name is empty")
	case name != o.Name:
		return fmt.Errorf("testca: organisation name %q has leading or trailing space", o.Name)
	case !utf8.ValidString(o.Name):
		return fmt.Errorf("testca: organisation name %q is not valid UTF-8", o.Name)
	case utf8.RuneCountInString(o.Name) > maxNameLen:
		return fmt.Errorf("testca: organisation name %q is longer than %d characters", o.Name, maxNameLen)
	}
	for _, r := range o.Name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("testca: organisation name %q has a control character", o.Name)
		}
	}
	if o.UBN != "" && !isDigits(o.UBN, 8) {
		return fmt.Errorf("testca: UBN %q is not 8 ASCII digits", o.UBN)
	}
	for _, f := range []struct{ name, v string }{{"organisation code", o.OrgCode}, {"card serial", o.CardSerial}} {
		if f.v == "" {
			continue
		}
		if _, err := asn1.MarshalWithParams(f.v, "printable"); err != nil {
			return fmt.Errorf("testca: %s %q is not a PrintableString: %w", f.name, f.v, err)
		}
	}
	return nil
}

// sdaAttribute is Attribute ::= SEQUENCE { type, values SET OF ANY }.
type sdaAttribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// subjectDirectoryAttributes encodes the 2.5.29.9 extension value.
func (o Org) subjectDirectoryAttributes() ([]byte, error) {
	class, err := asn1.Marshal(SubjectClassOrg)
	if err != nil {
		return nil, fmt.Errorf("testca: encoding subject class: %w", err)
	}
	attrs := []sdaAttribute{{Type: certinfo.OIDSubjectClass, Values: []asn1.RawValue{{FullBytes: class}}}}
	for _, a := range []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{
		{certinfo.OIDOrgCode, o.OrgCode},
		{certinfo.OIDUBN, o.UBN},
		{certinfo.OIDCardSerial, o.CardSerial},
	} {
		if a.v == "" {
			continue
		}
		der, err := asn1.MarshalWithParams(a.v, "printable")
		if err != nil {
			return nil, fmt.Errorf("testca: encoding attribute %s: %w", a.oid, err)
		}
		attrs = append(attrs, sdaAttribute{Type: a.oid, Values: []asn1.RawValue{{FullBytes: der}}})
	}
	der, err := asn1.Marshal(attrs)
	if err != nil {
		return nil, fmt.Errorf("testca: encoding subject directory attributes: %w", err)
	}
	return der, nil
}

// create fills in the serial number and key identifiers of tmpl and signs
// it with parent, or self-signs with selfKey when parent is nil.
func create(rand io.Reader, tmpl *x509.Certificate, parent *CA, pub crypto.PublicKey, selfKey crypto.Signer) (*x509.Certificate, error) {
	serial, err := randomSerial(rand)
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if tmpl.SubjectKeyId, err = keyID(pub); err != nil {
		return nil, err
	}
	issuer, key := tmpl, selfKey
	if parent != nil {
		issuer, key = parent.Cert, parent.Key
		tmpl.AuthorityKeyId = parent.Cert.SubjectKeyId
	}
	der, err := x509.CreateCertificate(rand, tmpl, issuer, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// randomSerial returns a positive serial number of exactly 16 bytes: the
// top bit is cleared so it is positive, the next one set so the DER
// INTEGER never shrinks.
func randomSerial(rand io.Reader) (*big.Int, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("testca: reading random serial: %w", err)
	}
	b[0] = b[0]&0x7f | 0x40
	return new(big.Int).SetBytes(b[:]), nil
}

// keyID computes a key identifier per RFC 7093 §2 method 1: the leftmost
// 160 bits of the SHA-256 of the subjectPublicKey BIT STRING value.
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("testca: encoding public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("testca: decoding public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

// isDigits reports whether s is exactly n ASCII digits.
func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
