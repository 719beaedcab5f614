package cards_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
)

func TestSessionKeys(t *testing.T) {
	sig, enc := newSigCert(t), newEncCert(t)
	c := &cardstest.Card{Certs: []cardstest.Cert{enc, sig}}
	m := managerOver(&cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: c}}})
	s, err := m.NewSession(context.Background(), "", []byte(cardstest.PIN), "test")
	require.NoError(t, err)
	cert, signer := s.Signer()
	assert.Equal(t, sig.Cert, cert)
	d := sha256.Sum256([]byte("公文"))
	out, err := signer.Sign(rand.Reader, d[:], crypto.SHA256)
	require.NoError(t, err)
	require.NoError(t, rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], out))

	ecert, dec := s.Decrypter()
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, ecert.PublicKey.(*rsa.PublicKey), []byte("key"), nil)
	require.NoError(t, err)
	pt, err := dec.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256})
	require.NoError(t, err)
	assert.Equal(t, []byte("key"), pt)
	s.Close()
}

// A refused PIN is not tried again: the next operations fail without
// reaching the card, so a session working through many documents cannot
// block the card with one wrong PIN.
func TestSessionNeverRetriesARefusedPIN(t *testing.T) {
	sig, enc := newSigCert(t), newEncCert(t)
	c := &cardstest.Card{Certs: []cardstest.Cert{sig, enc}}
	m := managerOver(&cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: c}}})
	s, err := m.NewSession(context.Background(), "", []byte("000000"), "test")
	require.NoError(t, err)
	_, signer := s.Signer()
	d := sha256.Sum256([]byte("x"))
	_, err = signer.Sign(rand.Reader, d[:], crypto.SHA256)
	var ae *card.AuthError
	require.True(t, errors.As(err, &ae), "%v", err)
	before := len(c.KeyOps())
	for i := 0; i < 3; i++ {
		_, err = signer.Sign(rand.Reader, d[:], crypto.SHA256)
		assert.True(t, errors.As(err, &ae))
		_, err = s.Token(context.Background(), "https://centre.example.tw", "x")
		assert.True(t, errors.As(err, &ae))
	}
	assert.Equal(t, before, len(c.KeyOps()), "the card was asked again")
}

func TestSessionNeedsBothCertificates(t *testing.T) {
	m := managerOver(&cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: &cardstest.Card{Certs: []cardstest.Cert{newSigCert(t)}}}}})
	_, err := m.NewSession(context.Background(), "", []byte(cardstest.PIN), "test")
	assert.ErrorIs(t, err, cards.ErrNoExchangeCertificate)
}
