package cards_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
)

// readOnly is c as a HiCOS card read without its vendor's module shows it.
func readOnly(c cardstest.Cert) cardstest.Cert {
	c.ReadOnly = true
	c.Key = nil
	return c
}

// A card seen twice is listed once, by the view that can use its key, and
// key operations go there: a HiCOS card read natively (read-only) and
// through the vendor's module, or a PIV card reached directly and through a
// PKCS#11 module (the first backend wins).
func TestSameCardThroughTwoBackends(t *testing.T) {
	sig, enc := newSigCert(t), newEncCert(t)
	digest := sha256.Sum256([]byte("公文"))

	t.Run("native read-only view and the vendor module", func(t *testing.T) {
		native := &cardstest.Card{Certs: []cardstest.Cert{readOnly(sig), readOnly(enc)}, RefuseKeyOps: true}
		module := &cardstest.Card{Certs: []cardstest.Cert{sig, enc}}
		m := cards.New(cards.Options{
			Backends: []cards.Backend{&cardstest.Backend{Attached: []cardstest.Reader{{Name: "EZ100PU", Card: native}}}},
			Extra:    []cards.Backend{&cardstest.Backend{Attached: []cardstest.Reader{{Name: "HiCOS (PKCS#11: HiCOSPKCS11.dll)", Card: module}}}},
		})
		certs, err := m.Certificates(context.Background(), "")
		require.NoError(t, err)
		require.Len(t, certs, 2)
		for _, c := range certs {
			assert.False(t, c.ReadOnly)
			assert.Equal(t, "HiCOS (PKCS#11: HiCOSPKCS11.dll)", c.Reader)
			assert.NotEmpty(t, c.Capabilities)
		}
		_, err = m.SignDigest(context.Background(), sig.ID, digest[:], crypto.SHA256, []byte("123456"))
		require.NoError(t, err)
		assert.Equal(t, []string{"sign " + sig.ID}, module.KeyOps())
		assert.Empty(t, native.KeyOps())
	})

	t.Run("the native view alone: shown, never used", func(t *testing.T) {
		native := &cardstest.Card{Certs: []cardstest.Cert{readOnly(sig), readOnly(enc)}, RefuseKeyOps: true}
		m := cards.New(cards.Options{Backends: []cards.Backend{&cardstest.Backend{Attached: []cardstest.Reader{{Name: "EZ100PU", Card: native}}}}})
		certs, err := m.Certificates(context.Background(), "")
		require.NoError(t, err)
		require.Len(t, certs, 2)
		for _, c := range certs {
			assert.True(t, c.ReadOnly)
			assert.Empty(t, c.Capabilities)
		}
		_, err = m.SignDigest(context.Background(), sig.ID, digest[:], crypto.SHA256, []byte("123456"))
		assert.ErrorIs(t, err, cards.ErrClientNeeded)
		_, err = m.Decrypt(context.Background(), enc.ID, make([]byte, 256), nil, []byte("123456"))
		assert.ErrorIs(t, err, cards.ErrClientNeeded)
		assert.Empty(t, native.KeyOps(), "no key operation reaches a read-only card")
	})

	t.Run("two capable views: the first backend's", func(t *testing.T) {
		direct := &cardstest.Card{Certs: []cardstest.Cert{sig}}
		module := &cardstest.Card{Certs: []cardstest.Cert{sig}}
		m := cards.New(cards.Options{
			Backends: []cards.Backend{&cardstest.Backend{Attached: []cardstest.Reader{{Name: "Virtual PCD 00 00", Card: direct}}}},
			Extra:    []cards.Backend{&cardstest.Backend{Attached: []cardstest.Reader{{Name: "PIV_II (PKCS#11: opensc-pkcs11.so)", Card: module}}}},
		})
		certs, err := m.Certificates(context.Background(), "")
		require.NoError(t, err)
		require.Len(t, certs, 1)
		assert.Equal(t, "Virtual PCD 00 00", certs[0].Reader)
		_, err = m.SignDigest(context.Background(), sig.ID, digest[:], crypto.SHA256, []byte("123456"))
		require.NoError(t, err)
		assert.Len(t, direct.KeyOps(), 1)
		assert.Empty(t, module.KeyOps())
	})
}

// fallback is a FallbackReader over a cardstest.Backend whose readers are
// named after the PC/SC readers they reach, counting how often it is asked.
type fallback struct {
	*cardstest.Backend
	suffix string
	asked  atomic.Int32
}

func (f *fallback) ReaderFor(r string) (string, bool) {
	f.asked.Add(1)
	for _, a := range f.Attached {
		if a.Name == r+f.suffix {
			return a.Name, true
		}
	}
	return "", false
}

// The fallback module is asked only about a card no backend could read,
// and reaches it through its own reader.
func TestFallbackOnlyForUnreadableCards(t *testing.T) {
	sig, other := newSigCert(t), newSigCert(t)
	unknown := &cardstest.Card{CertsErr: card.ErrNotPIV}
	viaFallback := &cardstest.Card{Certs: []cardstest.Cert{other}}
	fb := &fallback{Backend: &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R2 (PKCS#11: opensc-pkcs11.so)", Card: viaFallback}}}, suffix: " (PKCS#11: opensc-pkcs11.so)"}
	primary := &cardstest.Backend{Attached: []cardstest.Reader{
		{Name: "R1", Card: &cardstest.Card{Certs: []cardstest.Cert{sig}}},
		{Name: "R2", Card: unknown},
	}}
	m := cards.New(cards.Options{Backends: []cards.Backend{primary}, Fallback: []cards.Backend{fb}})

	certs, err := m.Certificates(context.Background(), "R1")
	require.NoError(t, err)
	require.Len(t, certs, 1)
	assert.Zero(t, fb.asked.Load(), "a readable card never asks the fallback")

	certs, err = m.Certificates(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, certs, 2)
	assert.Equal(t, "R2 (PKCS#11: opensc-pkcs11.so)", certs[1].Reader)
	assert.EqualValues(t, 1, fb.asked.Load())

	readers, err := m.Readers(context.Background())
	require.NoError(t, err)
	assert.Len(t, readers, 2, "a fallback lists no readers of its own")
	assert.Zero(t, fb.Leaked())
}
