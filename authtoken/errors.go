package authtoken

import "errors"

// Errors returned, wrapped with detail, by this package; test for them with
// errors.Is. Each failure wraps exactly one of them, so a site can map it to
// a response without reading the message. Messages are for logs: they may
// name certificate subjects and should not be shown to the user verbatim.
var (
	// ErrMalformed means the token is not a well-formed CardBridge token:
	// not a JSON object of the expected string fields, oversize, a field
	// that is not canonical standard base64, or a certificate that does not
	// parse.
	ErrMalformed = errors.New("authtoken: malformed token")

	// ErrFormat means the token's format is not [Format]: it comes from
	// another or a newer native host.
	ErrFormat = errors.New("authtoken: unknown token format")

	// ErrAlgorithm means the token's algorithm is unknown, does not match
	// the certificate's key type, or the key type is unsupported.
	ErrAlgorithm = errors.New("authtoken: unsupported or mismatched algorithm")

	// ErrCertificate means the certificate is not acceptable: it does not
	// chain to the configured roots, it is a CA certificate, its key usage
	// lacks digitalSignature, its extended key usage allows neither client
	// authentication nor e-mail protection, it asserts none of
	// Verifier.RequiredPolicies, or its issuer is not one of
	// Verifier.AllowedIssuers. It is also returned when the Verifier has
	// no roots configured.
	ErrCertificate = errors.New("authtoken: certificate not trusted")

	// ErrExpired means the certificate, or a CA certificate of its chain,
	// is expired or not yet valid at the Verifier's current time.
	ErrExpired = errors.New("authtoken: certificate expired or not yet valid")

	// ErrSignature means the signature does not verify. Because the origin
	// and the challenge are bound into the signed digest rather than sent in
	// the token, this is also what a token made for another site (a
	// phishing origin) or for another challenge produces.
	ErrSignature = errors.New("authtoken: invalid signature")

	// ErrChallenge means a challenge is malformed, was never issued, or has
	// expired.
	ErrChallenge = errors.New("authtoken: invalid challenge")

	// ErrReplay means a challenge that was already consumed was presented
	// again.
	ErrReplay = errors.New("authtoken: challenge already used")

	// ErrFull is no longer returned: Challenges.Issue evicts old
	// challenges instead of refusing new ones.
	//
	// Deprecated: kept so that code testing for it still compiles.
	ErrFull = errors.New("authtoken: too many outstanding challenges")

	// ErrClient means Challenges.Issue was given an empty client key: a
	// programming error of the site, which would otherwise let every
	// visitor evict every other visitor's challenge.
	ErrClient = errors.New("authtoken: missing challenge client key")

	// ErrOrigin means Verifier.Origin is not a valid origin: it is a
	// configuration error of the site, not a property of the token.
	ErrOrigin = errors.New("authtoken: invalid verifier origin")
)
