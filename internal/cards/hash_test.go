package cards_test

import (
	"context"
	"crypto"
	"testing"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
	"github.com/stretchr/testify/assert"
)

// Signature.Algorithm is a JWA name (RS256/384/512). A hash without one
// is refused before the card signs, not signed and named "RS". The
// protocol and the CLI offer only SHA-2, so this guards the library.
func TestSignDigestOtherHashes(t *testing.T) {
	c := newSigCert(t)
	m, _ := oneCard(c)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA224, 0} {
		t.Run(h.String(), func(t *testing.T) {
			digest := make([]byte, 20)
			if h != 0 {
				digest = make([]byte, h.Size())
			}
			sig, err := m.SignDigest(context.Background(), c.ID, digest, h, []byte(cardstest.PIN))
			assert.ErrorIs(t, err, card.ErrUnsupported)
			if err == nil {
				assert.Contains(t, []string{"RS256", "RS384", "RS512"}, sig.Algorithm, "signed with %v and named it %q", h, sig.Algorithm)
			}
		})
	}
}
