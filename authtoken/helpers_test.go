package authtoken

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/testca"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	siteOrigin = "https://site.example"
	evilOrigin = "https://evil.example"
)

// Two valid challenges: 32 bytes 0x00..0x1f and 32 bytes 0xff.
var (
	testChallenge  = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	otherChallenge = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32))
)

// sentinels are every error this package wraps; a failure must wrap
// exactly one of them.
var sentinels = []error{ErrMalformed, ErrFormat, ErrAlgorithm, ErrCertificate, ErrExpired,
	ErrSignature, ErrChallenge, ErrReplay, ErrFull, ErrOrigin, ErrClient}

// fixtures is the shared TEST PKI. Creating RSA keys is slow, so it is
// built once per test binary.
type fixtures struct {
	h     *testca.Hierarchy // the site's trusted hierarchy
	other *testca.Hierarchy // a hierarchy the site does not trust
	old   *testca.Hierarchy // its issuing CA expired before testNow
	young *testca.Hierarchy // its CAs become valid after testNow

	rsaKey  *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
	p384Key *ecdsa.PrivateKey

	rsaCert     *x509.Certificate // cert1, RSA, issued by h
	ecCert      *x509.Certificate // cert1, P-256, issued by h
	encCert     *x509.Certificate // cert2 (encryption only), RSA, issued by h
	expiredCert *x509.Certificate // cert1, expired at testNow
	futureCert  *x509.Certificate // cert1, not yet valid at testNow
	otherCert   *x509.Certificate // cert1 issued by other
	oldCert     *x509.Certificate // cert1 issued by old, itself valid at testNow
	youngCert   *x509.Certificate // cert1 issued by young, itself valid at testNow
	p384Cert    *x509.Certificate // cert1, P-384
	caCert      *x509.Certificate // a CA certificate with digitalSignature, issued by h
	noKUCert    *x509.Certificate // no key usage extension, issued by h

	// crossCA has the subject and key of old's issuing CA, is valid at
	// testNow, and is signed by other's root: a chain through it does not
	// reach old's root.
	crossCA *x509.Certificate
}

var testFixtures = sync.OnceValues(func() (*fixtures, error) {
	var f fixtures
	var err error
	for _, h := range []struct {
		p   **testca.Hierarchy
		now time.Time
	}{{&f.h, testNow}, {&f.other, testNow}, {&f.old, testNow.AddDate(-11, 0, 0)}, {&f.young, testNow.AddDate(1, 0, 0)}} {
		if *h.p, err = testca.New(nil, h.now); err != nil {
			return nil, err
		}
	}
	if f.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if f.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if f.p384Key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return nil, err
	}
	org := testca.Org{Name: "測試幼兒園", UBN: "04595252", CardSerial: "TEST000000000001"}
	from, to := testNow.AddDate(0, 0, -1), testNow.AddDate(2, 0, 0)
	for _, c := range []struct {
		p        **x509.Certificate
		h        *testca.Hierarchy
		pub      crypto.PublicKey
		usage    testca.Usage
		from, to time.Time
	}{
		{&f.rsaCert, f.h, f.rsaKey.Public(), testca.Signature, from, to},
		{&f.ecCert, f.h, f.ecKey.Public(), testca.Signature, from, to},
		{&f.encCert, f.h, f.rsaKey.Public(), testca.Encryption, from, to},
		{&f.expiredCert, f.h, f.ecKey.Public(), testca.Signature, testNow.AddDate(-2, 0, 0), testNow.Add(-time.Second)},
		{&f.futureCert, f.h, f.ecKey.Public(), testca.Signature, testNow.Add(time.Second), to},
		{&f.otherCert, f.other, f.ecKey.Public(), testca.Signature, from, to},
		{&f.oldCert, f.old, f.ecKey.Public(), testca.Signature, testNow.AddDate(-2, 0, 0), to},
		{&f.youngCert, f.young, f.ecKey.Public(), testca.Signature, from, testNow.AddDate(3, 0, 0)},
		{&f.p384Cert, f.h, f.p384Key.Public(), testca.Signature, from, to},
	} {
		if *c.p, err = c.h.Issue(nil, c.pub, org, c.usage, c.from, c.to); err != nil {
			return nil, err
		}
	}
	for _, c := range []struct {
		p    **x509.Certificate
		tmpl x509.Certificate
	}{
		{&f.caCert, x509.Certificate{IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}},
		{&f.noKUCert, x509.Certificate{}},
	} {
		c.tmpl.SerialNumber = big.NewInt(1)
		c.tmpl.Subject = pkix.Name{CommonName: "TEST 僅供測試"}
		c.tmpl.NotBefore, c.tmpl.NotAfter = from, to
		der, err := x509.CreateCertificate(rand.Reader, &c.tmpl, f.h.Issuing.Cert, f.ecKey.Public(), f.h.Issuing.Key)
		if err != nil {
			return nil, err
		}
		if *c.p, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
	}
	tmpl := *f.old.Issuing.Cert
	tmpl.NotBefore, tmpl.NotAfter = from, to
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, f.other.Root.Cert, tmpl.PublicKey, f.other.Root.Key)
	if err != nil {
		return nil, err
	}
	if f.crossCA, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	return &f, nil
})

func fixture(tb testing.TB) *fixtures {
	tb.Helper()
	f, err := testFixtures()
	if err != nil {
		tb.Fatalf("building test PKI: %v", err)
	}
	return f
}

// verifier returns a Verifier for siteOrigin at testNow that trusts h.
func verifier(h *testca.Hierarchy) *Verifier {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(h.Root.Cert)
	inters.AddCert(h.Issuing.Cert)
	return &Verifier{Roots: roots, Intermediates: inters, Origin: siteOrigin, Now: func() time.Time { return testNow }}
}

// sign signs digest with key as alg does, returning an ECDSA signature as
// r||s. It signs whatever it is given: the alg need not fit the key.
func sign(tb testing.TB, key crypto.Signer, alg string, digest []byte) []byte {
	tb.Helper()
	var opts crypto.SignerOpts = crypto.SHA256
	if alg == PS256 {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	}
	sig, err := key.Sign(rand.Reader, digest, opts)
	if err != nil {
		tb.Fatalf("Sign(%s) error = %v", alg, err)
	}
	if k, ok := key.(*ecdsa.PrivateKey); ok {
		return rawECDSA(tb, sig, (k.Curve.Params().BitSize+7)/8)
	}
	return sig
}

// rawECDSA converts an ASN.1 DER ECDSA signature to r||s, each n bytes.
func rawECDSA(tb testing.TB, der []byte, n int) []byte {
	tb.Helper()
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 {
		tb.Fatalf("asn1.Unmarshal(ECDSA signature) = %v, %d trailing bytes", err, len(rest))
	}
	out := make([]byte, 2*n)
	rs.R.FillBytes(out[:n])
	rs.S.FillBytes(out[n:])
	return out
}

// makeToken returns the token a host would make with key and cert for
// origin and challenge, labelled alg.
func makeToken(tb testing.TB, key crypto.Signer, cert *x509.Certificate, alg, origin, challenge string) *Token {
	tb.Helper()
	return &Token{
		Format:      Format,
		Certificate: base64.StdEncoding.EncodeToString(cert.Raw),
		Algorithm:   alg,
		Signature:   base64.StdEncoding.EncodeToString(sign(tb, key, alg, SignedDigest(origin, challenge))),
		AppVersion:  "0.1.0",
	}
}

// checkErr reports whether err is nil when want is nil, and otherwise
// wraps want and no other sentinel.
func checkErr(err, want error) bool {
	if want == nil || err == nil {
		return err == want
	}
	for _, s := range sentinels {
		if errors.Is(err, s) != (s == want) {
			return false
		}
	}
	return true
}
