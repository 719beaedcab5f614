package cms

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/cardbridge/cardbridge/cmsorigin"
	"github.com/cardbridge/cardbridge/internal/certinfo"
)

// Signed attributes beyond RFC 5652's contentType, messageDigest and
// signingTime.
var (
	// OIDRandomNonce is PKCS #9's randomNonce (RFC 2985 §5.4): a value the
	// relying site chose, so the signature cannot be replayed against
	// another request.
	OIDRandomNonce = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 25, 3}
	// OIDCardSerial is the card serial number attribute of Taiwan's
	// government PKI, the same OID as in the certificate's subject
	// directory attributes; government signing components add it so that
	// verifiers can tell which card signed.
	OIDCardSerial = certinfo.OIDCardSerial
)

// digestOIDs are the digest algorithms SignDetached accepts.
var digestOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA256: pkcs7.OIDDigestAlgorithmSHA256,
	crypto.SHA384: pkcs7.OIDDigestAlgorithmSHA384,
	crypto.SHA512: pkcs7.OIDDigestAlgorithmSHA512,
}

// ErrHash reports a digest algorithm SignDetached does not offer.
var ErrHash = errors.New("cms: digest algorithm not offered")

// Options are what a detached signature carries besides the data's digest.
type Options struct {
	// Hash is the digest algorithm: SHA-256, SHA-384 or SHA-512.
	Hash crypto.Hash
	// Nonce, when not empty, is added as the randomNonce attribute.
	Nonce string
	// CardSerial, when not empty, is added as the card serial attribute.
	CardSerial string
	// Origin, when not empty, binds the signature to the web origin that
	// asked for it, as a document signature (cmsorigin's contentHints
	// attribute), so that it answers no other site's request.
	Origin string
}

// Signed is a detached SignedData and the signing time it carries.
type Signed struct {
	DER         []byte
	SigningTime time.Time
}

// SignDetached makes a detached SignedData over data, signed by signer for
// cert, with signingTime and the attributes o asks for. The signer's own
// errors (a wrong PIN, a removed card) stay reachable with errors.Is/As.
func SignDetached(data []byte, cert *x509.Certificate, signer crypto.Signer, o Options) (Signed, error) {
	oid, ok := digestOIDs[o.Hash]
	if !ok {
		return Signed{}, fmt.Errorf("%w: %v", ErrHash, o.Hash)
	}
	sd, err := pkcs7.NewSignedData(data)
	if err != nil {
		return Signed{}, fmt.Errorf("cms: %w", err)
	}
	sd.SetDigestAlgorithm(oid)
	var attrs []pkcs7.Attribute
	if o.Nonce != "" {
		attrs = append(attrs, pkcs7.Attribute{Type: OIDRandomNonce, Value: []byte(o.Nonce)})
	}
	if o.CardSerial != "" {
		attrs = append(attrs, pkcs7.Attribute{Type: OIDCardSerial, Value: o.CardSerial})
	}
	if o.Origin != "" {
		attrs = append(attrs, pkcs7.Attribute{Type: cmsorigin.OIDContentHints, Value: cmsorigin.Attribute(o.Origin, cmsorigin.PurposeDocument)})
	}
	if err := sd.AddSigner(cert, signer, pkcs7.SignerInfoConfig{ExtraSignedAttributes: attrs}); err != nil {
		return Signed{}, fmt.Errorf("cms: %w", err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		return Signed{}, fmt.Errorf("cms: %w", err)
	}
	// Read the signing time back from what was signed, which also checks
	// that the library produced a SignedData that parses.
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return Signed{}, fmt.Errorf("cms: own output does not parse: %w", err)
	}
	var t time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &t); err != nil {
		return Signed{}, fmt.Errorf("cms: signing time: %w", err)
	}
	return Signed{DER: der, SigningTime: t}, nil
}
