package certinfo

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"
)

// CAKind says which Taiwan certificate authority issued a certificate.
type CAKind string

// Certificate authorities recognised from the issuer's OU
// (the issuer DNs of the CAs' published certificates).
const (
	CAXCA     CAKind = "XCA"     // 組織及團體憑證管理中心, organisation and group cards
	CAGCA     CAKind = "GCA"     // 政府憑證管理中心, government agency cards
	CAMOICA   CAKind = "MOICA"   // 內政部憑證管理中心, citizen digital certificates
	CAMOEACA  CAKind = "MOEACA"  // 工商憑證管理中心, company and business cards
	CAGTESTCA CAKind = "GTESTCA" // 政府測試憑證管理中心, the government test CA
	CAUnknown CAKind = "unknown" // none of the above
)

// Usage is what a certificate's key may be used for, from its key usage
// extension.
type Usage string

// Key usages. On Taiwan cards cert1 is the signature certificate and cert2
// the encryption certificate (the CAs' certificate profiles: cert1 signs, cert2 encrypts).
const (
	UsageSignature           Usage = "signature"
	UsageEncryption          Usage = "encryption"
	UsageSignatureEncryption Usage = "signature+encryption"
	UsageOther               Usage = "other"
)

// Status is where a certificate stands in its validity period.
type Status string

// Validity states, see [Describe].
const (
	StatusValid       Status = "valid"
	StatusExpiring    Status = "expiring" // at most ExpiringDays days left
	StatusExpired     Status = "expired"
	StatusNotYetValid Status = "not-yet-valid"
)

// ExpiringDays is the number of days left at or below which a valid
// certificate is reported as [StatusExpiring].
const ExpiringDays = 30

// Info is what a clerk needs to know about a certificate. The zero value
// of a string field means the certificate does not carry that fact.
type Info struct {
	// Holder is the subject organisation (first non-empty O), or the
	// subject common name (CN) when there is no O.
	Holder string `json:"holder"`
	// UBN is the 統一編號, from subject directory attribute
	// 2.16.886.1.100.2.101, else from the subject serialNumber if that is
	// 8 ASCII digits (never for MOICA, whose serialNumber is a card
	// number and whose holders are people).
	UBN string `json:"ubn,omitempty"`
	// UBNValid reports whether UBN passes [ValidUBN].
	UBNValid bool `json:"ubnValid"`
	// OrgCode is the GCA/XCA organisation code, subject directory
	// attribute 2.16.886.1.100.2.102.
	OrgCode string `json:"orgCode,omitempty"`
	// IDLast4 is the MOICA last four characters of the national ID,
	// subject directory attribute 2.16.886.1.100.2.51.
	IDLast4 string `json:"idLast4,omitempty"`
	// SubjectClass is subject directory attribute 2.16.886.1.100.2.1,
	// usually a dotted OID such as 2.16.886.1.100.3.2.2.1.1.
	SubjectClass string `json:"subjectClass,omitempty"`
	// CardSerial is subject directory attribute 2.16.886.1.100.2.204.
	CardSerial string `json:"cardSerial,omitempty"`
	// SubjectSerial is the subject serialNumber attribute as is.
	SubjectSerial string `json:"subjectSerial,omitempty"`
	// CA is the issuing authority, classified from the issuer OU (issuer
	// CN when no OU matches).
	CA CAKind `json:"ca"`
	// CAName is the issuer OU that identified the CA, else the first
	// issuer OU, else the issuer CN, else the issuer O.
	CAName string `json:"caName"`
	// CANameZH and CANameEN are display names for CA, e.g.
	// "組織及團體憑證管理中心" and "Organization and Group CA (XCA)". For
	// CAUnknown CANameZH is CAName (or "未知的憑證管理中心"). They do not
	// mention Test; show that separately.
	CANameZH string `json:"caNameZh"`
	CANameEN string `json:"caNameEn"`
	// Test reports that the issuer marks itself as a test CA: its OU, CN
	// or O contains "測試", or "TEST", or the word "test" in any case.
	Test bool `json:"test"`
	// Usage summarises KeyUsage, see [UsageOf].
	Usage Usage `json:"usage"`
	// KeyUsage lists the key usage bits that are set, by their RFC 5280
	// names, e.g. ["digitalSignature", "nonRepudiation"].
	KeyUsage []string `json:"keyUsage"`
	// NotBefore and NotAfter are the validity period.
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// DaysLeft is floor((NotAfter-now)/24h); negative once expired.
	DaysLeft int `json:"daysLeft"`
	// Status is the validity state at now.
	Status Status `json:"status"`
	// Subject and Issuer are the distinguished names in RFC 4514 form
	// (most specific first) with Chinese kept readable, not hex-escaped.
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
	// SerialHex is the certificate serial number in lowercase hex
	// (two digits per byte, "-" prefix if negative).
	SerialHex string `json:"serial"`
	// Fingerprint is the lowercase hex SHA-256 of the certificate DER:
	// the certificate's id across CardBridge.
	Fingerprint string `json:"fingerprint"`
	// KeyAlgorithm describes the subject public key, e.g. "RSA-2048" or
	// "ECC P-256".
	KeyAlgorithm string `json:"keyAlgorithm"`
}

// Parse parses a DER certificate and describes it at now.
func Parse(der []byte, now time.Time) (Info, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Info{}, fmt.Errorf("certinfo: parsing certificate: %w", err)
	}
	return Describe(cert, now), nil
}

// Describe reports what cert says about itself at time now. It never
// fails: facts that are missing or malformed (for example an unparsable
// subject directory attributes extension) are left empty. It does not
// verify signatures, chains or revocation. A nil cert gives an Info with
// CA unknown and Usage other.
func Describe(cert *x509.Certificate, now time.Time) Info {
	info := Info{CA: CAUnknown, Usage: UsageOther}
	if cert == nil {
		info.CANameZH, info.CANameEN = displayNames(CAUnknown, "")
		return info
	}

	info.Holder = firstNonEmpty(cert.Subject.Organization)
	if info.Holder == "" {
		info.Holder = strings.TrimSpace(cert.Subject.CommonName)
	}
	info.SubjectSerial = subjectSerial(cert)

	info.CA, info.CAName = classify(cert)
	info.CANameZH, info.CANameEN = displayNames(info.CA, info.CAName)
	info.Test = isTestIssuer(cert)

	for _, a := range sda(cert) {
		v := strings.TrimSpace(a.Value())
		if v == "" {
			continue
		}
		switch {
		case a.Type.Equal(OIDUBN) && info.UBN == "":
			info.UBN = v
		case a.Type.Equal(OIDOrgCode) && info.OrgCode == "":
			info.OrgCode = v
		case a.Type.Equal(OIDIDLast4) && info.IDLast4 == "":
			info.IDLast4 = v
		case a.Type.Equal(OIDSubjectClass) && info.SubjectClass == "":
			info.SubjectClass = v
		case a.Type.Equal(OIDCardSerial) && info.CardSerial == "":
			info.CardSerial = v
		}
	}
	if info.UBN == "" && info.CA != CAMOICA && isASCIIDigits(info.SubjectSerial, 8) {
		info.UBN = info.SubjectSerial
	}
	info.UBNValid = ValidUBN(info.UBN)

	info.Usage = UsageOf(cert)
	info.KeyUsage = keyUsageNames(cert.KeyUsage)

	info.NotBefore, info.NotAfter = cert.NotBefore, cert.NotAfter
	info.DaysLeft = daysLeft(cert.NotAfter, now)
	switch {
	case now.Before(cert.NotBefore):
		info.Status = StatusNotYetValid
	case now.After(cert.NotAfter):
		info.Status = StatusExpired
	case info.DaysLeft <= ExpiringDays:
		info.Status = StatusExpiring
	default:
		info.Status = StatusValid
	}

	info.Subject = formatDN(cert.RawSubject, cert.Subject)
	info.Issuer = formatDN(cert.RawIssuer, cert.Issuer)
	info.SerialHex = serialHex(cert.SerialNumber)
	if len(cert.Raw) > 0 {
		sum := sha256.Sum256(cert.Raw)
		info.Fingerprint = hex.EncodeToString(sum[:])
	}
	info.KeyAlgorithm = keyAlgorithm(cert)
	return info
}

// UsageOf summarises cert's key usage extension: digitalSignature or
// nonRepudiation mean signature; keyEncipherment, dataEncipherment or
// keyAgreement (the ECC form of encryption) mean encryption; both kinds
// give signature+encryption, and neither (including a certificate
// without the extension, or a CA certificate) gives other.
func UsageOf(cert *x509.Certificate) Usage {
	if cert == nil {
		return UsageOther
	}
	ku := cert.KeyUsage
	sig := ku&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) != 0
	enc := ku&(x509.KeyUsageKeyEncipherment|x509.KeyUsageDataEncipherment|x509.KeyUsageKeyAgreement) != 0
	switch {
	case sig && enc:
		return UsageSignatureEncryption
	case sig:
		return UsageSignature
	case enc:
		return UsageEncryption
	}
	return UsageOther
}

// caPatterns maps issuer OU substrings to CA kinds, most specific first
// (the issuer DNs of the CAs' published certificates). Substring matching lets a test CA such as
// "測試用組織及團體憑證管理中心" classify as XCA.
var caPatterns = []struct {
	substr string
	kind   CAKind
}{
	{"政府測試憑證管理中心", CAGTESTCA},
	{"政府憑證管理中心", CAGCA},
	{"組織及團體憑證管理中心", CAXCA},
	{"工商憑證管理中心", CAMOEACA},
	{"內政部憑證管理中心", CAMOICA},
}

// classify returns the CA kind from the issuer OUs (then CNs) and the
// name it was recognised by.
func classify(cert *x509.Certificate) (CAKind, string) {
	for _, names := range [][]string{cert.Issuer.OrganizationalUnit, {cert.Issuer.CommonName}} {
		for _, p := range caPatterns {
			for _, n := range names {
				if strings.Contains(n, p.substr) {
					return p.kind, strings.TrimSpace(n)
				}
			}
		}
	}
	name := firstNonEmpty(cert.Issuer.OrganizationalUnit)
	if name == "" {
		name = strings.TrimSpace(cert.Issuer.CommonName)
	}
	if name == "" {
		name = firstNonEmpty(cert.Issuer.Organization)
	}
	return CAUnknown, name
}

// displayNames returns the Chinese and English display names of a CA.
func displayNames(kind CAKind, caName string) (zh, en string) {
	switch kind {
	case CAXCA:
		return "組織及團體憑證管理中心", "Organization and Group CA (XCA)"
	case CAGCA:
		return "政府憑證管理中心", "Government CA (GCA)"
	case CAMOICA:
		return "內政部憑證管理中心", "Ministry of the Interior CA (MOICA)"
	case CAMOEACA:
		return "工商憑證管理中心", "Ministry of Economic Affairs CA (MOEACA)"
	case CAGTESTCA:
		return "政府測試憑證管理中心", "Government Test CA (GTESTCA)"
	}
	if caName == "" {
		caName = "未知的憑證管理中心"
	}
	return caName, "Unknown CA"
}

// isTestIssuer reports whether the issuer OU, CN or O marks a test CA.
func isTestIssuer(cert *x509.Certificate) bool {
	names := append([]string{cert.Issuer.CommonName}, cert.Issuer.OrganizationalUnit...)
	names = append(names, cert.Issuer.Organization...)
	for _, n := range names {
		if strings.Contains(n, "測試") || strings.Contains(n, "TEST") {
			return true
		}
		for _, w := range strings.FieldsFunc(n, func(r rune) bool { return !unicode.IsLetter(r) }) {
			if strings.EqualFold(w, "test") {
				return true
			}
		}
	}
	return false
}

// sda returns the parsed subject directory attributes of cert, or nil if
// it has none or they are malformed.
func sda(cert *x509.Certificate) []Attribute {
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(OIDSubjectDirectoryAttributes) {
			attrs, err := ParseSubjectDirectoryAttributes(ext.Value)
			if err != nil {
				return nil
			}
			return attrs
		}
	}
	return nil
}

// oidSerialNumber is the X.520 serialNumber attribute type.
var oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

// subjectSerial returns the first subject serialNumber value.
func subjectSerial(cert *x509.Certificate) string {
	for _, atv := range cert.Subject.Names {
		if atv.Type.Equal(oidSerialNumber) {
			if s, ok := atv.Value.(string); ok {
				return s
			}
		}
	}
	return cert.Subject.SerialNumber
}

// keyUsageBitNames are the RFC 5280 §4.2.1.3 names, in bit order.
var keyUsageBitNames = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "digitalSignature"},
	{x509.KeyUsageContentCommitment, "nonRepudiation"},
	{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
	{x509.KeyUsageDataEncipherment, "dataEncipherment"},
	{x509.KeyUsageKeyAgreement, "keyAgreement"},
	{x509.KeyUsageCertSign, "keyCertSign"},
	{x509.KeyUsageCRLSign, "cRLSign"},
	{x509.KeyUsageEncipherOnly, "encipherOnly"},
	{x509.KeyUsageDecipherOnly, "decipherOnly"},
}

// keyUsageNames lists the names of the bits set in ku.
func keyUsageNames(ku x509.KeyUsage) []string {
	var names []string
	for _, b := range keyUsageBitNames {
		if ku&b.bit != 0 {
			names = append(names, b.name)
		}
	}
	return names
}

// daysLeft returns floor((notAfter-now)/24h) without overflowing for
// far-future dates such as 9999-12-31.
func daysLeft(notAfter, now time.Time) int {
	secs := notAfter.Unix() - now.Unix()
	if notAfter.Nanosecond() < now.Nanosecond() {
		secs-- // the fractional second only matters when it borrows
	}
	const day = 24 * 60 * 60
	d := secs / day
	if secs%day < 0 {
		d--
	}
	return int(d)
}

// serialHex formats a serial number as lowercase hex, two digits a byte.
func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	b := new(big.Int).Abs(n).Bytes()
	if len(b) == 0 {
		b = []byte{0}
	}
	s := hex.EncodeToString(b)
	if n.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// keyAlgorithm describes the subject public key.
func keyAlgorithm(cert *x509.Certificate) string {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N != nil {
			return fmt.Sprintf("RSA-%d", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve != nil {
			return "ECC " + k.Curve.Params().Name
		}
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return cert.PublicKeyAlgorithm.String()
}

// firstNonEmpty returns the first value that is not blank, trimmed.
func firstNonEmpty(vs []string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// isASCIIDigits reports whether s is exactly n ASCII digits.
func isASCIIDigits(s string, n int) bool {
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
