package cmsorigin_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/cmsorigin"
)

// signer is a self-signed P-256 key and certificate.
func signer(t testing.TB) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "測試幼兒園"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, k
}

// sign makes a detached SignedData with the given extra signed attributes,
// the way CardBridge's host does.
func sign(t testing.TB, attrs ...pkcs7.Attribute) []byte {
	t.Helper()
	cert, key := signer(t)
	sd, err := pkcs7.NewSignedData([]byte("公文"))
	require.NoError(t, err)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	require.NoError(t, sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{ExtraSignedAttributes: attrs}))
	sd.Detach()
	der, err := sd.Finish()
	require.NoError(t, err)
	return der
}

const site = "https://edoc.example.gov.tw"

func bound(origin, purpose string) pkcs7.Attribute {
	return pkcs7.Attribute{Type: cmsorigin.OIDContentHints, Value: cmsorigin.Attribute(origin, purpose)}
}

// A signature made for the site and for a document passes; one a page of
// another site obtained, one for another purpose, one without the binding
// and one with a garbled binding are refused, each with its own error.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		der  []byte
		want error
	}{
		{"bound to the site", sign(t, bound(site, cmsorigin.PurposeDocument)), nil},
		{"another site's signature", sign(t, bound("https://evil.example", cmsorigin.PurposeDocument)), cmsorigin.ErrOrigin},
		{"a prefix of the origin", sign(t, bound(site+".evil.example", cmsorigin.PurposeDocument)), cmsorigin.ErrOrigin},
		{"another purpose", sign(t, bound(site, "login")), cmsorigin.ErrPurpose},
		{"no binding", sign(t), cmsorigin.ErrMissing},
		{"a description not ours", sign(t, pkcs7.Attribute{Type: cmsorigin.OIDContentHints,
			Value: cmsorigin.ContentHints{Description: "invoice " + site, ContentType: pkcs7.OIDData}}), cmsorigin.ErrMalformed},
		{"extra words", sign(t, pkcs7.Attribute{Type: cmsorigin.OIDContentHints,
			Value: cmsorigin.ContentHints{Description: cmsorigin.Description(site, cmsorigin.PurposeDocument) + " x", ContentType: pkcs7.OIDData}}), cmsorigin.ErrMalformed},
		{"wrong content type", sign(t, pkcs7.Attribute{Type: cmsorigin.OIDContentHints,
			Value: cmsorigin.ContentHints{Description: cmsorigin.Description(site, cmsorigin.PurposeDocument), ContentType: asn1.ObjectIdentifier{1, 2, 3}}}), cmsorigin.ErrMalformed},
		{"not CMS", []byte("not a signature"), cmsorigin.ErrMalformed},
		{"empty", nil, cmsorigin.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cmsorigin.Check(tc.der, site, cmsorigin.PurposeDocument)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

// The description is the documented text, and the attribute encodes as
// RFC 2634's ContentHints: a SEQUENCE of a UTF8String and an OID.
func TestAttributeEncoding(t *testing.T) {
	assert.Equal(t, "cardbridge/1 document-signature https://edoc.example.gov.tw", cmsorigin.Description(site, cmsorigin.PurposeDocument))
	der, err := asn1.Marshal(cmsorigin.Attribute(site, cmsorigin.PurposeDocument))
	require.NoError(t, err)
	var raw struct {
		Description asn1.RawValue
		ContentType asn1.ObjectIdentifier
	}
	_, err = asn1.Unmarshal(der, &raw)
	require.NoError(t, err)
	assert.Equal(t, asn1.TagUTF8String, raw.Description.Tag)
	assert.True(t, raw.ContentType.Equal(pkcs7.OIDData))
}

// Check takes signatures from outside: whatever the bytes, it returns an
// error or nil, never panics, and accepts only a binding to the origin.
func FuzzCheck(f *testing.F) {
	f.Add(sign(f, bound(site, cmsorigin.PurposeDocument)))
	f.Add(sign(f))
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, der []byte) {
		if err := cmsorigin.Check(der, site, cmsorigin.PurposeDocument); err == nil {
			p7, perr := pkcs7.Parse(der)
			require.NoError(t, perr)
			b, rerr := cmsorigin.Read(p7)
			require.NoError(t, rerr)
			require.Equal(t, site, b.Origin)
		}
	})
}
