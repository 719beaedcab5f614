package cards

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/card"
)

// Session is a card used for a while with one PIN, as the exchange agent
// uses it: its signature certificate (cert1) and encryption certificate
// (cert2), a crypto.Signer and a crypto.Decrypter over them, and login
// tokens. Each operation reaches the card through the Manager (its lock,
// its checks; every signature verified with the certificate).
//
// The PIN is given once. When the card refuses it, the session refuses
// every later operation without touching the card: a wrong PIN would
// otherwise be tried again for each document and block the card.
type Session struct {
	m          *Manager
	pin        []byte
	version    string
	sign, enc  Certificate
	mu         sync.Mutex
	pinRefused error
}

// ErrNoExchangeCertificate reports a card without a signature or an
// encryption certificate CardBridge can use.
var ErrNoExchangeCertificate = errors.New("the card needs a signature certificate (cert1) and an encryption certificate (cert2)")

// NewSession finds the card's cert1 and cert2 (in reader, or the first
// card that has both) for a session with pin. appVersion goes into login
// tokens.
func (m *Manager) NewSession(ctx context.Context, reader string, pin []byte, appVersion string) (*Session, error) {
	certs, err := m.Certificates(ctx, reader)
	if err != nil {
		return nil, err
	}
	byReader := map[string]*Session{}
	var order []string
	for _, k := range certs {
		s := byReader[k.Reader]
		if s == nil {
			s = &Session{m: m, pin: append([]byte(nil), pin...), version: appVersion}
			byReader[k.Reader] = s
			order = append(order, k.Reader)
		}
		switch {
		case k.Can(CapSign) && k.Can(CapAuthenticate) && s.sign.Cert == nil:
			s.sign = k
		case k.Can(CapDecrypt) && s.enc.Cert == nil:
			s.enc = k
		}
	}
	for _, r := range order {
		if s := byReader[r]; s.sign.Cert != nil && s.enc.Cert != nil {
			return s, nil
		}
	}
	return nil, ErrNoExchangeCertificate
}

// Reader is the reader of the session's card.
func (s *Session) Reader() string { return s.sign.Reader }

// Close forgets the PIN.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.pin)
	s.pin = nil
}

// use runs f unless the PIN was refused before; a refusal now is kept.
func (s *Session) use(f func(pin []byte) error) error {
	s.mu.Lock()
	if s.pinRefused != nil {
		defer s.mu.Unlock()
		return fmt.Errorf("not tried again: %w", s.pinRefused)
	}
	pin := append([]byte(nil), s.pin...)
	s.mu.Unlock()
	defer clear(pin)
	err := f(pin)
	var ae *card.AuthError
	if errors.As(err, &ae) || errors.Is(err, card.ErrPINFormat) {
		s.mu.Lock()
		s.pinRefused = err
		s.mu.Unlock()
	}
	return err
}

// Token signs a login challenge for origin (the exchange centre's).
func (s *Session) Token(ctx context.Context, origin, challenge string) (authtoken.Token, error) {
	var tok authtoken.Token
	err := s.use(func(pin []byte) (err error) {
		tok, err = s.m.Authenticate(ctx, s.sign.ID, origin, challenge, pin, s.version)
		return err
	})
	return tok, err
}

// Signer is cert1 and a crypto.Signer over its key.
func (s *Session) Signer() (*x509.Certificate, crypto.Signer) {
	return s.sign.Cert, sessionKey{s: s, k: s.sign}
}

// Decrypter is cert2 and a crypto.Decrypter over its key.
func (s *Session) Decrypter() (*x509.Certificate, crypto.Decrypter) {
	return s.enc.Cert, sessionKey{s: s, k: s.enc}
}

// sessionKey is one of the session's keys as the standard interfaces.
type sessionKey struct {
	s *Session
	k Certificate
}

func (k sessionKey) Public() crypto.PublicKey { return k.k.Cert.PublicKey }

func (k sessionKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	var sig []byte
	err := k.s.use(func(pin []byte) error {
		return k.s.m.WithCertificate(context.Background(), k.k.ID, func(t Token, c Certificate) error {
			if err := require(c, CapSign); err != nil {
				return err
			}
			var err error
			sig, err = checkedKey{Signer: card.NewKey(t, c.Certificate, pinPrompt(pin)), cert: c}.Sign(r, digest, opts)
			return err
		})
	})
	return sig, err
}

func (k sessionKey) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	var pt []byte
	err := k.s.use(func(pin []byte) (err error) {
		pt, err = k.s.m.Decrypt(context.Background(), k.k.ID, msg, opts, pin)
		return err
	})
	return pt, err
}
