package cms_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"testing"

	"github.com/smallstep/pkcs7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cms"
)

// spy is a Decrypter that records whether the key was used at all.
type spy struct {
	crypto.Decrypter
	calls int
}

func (s *spy) Decrypt(r io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	s.calls++
	return s.Decrypter.Decrypt(r, msg, opts)
}

// legacyEnvelope is what a hostile sender can make with the library's
// other algorithms: PKCS#1 v1.5 key transport, or DES-CBC content.
func legacyEnvelope(t *testing.T, content []byte, c *x509.Certificate, contentAlg int, keyAlg []int) []byte {
	t.Helper()
	defer func(ca int, ka []int, kh crypto.Hash) {
		pkcs7.ContentEncryptionAlgorithm, pkcs7.KeyEncryptionAlgorithm, pkcs7.KeyEncryptionHash = ca, ka, kh
	}(pkcs7.ContentEncryptionAlgorithm, pkcs7.KeyEncryptionAlgorithm, pkcs7.KeyEncryptionHash)
	pkcs7.ContentEncryptionAlgorithm = contentAlg
	pkcs7.KeyEncryptionAlgorithm = keyAlg
	pkcs7.KeyEncryptionHash = crypto.SHA256
	env, err := pkcs7.Encrypt(content, []*x509.Certificate{c})
	require.NoError(t, err)
	return env
}

// legacyEnvelopeHash is an OAEP envelope over another hash.
func legacyEnvelopeHash(t *testing.T, content []byte, c *x509.Certificate, h crypto.Hash) []byte {
	t.Helper()
	defer func(ca int, ka []int, kh crypto.Hash) {
		pkcs7.ContentEncryptionAlgorithm, pkcs7.KeyEncryptionAlgorithm, pkcs7.KeyEncryptionHash = ca, ka, kh
	}(pkcs7.ContentEncryptionAlgorithm, pkcs7.KeyEncryptionAlgorithm, pkcs7.KeyEncryptionHash)
	pkcs7.ContentEncryptionAlgorithm, pkcs7.KeyEncryptionAlgorithm, pkcs7.KeyEncryptionHash = pkcs7.EncryptionAlgorithmAES256GCM, pkcs7.OIDEncryptionAlgorithmRSAESOAEP, h
	env, err := pkcs7.Encrypt(content, []*x509.Certificate{c})
	require.NoError(t, err)
	return env
}

// Attack: a hostile agency (anyone holding the directory can encrypt to a
// receiver) sends envelopes whose key transport is PKCS#1 v1.5 instead of
// OAEP. Open used to hand the ciphertext to the card with PKCS#1 v1.5
// options, and a padding failure came back as the card's own error while
// a conforming key that then failed the content came back as ErrDecrypt:
// a Bleichenbacher oracle on the receiver's cert2 (the agent reports the
// second as a final 收文異常 and retries the first, which the sender sees
// as "failed" against "downloading"), enough to decrypt any envelope sent
// to that receiver, or to sign with its cert2 key. An envelope must be
// what Encrypt makes (RSA-OAEP-SHA-256, AES-256-GCM) before the key is
// touched.
func TestAttackEnvelopeAlgorithmDowngrade(t *testing.T) {
	k := rsaKey(t)
	c := encCert(t, k, x509.KeyUsageKeyEncipherment, "receiver")
	content := []byte("公文")
	for name, env := range map[string][]byte{
		"PKCS#1 v1.5 key transport": legacyEnvelope(t, content, c, pkcs7.EncryptionAlgorithmAES256GCM, pkcs7.OIDEncryptionAlgorithmRSA),
		"DES-CBC content":           legacyEnvelope(t, content, c, pkcs7.EncryptionAlgorithmDESCBC, pkcs7.OIDEncryptionAlgorithmRSAESOAEP),
		"AES-256-CBC content":       legacyEnvelope(t, content, c, pkcs7.EncryptionAlgorithmAES256CBC, pkcs7.OIDEncryptionAlgorithmRSAESOAEP),
		"AES-128-GCM content":       legacyEnvelope(t, content, c, pkcs7.EncryptionAlgorithmAES128GCM, pkcs7.OIDEncryptionAlgorithmRSAESOAEP),
	} {
		s := &spy{Decrypter: k}
		_, err := cms.Open(env, c, s)
		assert.ErrorIs(t, err, cms.ErrDecrypt, name)
		assert.Zero(t, s.calls, "%s: the card was asked to decrypt", name)
	}

	// OAEP over SHA-1 is not what Encrypt makes either.
	s := &spy{Decrypter: k}
	_, err := cms.Open(legacyEnvelopeHash(t, content, c, crypto.SHA1), c, s)
	assert.ErrorIs(t, err, cms.ErrDecrypt, "OAEP-SHA-1")
	assert.Zero(t, s.calls, "OAEP-SHA-1: the card was asked to decrypt")
	// What Encrypt makes still opens.
	env, err := cms.Encrypt(content, []*x509.Certificate{c})
	require.NoError(t, err)
	got, err := cms.Open(env, c, k)
	require.NoError(t, err)
	assert.Equal(t, content, got)
}

// Attack: the oracle itself. Two envelopes whose PKCS#1 v1.5 key transport
// is conforming or not must not be told apart by Open's answer.
func TestAttackEnvelopeNoPaddingOracle(t *testing.T) {
	k := rsaKey(t)
	c := encCert(t, k, x509.KeyUsageKeyEncipherment, "receiver")
	conforming := legacyEnvelope(t, []byte("x"), c, pkcs7.EncryptionAlgorithmAES256GCM, pkcs7.OIDEncryptionAlgorithmRSA)
	// A garbled encrypted key: almost surely not PKCS#1 conforming.
	garbled := bytes.Clone(conforming)
	// The encrypted key is the 256-byte OCTET STRING after the key
	// transport algorithm; flip a byte in the middle of it.
	i := bytes.Index(garbled, []byte{0x04, 0x82, 0x01, 0x00})
	require.Positive(t, i)
	garbled[i+4+100] ^= 0xff
	_, err1 := cms.Open(conforming, c, k)
	_, err2 := cms.Open(garbled, c, k)
	require.Error(t, err1)
	require.Error(t, err2)
	assert.Equal(t, errors.Is(err1, cms.ErrDecrypt), errors.Is(err2, cms.ErrDecrypt), "conforming %v, not conforming %v", err1, err2)
	assert.ErrorIs(t, err2, cms.ErrDecrypt)
}

// A genuine envelope whose OAEP block does not decode (the key's
// rsa.ErrDecryption) is ErrDecrypt like every other decryption failure.
func TestAttackEnvelopeOAEPFailureIsErrDecrypt(t *testing.T) {
	k := rsaKey(t)
	c := encCert(t, k, x509.KeyUsageKeyEncipherment, "receiver")
	env, err := cms.Encrypt([]byte("x"), []*x509.Certificate{c})
	require.NoError(t, err)
	i := bytes.Index(env, []byte{0x04, 0x82, 0x01, 0x00})
	require.Positive(t, i)
	env[i+4+100] ^= 0xff
	_, err = cms.Open(env, c, k)
	assert.ErrorIs(t, err, cms.ErrDecrypt)
	assert.NotErrorIs(t, err, rsa.ErrDecryption, "the key's own decryption error is not told apart")
}
