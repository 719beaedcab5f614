package authtoken

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384 and SHA-512, as sign's hashAlgorithm offers
	"encoding/base64"
	"encoding/json"
	"testing"
)

// TestSignOracleCannotForgeToken is the regression test for the sign
// oracle. The host's sign (format raw) gives a page allowed to sign an RSA
// PKCS#1 v1.5 signature, with the same card key that signs login tokens,
// over a digest the page chooses or over the hash of data it chooses.
// When tokens could be RS256, a page at evilOrigin asked for a signature
// over SignedDigest(siteOrigin, challenge), or over the data
// SHA-256(siteOrigin) || SHA-256(challenge), and so held a login token for
// siteOrigin. Whatever algorithm such a signature is labelled with, Verify
// at siteOrigin must refuse it.
func TestSignOracleCannotForgeToken(t *testing.T) {
	f := fixture(t)
	pub := f.rsaKey.Public().(*rsa.PublicKey)

	// What the page computes for the site it attacks, by hand rather than
	// with SignedDigest.
	o := sha256.Sum256([]byte(siteOrigin))
	c := sha256.Sum256([]byte(testChallenge))
	data := append(o[:], c[:]...)
	target := sha256.Sum256(data)

	// rawSign is what sign with format raw returns for an RSA key: PKCS#1
	// v1.5 over digest, or over data hashed with h as the host does.
	rawSign := func(h crypto.Hash, digest, data []byte) []byte {
		t.Helper()
		if digest == nil {
			hh := h.New()
			hh.Write(data)
			digest = hh.Sum(nil)
		}
		sig, err := rsa.SignPKCS1v15(nil, f.rsaKey, h, digest)
		if err != nil {
			t.Fatalf("rsa.SignPKCS1v15(%v) error = %v", h, err)
		}
		return sig
	}
	oracle := []struct {
		name string
		sig  []byte
		// rs256 marks the signatures an RS256 verifier would accept: the
		// hole this test keeps closed.
		rs256 bool
	}{
		{"digest SignedDigest", rawSign(crypto.SHA256, target[:], nil), true},
		{"data H(origin)||H(challenge) SHA-256", rawSign(crypto.SHA256, nil, data), true},
		{"data H(origin)||H(challenge) SHA-384", rawSign(crypto.SHA384, nil, data), false},
		{"data H(origin)||H(challenge) SHA-512", rawSign(crypto.SHA512, nil, data), false},
	}
	for _, o := range oracle {
		// The premise: the oracle's signature is a good PKCS#1 v1.5
		// signature over the site's signed digest.
		err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, SignedDigest(siteOrigin, testChallenge), o.sig)
		if (err == nil) != o.rs256 {
			t.Fatalf("%s: rsa.VerifyPKCS1v15 over SignedDigest = %v, want it to verify: %v", o.name, err, o.rs256)
		}
		for _, tc := range []struct {
			alg  string
			want error
		}{{RS256, ErrAlgorithm}, {PS256, ErrSignature}} {
			tok := &Token{
				Format:      Format,
				Certificate: base64.StdEncoding.EncodeToString(f.rsaCert.Raw),
				Algorithm:   tc.alg,
				Signature:   base64.StdEncoding.EncodeToString(o.sig),
				AppVersion:  "0.1.0",
			}
			// As the site gets it: JSON from the page.
			body, err := json.Marshal(tok)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := Parse(body)
			if err != nil {
				t.Fatalf("%s as %s: Parse error = %v", o.name, tc.alg, err)
			}
			cert, err := verifier(f.h).Verify(parsed, testChallenge)
			if cert != nil || !checkErr(err, tc.want) {
				t.Errorf("%s as %s: Verify() = %v, %v, want nil, %v", o.name, tc.alg, cert, err, tc.want)
			}
		}
	}

	// The control: a token the host makes for the site verifies with the
	// same key, certificate and verifier.
	if _, err := verifier(f.h).Verify(makeToken(t, f.rsaKey, f.rsaCert, PS256, siteOrigin, testChallenge), testChallenge); err != nil {
		t.Errorf("Verify(PS256 token for %s) error = %v, want nil", siteOrigin, err)
	}
}
