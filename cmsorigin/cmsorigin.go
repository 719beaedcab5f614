// Package cmsorigin lets a site's server check that a CMS signature made
// with a CardBridge card was made for that site, and for signing a
// document.
//
// Why: a page a clerk has allowed may ask CardBridge for a detached CMS
// signature over data the page chooses. Without a binding, such a
// signature could answer another site's "sign this nonce" login, or be
// replayed as a document signature elsewhere. CardBridge therefore adds to
// every CMS signature it makes for a web page a signed contentHints
// attribute (RFC 2634 §2.9, id-aa-contentHint 1.2.840.113549.1.9.16.2.4)
// whose contentDescription is
//
//	cardbridge/1 <purpose> <origin>
//
// for example "cardbridge/1 document-signature https://edoc.example.gov.tw".
// The origin is the one the browser reported for the requesting page,
// never one the page wrote; the purpose is "document-signature". The
// attribute is signed, so it cannot be removed or changed without breaking
// the signature. A verifier that demands it (Check) refuses signatures made
// for any other origin or purpose.
//
// Check does not verify the signature or the signer's certificate: do that
// first (for example with github.com/smallstep/pkcs7's VerifyWithChain),
// then Check the binding.
package cmsorigin

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"

	"github.com/smallstep/pkcs7"
)

// OIDContentHints is id-aa-contentHint (RFC 2634 §2.9).
var OIDContentHints = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 4}

// Version is the binding's format version, the "cardbridge/1" prefix.
const Version = "cardbridge/1"

// PurposeDocument is the purpose of a document signature a page asked for.
const PurposeDocument = "document-signature"

// ContentHints is the ASN.1 value of the attribute:
//
//	ContentHints ::= SEQUENCE {
//	  contentDescription UTF8String (SIZE (1..MAX)) OPTIONAL,
//	  contentType ContentType }
type ContentHints struct {
	Description string `asn1:"utf8"`
	ContentType asn1.ObjectIdentifier
}

// Attribute returns the attribute value binding origin and purpose to a
// signature over id-data content.
func Attribute(origin, purpose string) ContentHints {
	return ContentHints{Description: Description(origin, purpose), ContentType: pkcs7.OIDData}
}

// Description is the contentDescription text for origin and purpose.
func Description(origin, purpose string) string {
	return Version + " " + purpose + " " + origin
}

// Errors Check returns; errors.Is works on the returned error.
var (
	// ErrMissing: the signature has no CardBridge binding (not made by
	// CardBridge for a page, or made by a version before the binding).
	ErrMissing = errors.New("cmsorigin: no CardBridge origin binding in the signature")
	// ErrMalformed: the attribute is there but not in the documented form.
	ErrMalformed = errors.New("cmsorigin: malformed CardBridge origin binding")
	// ErrOrigin: the signature was made for another site.
	ErrOrigin = errors.New("cmsorigin: signature made for another origin")
	// ErrPurpose: the signature was made for another purpose.
	ErrPurpose = errors.New("cmsorigin: signature made for another purpose")
)

// Binding is what a signature says it was made for.
type Binding struct {
	Origin  string
	Purpose string
}

// Read returns the binding of a parsed SignedData's (first) signer.
func Read(p7 *pkcs7.PKCS7) (Binding, error) {
	var raw asn1.RawValue
	if err := p7.UnmarshalSignedAttribute(OIDContentHints, &raw); err != nil {
		return Binding{}, ErrMissing
	}
	var ch ContentHints
	if rest, err := asn1.Unmarshal(raw.FullBytes, &ch); err != nil || len(rest) > 0 {
		return Binding{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !ch.ContentType.Equal(pkcs7.OIDData) {
		return Binding{}, fmt.Errorf("%w: content type %v", ErrMalformed, ch.ContentType)
	}
	parts := strings.Split(ch.Description, " ")
	if len(parts) != 3 || parts[0] != Version || parts[1] == "" || parts[2] == "" {
		return Binding{}, fmt.Errorf("%w: %q", ErrMalformed, ch.Description)
	}
	return Binding{Purpose: parts[1], Origin: parts[2]}, nil
}

// Check reports whether the signature in der (a DER SignedData, detached
// or not) was made by CardBridge for origin and purpose. It checks the
// binding only; verify the signature and the certificate first.
func Check(der []byte, origin, purpose string) error {
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(p7.Signers) != 1 {
		return fmt.Errorf("%w: %d signers, want 1", ErrMalformed, len(p7.Signers))
	}
	b, err := Read(p7)
	if err != nil {
		return err
	}
	if b.Origin != origin {
		return fmt.Errorf("%w: made for %s", ErrOrigin, b.Origin)
	}
	if b.Purpose != purpose {
		return fmt.Errorf("%w: made for %s", ErrPurpose, b.Purpose)
	}
	return nil
}
