// Package authtoken verifies CardBridge authentication tokens: the proof,
// made by a certificate card through the CardBridge extension and native
// host, that the person logging in to a site holds the card.
//
// A login takes four steps:
//
//  1. The server issues a challenge (Challenges.Issue, per client),
//     keeps it in the user's server-side session and puts it in the
//     login page.
//  2. The page asks the extension to authenticate with that challenge. The
//     browser, not the page, tells the host the page's origin; after the
//     user enters the PIN the card signs SignedDigest(origin, challenge).
//  3. The page posts the resulting Token (JSON) to the server.
//  4. The server consumes the challenge from the session and verifies the
//     token against its own origin and the CA roots it accepts.
//
// In code, step 1 is
//
//	challenge, err := challenges.Issue(authtoken.ClientFromAddr(r.RemoteAddr))
//	if err != nil {
//		return err // ErrClient only: Issue does not fail under load
//	}
//	session.Challenge = challenge
//
// and step 4 is:
//
//	tok, err := authtoken.Parse(body)
//	if err != nil {
//		return err // errors.Is(err, authtoken.ErrMalformed)
//	}
//	if err := challenges.Consume(session.Challenge); err != nil {
//		return err // ErrChallenge: unknown, expired or evicted; ErrReplay: used
//	}
//	v := &authtoken.Verifier{
//		Roots:          roots,         // e.g. GRCA
//		Intermediates:  cas,           // the issuing CAs, e.g. XCA and MOICA
//		Origin:         "https://site.example",
//		AllowedIssuers: cardIssuers,   // the same issuing CA certificates
//	}
//	cert, err := v.Verify(tok, session.Challenge)
//	if err != nil {
//		return err // ErrSignature, ErrCertificate, ErrExpired, …
//	}
//	// Check revocation of cert (see below), then:
//	account := accounts.Lookup(authtoken.Identity(cert))
//
// Neither the origin nor the challenge is a field of the token: both are
// bound into the signed digest, and the server supplies its own. A token
// phished by another site, or captured and replayed, therefore fails as
// ErrSignature, or as ErrReplay at Consume. The format is deliberately not
// a JWT, so no library mistakes its fields for trusted claims.
//
// The package uses only the standard library and does no I/O or logging.
//
// # Who logged in
//
// Key accounts by Identity(cert), the issuing CA's distinguished name and
// the certificate's serial number (unique per CA, RFC 5280 §4.1.2.2), or
// by Fingerprint(cert) when the site registers each certificate before it
// may log in. The subject's serialNumber attribute (cert.Subject.SerialNumber:
// an organisation's 統一編號, a person's ID number) and the other subject
// fields are attributes to display and to look up whom a certificate
// claims to be, never the account key: any CA under the site's roots can
// issue a certificate with the same values, so keying by them would let a
// certificate from one CA log in to an account created with another.
// Identity changes when a card or its certificate is renewed; linking the
// new certificate to the existing account (for example while the user is
// still logged in with the old one, or after checking the subject
// attributes out of band) is the site's decision.
//
// # Revocation
//
// Verify does not check revocation, and the package does no I/O. A
// certificate whose card was lost, or whose holder left the organisation,
// still verifies until it expires. Before starting the session the site
// must check the certificate against the CRL or the OCSP responder of its
// issuing CA (named in the certificate's CRL distribution points and
// authority information access extensions; for XCA and MOICA see the
// CA's repository), and refuse the login when the status is revoked, or
// unknown beyond what the site's policy tolerates.
//
// References:
//   - Web eID system architecture, "Authentication token format"
//     (https://github.com/web-eid/web-eid-system-architecture-doc): the
//     origin and nonce binding this format follows.
//   - RFC 7518 §3.3-3.5 (JWA RS256, ES256 as r||s, PS256).
//   - RFC 6454 §6.2 (serialization of an origin).
//   - RFC 5280 §4.1.2.2 (serial numbers unique per CA), §4.2.1.3, §4.2.1.4
//     and §4.2.1.12 (key usage, certificate policies, extended key usage),
//     §6 (certification path validation).
package authtoken
