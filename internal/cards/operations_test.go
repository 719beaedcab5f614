package cards_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"

	"github.com/smallstep/pkcs7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/cms"
)

// These tests hold the usage rule (docs/protocol.md 4.13) with certificates
// no TEST card carries; the refusal comes before the card is asked, so no
// PIN try is spent. virtual_test.go runs the operations on a real card.

// oneCard is a Manager over one reader holding a card with certs.
func oneCard(certs ...cardstest.Cert) (*cards.Manager, *cardstest.Card) {
	tok := &cardstest.Card{Certs: certs, GUID: "GUID-FROM-CHUID", Status: card.PINStatus{TriesLeft: 3}}
	return managerOver(&cardstest.Backend{Attached: []cardstest.Reader{{Name: "reader", Card: tok}}}), tok
}

// SignDigest makes only raw RSA PKCS#1 v1.5 signatures, and only with a
// signing certificate: an ECDSA key signs with CMS, an encryption key not
// at all.
func TestSignDigestRefuses(t *testing.T) {
	digest := sha256.Sum256([]byte("document"))
	for _, tc := range []struct {
		name  string
		cert  cardstest.Cert
		check func(t *testing.T, err error)
	}{
		{"ECDSA signing key", cardstest.NewCert(t, card.SlotSignature, cardstest.ECKey(), sigKU, ""), func(t *testing.T, err error) {
			assert.ErrorIs(t, err, cards.ErrRawNeedsRSA)
			assert.ErrorIs(t, err, card.ErrUnsupported)
		}},
		{"RSA encryption key", newEncCert(t), func(t *testing.T, err error) {
			var ue *cards.UsageError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, cards.CapSign, ue.Op)
			assert.Equal(t, certinfo.UsageEncryption, ue.Usage)
		}},
		{"ECDSA encryption key: usage first", cardstest.NewCert(t, card.SlotKeyManagement, cardstest.ECKey(), x509.KeyUsageKeyAgreement, ""), func(t *testing.T, err error) {
			var ue *cards.UsageError
			require.ErrorAs(t, err, &ue)
			assert.NotErrorIs(t, err, cards.ErrRawNeedsRSA)
		}},
		{"no key usage", cardstest.NewCert(t, card.SlotCardAuth, cardstest.RSAKey(), 0, ""), func(t *testing.T, err error) {
			var ue *cards.UsageError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, certinfo.UsageOther, ue.Usage)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, tok := oneCard(tc.cert)
			sig, err := m.SignDigest(context.Background(), tc.cert.ID, digest[:], crypto.SHA256, []byte(cardstest.PIN))
			require.Error(t, err)
			tc.check(t, err)
			assert.Empty(t, sig.Signature)
			assert.Empty(t, tok.KeyOps(), "the card was asked although the certificate may not sign")
		})
	}
}

// A raw signature is PKCS#1 v1.5 over the digest with the hash named, and
// the result names it by its JWA name and carries the certificate.
func TestSignDigest(t *testing.T) {
	c := newSigCert(t)
	m, _ := oneCard(newEncCert(t), c)
	for _, tc := range []struct {
		h    crypto.Hash
		name string
	}{{crypto.SHA256, "RS256"}, {crypto.SHA384, "RS384"}, {crypto.SHA512, "RS512"}} {
		t.Run(tc.name, func(t *testing.T) {
			hh := tc.h.New()
			hh.Write([]byte("document"))
			digest := hh.Sum(nil)
			sig, err := m.SignDigest(context.Background(), c.ID, digest, tc.h, []byte(cardstest.PIN))
			require.NoError(t, err)
			assert.Equal(t, tc.name, sig.Algorithm)
			assert.Equal(t, c.Cert.Raw, sig.Certificate)
			assert.Nil(t, sig.CMS)
			assert.Nil(t, sig.SigningTime)
			require.NoError(t, rsa.VerifyPKCS1v15(c.Cert.PublicKey.(*rsa.PublicKey), tc.h, digest, sig.Signature))
		})
	}
}

// Decryption is the key's raw private operation: a key that also signs
// must never decrypt, so both signing certificates are refused before the
// card is asked.
func TestDecryptRefusesSigningCertificates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cert  cardstest.Cert
		usage certinfo.Usage
	}{
		{"signature", newSigCert(t), certinfo.UsageSignature},
		{"signature and encryption", cardstest.NewCert(t, card.SlotKeyManagement, cardstest.RSAKey(), x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment, ""), certinfo.UsageSignatureEncryption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, tok := oneCard(tc.cert)
			ct, err := rsa.EncryptPKCS1v15(rand.Reader, &cardstest.RSAKey().PublicKey, []byte("secret"))
			require.NoError(t, err)
			pt, err := m.Decrypt(context.Background(), tc.cert.ID, ct, nil, []byte(cardstest.PIN))
			var ue *cards.UsageError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, cards.CapDecrypt, ue.Op)
			assert.Equal(t, tc.usage, ue.Usage)
			assert.Nil(t, pt)
			assert.Empty(t, tok.KeyOps())
		})
	}
}

// Login tokens need digitalSignature: a nonRepudiation-only key (document
// signing) and an encryption key are refused before the card is asked.
func TestAuthenticateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		cert cardstest.Cert
	}{
		{"nonRepudiation only", cardstest.NewCert(t, card.SlotSignature, cardstest.RSAKey(), x509.KeyUsageContentCommitment, "")},
		{"encryption", newEncCert(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, tok := oneCard(tc.cert)
			_, err := m.Authenticate(context.Background(), tc.cert.ID, "https://site.example", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", []byte(cardstest.PIN), "test")
			var ue *cards.UsageError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, cards.CapAuthenticate, ue.Op)
			assert.Empty(t, tok.KeyOps())
		})
	}
}

// The card serial attribute of a CMS signature comes from the certificate
// (what the CA certified), else from the card, and is left out when not
// asked for.
func TestSignCMSCardSerial(t *testing.T) {
	withSerial := cardstest.NewCert(t, card.SlotSignature, cardstest.RSAKey(), sigKU, "CERT0000000042")
	without := newSigCert(t)
	for _, tc := range []struct {
		name   string
		cert   cardstest.Cert
		ask    bool
		serial string
	}{
		{"from the certificate", withSerial, true, "CERT0000000042"},
		{"from the card", without, true, "GUID-FROM-CHUID"},
		{"not asked", withSerial, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := oneCard(tc.cert)
			data := []byte("公文")
			sig, err := m.SignCMS(context.Background(), tc.cert.ID, data, crypto.SHA256, cards.CMSOptions{WithCardSerial: tc.ask}, []byte(cardstest.PIN))
			require.NoError(t, err)
			assert.Equal(t, tc.serial, sig.CardSerial)
			p7, err := pkcs7.Parse(sig.CMS)
			require.NoError(t, err)
			p7.Content = data
			require.NoError(t, p7.Verify())
			var got string
			err = p7.UnmarshalSignedAttribute(cms.OIDCardSerial, &got)
			if tc.serial == "" {
				assert.Error(t, err, "card serial attribute present though not asked for")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.serial, got)
		})
	}
}

// A wrong PIN comes back as the card's *card.AuthError, whichever
// operation used it, so the edge can show the tries left.
func TestWrongPINPassesThrough(t *testing.T) {
	sig, enc := newSigCert(t), newEncCert(t)
	m, _ := oneCard(sig, enc)
	ctx := context.Background()
	wrong := []byte("999999")
	digest := sha256.Sum256(nil)
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, &cardstest.RSAKey().PublicKey, []byte("x"))
	require.NoError(t, err)
	for name, op := range map[string]func() error{
		"sign": func() error { _, err := m.SignDigest(ctx, sig.ID, digest[:], crypto.SHA256, wrong); return err },
		"cms": func() error {
			_, err := m.SignCMS(ctx, sig.ID, []byte("x"), crypto.SHA256, cards.CMSOptions{}, wrong)
			return err
		},
		"authenticate": func() error {
			_, err := m.Authenticate(ctx, sig.ID, "https://a.example", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", wrong, "")
			return err
		},
		"decrypt": func() error { _, err := m.Decrypt(ctx, enc.ID, ct, nil, wrong); return err },
		"change":  func() error { _, err := m.ChangePIN(ctx, cards.Ref{}, wrong, []byte("654321")); return err },
	} {
		t.Run(name, func(t *testing.T) {
			var ae *card.AuthError
			require.ErrorAs(t, op(), &ae)
			assert.Equal(t, 2, ae.TriesLeft)
		})
	}
}

// After a PIN change or unblock the result says the card is ready again
// (the tries the card reports); a failed change reports nothing more.
func TestPINChangeReportsTries(t *testing.T) {
	m, tok := oneCard(newSigCert(t))
	ctx := context.Background()
	res, err := m.ChangePIN(ctx, cards.Ref{}, []byte(cardstest.PIN), []byte("654321"))
	require.NoError(t, err)
	assert.Equal(t, cards.PINChange{Reader: "reader", TriesLeft: 3}, res)
	assert.Equal(t, []string{"change", "status"}, tok.KeyOps())

	res, err = m.UnblockPIN(ctx, cards.Ref{Reader: "reader"}, []byte("12345678"), []byte("654321"))
	require.NoError(t, err)
	assert.Equal(t, cards.PINChange{Reader: "reader", TriesLeft: 3}, res)

	_, err = m.ChangePIN(ctx, cards.Ref{}, []byte("000000"), []byte("654321"))
	require.Error(t, err)
	assert.Equal(t, []string{"change", "status", "unblock", "status", "change"}, tok.KeyOps(), "status read after a failed change")

	st, err := m.PINStatus(ctx, cards.Ref{})
	require.NoError(t, err)
	assert.Equal(t, "reader", st.Reader)
	assert.Equal(t, 3, st.TriesLeft)
	assert.Equal(t, card.Rule, st.Rule)
}

// The PIN buffer belongs to the caller, who clears it after the call: the
// CMS signer clears only its own copy, so the caller's is intact until then.
func TestSignCMSLeavesCallerPIN(t *testing.T) {
	c := newSigCert(t)
	m, _ := oneCard(c)
	p := []byte(cardstest.PIN)
	_, err := m.SignCMS(context.Background(), c.ID, []byte("x"), crypto.SHA256, cards.CMSOptions{}, p)
	require.NoError(t, err)
	assert.Equal(t, cardstest.PIN, string(p))
}
