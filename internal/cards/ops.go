package cards

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha1" // OAEP with SHA-1, as older senders use
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/cms"
)

// ErrRawNeedsRSA refuses a raw signature with an ECDSA key: raw signatures
// are RSA PKCS#1 v1.5 only, and ECDSA keys sign with CMS. It wraps
// card.ErrUnsupported. (A type, not fmt.Errorf: a package-level Errorf runs
// fmt at start-up, before the host's hello.)
var ErrRawNeedsRSA error = rawNeedsRSA{}

type rawNeedsRSA struct{}

func (rawNeedsRSA) Error() string {
	return "raw signatures need an RSA key; ECDSA keys sign with format cms: " + card.ErrUnsupported.Error()
}

func (rawNeedsRSA) Unwrap() error { return card.ErrUnsupported }

// ErrUnblockElsewhere reports a card whose PIN cannot be unblocked with
// the PUK on this computer (the token refuses the security officer's
// login): the card issuer's online service or office must do it.
var ErrUnblockElsewhere = errors.New("the PIN of this card is unblocked through the card issuer's service")

// Signature is the result of a signing operation.
type Signature struct {
	// Signature is a raw signature; CMS a detached SignedData.
	Signature []byte
	CMS       []byte
	// Algorithm names the signature: RS256/384/512 (JWA names) for RSA
	// PKCS#1 v1.5, ECDSA-SHA-256/384/512 for ECDSA in CMS, whose signatures
	// are DER, not the r‖s that the JWA name ES256 implies.
	Algorithm   string
	SigningTime *time.Time
	CardSerial  string
	Certificate []byte
}

// pinPrompt hands a card.Key a copy of pin for its one operation.
func pinPrompt(pin []byte) card.PINPrompt {
	return func() ([]byte, error) { return bytes.Clone(pin), nil }
}

// SignDigest makes a raw RSA PKCS#1 v1.5 signature over digest with the
// key of certificate id. Tokens are RSA-PSS or ECDSA over
// SHA-256(SHA-256(origin) ‖ SHA-256(challenge)); were either available
// here over any digest, one site's signing permission would mint login
// tokens for every other site.
func (m *Manager) SignDigest(ctx context.Context, id string, digest []byte, h crypto.Hash, pin []byte) (Signature, error) {
	var res Signature
	err := m.WithCertificate(ctx, id, func(t Token, k Certificate) error {
		if err := require(k, CapSign); err != nil {
			return err
		}
		if _, ok := k.Cert.PublicKey.(*rsa.PublicKey); !ok {
			return fmt.Errorf("raw signature with a %s key: %w", k.Cert.PublicKeyAlgorithm, ErrRawNeedsRSA)
		}
		alg, err := algorithmName(k.Cert.PublicKey, h)
		if err != nil {
			return err
		}
		sig, err := checkedSign(t, k, digest, h, pin)
		if err != nil {
			return err
		}
		res = Signature{Signature: sig, Algorithm: alg, Certificate: k.Cert.Raw}
		return nil
	})
	return res, err
}

// CMSOptions are the signed attributes a CMS signature may carry.
type CMSOptions struct {
	// Nonce, when not empty, becomes the randomNonce attribute.
	Nonce string
	// WithCardSerial adds the card serial attribute: from the certificate,
	// else from the card.
	WithCardSerial bool
	// Origin is the web origin that asked (the browser's word); the
	// signature then carries it (internal/cms, package cmsorigin).
	Origin string
}

// SignCMS makes a detached CMS SignedData over data with the key of
// certificate id (internal/cms), one PIN verification for the one
// signature.
func (m *Manager) SignCMS(ctx context.Context, id string, data []byte, h crypto.Hash, o CMSOptions, pin []byte) (Signature, error) {
	var res Signature
	err := m.WithCertificate(ctx, id, func(t Token, k Certificate) error {
		if err := require(k, CapSign); err != nil {
			return err
		}
		alg, err := algorithmName(k.Cert.PublicKey, h)
		if err != nil {
			return err
		}
		serial := ""
		if o.WithCardSerial {
			if serial = certinfo.Describe(k.Cert, m.now()).CardSerial; serial == "" {
				serial = t.Serial()
			}
		}
		key := checkedKey{Signer: card.NewKey(t, k.Certificate, pinPrompt(pin)), cert: k}
		signed, err := cms.SignDetached(data, k.Cert, key, cms.Options{Hash: h, Nonce: o.Nonce, CardSerial: serial, Origin: o.Origin})
		if err != nil {
			return err
		}
		res = Signature{CMS: signed.DER, Algorithm: alg, SigningTime: &signed.SigningTime, CardSerial: serial, Certificate: k.Cert.Raw}
		return nil
	})
	return res, err
}

// ErrKeyMismatch reports a signature that the certificate's public key
// does not verify: the card (or module) signed with a key that is not the
// certificate's — a broken card, or a forged one carrying a copy of someone
// else's certificate. No such signature leaves CardBridge.
var ErrKeyMismatch = errors.New("the card's signature does not match its certificate")

// checkedSign signs digest with t and verifies the signature with k's
// public key before returning it.
func checkedSign(t Token, k Certificate, digest []byte, opts crypto.SignerOpts, pin []byte) ([]byte, error) {
	sig, err := t.Sign(k.ID, digest, opts, pin)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(k.Cert.PublicKey, digest, sig, opts); err != nil {
		return nil, err
	}
	return sig, nil
}

// checkedKey is a card key (card.Key) whose every signature is verified
// with the certificate's public key, for the CMS code that takes a
// crypto.Signer.
type checkedKey struct {
	crypto.Signer
	cert Certificate
}

func (c checkedKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := c.Signer.Sign(r, digest, opts)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(c.cert.Cert.PublicKey, digest, sig, opts); err != nil {
		return nil, err
	}
	return sig, nil
}

// verifySignature checks sig over digest as crypto.Signer returns it:
// PKCS#1 v1.5 or PSS for RSA, ASN.1 for ECDSA.
func verifySignature(pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	var err error
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			err = rsa.VerifyPSS(pub, pss.Hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: pss.Hash})
		} else {
			err = rsa.VerifyPKCS1v15(pub, opts.HashFunc(), digest, sig)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			err = errors.New("ecdsa verification failed")
		}
	default:
		err = fmt.Errorf("key type %T", pub)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyMismatch, err)
	}
	return nil
}

// algorithmName names a signature by key type and hash.
func algorithmName(pub crypto.PublicKey, h crypto.Hash) (string, error) {
	bits, ok := map[crypto.Hash]string{crypto.SHA256: "256", crypto.SHA384: "384", crypto.SHA512: "512"}[h]
	if !ok {
		return "", fmt.Errorf("hash %v: %w", h, card.ErrUnsupported)
	}
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RS" + bits, nil
	case *ecdsa.PublicKey:
		return "ECDSA-SHA-" + bits, nil
	}
	return "", fmt.Errorf("key type %T: %w", pub, card.ErrUnsupported)
}

// Authenticate makes the login token of origin and challenge with the key
// of certificate id; appVersion is the token's appVersion. RSA keys sign
// tokens with PSS, which SignDigest never produces, so no signature a page
// gets from signing verifies as a token.
func (m *Manager) Authenticate(ctx context.Context, id, origin, challenge string, pin []byte, appVersion string) (authtoken.Token, error) {
	var tok authtoken.Token
	err := m.WithCertificate(ctx, id, func(t Token, k Certificate) error {
		if err := require(k, CapAuthenticate); err != nil {
			return err
		}
		alg, err := authtoken.Algorithm(k.Cert.PublicKey)
		if err != nil {
			return fmt.Errorf("authenticate: %w: %w", err, card.ErrUnsupported)
		}
		var opts crypto.SignerOpts = crypto.SHA256
		if alg == authtoken.PS256 {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		}
		sig, err := checkedSign(t, k, authtoken.SignedDigest(origin, challenge), opts, pin)
		if err != nil {
			return err
		}
		if pub, ok := k.Cert.PublicKey.(*ecdsa.PublicKey); ok {
			if sig, err = rawECDSA(sig, (pub.Curve.Params().BitSize+7)/8); err != nil {
				return err
			}
		}
		tok = authtoken.Token{Format: authtoken.Format, Certificate: b64(k.Cert.Raw), Algorithm: alg, Signature: b64(sig), AppVersion: appVersion}
		return nil
	})
	return tok, err
}

// rawECDSA converts an ASN.1 ECDSA signature to the fixed-size r‖s form
// JWA uses.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) > 0 || sig.R == nil || sig.S == nil {
		return nil, errors.New("card returned a malformed ECDSA signature")
	}
	if sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || sig.R.BitLen() > size*8 || sig.S.BitLen() > size*8 {
		return nil, errors.New("card returned an out-of-range ECDSA signature")
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Decrypt decrypts ciphertext with the key of certificate id (PKCS#1 v1.5
// when opts is nil, else OAEP).
func (m *Manager) Decrypt(ctx context.Context, id string, ciphertext []byte, opts crypto.DecrypterOpts, pin []byte) ([]byte, error) {
	var pt []byte
	err := m.WithCertificate(ctx, id, func(t Token, k Certificate) error {
		if err := require(k, CapDecrypt); err != nil {
			return err
		}
		var err error
		pt, err = t.Decrypt(k.ID, ciphertext, opts, pin)
		return err
	})
	return pt, err
}

// PINState is a card's PIN status with the reader it is in and the rule
// its PINs follow.
type PINState struct {
	card.PINStatus
	Reader string
	Rule   card.PINRule
}

// PINStatus reports the PIN's tries without using one.
func (m *Manager) PINStatus(ctx context.Context, ref Ref) (PINState, error) {
	var res PINState
	err := m.WithCard(ctx, ref, func(r string, t Token) error {
		st, err := t.PINStatus()
		if err != nil {
			return err
		}
		res = PINState{PINStatus: st, Reader: r, Rule: card.Rule}
		return nil
	})
	return res, err
}

// PINChange is the outcome of a PIN change or unblock.
type PINChange struct {
	Reader string
	// TriesLeft after the change; -1 when the card did not say.
	TriesLeft int
}

// ChangePIN replaces the PIN of the card ref picks.
func (m *Manager) ChangePIN(ctx context.Context, ref Ref, oldPIN, newPIN []byte) (PINChange, error) {
	return m.pinChange(ctx, ref, func(t Token) error { return t.ChangePIN(oldPIN, newPIN) })
}

// UnblockPIN sets a new PIN with the PUK (also how a new card is
// activated, 開卡).
func (m *Manager) UnblockPIN(ctx context.Context, ref Ref, puk, newPIN []byte) (PINChange, error) {
	return m.pinChange(ctx, ref, func(t Token) error { return t.UnblockPIN(puk, newPIN) })
}

// pinChange runs change and then reads the PIN's tries, so the caller can
// show that the card is ready again.
func (m *Manager) pinChange(ctx context.Context, ref Ref, change func(Token) error) (PINChange, error) {
	var res PINChange
	err := m.WithCard(ctx, ref, func(r string, t Token) error {
		if err := change(t); err != nil {
			return err
		}
		res = PINChange{Reader: r, TriesLeft: -1}
		if st, err := t.PINStatus(); err == nil {
			res.TriesLeft = st.TriesLeft
		}
		return nil
	})
	return res, err
}
