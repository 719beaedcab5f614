package card

import (
	"crypto"
	"io"
)

// Token is what the host needs from a card, whatever reaches it: the PIV
// client over PC/SC today, a vendor PKCS#11 module (HiCOS) later. Keys are
// named by the id (hex SHA-256) of their certificate; PINs are passed as
// byte slices that the caller clears after the call and that a Token never
// keeps, logs or retries.
type Token interface {
	// Certificates lists the certificates on the card.
	Certificates() ([]Certificate, error)
	// PINStatus reports tries left without using one.
	PINStatus() (PINStatus, error)
	// VerifyPIN checks a PIN (one try).
	VerifyPIN(pin []byte) error
	// ChangePIN replaces the PIN.
	ChangePIN(oldPIN, newPIN []byte) error
	// UnblockPIN sets a new PIN with the PUK.
	UnblockPIN(puk, newPIN []byte) error
	// Sign signs a digest with the key of a certificate.
	Sign(id string, digest []byte, opts crypto.SignerOpts, pin []byte) ([]byte, error)
	// Decrypt decrypts with the key of a certificate.
	Decrypt(id string, ciphertext []byte, opts crypto.DecrypterOpts, pin []byte) ([]byte, error)
}

var _ Token = (*PIV)(nil)

// PINPrompt asks for the PIN when, and only when, a key operation needs
// it. The returned slice is cleared after use.
type PINPrompt func() ([]byte, error)

// Key is a card key as a crypto.Signer and crypto.Decrypter, so standard
// library code (crypto/tls, x509.CreateCertificate, CMS libraries) can use
// the card without knowing about it.
type Key struct {
	tok    Token
	cert   Certificate
	prompt PINPrompt
}

// NewKey returns the key of cert on tok; prompt is asked for the PIN at each
// operation.
func NewKey(tok Token, cert Certificate, prompt PINPrompt) *Key {
	return &Key{tok: tok, cert: cert, prompt: prompt}
}

// Public returns the certificate's public key.
func (k *Key) Public() crypto.PublicKey { return k.cert.Cert.PublicKey }

// Sign implements crypto.Signer; rand is unused (the card and the PSS
// encoder use their own randomness).
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	pin, err := k.prompt()
	if err != nil {
		return nil, err
	}
	defer clear(pin)
	return k.tok.Sign(k.cert.ID, digest, opts, pin)
}

// Decrypt implements crypto.Decrypter.
func (k *Key) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	pin, err := k.prompt()
	if err != nil {
		return nil, err
	}
	defer clear(pin)
	return k.tok.Decrypt(k.cert.ID, msg, opts, pin)
}

var (
	_ crypto.Signer    = (*Key)(nil)
	_ crypto.Decrypter = (*Key)(nil)
)
