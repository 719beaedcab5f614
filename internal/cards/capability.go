package cards

import (
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/certinfo"
)

// Capability is an operation a certificate's key may be used for. The
// host reports them with each certificate, so the extension and pages do
// not derive them again.
type Capability string

// The capabilities, chosen by key usage, never by slot or label.
const (
	// CapSign: documents and raw signatures (cert1: digitalSignature or
	// nonRepudiation).
	CapSign Capability = "sign"
	// CapAuthenticate: login tokens, which need digitalSignature; a
	// nonRepudiation-only key is for signing documents, and verifiers
	// refuse it for authentication.
	CapAuthenticate Capability = "authenticate"
	// CapDecrypt: encryption-only keys (cert2). Decryption is the raw RSA
	// private operation, and on a key that also signs, a page could turn
	// its answers (plaintext or a decryption failure) into signatures,
	// login tokens included.
	CapDecrypt Capability = "decrypt"
)

// CapabilitiesOf returns what k's key may be used for.
func CapabilitiesOf(k card.Certificate) []Capability {
	caps := []Capability{}
	if k.ReadOnly {
		return caps // shown only: no key operation reaches it
	}
	if k.Usage == certinfo.UsageSignature || k.Usage == certinfo.UsageSignatureEncryption {
		caps = append(caps, CapSign)
	}
	if k.Cert != nil && k.Cert.KeyUsage&x509.KeyUsageDigitalSignature != 0 {
		caps = append(caps, CapAuthenticate)
	}
	if k.Usage == certinfo.UsageEncryption {
		caps = append(caps, CapDecrypt)
	}
	return caps
}

// Can reports whether k may be used for c.
func (k Certificate) Can(c Capability) bool { return slices.Contains(k.Capabilities, c) }

// UsageError reports a certificate asked for an operation its key usage
// does not allow.
type UsageError struct {
	Op    Capability
	Usage certinfo.Usage
}

func (e *UsageError) Error() string { return fmt.Sprintf("%s with a %s certificate", e.Op, e.Usage) }

// require returns a *UsageError unless k may be used for c.
func require(k Certificate, c Capability) error {
	if k.ReadOnly {
		return fmt.Errorf("%s: %w", c, ErrClientNeeded)
	}
	if k.Can(c) {
		return nil
	}
	return &UsageError{Op: c, Usage: k.Usage}
}
