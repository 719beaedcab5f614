package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cardbridge/cardbridge/cmsorigin"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/smallstep/pkcs7"
)

// Signed attributes the host adds to a CMS signature (docs/protocol.md
// §4.7), as internal/cms defines them.
var (
	oidRandomNonce = cms.OIDRandomNonce
	oidCardSerial  = cms.OIDCardSerial
)

// digestNames are the digest algorithms accepted in a signature.
var digestNames = map[string]string{
	pkcs7.OIDDigestAlgorithmSHA256.String(): "SHA-256",
	pkcs7.OIDDigestAlgorithmSHA384.String(): "SHA-384",
	pkcs7.OIDDigestAlgorithmSHA512.String(): "SHA-512",
}

// signatureFacts is what /api/verify-signature reports about a good
// signature.
type signatureFacts struct {
	Signer           certinfo.Info `json:"signer"`
	SigningTime      time.Time     `json:"signingTime"`
	Nonce            string        `json:"nonce"`
	NonceMatch       bool          `json:"nonceMatch"`
	CardSerial       string        `json:"cardSerial,omitempty"`
	DigestAlgorithm  string        `json:"digestAlgorithm"`
	DocumentSHA256   string        `json:"documentSha256"`
	DocumentBytes    int           `json:"documentBytes"`
	SignerIsLoggedIn bool          `json:"signerIsLoggedIn"`
	// BoundOrigin is the origin the signature names (package cmsorigin):
	// this site's, or the signature was refused.
	BoundOrigin string `json:"boundOrigin"`
}

// checkCMS verifies der as a detached SignedData over data: one signer
// with signed attributes, a certificate that chains to the TEST root now
// and may sign, the signature and message digest (pkcs7
// VerifyWithChainAtTime), the nonce the server issued, that CardBridge
// made it for this site's origin as a document signature (package
// cmsorigin) and, when loggedIn is set, that loggedIn is the signer. On
// failure it returns the refusal for the page and the cause for the log.
func (s *site) checkCMS(der, data []byte, nonce, origin string, loggedIn *x509.Certificate) (*signatureFacts, *apiError, error) {
	p7, err := parseCMS(der)
	if err != nil {
		return nil, errCMSMalformed, err
	}
	if len(p7.Signers) != 1 {
		return nil, errCMSMalformed, fmt.Errorf("%d signers, want 1", len(p7.Signers))
	}
	if len(p7.Content) != 0 {
		return nil, errCMSMalformed, errors.New("content embedded; want a detached signature")
	}
	signer := p7.Signers[0]
	if len(signer.AuthenticatedAttributes) == 0 {
		return nil, errCMSMalformed, errors.New("no signed attributes")
	}
	digestName, ok := digestNames[signer.DigestAlgorithm.Algorithm.String()]
	if !ok {
		return nil, errCMSAlgorithm, fmt.Errorf("digest algorithm %s", signer.DigestAlgorithm.Algorithm)
	}
	ee := p7.GetOnlySigner()
	if ee == nil {
		return nil, errCMSMalformed, errors.New("signer certificate not in the SignedData")
	}
	now := s.now()
	// The chain first, on its own, so the page can tell an untrusted or
	// expired certificate from a bad signature.
	if err := s.canSign(ee); err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return nil, errCMSCertExpired, err
		}
		return nil, errCMSCertificate, err
	}
	// The card puts only its own certificate in the SignedData; the
	// issuing CA completes the chain.
	p7.Content = data
	p7.Certificates = append(p7.Certificates, s.issuing...)
	if err := p7.VerifyWithChainAtTime(s.roots, now); err != nil {
		if _, ok := errors.AsType[*pkcs7.MessageDigestMismatchError](err); ok {
			return nil, errCMSDigest, err
		}
		if _, ok := errors.AsType[*pkcs7.SigningTimeNotValidError](err); ok {
			return nil, errCMSSigningTime, err
		}
		return nil, errCMSSignature, err
	}
	var signingTime time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &signingTime); err != nil {
		return nil, errCMSMalformed, fmt.Errorf("signing time: %w", err)
	}
	var got []byte
	if err := p7.UnmarshalSignedAttribute(oidRandomNonce, &got); err != nil {
		return nil, errNonceMismatch, fmt.Errorf("nonce attribute: %w", err)
	}
	if string(got) != nonce {
		return nil, errNonceMismatch, fmt.Errorf("nonce %.40q, want %q", got, nonce)
	}
	if err := cmsorigin.Check(der, origin, cmsorigin.PurposeDocument); err != nil {
		return nil, errCMSOrigin, err
	}
	if loggedIn != nil && !bytes.Equal(ee.Raw, loggedIn.Raw) {
		return nil, errSignerNotLoggedIn, fmt.Errorf("signer %s, logged in %s", ee.Subject, loggedIn.Subject)
	}
	var serial string
	p7.UnmarshalSignedAttribute(oidCardSerial, &serial) // optional
	sum := sha256.Sum256(data)
	return &signatureFacts{
		Signer:           certinfo.Describe(ee, now),
		SigningTime:      signingTime.UTC(),
		Nonce:            nonce,
		NonceMatch:       true,
		CardSerial:       serial,
		DigestAlgorithm:  digestName,
		DocumentSHA256:   hex.EncodeToString(sum[:]),
		DocumentBytes:    len(data),
		SignerIsLoggedIn: loggedIn != nil,
		BoundOrigin:      origin,
	}, nil, nil
}

// parseCMS parses a SignedData from the network. A panic in the parser on
// hostile input becomes an error rather than a dropped connection.
func parseCMS(der []byte) (p7 *pkcs7.PKCS7, err error) {
	defer func() {
		if r := recover(); r != nil {
			p7, err = nil, fmt.Errorf("pkcs7 parser panicked: %v", r)
		}
	}()
	return pkcs7.Parse(der)
}
