package authtoken

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/testca"
)

// Policy OIDs for the tests. gpkiLevel3 has the shape of Taiwan's GPKI
// assurance-level policies (arc 2.16.886.101.0.3); the tests do not
// depend on which policy a real CA asserts.
var (
	gpkiLevel3     = mustOID("2.16.886.101.0.3.3")
	gpkiLevel2     = mustOID("2.16.886.101.0.3.2")
	anyPolicy      = mustOID("2.5.29.32.0")
	bigArcOID      = mustOID("2.16.886.101.18446744073709551616.1") // an arc beyond 64 bits
	smartcardLogon = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 2}
)

func mustOID(s string) x509.OID {
	oid, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return oid
}

// issueCert signs a certificate for pub with parent's key. The template
// is a card certificate (digitalSignature, valid around testNow) that
// edit may change. With parent nil it is self-signed with key.
func issueCert(tb testing.TB, parent *x509.Certificate, key crypto.Signer, pub crypto.PublicKey, edit func(*x509.Certificate)) *x509.Certificate {
	tb.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Country: []string{"TW"}, Organization: []string{"測試幼兒園"}, SerialNumber: "04595252", CommonName: "測試幼兒園"},
		NotBefore:             testNow.AddDate(0, 0, -1),
		NotAfter:              testNow.AddDate(2, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
	}
	if edit != nil {
		edit(tmpl)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		tb.Fatalf("CreateCertificate(%q) error = %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// issuingCA makes a CA certificate under h's root, with a fresh key or
// with key when given, and returns it with its key. edit may change it.
func issuingCA(tb testing.TB, h *testca.Hierarchy, key crypto.Signer, edit func(*x509.Certificate)) (*x509.Certificate, crypto.Signer) {
	tb.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		key = k
	}
	ca := issueCert(tb, h.Root.Cert, h.Root.Key, key.Public(), func(c *x509.Certificate) {
		c.Subject = pkix.Name{Country: []string{"TW"}, Organization: []string{"測試"}, CommonName: "Other TEST CA 僅供測試"}
		c.NotBefore, c.NotAfter = testNow.AddDate(-1, 0, 0), testNow.AddDate(5, 0, 0)
		c.IsCA, c.MaxPathLenZero = true, true
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		if edit != nil {
			edit(c)
		}
	})
	return ca, key
}

// TestVerifyExtKeyUsage is the regression test for card logins with a
// TLS server certificate: a certificate whose extended key usage allows
// neither client authentication nor e-mail protection is refused; one
// without the extension, as card profiles may be, is not.
func TestVerifyExtKeyUsage(t *testing.T) {
	f := fixture(t)
	// The TEST CA's cert1 has the extension, with clientAuth and
	// emailProtection: it must keep passing.
	if got := f.ecCert.ExtKeyUsage; len(got) != 2 || got[0] != x509.ExtKeyUsageClientAuth || got[1] != x509.ExtKeyUsageEmailProtection {
		t.Fatalf("testca cert1 extended key usage = %v, want clientAuth, emailProtection", got)
	}
	iss := f.h.Issuing
	tests := []struct {
		name    string
		eku     []x509.ExtKeyUsage
		unknown []asn1.ObjectIdentifier
		extra   []byte // a raw extension value instead
		want    error
	}{
		{name: "no extension"},
		{name: "clientAuth", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{name: "emailProtection", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}},
		{name: "anyExtendedKeyUsage", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}},
		{name: "serverAuth and clientAuth", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{name: "clientAuth and an unknown usage", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, unknown: []asn1.ObjectIdentifier{smartcardLogon}},

		{name: "serverAuth only", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, want: ErrCertificate},
		{name: "codeSigning and timeStamping", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageTimeStamping}, want: ErrCertificate},
		{name: "OCSP signing", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}, want: ErrCertificate},
		{name: "unknown usage only", unknown: []asn1.ObjectIdentifier{smartcardLogon}, want: ErrCertificate},
	}
	for _, tc := range tests {
		cert := issueCert(t, iss.Cert, iss.Key, f.ecKey.Public(), func(c *x509.Certificate) {
			c.ExtKeyUsage, c.UnknownExtKeyUsage = tc.eku, tc.unknown
		})
		tok := makeToken(t, f.ecKey, cert, ES256, siteOrigin, testChallenge)
		_, err := verifier(f.h).Verify(tok, testChallenge)
		if !checkErr(err, tc.want) || err != nil && !strings.Contains(err.Error(), "extended key usage") {
			t.Errorf("Verify(certificate with extended key usage %s) error = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := verifier(f.h).Verify(makeToken(t, f.ecKey, f.ecCert, ES256, siteOrigin, testChallenge), testChallenge); err != nil {
		t.Errorf("Verify(testca cert1) error = %v, want nil", err)
	}
}

// TestVerifyChainExtKeyUsage pins down how the chain is built. x509's
// KeyUsages would intersect the usages asked for with those of every CA
// certificate, and nil would mean serverAuth: both would refuse cards for
// reasons that are not the card's. Verify judges the card's certificate
// itself and builds the chain with ExtKeyUsageAny.
func TestVerifyChainExtKeyUsage(t *testing.T) {
	f := fixture(t)
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(f.h.Root.Cert)
	inters.AddCert(f.h.Issuing.Cert)

	// What x509 would do with the TEST CA's cert1 by default.
	_, err := f.ecCert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: testNow})
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.IncompatibleUsage {
		t.Fatalf("x509 Verify(testca cert1) with nil KeyUsages error = %v, want IncompatibleUsage (serverAuth)", err)
	}

	// An issuing CA whose certificate lists emailProtection only (a CA
	// for signing and mail) and one listing only a usage x509 does not
	// know. A clientAuth card certificate under either is acceptable.
	for _, ca := range []struct {
		name    string
		eku     []x509.ExtKeyUsage
		unknown []asn1.ObjectIdentifier
	}{
		{"emailProtection", []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}, nil},
		{"an unknown usage", nil, []asn1.ObjectIdentifier{smartcardLogon}},
	} {
		caCert, caKey := issuingCA(t, f.h, nil, func(c *x509.Certificate) { c.ExtKeyUsage, c.UnknownExtKeyUsage = ca.eku, ca.unknown })
		leaf := issueCert(t, caCert, caKey, f.ecKey.Public(), func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		})
		v := verifier(f.h)
		v.Intermediates.AddCert(caCert)
		if _, err := v.Verify(makeToken(t, f.ecKey, leaf, ES256, siteOrigin, testChallenge), testChallenge); err != nil {
			t.Errorf("Verify(clientAuth card under a CA with %s) error = %v, want nil", ca.name, err)
		}
		// The x509 alternative, KeyUsages clientAuth and
		// emailProtection, would have refused it.
		pool := x509.NewCertPool()
		pool.AddCert(caCert)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, CurrentTime: testNow,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection}}); err == nil {
			t.Errorf("x509 Verify with KeyUsages under a CA with %s accepted the card: the test no longer shows the difference", ca.name)
		}
	}
}

func TestVerifyRequiredPolicies(t *testing.T) {
	f := fixture(t)
	iss := f.h.Issuing
	withPolicies := func(p ...x509.OID) *x509.Certificate {
		return issueCert(t, iss.Cert, iss.Key, f.ecKey.Public(), func(c *x509.Certificate) { c.Policies = p })
	}
	level3 := withPolicies(gpkiLevel3)
	both := withPolicies(gpkiLevel2, gpkiLevel3)
	any := withPolicies(anyPolicy)
	big := withPolicies(bigArcOID)
	tests := []struct {
		name     string
		cert     *x509.Certificate
		required []x509.OID
		want     error
	}{
		{"none required, none asserted", f.ecCert, nil, nil},
		{"none required", level3, nil, nil},
		{"empty list required", f.ecCert, []x509.OID{}, nil},
		{"required and asserted", level3, []x509.OID{gpkiLevel3}, nil},
		{"one of two required", level3, []x509.OID{gpkiLevel2, gpkiLevel3}, nil},
		{"one of two asserted", both, []x509.OID{gpkiLevel3}, nil},
		{"arc beyond 64 bits", big, []x509.OID{bigArcOID}, nil},
		{"anyPolicy listed", any, []x509.OID{anyPolicy}, nil},

		{"required, none asserted", f.ecCert, []x509.OID{gpkiLevel3}, ErrCertificate},
		{"another asserted", level3, []x509.OID{gpkiLevel2}, ErrCertificate},
		{"anyPolicy asserted", any, []x509.OID{gpkiLevel3}, ErrCertificate},
		{"a prefix asserted", withPolicies(mustOID("2.16.886.101.0.3")), []x509.OID{gpkiLevel3}, ErrCertificate},
	}
	for _, tc := range tests {
		v := verifier(f.h)
		v.RequiredPolicies = tc.required
		_, err := v.Verify(makeToken(t, f.ecKey, tc.cert, ES256, siteOrigin, testChallenge), testChallenge)
		if !checkErr(err, tc.want) || err != nil && !strings.Contains(err.Error(), "policies") {
			t.Errorf("Verify(%s) error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestVerifyAllowedIssuers(t *testing.T) {
	f := fixture(t)
	ours := f.h.Issuing.Cert
	// twin has exactly our issuing CA's name, but its own key: a DN
	// comparison could not tell them apart.
	twin, twinKey := issuingCA(t, f.h, nil, func(c *x509.Certificate) { c.RawSubject = ours.RawSubject })
	if !bytes.Equal(twin.RawSubject, ours.RawSubject) || twin.Subject.String() != ours.Subject.String() {
		t.Fatal("twin CA does not have our issuing CA's name")
	}
	twinCard := issueCert(t, twin, twinKey, f.ecKey.Public(), nil)
	// reissued is our issuing CA certificate made again, same name and
	// key, another serial number: the same CA but another certificate.
	reissued, _ := issuingCA(t, f.h, f.h.Issuing.Key, func(c *x509.Certificate) {
		c.RawSubject, c.SubjectKeyId = ours.RawSubject, ours.SubjectKeyId
	})
	// A second, differently named CA under the same root, as a TLS CA
	// beside the card CA under one government root.
	tlsCA, tlsKey := issuingCA(t, f.h, nil, func(c *x509.Certificate) { c.Subject.CommonName = "TEST TLS CA 僅供測試" })
	tlsCard := issueCert(t, tlsCA, tlsKey, f.ecKey.Public(), func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	})

	pool := func(certs ...*x509.Certificate) *x509.CertPool {
		p := x509.NewCertPool()
		for _, c := range certs {
			p.AddCert(c)
		}
		return p
	}
	all := pool(ours, twin, tlsCA)
	tests := []struct {
		name    string
		cert    *x509.Certificate
		inters  *x509.CertPool // default all
		roots   *x509.CertPool // default f.h's root
		allowed []*x509.Certificate
		want    error
	}{
		{name: "none allowed means any", cert: twinCard},
		{name: "none allowed, TLS CA", cert: tlsCard},
		{name: "ours", cert: f.ecCert, allowed: []*x509.Certificate{ours}},
		{name: "ours among others", cert: f.ecCert, allowed: []*x509.Certificate{tlsCA, ours}},
		{name: "twin allowed", cert: twinCard, allowed: []*x509.Certificate{twin}},
		{name: "nil entry skipped", cert: f.ecCert, allowed: []*x509.Certificate{nil, ours}},
		{name: "ours, reissued certificate also in the pool", cert: f.ecCert, inters: pool(reissued, ours), allowed: []*x509.Certificate{ours}},
		{name: "reissued allowed and the only one in the pool", cert: f.ecCert, inters: pool(reissued), allowed: []*x509.Certificate{reissued}},

		{name: "twin of ours: same name, other key", cert: twinCard, allowed: []*x509.Certificate{ours}, want: ErrCertificate},
		{name: "TLS CA not allowed", cert: tlsCard, allowed: []*x509.Certificate{ours}, want: ErrCertificate},
		{name: "the root is not the direct issuer", cert: f.ecCert, allowed: []*x509.Certificate{f.h.Root.Cert}, want: ErrCertificate},
		{name: "only the reissued certificate in the pool", cert: f.ecCert, inters: pool(reissued), allowed: []*x509.Certificate{ours}, want: ErrCertificate},
		{name: "only nil allowed", cert: f.ecCert, allowed: []*x509.Certificate{nil}, want: ErrCertificate},
		{name: "card itself trusted as a root", cert: f.ecCert, roots: pool(f.ecCert), allowed: []*x509.Certificate{ours}, want: ErrCertificate},
	}
	for _, tc := range tests {
		v := verifier(f.h)
		v.Intermediates = all
		if tc.inters != nil {
			v.Intermediates = tc.inters
		}
		if tc.roots != nil {
			v.Roots = tc.roots
		}
		v.AllowedIssuers = tc.allowed
		_, err := v.Verify(makeToken(t, f.ecKey, tc.cert, ES256, siteOrigin, testChallenge), testChallenge)
		if !checkErr(err, tc.want) || err != nil && !strings.Contains(err.Error(), "AllowedIssuers") {
			t.Errorf("Verify(%s) error = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Without AllowedIssuers a card trusted directly as a root still
	// verifies, as before.
	v := verifier(f.h)
	v.Roots = pool(f.ecCert)
	if _, err := v.Verify(makeToken(t, f.ecKey, f.ecCert, ES256, siteOrigin, testChallenge), testChallenge); err != nil {
		t.Errorf("Verify(card trusted as a root, no AllowedIssuers) error = %v, want nil", err)
	}
}

// TestIdentity is the regression test for keying accounts by the
// subject's serial number: two CAs issue certificates with the same
// subject, 統一編號 included, and even the same certificate serial number;
// their identities differ.
func TestIdentity(t *testing.T) {
	f := fixture(t)
	serial := new(big.Int).SetBytes(bytes.Repeat([]byte{0x5a}, 16))
	org := testca.Org{Name: "測試幼兒園", UBN: "04595252"}
	ours, err := f.h.Issue(bytes.NewReader(serial.Bytes()), f.ecKey.Public(), org, testca.Signature, testNow, testNow.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	otherCA, otherKey := issuingCA(t, f.h, nil, nil)
	theirs := issueCert(t, otherCA, otherKey, f.p384Key.Public(), func(c *x509.Certificate) {
		c.SerialNumber = ours.SerialNumber
		c.RawSubject = ours.RawSubject
	})
	if ours.Subject.SerialNumber != "04595252" || theirs.Subject.SerialNumber != ours.Subject.SerialNumber ||
		theirs.SerialNumber.Cmp(ours.SerialNumber) != 0 {
		t.Fatalf("fixture: subject serials %q, %q; serials %x, %x", ours.Subject.SerialNumber, theirs.Subject.SerialNumber, ours.SerialNumber, theirs.SerialNumber)
	}
	want := "CN=" + testca.IssuingCommonName + ",OU=" + testca.IssuingOrgUnit + ",O=" + testca.IssuingOrganization + ",C=TW|" + strings.Repeat("5a", 16)
	if got := Identity(ours); got != want {
		t.Errorf("Identity(ours) = %q, want %q", got, want)
	}
	if got, want := Identity(theirs), "CN=Other TEST CA 僅供測試,O=測試,C=TW|"+strings.Repeat("5a", 16); got != want {
		t.Errorf("Identity(theirs) = %q, want %q", got, want)
	}
	// Distinct certificates of one CA, as Verify returns them.
	seen := map[string]bool{}
	for _, c := range []*x509.Certificate{f.rsaCert, f.ecCert, f.encCert, f.expiredCert, ours, theirs} {
		id := Identity(c)
		if seen[id] {
			t.Errorf("Identity(%x) = %q repeats", c.SerialNumber, id)
		}
		seen[id] = true
		if !strings.HasSuffix(id, "|"+c.SerialNumber.Text(16)) {
			t.Errorf("Identity(%x) = %q, want it to end in the serial", c.SerialNumber, id)
		}
	}

	// Names with characters that RFC 4514 escapes, and attributes in an
	// unusual order, repeated or multi-valued, all stay apart.
	names := []pkix.RDNSequence{
		{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a,b"}}},
		{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a"}}, {{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "b"}}},
		{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "b"}}},
		{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "b"}}, {{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a"}}},
		{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a+b"}}},
		{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a|1"}}},
		{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a"}}, {{Type: asn1.ObjectIdentifier{1, 2, 3}, Value: "a"}}},
	}
	ids := map[string]int{}
	for i, n := range names {
		raw, err := asn1.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		ca, key := issuingCA(t, f.h, nil, func(c *x509.Certificate) { c.RawSubject = raw })
		leaf := issueCert(t, ca, key, f.ecKey.Public(), func(c *x509.Certificate) { c.SerialNumber = big.NewInt(1) })
		id := Identity(leaf)
		if j, dup := ids[id]; dup {
			t.Errorf("issuer names %d and %d give the same identity %q", j, i, id)
		}
		ids[id] = i
	}
}

func TestFingerprint(t *testing.T) {
	f := fixture(t)
	sum := sha256.Sum256(f.ecCert.Raw)
	if got, want := Fingerprint(f.ecCert), hex.EncodeToString(sum[:]); got != want || len(got) != 64 {
		t.Errorf("Fingerprint() = %q, want %q", got, want)
	}
	if Fingerprint(f.ecCert) == Fingerprint(f.rsaCert) {
		t.Error("two certificates have one fingerprint")
	}
}
