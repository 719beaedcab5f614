// Package authtoken verifies CardBridge authentication tokens: the proof,
// made by a certificate card through the CardBridge extension and native
// host, that the person logging in to a site holds the card.
//
// A login takes four steps:
//
//  1. The server issues a challenge (Challenges.Issue), keeps it in the
//     user's server-side session and puts it in the login page.
//  2. The page asks the extension to authenticate with that challenge. The
//     browser, not the page, tells the host the page's origin; after the
//     user enters the PIN the card signs SignedDigest(origin, challenge).
//  3. The page posts the resulting Token (JSON) to the server.
//  4. The server consumes the challenge from the session and verifies the
//     token against its own origin and the CA roots it accepts.
//
// In code, step 4 is:
//
//	tok, err := authtoken.Parse(body)
//	if err != nil {
//		return err // errors.Is(err, authtoken.ErrMalformed)
//	}
//	if err := challenges.Consume(session.Challenge); err != nil {
//		return err // ErrChallenge: unknown or expired; ErrReplay: used
//	}
//	v := &authtoken.Verifier{Roots: roots, Intermediates: cas, Origin: "https://site.example"}
//	cert, err := v.Verify(tok, session.Challenge)
//	if err != nil {
//		return err // ErrSignature, ErrCertificate, ErrExpired, …
//	}
//	// cert identifies the card holder, e.g. by subject and serial number.
//
// Neither the origin nor the challenge is a field of the token: both are
// bound into the signed digest, and the server supplies its own. A token
// phished by another site, or captured and replayed, therefore fails as
// ErrSignature, or as ErrReplay at Consume. The format is deliberately not
// a JWT, so no library mistakes its fields for trusted claims.
//
// The package uses only the standard library and does no I/O or logging.
//
// References:
//   - Web eID system architecture, "Authentication token format"
//     (https://github.com/web-eid/web-eid-system-architecture-doc): the
//     origin and nonce binding this format follows.
//   - RFC 7518 §3.3-3.5 (JWA RS256, ES256 as r||s, PS256).
//   - RFC 6454 §6.2 (serialization of an origin).
//   - RFC 5280 §4.2.1.3 and §6 (key usage; certification path validation).
package authtoken
