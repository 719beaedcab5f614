package cms_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cms"
)

// encCert is a self-signed encryption certificate (cert2) for key.
func encCert(t *testing.T, key crypto.Signer, ku x509.KeyUsage, name string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     ku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}

// failing is a Decrypter that fails as a card does (wrong PIN).
type failing struct {
	crypto.Decrypter
	err error
}

func (f failing) Decrypt(io.Reader, []byte, crypto.DecrypterOpts) ([]byte, error) { return nil, f.err }

func TestEnvelopeToEachRecipient(t *testing.T) {
	ka, kb, kc := rsaKey(t), rsaKey(t), rsaKey(t)
	a := encCert(t, ka, x509.KeyUsageKeyEncipherment|x509.KeyUsageDataEncipherment, "測試幼兒園")
	b := encCert(t, kb, x509.KeyUsageKeyEncipherment, "測試市政府教育局")
	c := encCert(t, kc, x509.KeyUsageKeyEncipherment, "not a recipient")
	content := bytes.Repeat([]byte("公文內容 "), 1000)

	env, err := cms.Encrypt(content, []*x509.Certificate{a, b})
	require.NoError(t, err)
	assert.False(t, bytes.Contains(env, []byte("公文內容")), "plaintext in the envelope")
	for _, r := range []struct {
		cert *x509.Certificate
		key  *rsa.PrivateKey
	}{{a, ka}, {b, kb}} {
		got, err := cms.Open(env, r.cert, r.key)
		require.NoError(t, err)
		assert.Equal(t, content, got)
	}

	_, err = cms.Open(env, c, kc)
	assert.ErrorIs(t, err, cms.ErrNotForUs)

	// Every byte of the encrypted content matters (GCM).
	tampered := bytes.Clone(env)
	tampered[len(tampered)-40] ^= 1
	_, err = cms.Open(tampered, a, ka)
	assert.ErrorIs(t, err, cms.ErrDecrypt)

	_, err = cms.Open([]byte("not an envelope"), a, ka)
	assert.ErrorIs(t, err, cms.ErrDecrypt)

	// The card's own error comes through as it is.
	pin := errors.New("wrong PIN")
	_, err = cms.Open(env, a, failing{Decrypter: ka, err: pin})
	assert.ErrorIs(t, err, pin)
}

func TestEnvelopeRefusesRecipients(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k := rsaKey(t)
	for name, certs := range map[string][]*x509.Certificate{
		"none":             nil,
		"an ECC key":       {encCert(t, ec, x509.KeyUsageDigitalSignature, "ecc")},
		"a signature cert": {encCert(t, k, x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment, "cert1")},
	} {
		_, err := cms.Encrypt([]byte("x"), certs)
		assert.ErrorIs(t, err, cms.ErrRecipient, name)
	}
}

// Encrypt may run from several goroutines: the library's algorithm
// variables are set under a lock, and every envelope is AES-256-GCM with
// RSA-OAEP whatever ran before.
func TestEnvelopeConcurrent(t *testing.T) {
	k := rsaKey(t)
	c := encCert(t, k, x509.KeyUsageKeyEncipherment, "x")
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			env, err := cms.Encrypt([]byte("公文"), []*x509.Certificate{c})
			if err == nil {
				_, err = cms.Open(env, c, k)
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		require.NoError(t, <-errs)
	}
}

// Whatever the library's package variables say (its default is DES-CBC
// with PKCS#1 v1.5), an envelope is AES-256-GCM with RSA-OAEP-SHA-256.
func TestEnvelopeIgnoresLibraryDefaults(t *testing.T) {
	pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmDESCBC
	pkcs7.KeyEncryptionAlgorithm = pkcs7.OIDEncryptionAlgorithmRSA
	k := rsaKey(t)
	env, err := cms.Encrypt([]byte("公文"), []*x509.Certificate{encCert(t, k, x509.KeyUsageKeyEncipherment, "x")})
	require.NoError(t, err)
	oid := func(o asn1.ObjectIdentifier) []byte {
		b, err := asn1.Marshal(o)
		require.NoError(t, err)
		return b
	}
	assert.True(t, bytes.Contains(env, oid(pkcs7.OIDEncryptionAlgorithmAES256GCM)), "AES-256-GCM")
	assert.True(t, bytes.Contains(env, oid(pkcs7.OIDEncryptionAlgorithmRSAESOAEP)), "RSA-OAEP")
	assert.True(t, bytes.Contains(env, oid(pkcs7.OIDDigestAlgorithmSHA256)), "OAEP's SHA-256")
	assert.False(t, bytes.Contains(env, oid(pkcs7.OIDEncryptionAlgorithmDESCBC)), "DES-CBC")
}
