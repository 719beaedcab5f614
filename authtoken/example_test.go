package authtoken_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/cardbridge/cardbridge/authtoken"
)

// A whole login: the site issues a challenge, a software key standing in
// for the card signs it as the native host does, and the site verifies the
// token it receives.
func Example() {
	const origin = "https://site.example"
	now := time.Now()

	// A TEST CA and a card certificate. A real site loads its CA roots.
	caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example TEST CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caCert := must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey))))
	cardKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Example Kindergarten"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER := must(x509.CreateCertificate(rand.Reader, leafTmpl, caCert, cardKey.Public(), caKey))

	// Server: issue a challenge for the client asking (its address, from
	// http.Request.RemoteAddr) and keep it in the user's session.
	challenges := authtoken.NewChallenges(authtoken.ChallengeTTL)
	challenge, err := challenges.Issue(authtoken.ClientFromAddr("192.0.2.1:50123"))
	if err != nil {
		fmt.Println(err)
		return
	}

	// Native host: the card signs the digest binding origin and challenge;
	// ES256 signatures are r||s, 32 bytes each.
	r, s, err := ecdsa.Sign(rand.Reader, cardKey, authtoken.SignedDigest(origin, challenge))
	if err != nil {
		fmt.Println(err)
		return
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	alg := must(authtoken.Algorithm(cardKey.Public())) // ES256
	body := must(json.Marshal(authtoken.Token{
		Format:      authtoken.Format,
		Certificate: base64.StdEncoding.EncodeToString(leafDER),
		Algorithm:   alg,
		Signature:   base64.StdEncoding.EncodeToString(sig),
		AppVersion:  "0.1.0",
	}))

	// Server: parse, spend the session's challenge, verify.
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	v := &authtoken.Verifier{Roots: roots, Origin: origin, AllowedIssuers: []*x509.Certificate{caCert}}
	tok, err := authtoken.Parse(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := challenges.Consume(challenge); err != nil {
		fmt.Println(err)
		return
	}
	cert, err := v.Verify(tok, challenge)
	if err != nil {
		fmt.Println(err)
		return
	}
	// A real site checks revocation here, then finds the account by the
	// issuer and serial number, never by subject attributes alone.
	fmt.Println("logged in:", cert.Subject.CommonName)
	fmt.Println("account:", authtoken.Identity(cert))

	// The same token again: the challenge is spent.
	fmt.Println(challenges.Consume(challenge))
	// Output:
	// logged in: Example Kindergarten
	// account: CN=Example TEST CA|2
	// authtoken: challenge already used
}

// The algorithm a token carries follows from the certificate's key. An
// RSA key signs tokens with RSASSA-PSS (SHA-256, MGF1 with SHA-256, a
// 32-byte salt): PS256. RS256 (PKCS#1 v1.5) is never used and Verify
// refuses it, because the host also makes PKCS#1 v1.5 signatures over
// digests a page chooses.
func ExampleAlgorithm() {
	cardKey := must(rsa.GenerateKey(rand.Reader, 2048))
	const origin, challenge = "https://site.example", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	digest := authtoken.SignedDigest(origin, challenge)

	alg := must(authtoken.Algorithm(cardKey.Public()))
	sig := must(rsa.SignPSS(rand.Reader, cardKey, crypto.SHA256, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}))
	fmt.Println(alg, len(sig), rsa.VerifyPSS(&cardKey.PublicKey, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: 32}))

	ecKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	fmt.Println(must(authtoken.Algorithm(ecKey.Public())))
	// Output:
	// PS256 256 <nil>
	// ES256
}

// must panics on an error: the example's setup cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
