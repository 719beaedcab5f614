package authtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/cardbridge/cardbridge/internal/origin"
)

// Challenge sizes: the decoded challenge has 32 to 64 bytes. 32 random
// bytes (what Challenges issues) make guessing hopeless; the upper bound
// keeps the string short.
const (
	minChallengeBytes = 32
	maxChallengeBytes = 64
)

// Verifier checks tokens for one site. Its fields are read, not changed,
// by Verify, so one Verifier may serve concurrent requests.
type Verifier struct {
	// Roots are the CA certificates a token's certificate must chain to,
	// e.g. the XCA, GCA or MOICA roots the site accepts. Unlike
	// x509.VerifyOptions, nil does not mean the system roots: those
	// certify web servers, not card holders, so Verify refuses to run
	// without explicit roots.
	Roots *x509.CertPool
	// Intermediates are issuing CA certificates that may complete a chain
	// (a card holds only its own certificate). May be nil.
	Intermediates *x509.CertPool
	// Origin is the site's own origin as the browser reports it:
	// "https://host" or "https://host:port", lower case, no trailing
	// slash, no default port; "http://" only for localhost, 127.0.0.1 and
	// [::1] during development. Verify returns ErrOrigin for anything
	// else, since a value the browser never reports would make every
	// token fail as ErrSignature.
	Origin string
	// Now returns the time at which certificates must be valid; nil means
	// time.Now.
	Now func() time.Time
	// RequiredPolicies, when not empty, are the certificate policy OIDs
	// a login certificate may be issued under: the certificate must
	// assert at least one of them in its certificate policies extension,
	// or Verify returns ErrCertificate. Use it to accept only the card
	// profiles the site means, e.g. the XCA or MOICA policies under the
	// GPKI arc 2.16.886.101 that the CA's certification practice
	// statement lists (take the exact OIDs from the CPS or from a real
	// card certificate; x509.ParseOID makes them). Only the card's own
	// certificate is examined: anyPolicy (2.5.29.32.0) in it matches only
	// if listed here, and policy mappings and the CA certificates'
	// policies are not processed. Empty: no policy is required.
	RequiredPolicies []x509.OID
	// AllowedIssuers, when not empty, are the CA certificates that may
	// have issued a login certificate directly: Verify returns
	// ErrCertificate unless a chain it built to Roots has one of them,
	// byte for byte, as the card certificate's issuer. Use it when a root
	// the site trusts (such as GRCA) also certifies CAs for other
	// purposes, e.g. TLS servers, whose certificates must not log in.
	// Issuers are compared as certificates, not by name, so a CA with the
	// same name but another key or certificate does not pass. A renewed
	// issuing CA certificate must be added before cards issued under it
	// can log in. Empty: any CA that chains to Roots.
	AllowedIssuers []*x509.Certificate
}

// Verify checks tok as an authentication for the site at v.Origin and the
// given challenge, and returns the card's certificate. challenge must be
// the string the server issued for this login, taken from the server's
// own session state, never from the request; call Challenges.Consume on
// it first so that it counts as used even when Verify fails.
//
// Verify checks, in this order:
//   - v.Origin and v.Roots are configured (ErrOrigin, ErrCertificate) and
//     challenge is standard base64 of 32 to 64 bytes (ErrChallenge);
//   - tok.Format is Format (ErrFormat) and the required fields are set
//     (ErrMalformed);
//   - the certificate and signature are canonical standard base64 and the
//     certificate parses (ErrMalformed);
//   - tok.Algorithm is what Algorithm reports for the certificate's key
//     (ErrAlgorithm);
//   - the certificate is valid at v.Now (ErrExpired), is not a CA
//     certificate and has the digitalSignature key usage (ErrCertificate);
//   - if it has an extended key usage extension, that lists clientAuth,
//     emailProtection or anyExtendedKeyUsage (ErrCertificate): a TLS
//     server certificate does not log in. A certificate without the
//     extension passes, as card profiles may omit it;
//   - if v.RequiredPolicies is set, it asserts one of them (ErrCertificate);
//   - it chains to v.Roots through v.Intermediates (ErrCertificate, or
//     ErrExpired when a CA certificate is out of its validity). The
//     extended key usages of the CA certificates are not checked: RFC
//     5280 defines the extension for end entities only, and inheriting it
//     down the chain, as x509.VerifyOptions.KeyUsages does, would refuse
//     cards whose CA certificate lists some other usage;
//   - if v.AllowedIssuers is set, one such chain has one of them as the
//     certificate's issuer (ErrCertificate);
//   - the signature verifies over SignedDigest(v.Origin, challenge)
//     (ErrSignature). A token made for another origin or another
//     challenge fails here, as does one whose signature was altered.
//
// Verify does not check revocation: the site must check the returned
// certificate against its issuing CA's CRL or OCSP responder itself (see
// the package documentation), and key its accounts by Identity or
// Fingerprint, not by the subject's serial number.
func (v *Verifier) Verify(tok *Token, challenge string) (*x509.Certificate, error) {
	if err := checkOrigin(v.Origin); err != nil {
		return nil, err
	}
	if v.Roots == nil {
		return nil, fmt.Errorf("%w: Verifier.Roots is nil; refusing to trust the system roots", ErrCertificate)
	}
	if err := checkChallenge(challenge); err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, fmt.Errorf("%w: nil token", ErrMalformed)
	}
	if tok.Format != Format {
		return nil, fmt.Errorf("%w: %.40q, want %q", ErrFormat, tok.Format, Format)
	}
	if err := tok.checkRequired(); err != nil {
		return nil, err
	}
	der, err := decodeBase64(tok.Certificate, MaxCertificateSize)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrMalformed, err)
	}
	sig, err := decodeBase64(tok.Signature, maxSignatureSize)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrMalformed, err)
	}
	want, err := Algorithm(leaf.PublicKey)
	if err != nil {
		return nil, err
	}
	if tok.Algorithm != want {
		return nil, fmt.Errorf("%w: %.16q does not fit the certificate's %s key", ErrAlgorithm, tok.Algorithm, leaf.PublicKeyAlgorithm)
	}
	if err := v.checkCertificate(leaf); err != nil {
		return nil, err
	}
	if err := checkSignature(leaf.PublicKey, tok.Algorithm, SignedDigest(v.Origin, challenge), sig); err != nil {
		return nil, err
	}
	return leaf, nil
}

// checkCertificate checks leaf's validity at v's current time, its key
// usage, and its chain to v.Roots.
func (v *Verifier) checkCertificate(leaf *x509.Certificate) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if err := checkValidity(leaf, now); err != nil {
		return err
	}
	if leaf.IsCA {
		// A CA's key is not on a card; it must not log in as a holder.
		return fmt.Errorf("%w: %q is a CA certificate", ErrCertificate, leaf.Subject.CommonName)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		// Also when the extension is absent: every card certificate has
		// one, and an encryption certificate (cert2) must not sign logins.
		return fmt.Errorf("%w: %q lacks the digitalSignature key usage", ErrCertificate, leaf.Subject.CommonName)
	}
	if err := checkExtKeyUsage(leaf); err != nil {
		return err
	}
	if len(v.RequiredPolicies) > 0 && !assertsPolicy(leaf, v.RequiredPolicies) {
		return fmt.Errorf("%w: %q asserts none of the required certificate policies (it has %v)",
			ErrCertificate, leaf.Subject.CommonName, leaf.Policies)
	}
	opts := x509.VerifyOptions{
		Roots:         v.Roots,
		Intermediates: v.Intermediates,
		CurrentTime:   now,
		// Any: checkExtKeyUsage has judged the card's own certificate.
		// Naming usages here would make x509 intersect them with every
		// CA certificate's extended key usage, and nil would mean
		// serverAuth, which no card certificate has.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	chains, err := leaf.Verify(opts)
	if err == nil {
		return v.checkIssuer(leaf, chains)
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil {
		if err := checkValidity(invalid.Cert, now); err != nil {
			return err // names the certificate
		}
		return fmt.Errorf("%w: %w", ErrExpired, err)
	}
	// When x509 tried several candidate chains it may report another
	// candidate's failure, typically an unknown authority, instead of the
	// CA certificate that is outside its validity. The validity periods
	// are the only checks that depend on the time, so if a chain verifies
	// at either end of the leaf's own validity, one of its CA certificates
	// is what is invalid now.
	for _, t := range []time.Time{leaf.NotBefore, leaf.NotAfter} {
		opts.CurrentTime = t
		chains, err := leaf.Verify(opts)
		if err != nil {
			continue
		}
		for _, chain := range chains {
			for _, ca := range chain[1:] {
				if err := checkValidity(ca, now); err != nil {
					return err
				}
			}
		}
	}
	return fmt.Errorf("%w: %w", ErrCertificate, err)
}

// oidExtKeyUsage is the extended key usage extension (RFC 5280 §4.2.1.12).
var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// checkExtKeyUsage returns an error wrapping ErrCertificate if c has an
// extended key usage extension that allows neither clientAuth,
// emailProtection nor any usage. Other usages, including ones x509 does
// not know, do not count.
func checkExtKeyUsage(c *x509.Certificate) error {
	has := false
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			has = true
			break
		}
	}
	if !has {
		return nil
	}
	for _, u := range c.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageAny:
			return nil
		}
	}
	return fmt.Errorf("%w: %q has an extended key usage without clientAuth or emailProtection", ErrCertificate, c.Subject.CommonName)
}

// assertsPolicy reports whether c asserts one of policies.
func assertsPolicy(c *x509.Certificate, policies []x509.OID) bool {
	for _, p := range c.Policies {
		for _, want := range policies {
			if p.Equal(want) {
				return true
			}
		}
	}
	return false
}

// checkIssuer returns an error wrapping ErrCertificate if v.AllowedIssuers
// is set and no chain has one of them directly above leaf.
func (v *Verifier) checkIssuer(leaf *x509.Certificate, chains [][]*x509.Certificate) error {
	if len(v.AllowedIssuers) == 0 {
		return nil
	}
	for _, chain := range chains {
		if len(chain) < 2 {
			continue // leaf is itself in Roots: it has no issuer here
		}
		for _, ca := range v.AllowedIssuers {
			if ca != nil && chain[1].Equal(ca) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %q was issued by %q, which is not one of Verifier.AllowedIssuers",
		ErrCertificate, leaf.Subject.CommonName, leaf.Issuer.CommonName)
}

// checkValidity returns an error wrapping ErrExpired unless now lies in
// c's validity period (both ends included, as x509 does).
func checkValidity(c *x509.Certificate, now time.Time) error {
	const layout = "2006-01-02 15:04:05 MST"
	switch {
	case now.Before(c.NotBefore):
		return fmt.Errorf("%w: %q is not valid before %s", ErrExpired, c.Subject.CommonName, c.NotBefore.UTC().Format(layout))
	case now.After(c.NotAfter):
		return fmt.Errorf("%w: %q expired at %s", ErrExpired, c.Subject.CommonName, c.NotAfter.UTC().Format(layout))
	}
	return nil
}

// checkSignature verifies sig over digest with pub under alg, which
// Algorithm has already matched to pub's type.
func checkSignature(pub crypto.PublicKey, alg string, digest, sig []byte) error {
	switch alg {
	case PS256:
		k := pub.(*rsa.PublicKey)
		if len(sig) != k.Size() {
			return fmt.Errorf("%w: %d bytes for a %d-bit RSA key", ErrSignature, len(sig), k.N.BitLen())
		}
		err := rsa.VerifyPSS(k, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSignature, alg, err)
		}
		return nil
	case ES256:
		k := pub.(*ecdsa.PublicKey)
		if len(sig) != 64 {
			return fmt.Errorf("%w: %d bytes, want 64 (r||s)", ErrSignature, len(sig))
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(k, digest, r, s) {
			return fmt.Errorf("%w: ES256 verification failed", ErrSignature)
		}
		return nil
	}
	return fmt.Errorf("%w: %.16q", ErrAlgorithm, alg) // unreachable after Algorithm
}

// checkChallenge returns an error wrapping ErrChallenge unless c is
// canonical standard base64 of 32 to 64 bytes.
func checkChallenge(c string) error {
	b, err := decodeBase64(c, maxChallengeBytes)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrChallenge, err)
	}
	if len(b) < minChallengeBytes {
		return fmt.Errorf("%w: %d bytes, want %d to %d", ErrChallenge, len(b), minChallengeBytes, maxChallengeBytes)
	}
	return nil
}

// checkOrigin returns an error wrapping ErrOrigin unless origin is
// serialised as a browser serialises a web origin (see origin.Check, the
// rule the native host applies to requests too).
func checkOrigin(o string) error {
	if err := origin.Check(o); err != nil {
		return fmt.Errorf("%w: %.80q: %w", ErrOrigin, o, err)
	}
	return nil
}
