package authtoken

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
)

// Identity returns the account key of the card certificate cert, as
// Verify returned it: its issuer's distinguished name and its serial
// number, "<issuer DN>|<serial>". The DN is written as in RFC 4514, most
// significant attribute last, from the certificate's own encoding of the
// issuer name (pkix.RDNSequence.String: every attribute, in order, with
// "," "+" and the like escaped); the serial is lower-case hexadecimal
// without leading zeros and is everything after the last "|". For
// example:
//
//	CN=CardBridge TEST XCA 僅供測試 NOT FOR PRODUCTION,OU=測試用組織及團體憑證管理中心,O=行政院,C=TW|5c0e…a91f
//
// A CA gives each certificate it issues a serial number of its own
// (RFC 5280 §4.1.2.2), and the trusted CAs have distinct names, so the
// pair names one certificate among all the CAs a Verifier accepts. The
// subject's serial number (an organisation's 統一編號, a person's ID
// number) does not: several CAs, and several cards of one holder, share
// it. Identity changes when the card or its certificate is renewed;
// linking the new certificate to the existing account is a decision of
// the site's own (for example while the user is logged in with the old
// card, or after checking the subject attributes out of band).
func Identity(cert *x509.Certificate) string {
	var issuer pkix.RDNSequence
	var dn string
	if rest, err := asn1.Unmarshal(cert.RawIssuer, &issuer); err == nil && len(rest) == 0 {
		dn = issuer.String()
	} else {
		// Unreachable for a certificate x509 parsed; still unambiguous.
		dn = "#" + hex.EncodeToString(cert.RawIssuer)
	}
	return dn + "|" + cert.SerialNumber.Text(16)
}

// Fingerprint returns the SHA-256 of cert's DER encoding in lower-case
// hexadecimal (64 digits): what `openssl x509 -fingerprint -sha256`
// prints, without the colons and in lower case. A site that registers
// each card certificate before it may log in (for example by having the
// user upload it, or by an administrator) can key accounts by it.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}
