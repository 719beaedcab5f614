package cms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/testca"
)

// fixture is a TEST hierarchy and a card's signing certificates issued by
// it, one RSA and one P-256. RSA keys are slow to make, so it is built
// once per test binary.
type fixture struct {
	ca              *testca.Hierarchy
	rsaKey, ecKey   crypto.Signer
	rsaCert, ecCert *x509.Certificate
}

var testFixture = sync.OnceValues(func() (*fixture, error) {
	ca, err := testca.New(nil, time.Time{})
	if err != nil {
		return nil, err
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	org := testca.Org{Name: "測試幼兒園", UBN: "12345675", CardSerial: "TEST000000000001"}
	now := time.Now()
	f := &fixture{ca: ca, rsaKey: rk, ecKey: ek}
	if f.rsaCert, err = ca.Issue(rand.Reader, rk.Public(), org, testca.Signature, now.Add(-time.Hour), now.AddDate(1, 0, 0)); err != nil {
		return nil, err
	}
	if f.ecCert, err = ca.Issue(rand.Reader, ek.Public(), org, testca.Signature, now.Add(-time.Hour), now.AddDate(1, 0, 0)); err != nil {
		return nil, err
	}
	return f, nil
})

func fixtures(t *testing.T) *fixture {
	t.Helper()
	f, err := testFixture()
	require.NoError(t, err)
	return f
}

// trust is the pool a verifier of TEST signatures uses. The SignedData
// carries the signer's certificate only, and pkcs7 takes no pool of
// intermediates, so the issuing CA is trusted directly.
func (f *fixture) trust() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.ca.Root.Cert)
	p.AddCert(f.ca.Issuing.Cert)
	return p
}

// countingSigner records how a crypto.Signer is used: a card key verifies
// the PIN for each signature, so one CMS signature must be one Sign call.
type countingSigner struct {
	crypto.Signer
	calls int
	opts  []crypto.SignerOpts
}

func (s *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.calls++
	s.opts = append(s.opts, opts)
	return s.Signer.Sign(r, digest, opts)
}

// A detached SignedData verifies against the data and the TEST chain, uses
// the digest algorithm asked for (in the digest and in the signature),
// carries signingTime, and the nonce and card serial exactly when asked.
func TestSignDetached(t *testing.T) {
	f := fixtures(t)
	type keyCase struct {
		name   string
		key    crypto.Signer
		cert   *x509.Certificate
		sigOID map[crypto.Hash]asn1.ObjectIdentifier // signerInfo's signature algorithm, by hash
	}
	keys := []keyCase{
		{"RSA", f.rsaKey, f.rsaCert, map[crypto.Hash]asn1.ObjectIdentifier{
			crypto.SHA256: pkcs7.OIDEncryptionAlgorithmRSASHA256,
			crypto.SHA384: pkcs7.OIDEncryptionAlgorithmRSASHA384,
			crypto.SHA512: pkcs7.OIDEncryptionAlgorithmRSASHA512,
		}},
		{"P-256", f.ecKey, f.ecCert, map[crypto.Hash]asn1.ObjectIdentifier{
			crypto.SHA256: pkcs7.OIDDigestAlgorithmECDSASHA256,
			crypto.SHA384: pkcs7.OIDDigestAlgorithmECDSASHA384,
			crypto.SHA512: pkcs7.OIDDigestAlgorithmECDSASHA512,
		}},
	}
	hashes := []struct {
		h   crypto.Hash
		oid asn1.ObjectIdentifier
	}{
		{crypto.SHA256, pkcs7.OIDDigestAlgorithmSHA256},
		{crypto.SHA384, pkcs7.OIDDigestAlgorithmSHA384},
		{crypto.SHA512, pkcs7.OIDDigestAlgorithmSHA512},
	}
	attrs := []struct {
		name   string
		nonce  string
		serial string
	}{
		{"no extra attributes", "", ""},
		{"nonce", "b5f1c0a2-nonce", ""},
		{"card serial", "", "TEST000000000001"},
		{"nonce and card serial", "一次性 nonce 7", "TEST000000000002"},
	}
	for _, k := range keys {
		for _, h := range hashes {
			for _, a := range attrs {
				t.Run(fmt.Sprintf("%s/%v/%s", k.name, h.h, a.name), func(t *testing.T) {
					data := []byte("公文內容 " + t.Name())
					signer := &countingSigner{Signer: k.key}
					before := time.Now().Truncate(time.Second)
					signed, err := SignDetached(data, k.cert, signer, Options{Hash: h.h, Nonce: a.nonce, CardSerial: a.serial})
					require.NoError(t, err)
					after := time.Now()
					assert.Equal(t, 1, signer.calls, "Sign calls (one PIN verification per signature)")
					assert.Equal(t, h.h, signer.opts[0].HashFunc())

					p7, err := pkcs7.Parse(signed.DER)
					require.NoError(t, err)
					assert.Empty(t, p7.Content, "not detached")
					require.Len(t, p7.Certificates, 1)
					assert.Equal(t, k.cert.Raw, p7.Certificates[0].Raw)
					require.Len(t, p7.Signers, 1)
					assert.Equal(t, h.oid, p7.Signers[0].DigestAlgorithm.Algorithm, "digest algorithm")
					assert.Equal(t, k.sigOID[h.h], p7.Signers[0].DigestEncryptionAlgorithm.Algorithm, "signature algorithm")

					p7.Content = data
					require.NoError(t, p7.Verify())
					require.NoError(t, p7.VerifyWithChain(f.trust()))

					var md []byte
					require.NoError(t, p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeMessageDigest, &md))
					hh := h.h.New()
					hh.Write(data)
					assert.Equal(t, hh.Sum(nil), md, "messageDigest")
					var ct asn1.ObjectIdentifier
					require.NoError(t, p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeContentType, &ct))
					assert.Equal(t, pkcs7.OIDData, ct)

					var st time.Time
					require.NoError(t, p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &st))
					assert.True(t, st.Equal(signed.SigningTime), "Signed.SigningTime %v, attribute %v", signed.SigningTime, st)
					assert.False(t, st.Before(before) || st.After(after), "signingTime %v outside [%v, %v]", st, before, after)

					var nonce []byte
					err = p7.UnmarshalSignedAttribute(OIDRandomNonce, &nonce)
					if a.nonce == "" {
						assert.Error(t, err, "randomNonce present though not asked for")
					} else if assert.NoError(t, err) {
						assert.Equal(t, a.nonce, string(nonce))
					}
					var serial string
					err = p7.UnmarshalSignedAttribute(OIDCardSerial, &serial)
					if a.serial == "" {
						assert.Error(t, err, "card serial present though not asked for")
					} else if assert.NoError(t, err) {
						assert.Equal(t, a.serial, serial)
					}

					p7.Content = append(data, '!')
					assert.Error(t, p7.Verify(), "verifies over other data")
				})
			}
		}
	}
}

// The card serial is written as a PrintableString, the type of the same
// attribute in the certificate (certinfo.OIDCardSerial).
func TestSignDetachedCardSerialType(t *testing.T) {
	f := fixtures(t)
	signed, err := SignDetached([]byte("x"), f.ecCert, f.ecKey, Options{Hash: crypto.SHA256, CardSerial: "TEST000000000001"})
	require.NoError(t, err)
	p7, err := pkcs7.Parse(signed.DER)
	require.NoError(t, err)
	var raw asn1.RawValue
	require.NoError(t, p7.UnmarshalSignedAttribute(OIDCardSerial, &raw))
	assert.Equal(t, asn1.TagPrintableString, raw.Tag)
	assert.Equal(t, "TEST000000000001", string(raw.Bytes))
}

// Only SHA-256, -384 and -512 are offered; SHA-1 and anything else is
// ErrHash, before the signer (the card, the PIN) is asked.
func TestSignDetachedHashNotOffered(t *testing.T) {
	f := fixtures(t)
	for _, h := range []crypto.Hash{0, crypto.SHA1, crypto.MD5, crypto.SHA224, crypto.SHA3_256, crypto.SHA512_256} {
		t.Run(fmt.Sprint(h), func(t *testing.T) {
			signer := &countingSigner{Signer: f.rsaKey}
			signed, err := SignDetached([]byte("x"), f.rsaCert, signer, Options{Hash: h})
			require.ErrorIs(t, err, ErrHash)
			assert.Zero(t, signer.calls)
			assert.Empty(t, signed.DER)
		})
	}
}

// cardError stands for the card's typed errors (a wrong PIN with tries
// left) that the edge maps to its codes.
type cardError struct{ triesLeft int }

func (e *cardError) Error() string { return fmt.Sprintf("wrong PIN, %d tries left", e.triesLeft) }

// failingSigner is a key whose card refuses to sign.
type failingSigner struct {
	crypto.Signer
	err error
}

func (s failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, s.err }

var errRemoved = errors.New("card removed")

// The signer's own error (a wrong PIN, a removed card) stays reachable
// through the pkcs7 library, so the caller reports it and not "CMS failed".
func TestSignDetachedSignerError(t *testing.T) {
	f := fixtures(t)
	for _, tc := range []struct {
		name  string
		err   error
		check func(t *testing.T, err error)
	}{
		{"sentinel", errRemoved, func(t *testing.T, err error) { assert.ErrorIs(t, err, errRemoved) }},
		{"wrapped sentinel", fmt.Errorf("sign: %w", errRemoved), func(t *testing.T, err error) { assert.ErrorIs(t, err, errRemoved) }},
		{"typed", &cardError{triesLeft: 2}, func(t *testing.T, err error) {
			var ce *cardError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, 2, ce.triesLeft)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signed, err := SignDetached([]byte("x"), f.rsaCert, failingSigner{Signer: f.rsaKey, err: tc.err}, Options{Hash: crypto.SHA256, Nonce: "n"})
			require.Error(t, err)
			tc.check(t, err)
			assert.NotErrorIs(t, err, ErrHash)
			assert.Empty(t, signed.DER)
		})
	}
}

// The digest algorithm is set explicitly, not taken from the library's
// process-wide default, which other code in the process may change.
func TestSignDetachedIgnoresLibraryDefault(t *testing.T) {
	f := fixtures(t)
	require.NoError(t, pkcs7.SetDefaultDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA1))
	t.Cleanup(func() { _ = pkcs7.SetDefaultDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA1) })
	for _, def := range []asn1.ObjectIdentifier{pkcs7.OIDDigestAlgorithmSHA1, pkcs7.OIDDigestAlgorithmSHA512} {
		require.NoError(t, pkcs7.SetDefaultDigestAlgorithm(def))
		signed, err := SignDetached([]byte("x"), f.ecCert, f.ecKey, Options{Hash: crypto.SHA384})
		require.NoError(t, err)
		p7, err := pkcs7.Parse(signed.DER)
		require.NoError(t, err)
		assert.Equal(t, pkcs7.OIDDigestAlgorithmSHA384, p7.Signers[0].DigestAlgorithm.Algorithm, "library default %v", def)
	}
}
