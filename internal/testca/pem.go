package testca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// maxPEM bounds the input of UnmarshalPEM; a hierarchy is about 2 KB.
const maxPEM = 64 << 10

// pemBanner precedes the PEM blocks written by MarshalPEM. PEM decoders
// skip text before a block.
const pemBanner = "# CardBridge TEST CA hierarchy: root certificate, root key, issuing\n" +
	"# certificate, issuing key. NOT FOR PRODUCTION; the keys are unencrypted.\n"

// Errors returned (wrapped) by UnmarshalPEM.
var (
	// ErrMalformedPEM means the input is not exactly two certificates and
	// two PKCS#8 private keys forming a root and issuing CA.
	ErrMalformedPEM = errors.New("testca: malformed CA hierarchy PEM")
	// ErrNotTestCA means a certificate lacks the TEST markers, so it may
	// be a real CA; testca refuses to load it.
	ErrNotTestCA = errors.New("testca: certificate is not a CardBridge TEST CA")
)

// MarshalPEM encodes the hierarchy as four PEM blocks, in order: the root
// certificate ("CERTIFICATE"), the root key ("PRIVATE KEY", PKCS#8), the
// issuing certificate and the issuing key. The keys are not encrypted.
func (h *Hierarchy) MarshalPEM() ([]byte, error) {
	if h == nil || h.Root == nil || h.Issuing == nil {
		return nil, errors.New("testca: incomplete hierarchy")
	}
	var buf bytes.Buffer
	buf.WriteString(pemBanner)
	for _, ca := range []struct {
		role string
		ca   *CA
	}{{"root", h.Root}, {"issuing", h.Issuing}} {
		if ca.ca.Cert == nil || ca.ca.Key == nil {
			return nil, fmt.Errorf("testca: %s CA has no certificate or key", ca.role)
		}
		key, err := x509.MarshalPKCS8PrivateKey(ca.ca.Key)
		if err != nil {
			return nil, fmt.Errorf("testca: encoding %s key: %w", ca.role, err)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: ca.ca.Cert.Raw}); err != nil {
			return nil, fmt.Errorf("testca: encoding %s certificate: %w", ca.role, err)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: key}); err != nil {
			return nil, fmt.Errorf("testca: encoding %s key: %w", ca.role, err)
		}
	}
	return buf.Bytes(), nil
}

// UnmarshalPEM decodes a hierarchy written by MarshalPEM. Block order does
// not matter: the root is the self-signed CA certificate, the issuing CA
// the one it signed, and each key is matched to its certificate by public
// key. It returns an error wrapping ErrMalformedPEM for anything else, and
// ErrNotTestCA if either certificate's common name lacks "TEST" or
// "僅供測試".
func UnmarshalPEM(data []byte) (*Hierarchy, error) {
	if len(data) > maxPEM {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformedPEM, len(data), maxPEM)
	}
	var certs []*x509.Certificate
	var keys []crypto.Signer
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if len(certs)+len(keys) == 4 {
			return nil, fmt.Errorf("%w: more than four PEM blocks", ErrMalformedPEM)
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrMalformedPEM, err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrMalformedPEM, err)
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("%w: private key %T cannot sign", ErrMalformedPEM, k)
			}
			keys = append(keys, s)
		default:
			return nil, fmt.Errorf("%w: unexpected PEM block %q", ErrMalformedPEM, block.Type)
		}
	}
	if len(certs) != 2 || len(keys) != 2 {
		return nil, fmt.Errorf("%w: found %d certificates and %d keys, want 2 and 2", ErrMalformedPEM, len(certs), len(keys))
	}
	for _, c := range certs {
		if !strings.Contains(c.Subject.CommonName, "TEST") || !strings.Contains(c.Subject.CommonName, "僅供測試") {
			return nil, fmt.Errorf("%w: %q", ErrNotTestCA, c.Subject.CommonName)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("%w: %q is not a CA certificate", ErrMalformedPEM, c.Subject.CommonName)
		}
	}
	root, iss := certs[0], certs[1]
	if !isSelfSigned(root) {
		root, iss = iss, root
	}
	if !isSelfSigned(root) || isSelfSigned(iss) {
		return nil, fmt.Errorf("%w: want one self-signed root and one issuing CA", ErrMalformedPEM)
	}
	if err := iss.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("%w: issuing CA not signed by root: %w", ErrMalformedPEM, err)
	}
	h := &Hierarchy{Root: &CA{Cert: root}, Issuing: &CA{Cert: iss}}
	for _, ca := range []*CA{h.Root, h.Issuing} {
		for _, k := range keys {
			if pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(ca.Cert.PublicKey) {
				ca.Key = k
			}
		}
		if ca.Key == nil {
			return nil, fmt.Errorf("%w: no key for %q", ErrMalformedPEM, ca.Cert.Subject.CommonName)
		}
	}
	return h, nil
}

// isSelfSigned reports whether c names itself as issuer and its signature
// verifies with its own key.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}
