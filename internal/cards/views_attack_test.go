package cards_test

// Attacks on how a certificate seen more than once is resolved (preferred,
// WithCertificate) by a hostile card or token that carries a copy of the
// holder's certificate (public: the CAs publish them) over a key of its own
// (security review of the HiCOS commit).

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
)

// module is a fake backend that says it is a PKCS#11 module.
type module struct{ *cardstest.Backend }

func (module) Source() cards.Source {
	return cards.Source{Kind: "pkcs11", Module: "/usr/lib/libHicos_p11.so"}
}

// forged is c on another card: the same certificate over the attacker's key.
func forged(t *testing.T, c cardstest.Cert) cardstest.Cert {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	c.Key = k
	return c
}

// The clerk's HiCOS card is read natively (read-only) in one reader and
// used through the vendor's module; a second card in another reader carries
// a copy of the clerk's certificate. The listing shows the certificate once
// (the clerk sees their own name) and every key operation went to the
// copy: the clerk's PIN to the attacker's card, a signature by a foreign
// key. Direct readers come before modules, so the copy wins whatever the
// reader order. The native view proves where the clerk's card is: any other
// physical reader that shows the same certificate holds a different card.
func TestAttackCopiedCertificateBeatsTheVendorModule(t *testing.T) {

	sig := newSigCert(t)
	digest := sha256.Sum256([]byte("公文"))
	native := &cardstest.Card{Certs: []cardstest.Cert{readOnly(sig)}, RefuseKeyOps: true}
	hostile := &cardstest.Card{Certs: []cardstest.Cert{forged(t, sig)}}
	real := &cardstest.Card{Certs: []cardstest.Cert{sig}}
	m := cards.New(cards.Options{
		Backends: []cards.Backend{&cardstest.Backend{Attached: []cardstest.Reader{
			{Name: "EZ100PU 0", Card: native},
			{Name: "Generic USB Reader 1", Card: hostile},
		}}},
		Extra: []cards.Backend{module{&cardstest.Backend{Attached: []cardstest.Reader{{Name: "HiCOS (PKCS#11: libHicos_p11.so)", Card: real}}}}},
	})
	_, err := m.SignDigest(context.Background(), sig.ID, digest[:], crypto.SHA256, []byte(cardstest.PIN))
	_ = err // the module's signature, or a refusal: never the copy's
	assert.Empty(t, hostile.KeyOps(), "the copy on another card was used")
}

// Two direct readers, each with a card that shows the same certificate:
// one of them is not the holder's card. The first reader won.
func TestAttackCopiedCertificateInAnEarlierReader(t *testing.T) {

	sig := newSigCert(t)
	digest := sha256.Sum256([]byte("公文"))
	hostile := &cardstest.Card{Certs: []cardstest.Cert{forged(t, sig)}}
	real := &cardstest.Card{Certs: []cardstest.Cert{sig}}
	m := cards.New(cards.Options{Backends: []cards.Backend{&cardstest.Backend{Attached: []cardstest.Reader{
		{Name: "A reader", Card: hostile},
		{Name: "B reader", Card: real},
	}}}})
	_, err := m.SignDigest(context.Background(), sig.ID, digest[:], crypto.SHA256, []byte(cardstest.PIN))
	assert.Error(t, err, "a certificate on two cards is ambiguous")
	assert.Empty(t, hostile.KeyOps(), "the copy on another card was used")
}

// A card alone that carries a copy of a certificate over its own key: the
// signature it makes does not leave CardBridge (raw, CMS, login token).
func TestAttackForgedCardSignatureNotReturned(t *testing.T) {
	sig := newSigCert(t)
	hostile := &cardstest.Card{Certs: []cardstest.Cert{forged(t, sig)}}
	m := cards.New(cards.Options{Backends: []cards.Backend{&cardstest.Backend{Attached: []cardstest.Reader{{Name: "A reader", Card: hostile}}}}})
	digest := sha256.Sum256([]byte("公文"))
	ctx := context.Background()
	_, err := m.SignDigest(ctx, sig.ID, digest[:], crypto.SHA256, []byte(cardstest.PIN))
	assert.ErrorIs(t, err, cards.ErrKeyMismatch)
	_, err = m.SignCMS(ctx, sig.ID, []byte("公文"), crypto.SHA256, cards.CMSOptions{}, []byte(cardstest.PIN))
	assert.ErrorIs(t, err, cards.ErrKeyMismatch)
	_, err = m.Authenticate(ctx, sig.ID, "https://edoc.example.gov.tw", "Y2hhbGxlbmdlY2hhbGxlbmdlY2hhbGxlbmdlMDEyMzQ1", []byte(cardstest.PIN), "test")
	assert.ErrorIs(t, err, cards.ErrKeyMismatch)
}
