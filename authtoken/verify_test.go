package authtoken

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/testca"
)

func TestVerify(t *testing.T) {
	f := fixture(t)
	// A token as the host makes it for siteOrigin and testChallenge, then
	// possibly altered.
	type tokenSpec struct {
		key    crypto.Signer
		cert   *x509.Certificate
		alg    string
		origin string // default siteOrigin
	}
	tests := []struct {
		name      string
		tok       tokenSpec
		edit      func(*Token)
		trust     *testca.Hierarchy // default f.h
		challenge string            // given to Verify; default testChallenge
		want      error
		wantMsg   string // a part of the error message, when a branch matters
	}{
		{name: "PS256", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, ""}},
		{name: "ES256", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""}},
		{name: "no appVersion", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.AppVersion = "" }},

		// The origin and the challenge are bound into the signature.
		{name: "token for another origin", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, evilOrigin}, want: ErrSignature},
		{name: "token for another origin ES256", tok: tokenSpec{f.ecKey, f.ecCert, ES256, evilOrigin}, want: ErrSignature},
		{name: "token for the origin with a slash", tok: tokenSpec{f.ecKey, f.ecCert, ES256, siteOrigin + "/"}, want: ErrSignature},
		{name: "token for another challenge", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, ""},
			challenge: otherChallenge, want: ErrSignature},

		// Certificate validity and trust.
		{name: "expired certificate", tok: tokenSpec{f.ecKey, f.expiredCert, ES256, ""}, want: ErrExpired, wantMsg: "expired at"},
		{name: "not yet valid certificate", tok: tokenSpec{f.ecKey, f.futureCert, ES256, ""}, want: ErrExpired, wantMsg: "not valid before"},
		{name: "expired issuing CA", tok: tokenSpec{f.ecKey, f.oldCert, ES256, ""}, trust: f.old,
			want: ErrExpired, wantMsg: testca.IssuingCommonName},
		{name: "CAs not yet valid", tok: tokenSpec{f.ecKey, f.youngCert, ES256, ""}, trust: f.young,
			want: ErrExpired, wantMsg: "not valid before"},
		{name: "another root", tok: tokenSpec{f.ecKey, f.otherCert, ES256, ""}, want: ErrCertificate},
		{name: "trusting another root", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""}, trust: f.other, want: ErrCertificate},
		{name: "encryption certificate", tok: tokenSpec{f.rsaKey, f.encCert, PS256, ""}, want: ErrCertificate, wantMsg: "digitalSignature"},
		{name: "no key usage", tok: tokenSpec{f.ecKey, f.noKUCert, ES256, ""}, want: ErrCertificate, wantMsg: "digitalSignature"},
		{name: "CA certificate", tok: tokenSpec{f.ecKey, f.caCert, ES256, ""}, want: ErrCertificate, wantMsg: "CA certificate"},

		// Signatures.
		{name: "flipped bit PS256", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, ""}, edit: editSig(flipBit), want: ErrSignature},
		{name: "flipped bit ES256", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""}, edit: editSig(flipBit), want: ErrSignature},
		{name: "RSA signature short", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, ""},
			edit: editSig(func(b []byte) []byte { return b[1:] }), want: ErrSignature, wantMsg: "255 bytes"},
		{name: "RSA signature long", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, ""},
			edit: editSig(func(b []byte) []byte { return append([]byte{0}, b...) }), want: ErrSignature, wantMsg: "257 bytes"},
		{name: "ES256 signature 63 bytes", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: editSig(func(b []byte) []byte { return b[:63] }), want: ErrSignature, wantMsg: "63 bytes"},
		{name: "ES256 signature 65 bytes", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: editSig(func(b []byte) []byte { return append(b, 0) }), want: ErrSignature},
		{name: "ES256 signature as DER", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) {
				der, err := f.ecKey.Sign(rand.Reader, SignedDigest(siteOrigin, testChallenge), crypto.SHA256)
				if err != nil {
					panic(err)
				}
				t.Signature = base64.StdEncoding.EncodeToString(der)
			}, want: ErrSignature},
		{name: "ES256 r and s zero", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: editSig(func(b []byte) []byte { return make([]byte, 64) }), want: ErrSignature},
		{name: "PS256 with a 64-byte salt", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, ""},
			edit: func(t *Token) {
				sig, err := f.rsaKey.Sign(rand.Reader, SignedDigest(siteOrigin, testChallenge),
					&rsa.PSSOptions{SaltLength: 64, Hash: crypto.SHA256})
				if err != nil {
					panic(err)
				}
				t.Signature = base64.StdEncoding.EncodeToString(sig)
			}, want: ErrSignature},
		{name: "PS256 signature labelled RS256", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, ""},
			edit: func(t *Token) { t.Algorithm = RS256 }, want: ErrAlgorithm, wantMsg: `"RS256"`},
		// A PKCS#1 v1.5 signature over the right digest, which the host's
		// raw sign makes for any page, is not a PS256 token.
		{name: "RS256 signature labelled PS256", tok: tokenSpec{f.rsaKey, f.rsaCert, RS256, ""},
			edit: func(t *Token) { t.Algorithm = PS256 }, want: ErrSignature, wantMsg: "PS256"},
		{name: "signature by another key", tok: tokenSpec{f.p384Key, f.ecCert, ES256, ""}, want: ErrSignature},

		// Algorithms. RS256 is refused even when the token is made right, over
		// the right digest with the right key: raw sign gives any page that
		// signature over any digest, SignedDigest of another origin included.
		{name: "RS256 refused", tok: tokenSpec{f.rsaKey, f.rsaCert, RS256, ""}, want: ErrAlgorithm, wantMsg: `"RS256"`},
		{name: "RS256 for another origin refused", tok: tokenSpec{f.rsaKey, f.rsaCert, RS256, evilOrigin}, want: ErrAlgorithm},
		{name: "RS256 refused before the certificate", tok: tokenSpec{f.rsaKey, f.encCert, RS256, ""}, want: ErrAlgorithm},
		{name: "ES256 with an RSA key", tok: tokenSpec{f.rsaKey, f.rsaCert, ES256, ""}, want: ErrAlgorithm},
		{name: "RS256 with an EC key", tok: tokenSpec{f.ecKey, f.ecCert, RS256, ""}, want: ErrAlgorithm},
		{name: "PS256 with an EC key", tok: tokenSpec{f.ecKey, f.ecCert, PS256, ""}, want: ErrAlgorithm},
		{name: "ES256 with a P-384 key", tok: tokenSpec{f.p384Key, f.p384Cert, ES256, ""}, want: ErrAlgorithm},
		{name: "lower-case algorithm", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, ""},
			edit: func(t *Token) { t.Algorithm = "ps256" }, want: ErrAlgorithm},
		{name: "algorithm none", tok: tokenSpec{f.rsaKey, f.rsaCert, PS256, ""},
			edit: func(t *Token) { t.Algorithm = "none" }, want: ErrAlgorithm},
		{name: "algorithm HS256", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Algorithm = "HS256" }, want: ErrAlgorithm},

		// Format and encoding.
		{name: "unknown format", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Format = "cardbridge:2" }, want: ErrFormat},
		{name: "Web eID format", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Format = "web-eid:1.0" }, want: ErrFormat},
		{name: "empty format", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Format = "" }, want: ErrFormat},
		{name: "empty certificate", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Certificate = "" }, want: ErrMalformed},
		{name: "empty algorithm", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Algorithm = "" }, want: ErrMalformed},
		{name: "empty signature", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Signature = "" }, want: ErrMalformed},
		{name: "certificate not base64", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Certificate = "not base64!" }, want: ErrMalformed},
		{name: "certificate base64url", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Certificate = base64.URLEncoding.EncodeToString(f.ecCert.Raw) }, want: ErrMalformed},
		{name: "certificate with line breaks", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Certificate = t.Certificate[:64] + "\r\n" + t.Certificate[64:] }, want: ErrMalformed},
		{name: "signature unpadded", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""}, // 64 bytes: "==" padding
			edit: func(t *Token) { t.Signature = strings.TrimRight(t.Signature, "=") }, want: ErrMalformed},
		{name: "certificate not DER", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Certificate = base64.StdEncoding.EncodeToString([]byte("hello")) }, want: ErrMalformed},
		{name: "certificate with trailing data", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) {
				t.Certificate = base64.StdEncoding.EncodeToString(append(f.ecCert.Raw[:len(f.ecCert.Raw):len(f.ecCert.Raw)], 0))
			}, want: ErrMalformed},
		{name: "certificate too large", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Certificate = base64.StdEncoding.EncodeToString(make([]byte, MaxCertificateSize+1)) }, want: ErrMalformed},
		{name: "signature not base64", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""},
			edit: func(t *Token) { t.Signature = t.Signature[1:] }, want: ErrMalformed},

		// The challenge Verify is given.
		{name: "challenge empty", tok: tokenSpec{f.ecKey, f.ecCert, ES256, ""}, challenge: "-", want: ErrChallenge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			origin := tc.tok.origin
			if origin == "" {
				origin = siteOrigin
			}
			tok := makeToken(t, tc.tok.key, tc.tok.cert, tc.tok.alg, origin, testChallenge)
			if tc.edit != nil {
				tc.edit(tok)
			}
			trust := tc.trust
			if trust == nil {
				trust = f.h
			}
			challenge := tc.challenge
			switch challenge {
			case "":
				challenge = testChallenge
			case "-":
				challenge = ""
			}
			got, err := verifier(trust).Verify(tok, challenge)
			if !checkErr(err, tc.want) || err != nil && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Verify() error = %v, want %v (message containing %q)", err, tc.want, tc.wantMsg)
			}
			if tc.want == nil && !got.Equal(tc.tok.cert) {
				t.Errorf("Verify() = %v, want the token's certificate %v", got.Subject, tc.tok.cert.Subject)
			}
			if tc.want != nil && got != nil {
				t.Errorf("Verify() = %v, %v, want nil certificate", got.Subject, err)
			}
		})
	}
}

// editSig returns an edit that replaces the decoded signature by f(sig).
func editSig(f func([]byte) []byte) func(*Token) {
	return func(t *Token) {
		sig, err := base64.StdEncoding.DecodeString(t.Signature)
		if err != nil {
			panic(err)
		}
		t.Signature = base64.StdEncoding.EncodeToString(f(sig))
	}
}

// flipBit flips the lowest bit of the middle byte of b.
func flipBit(b []byte) []byte {
	b[len(b)/2] ^= 1
	return b
}

// TestSignedDigestIndependent builds the signed value by hand from the
// documented formula, not with SignedDigest, and checks that Verify
// accepts tokens signed over it, for each algorithm, and refuses an RS256
// one although its signature is good over the same digest.
func TestSignedDigestIndependent(t *testing.T) {
	f := fixture(t)
	o := sha256.Sum256([]byte(siteOrigin))
	c := sha256.Sum256([]byte(testChallenge))
	d := sha256.Sum256(append(o[:], c[:]...))

	// Known answer, computed outside Go:
	//   (printf %s "$origin" | openssl dgst -sha256 -binary;
	//    printf %s "$challenge" | openssl dgst -sha256 -binary) | openssl dgst -sha256
	const want = "141a55b8e9422f09672a04b893e8fda3fd6da5c1e88fd85d2a8f655f02c06483"
	if got := base64.StdEncoding.EncodeToString(SignedDigest(siteOrigin, testChallenge)); got != base64.StdEncoding.EncodeToString(d[:]) {
		t.Errorf("SignedDigest(%q, %q) = %s, want the hand-computed %x", siteOrigin, testChallenge, got, d)
	}
	if got := hexString(d[:]); got != want {
		t.Errorf("hand-computed digest = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		key  crypto.Signer
		cert *x509.Certificate
		alg  string
		want error
	}{{f.rsaKey, f.rsaCert, PS256, nil}, {f.ecKey, f.ecCert, ES256, nil}, {f.rsaKey, f.rsaCert, RS256, ErrAlgorithm}} {
		tok := &Token{
			Format:      Format,
			Certificate: base64.StdEncoding.EncodeToString(tc.cert.Raw),
			Algorithm:   tc.alg,
			Signature:   base64.StdEncoding.EncodeToString(sign(t, tc.key, tc.alg, d[:])),
		}
		if _, err := verifier(f.h).Verify(tok, testChallenge); !checkErr(err, tc.want) {
			t.Errorf("Verify(%s token signed over the hand-computed digest) error = %v, want %v", tc.alg, err, tc.want)
		}
	}
}

// hexString is a lower-case hex encoding, kept apart from encoding/hex
// so the known answer above is compared as text.
func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}

func TestVerifierOrigin(t *testing.T) {
	f := fixture(t)
	tests := []struct {
		origin string
		ok     bool
	}{
		{"https://site.example", true},
		{"https://site.example:8443", true},
		{"https://xn--fiqs8s.example", true},
		{"https://a-b_c.example.tw", true},
		{"https://192.0.2.1", true},
		{"https://[2001:db8::1]:8443", true},
		{"http://localhost", true},
		{"http://localhost:8080", true},
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:8080", true},

		{"", false},
		{"site.example", false},
		{"//site.example", false},
		{"http://site.example", false},
		{"http://192.0.2.1", false},
		{"ftp://site.example", false},
		{"chrome-extension://abcdefghijklmnop", false},
		{"https://", false},
		{"https:site.example", false},
		{"https://site.example/", false},
		{"https://site.example/path", false},
		{"https://site.example?q=1", false},
		{"https://site.example?", false},
		{"https://site.example#frag", false},
		{"https://site.example#", false},
		{"https://user@site.example", false},
		{"https://user:pw@site.example", false},
		{"HTTPS://site.example", false},
		{"https://Site.Example", false},
		{"https://中文.example", false},
		{"https://site example", false},
		{"https://site.example:", false},
		{"https://site.example:443", false},
		{"http://localhost:80", false},
		{"https://site.example:0", false},
		{"https://site.example:65536", false},
		{"https://site.example:08443", false},
		{"https://site.example:port", false},
		{"https://[2001:DB8::1]", false},
		{"https://[2001:db8:0::1]", false},
		{"https://[fe80::1%25eth0]", false},
		{" https://site.example", false},
		{"https://site.example ", false},
	}
	for _, tc := range tests {
		v := verifier(f.h)
		v.Origin = tc.origin
		tok := makeToken(t, f.ecKey, f.ecCert, ES256, tc.origin, testChallenge)
		want := ErrOrigin
		if tc.ok {
			want = nil
		}
		if _, err := v.Verify(tok, testChallenge); !checkErr(err, want) {
			t.Errorf("Verifier{Origin: %q}.Verify() error = %v, want %v", tc.origin, err, want)
		}
	}
}

func TestVerifyChallengeFormat(t *testing.T) {
	f := fixture(t)
	std := base64.StdEncoding.EncodeToString
	tests := []struct {
		name      string
		challenge string
		want      error
	}{
		{"32 bytes", std(make([]byte, 32)), nil},
		{"64 bytes", std(make([]byte, 64)), nil},
		{"empty", "", ErrChallenge},
		{"31 bytes", std(make([]byte, 31)), ErrChallenge},
		{"65 bytes", std(make([]byte, 65)), ErrChallenge},
		{"very long", strings.Repeat("A", 1<<20), ErrChallenge},
		{"unpadded", base64.RawStdEncoding.EncodeToString(make([]byte, 32)), ErrChallenge},
		{"base64url", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 33)), ErrChallenge},
		{"line break", std(make([]byte, 48))[:32] + "\n" + std(make([]byte, 48))[32:], ErrChallenge},
		{"non-zero padding bits", strings.TrimSuffix(std(make([]byte, 32)), "A=") + "B=", ErrChallenge},
		{"not base64", strings.Repeat("*", 44), ErrChallenge},
	}
	for _, tc := range tests {
		tok := makeToken(t, f.ecKey, f.ecCert, ES256, siteOrigin, tc.challenge)
		if _, err := verifier(f.h).Verify(tok, tc.challenge); !checkErr(err, tc.want) {
			t.Errorf("Verify(challenge %s) error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestVerifyExpiredAmongCandidates has two candidate issuing CA
// certificates with the same subject and key: the one that chains to the
// trusted root has expired, the other is valid but chains elsewhere.
// Whichever x509 tries last, the failure is the expired one.
func TestVerifyExpiredAmongCandidates(t *testing.T) {
	f := fixture(t)
	tok := makeToken(t, f.ecKey, f.oldCert, ES256, siteOrigin, testChallenge)
	for _, order := range [][]*x509.Certificate{{f.old.Issuing.Cert, f.crossCA}, {f.crossCA, f.old.Issuing.Cert}} {
		v := verifier(f.old)
		v.Intermediates = x509.NewCertPool()
		for _, c := range order {
			v.Intermediates.AddCert(c)
		}
		if _, err := v.Verify(tok, testChallenge); !checkErr(err, ErrExpired) || !strings.Contains(err.Error(), "expired at") {
			t.Errorf("Verify() with intermediates expiring %s, %s error = %v, want %v",
				order[0].NotAfter.Format(time.DateOnly), order[1].NotAfter.Format(time.DateOnly), err, ErrExpired)
		}
	}
}

func TestVerifyConfiguration(t *testing.T) {
	f := fixture(t)
	tok := makeToken(t, f.ecKey, f.ecCert, ES256, siteOrigin, testChallenge)

	v := verifier(f.h)
	v.Roots = nil
	if _, err := v.Verify(tok, testChallenge); !checkErr(err, ErrCertificate) {
		t.Errorf("Verify() with nil Roots error = %v, want %v", err, ErrCertificate)
	}
	// The issuing CA certificate must come from somewhere: the card holds
	// only its own certificate.
	v = verifier(f.h)
	v.Intermediates = nil
	if _, err := v.Verify(tok, testChallenge); !checkErr(err, ErrCertificate) {
		t.Errorf("Verify() with nil Intermediates error = %v, want %v", err, ErrCertificate)
	}
	if _, err := verifier(f.h).Verify(nil, testChallenge); !checkErr(err, ErrMalformed) {
		t.Errorf("Verify(nil) error = %v, want %v", err, ErrMalformed)
	}
}

// TestVerifyClock checks that a nil Now means the real clock.
func TestVerifyClock(t *testing.T) {
	f := fixture(t)
	now := time.Now()
	h, err := testca.New(nil, now)
	if err != nil {
		t.Fatal(err)
	}
	org := testca.Org{Name: "測試"}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     error
	}{
		{"valid now", now.Add(-time.Hour), now.Add(time.Hour), nil},
		{"expired an hour ago", now.Add(-2 * time.Hour), now.Add(-time.Hour), ErrExpired},
	} {
		cert, err := h.Issue(nil, f.ecKey.Public(), org, testca.Signature, tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		v := verifier(h)
		v.Now = nil
		if _, err := v.Verify(makeToken(t, f.ecKey, cert, ES256, siteOrigin, testChallenge), testChallenge); !checkErr(err, tc.want) {
			t.Errorf("Verify(%s) with nil Now error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestAlgorithm(t *testing.T) {
	f := fixture(t)
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		// Never RS256: see TestSignOracleCannotForgeToken.
		{"RSA", f.rsaKey.Public(), PS256},
		{"P-256", f.ecKey.Public(), ES256},
		{"P-384", f.p384Key.Public(), ""},
		{"P-256 by value", f.ecKey.PublicKey, ""},
		{"RSA by value", f.rsaKey.PublicKey, ""},
		{"private key", f.ecKey, ""},
		{"RSA private key", f.rsaKey, ""},
		{"nil", nil, ""},
		{"nil RSA pointer", (*rsa.PublicKey)(nil), ""},
		{"nil ECDSA pointer", (*ecdsa.PublicKey)(nil), ""},
		{"ECDSA without curve", &ecdsa.PublicKey{}, ""},
		{"Ed25519", ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)), ""},
	}
	for _, tc := range tests {
		got, err := Algorithm(tc.pub)
		want := error(nil)
		if tc.want == "" {
			want = ErrAlgorithm
		}
		if got != tc.want || !checkErr(err, want) {
			t.Errorf("Algorithm(%s) = %q, %v, want %q, %v", tc.name, got, err, tc.want, want)
		}
	}
}
