package cards_test

import (
	"crypto/x509"
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
	"github.com/cardbridge/cardbridge/internal/certinfo"
)

// Capabilities follow key usage alone (docs/protocol.md 4.13): login
// tokens need digitalSignature, a nonRepudiation-only key signs documents
// only, and decryption is offered only on a key that never signs, so a
// page cannot turn decryption answers into signatures.
func TestCapabilitiesOf(t *testing.T) {
	sign, auth, decrypt := cards.CapSign, cards.CapAuthenticate, cards.CapDecrypt
	for _, tc := range []struct {
		name  string
		ku    x509.KeyUsage
		usage certinfo.Usage
		want  []cards.Capability
	}{
		{"cert1: digitalSignature and nonRepudiation", x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, certinfo.UsageSignature, []cards.Capability{sign, auth}},
		{"digitalSignature only (MOICA)", x509.KeyUsageDigitalSignature, certinfo.UsageSignature, []cards.Capability{sign, auth}},
		{"nonRepudiation only: documents, not logins", x509.KeyUsageContentCommitment, certinfo.UsageSignature, []cards.Capability{sign}},
		{"cert2: keyEncipherment and dataEncipherment", x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment, certinfo.UsageEncryption, []cards.Capability{decrypt}},
		{"keyAgreement (ECC encryption)", x509.KeyUsageKeyAgreement, certinfo.UsageEncryption, []cards.Capability{decrypt}},
		{"signature and encryption: never decrypt", x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, certinfo.UsageSignatureEncryption, []cards.Capability{sign, auth}},
		{"nonRepudiation and encryption", x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment, certinfo.UsageSignatureEncryption, []cards.Capability{sign}},
		{"no key usage", 0, certinfo.UsageOther, []cards.Capability{}},
		{"CA key usage", x509.KeyUsageCertSign | x509.KeyUsageCRLSign, certinfo.UsageOther, []cards.Capability{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cardstest.NewCert(t, card.SlotAuthentication, cardstest.ECKey(), tc.ku, "")
			require.Equal(t, tc.usage, c.Usage, "certinfo.UsageOf")
			got := cards.CapabilitiesOf(c.Certificate)
			assert.Equal(t, tc.want, got)
			// Always present in the protocol, possibly empty: never null.
			b, err := json.Marshal(got)
			require.NoError(t, err)
			assert.NotEqual(t, "null", string(b))

			k := cards.Certificate{Certificate: c.Certificate, Capabilities: got}
			for _, op := range []cards.Capability{sign, auth, decrypt} {
				assert.Equal(t, slices.Contains(tc.want, op), k.Can(op), "Can(%s)", op)
			}
		})
	}
}

// A certificate without its parsed form gets what its Usage allows, and
// never authenticate, which needs the digitalSignature bit itself.
func TestCapabilitiesOfWithoutCertificate(t *testing.T) {
	assert.Equal(t, []cards.Capability{cards.CapSign}, cards.CapabilitiesOf(card.Certificate{Usage: certinfo.UsageSignature}))
	assert.Equal(t, []cards.Capability{cards.CapDecrypt}, cards.CapabilitiesOf(card.Certificate{Usage: certinfo.UsageEncryption}))
}

// The usage error names the operation and the certificate's usage, which
// the edge reports as ERR_CERTIFICATE_USAGE details.
func TestUsageError(t *testing.T) {
	err := &cards.UsageError{Op: cards.CapDecrypt, Usage: certinfo.UsageSignature}
	assert.Equal(t, "decrypt with a signature certificate", err.Error())
}
