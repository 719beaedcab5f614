package cms

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/smallstep/pkcs7"
)

// Why a detached signature is refused; each wraps one of these so the
// exchange can tell the receiver (收文異常) why.
var (
	// ErrBadSignature: the signature does not verify over the content, or
	// the SignedData is malformed or has other than one signer.
	ErrBadSignature = errors.New("cms: signature does not verify")
	// ErrUntrusted: the signer's certificate does not chain to the roots.
	ErrUntrusted = errors.New("cms: signer not issued by a trusted CA")
	// ErrExpired: the signer's certificate was not valid at the time it
	// is judged at (expired, or not yet valid).
	ErrExpired = errors.New("cms: signer certificate not valid at that time")
)

// Verified is what a good signature says.
type Verified struct {
	Signer      *x509.Certificate
	SigningTime time.Time
}

// signatureOIDs are the SignerInfo signature algorithms verified: RSA
// (PKCS #1 v1.5, as rsaEncryption or with one of the digests offered) and
// ECDSA with one of the digests offered. SHA-1 and DSA are not.
var signatureOIDs = []asn1.ObjectIdentifier{
	pkcs7.OIDEncryptionAlgorithmRSA,
	pkcs7.OIDEncryptionAlgorithmRSASHA256, pkcs7.OIDEncryptionAlgorithmRSASHA384, pkcs7.OIDEncryptionAlgorithmRSASHA512,
	pkcs7.OIDDigestAlgorithmECDSASHA256, pkcs7.OIDDigestAlgorithmECDSASHA384, pkcs7.OIDDigestAlgorithmECDSASHA512,
	pkcs7.OIDEncryptionAlgorithmECDSAP256, pkcs7.OIDEncryptionAlgorithmECDSAP384, pkcs7.OIDEncryptionAlgorithmECDSAP521,
}

// VerifyDetached checks a detached SignedData over content: one signer,
// with signed attributes (messageDigest and signingTime) under one of the
// digests SignDetached offers (SHA-256, SHA-384, SHA-512; never SHA-1),
// the signature, the signer's certificate for signatures (its key usage
// allows digitalSignature or nonRepudiation, so an encryption certificate
// does not sign) and chaining to roots through the certificates in the
// SignedData or intermediates (which never become roots), valid at now,
// with the signingTime inside its validity.
func VerifyDetached(sig, content []byte, roots, intermediates *x509.CertPool, now time.Time) (Verified, error) {
	p7, err := pkcs7.Parse(sig)
	if err != nil {
		return Verified{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if len(p7.Signers) != 1 {
		return Verified{}, fmt.Errorf("%w: %d signers", ErrBadSignature, len(p7.Signers))
	}
	si := p7.Signers[0]
	offered := false
	for _, oid := range digestOIDs {
		offered = offered || si.DigestAlgorithm.Algorithm.Equal(oid)
	}
	if !offered {
		return Verified{}, fmt.Errorf("%w: digest algorithm %s not accepted", ErrBadSignature, si.DigestAlgorithm.Algorithm)
	}
	offered = false
	for _, oid := range signatureOIDs {
		offered = offered || si.DigestEncryptionAlgorithm.Algorithm.Equal(oid)
	}
	if !offered {
		return Verified{}, fmt.Errorf("%w: signature algorithm %s not accepted", ErrBadSignature, si.DigestEncryptionAlgorithm.Algorithm)
	}
	p7.Content = content
	signer := p7.GetOnlySigner()
	if signer == nil {
		return Verified{}, fmt.Errorf("%w: no signer certificate", ErrBadSignature)
	}
	if signer.KeyUsage != 0 && signer.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return Verified{}, fmt.Errorf("%w: %s is not a certificate for signatures (key usage)", ErrBadSignature, signer.Subject)
	}
	var st time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &st); err != nil || st.IsZero() {
		return Verified{}, fmt.Errorf("%w: no signed signingTime", ErrBadSignature)
	}
	if err := p7.Verify(); err != nil { // signature, digest and signing time, no chain yet
		var stErr *pkcs7.SigningTimeNotValidError
		if errors.As(err, &stErr) {
			return Verified{}, fmt.Errorf("%w: %v", ErrExpired, err)
		}
		return Verified{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if now.After(signer.NotAfter) || now.Before(signer.NotBefore) {
		return Verified{}, fmt.Errorf("%w: %s valid %s to %s", ErrExpired, signer.Subject, signer.NotBefore.Format(time.DateOnly), signer.NotAfter.Format(time.DateOnly))
	}
	pool := x509.NewCertPool()
	if intermediates != nil {
		pool = intermediates.Clone()
	}
	for _, c := range p7.Certificates {
		if c != signer {
			pool.AddCert(c)
		}
	}
	if roots == nil {
		return Verified{}, fmt.Errorf("%w: no roots configured", ErrUntrusted)
	}
	if _, err := signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return Verified{}, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	return Verified{Signer: signer, SigningTime: st}, nil
}
