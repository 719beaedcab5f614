package authtoken

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format is the value of Token.Format for the token defined here. A
// change to the signed digest or to the meaning of a field gets a new
// format, so a verifier never misreads a token from a newer host.
const Format = "cardbridge:1"

// JWA names of the signature algorithms (RFC 7518 §3.1). PS256 and ES256
// are accepted (what the PIV keys of Taiwan's certificate cards, RSA-2048
// and ECC P-256, produce for a token); RS256 is named only to be refused.
const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3). Verify
	// refuses it (see Algorithm); the name is kept so the refusal says
	// what it saw.
	RS256 = "RS256"
	// PS256 is RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte
	// salt (RFC 7518 §3.5).
	PS256 = "PS256"
	// ES256 is ECDSA on P-256 with SHA-256, the signature being the
	// 64-byte concatenation r||s (RFC 7518 §3.4), not ASN.1 DER.
	ES256 = "ES256"
)

// Size limits. A token travels from the page to the site's server, so
// Parse and Verify bound it before decoding anything.
const (
	// MaxTokenSize bounds the JSON text Parse accepts. A token with an
	// 8 KiB certificate and an RSA-4096 signature is under 12 KiB.
	MaxTokenSize = 16 << 10
	// MaxCertificateSize bounds the decoded certificate. Taiwan card
	// certificates are 1.5 to 2 KB.
	MaxCertificateSize = 8 << 10
	// maxSignatureSize bounds the decoded signature: RSA-8192.
	maxSignatureSize = 1 << 10
)

// Token is a CardBridge authentication token, as the native host produces
// it and the page posts it to the site. Nothing in it is trusted until
// Verifier.Verify has checked it: the origin and the challenge are not
// fields but are bound into the signature (see SignedDigest).
type Token struct {
	// Format is [Format].
	Format string `json:"format"`
	// Certificate is the standard base64 (with padding, no line breaks)
	// of the DER signer certificate read from the card.
	Certificate string `json:"certificate"`
	// Algorithm is the JWA name of the signature algorithm: PS256 for an
	// RSA key or ES256 for a P-256 key.
	Algorithm string `json:"algorithm"`
	// Signature is the standard base64 of the card's signature over
	// SignedDigest(origin, challenge): for PS256 as many bytes as the RSA
	// modulus, for ES256 64 bytes r||s.
	Signature string `json:"signature"`
	// AppVersion is the native host's version, e.g. "0.1.0", for the
	// site's logs. It is optional and not authenticated.
	AppVersion string `json:"appVersion"`
}

// field returns the field of t named key in JSON, or nil. Keys match
// exactly: encoding/json would also accept "FORMAT", which a strict
// parser must not.
func (t *Token) field(key string) *string {
	switch key {
	case "format":
		return &t.Format
	case "certificate":
		return &t.Certificate
	case "algorithm":
		return &t.Algorithm
	case "signature":
		return &t.Signature
	case "appVersion":
		return &t.AppVersion
	}
	return nil
}

// checkRequired returns an error wrapping ErrMalformed if a required field
// of t is empty. Verify calls it too, for tokens built without Parse.
func (t *Token) checkRequired() error {
	for _, f := range []struct{ name, value string }{
		{"format", t.Format}, {"certificate", t.Certificate},
		{"algorithm", t.Algorithm}, {"signature", t.Signature},
	} {
		if f.value == "" {
			return fmt.Errorf("%w: field %q missing or empty", ErrMalformed, f.name)
		}
	}
	return nil
}

// Parse decodes a token strictly: data must be at most MaxTokenSize bytes
// holding exactly one JSON object whose keys are the Token fields, spelled
// exactly, each at most once, each with a string value, and nothing but
// white space after it. Every field except appVersion is required and
// must not be empty. Anything else returns an error wrapping ErrMalformed.
//
// Being strict here means a token that an older or newer host, or an
// attacker, shaped differently is refused rather than half understood.
// Parse does not check the format value or decode the base64 fields:
// Verify does.
func Parse(data []byte) (*Token, error) {
	if len(data) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(data), MaxTokenSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil {
		return nil, jsonError(err)
	} else if t != json.Delim('{') {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var tok Token
	seen := make(map[string]bool, 5)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		key, _ := t.(string) // the decoder only yields strings as keys
		f := tok.field(key)
		if f == nil {
			return nil, fmt.Errorf("%w: unknown field %.40q", ErrMalformed, key)
		}
		if seen[key] {
			return nil, fmt.Errorf("%w: duplicate field %q", ErrMalformed, key)
		}
		seen[key] = true
		if t, err = dec.Token(); err != nil {
			return nil, jsonError(err)
		}
		s, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("%w: field %q is %s, want a string", ErrMalformed, key, jsonKind(t))
		}
		*f = s
	}
	if t, err := dec.Token(); err != nil {
		return nil, jsonError(err)
	} else if t != json.Delim('}') {
		return nil, fmt.Errorf("%w: object not closed", ErrMalformed) // unreachable: More said no more keys
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", ErrMalformed)
	}
	if err := tok.checkRequired(); err != nil {
		return nil, err
	}
	return &tok, nil
}

// jsonError wraps an error of json.Decoder.Token in ErrMalformed; an
// io.EOF there means the input ended early.
func jsonError(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// jsonKind names the JSON type of a token returned by json.Decoder.Token.
func jsonKind(t json.Token) string {
	switch t := t.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "an object"
	}
	return fmt.Sprintf("%T", t)
}

// SignedDigest returns the 32-byte digest the card signs for an
// authentication, and is the normative definition of it:
//
//	D = SHA-256( SHA-256(origin) || SHA-256(challenge) )
//
// origin is the site's origin exactly as the browser reports it
// (scheme://host[:port], no trailing slash) and challenge the challenge
// string the server issued, both hashed as their UTF-8 bytes; the
// challenge is not base64-decoded first. Hashing each part before joining
// them keeps the two apart: no origin and challenge pair can be re-split
// into another pair with the same digest.
//
// The native host signs D with the card's key (PS256 or ES256 over
// D as a SHA-256 digest) and Verify recomputes D from its own origin and
// challenge, so a token can only verify at the origin and for the
// challenge it was made for. Both sides must call this function rather
// than restate the formula.
func SignedDigest(origin, challenge string) []byte {
	o := sha256.Sum256([]byte(origin))
	c := sha256.Sum256([]byte(challenge))
	h := sha256.New()
	h.Write(o[:])
	h.Write(c[:])
	return h.Sum(nil)
}

// Algorithm returns the JWA name a token signed with pub's private key
// carries: PS256 for an RSA key and ES256 for an ECDSA P-256 key. RS256 is
// never used: the host also makes RSA PKCS#1 v1.5 signatures over digests
// a page chooses (sign), and such a signature over SignedDigest of another
// site would pass as that site's token. Any other key, including
// other curves and keys passed by value rather than by pointer, returns
// an error wrapping ErrAlgorithm. The host uses it to fill in
// Token.Algorithm and Verify to check it against the certificate.
func Algorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil {
			break
		}
		return PS256, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			break
		}
		if k.Curve == elliptic.P256() {
			return ES256, nil
		}
		return "", fmt.Errorf("%w: ECDSA curve %s", ErrAlgorithm, k.Curve.Params().Name)
	}
	return "", fmt.Errorf("%w: unsupported key %T", ErrAlgorithm, pub)
}

// decodeBase64 decodes s as canonical standard base64 of at most max
// bytes: padded, zero padding bits, and no line breaks (which the
// decoder would otherwise skip), so each value has exactly one spelling.
// The length is checked before decoding.
func decodeBase64(s string, max int) ([]byte, error) {
	if len(s) > base64.StdEncoding.EncodedLen(max) {
		return nil, fmt.Errorf("%d base64 characters, more than %d bytes", len(s), max)
	}
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) > max { // EncodedLen rounds up to a multiple of 3 bytes
		return nil, fmt.Errorf("%d bytes, more than %d", len(b), max)
	}
	return b, nil
}
