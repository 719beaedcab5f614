package cms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/testca"
)

func attackPools(f *fixture) (roots, inter *x509.CertPool) {
	roots, inter = x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(f.ca.Root.Cert)
	inter.AddCert(f.ca.Issuing.Cert)
	return roots, inter
}

// The good case the attacks below are variations of.
func TestAttackVerifyBaseline(t *testing.T) {
	f := fixtures(t)
	roots, inter := attackPools(f)
	for _, s := range []struct {
		cert *x509.Certificate
		key  crypto.Signer
	}{{f.rsaCert, f.rsaKey}, {f.ecCert, f.ecKey}} {
		sig, err := SignDetached([]byte("manifest"), s.cert, s.key, Options{Hash: crypto.SHA256})
		require.NoError(t, err)
		v, err := VerifyDetached(sig.DER, []byte("manifest"), roots, inter, time.Now())
		require.NoError(t, err)
		assert.Equal(t, s.cert.Raw, v.Signer.Raw)
	}
}

// Attack: a signature made with an agency's encryption key (cert2,
// keyEncipherment only). The card's cert2 key does raw RSA for
// decryption, so anyone who gets a decryption oracle on it (a padding
// oracle, a confused agent) can make such a "signature"; cert2 carries the
// same 機關代碼, so it passed for the agency's signature on a manifest.
// Only a certificate for signatures (digitalSignature or nonRepudiation)
// signs.
func TestAttackVerifyEncryptionCertificateSigns(t *testing.T) {
	f := fixtures(t)
	roots, inter := attackPools(f)
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	enc, err := f.ca.Issue(rand.Reader, k.Public(), testca.Org{Name: "測試幼兒園", UBN: "12345675"}, testca.Encryption, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
	require.NoError(t, err)
	sig, err := SignDetached([]byte("manifest"), enc, k, Options{Hash: crypto.SHA256})
	require.NoError(t, err)
	_, err = VerifyDetached(sig.DER, []byte("manifest"), roots, inter, time.Now())
	assert.ErrorIs(t, err, ErrBadSignature)
}

// Attack: SHA-1. SignDetached never makes it, but the library verified it
// (and crypto/x509 accepts SHA-1 in CheckSignature): a sender could sign
// one of a SHA-1 colliding pair of manifests and later show the other.
func TestAttackVerifySHA1(t *testing.T) {
	f := fixtures(t)
	roots, inter := attackPools(f)
	sd, err := pkcs7.NewSignedData([]byte("manifest"))
	require.NoError(t, err)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA1)
	require.NoError(t, sd.AddSigner(f.rsaCert, f.rsaKey, pkcs7.SignerInfoConfig{}))
	sd.Detach()
	der, err := sd.Finish()
	require.NoError(t, err)
	_, err = VerifyDetached(der, []byte("manifest"), roots, inter, time.Now())
	assert.ErrorIs(t, err, ErrBadSignature)
}

// Attack: no signed attributes, hence no signingTime (Verified's
// SigningTime was the zero time) and no messageDigest: the manifest's
// signature must carry signingTime as SignDetached makes it.
func TestAttackVerifyNoSignedAttributes(t *testing.T) {
	f := fixtures(t)
	roots, inter := attackPools(f)
	sd, err := pkcs7.NewSignedData([]byte("manifest"))
	require.NoError(t, err)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	require.NoError(t, sd.SignWithoutAttr(f.rsaCert, f.rsaKey, pkcs7.SignerInfoConfig{}))
	sd.Detach()
	der, err := sd.Finish()
	require.NoError(t, err)
	_, err = VerifyDetached(der, []byte("manifest"), roots, inter, time.Now())
	assert.ErrorIs(t, err, ErrBadSignature)
}

// Regression: a root the signer bundles in its SignedData is an
// intermediate at most, never a trust anchor; a second signer is refused;
// a signingTime sent as an unsigned attribute is not read.
func TestAttackVerifyBundledRootAndSigners(t *testing.T) {
	f := fixtures(t)
	roots, inter := attackPools(f)
	own, err := testca.New(nil, time.Time{})
	require.NoError(t, err)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	c, err := own.Issue(rand.Reader, k.Public(), testca.Org{Name: "測試幼兒園", UBN: "12345675"}, testca.Signature, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
	require.NoError(t, err)
	sd, err := pkcs7.NewSignedData([]byte("manifest"))
	require.NoError(t, err)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	require.NoError(t, sd.AddSignerChain(c, k, []*x509.Certificate{own.Issuing.Cert, own.Root.Cert}, pkcs7.SignerInfoConfig{}))
	sd.Detach()
	der, err := sd.Finish()
	require.NoError(t, err)
	_, err = VerifyDetached(der, []byte("manifest"), roots, inter, time.Now())
	assert.ErrorIs(t, err, ErrUntrusted)

	sd, err = pkcs7.NewSignedData([]byte("manifest"))
	require.NoError(t, err)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	require.NoError(t, sd.AddSigner(f.rsaCert, f.rsaKey, pkcs7.SignerInfoConfig{}))
	require.NoError(t, sd.AddSigner(f.ecCert, f.ecKey, pkcs7.SignerInfoConfig{}))
	sd.Detach()
	der, err = sd.Finish()
	require.NoError(t, err)
	_, err = VerifyDetached(der, []byte("manifest"), roots, inter, time.Now())
	assert.ErrorIs(t, err, ErrBadSignature, "two signers")

	sd, err = pkcs7.NewSignedData([]byte("manifest"))
	require.NoError(t, err)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	fake := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, sd.AddSigner(f.rsaCert, f.rsaKey, pkcs7.SignerInfoConfig{ExtraUnsignedAttributes: []pkcs7.Attribute{{Type: pkcs7.OIDAttributeSigningTime, Value: fake}}}))
	sd.Detach()
	der, err = sd.Finish()
	require.NoError(t, err)
	v, err := VerifyDetached(der, []byte("manifest"), roots, inter, time.Now())
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), v.SigningTime, time.Minute, "the signed signingTime, not the unsigned one")
}
