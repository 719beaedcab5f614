package cms

import (
	"crypto"
	"testing"

	"github.com/smallstep/pkcs7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/cmsorigin"
)

// A signature made for a page carries the page's origin as a signed
// binding that the site's verifier (the public cmsorigin package) accepts
// for that origin only; without an origin there is no binding.
func TestSignDetachedOrigin(t *testing.T) {
	f := fixtures(t)
	const site = "https://edoc.example.gov.tw"
	data := []byte("公文")
	for _, tc := range []struct {
		name   string
		origin string
		check  string
		want   error
	}{
		{"bound to its origin", site, site, nil},
		{"another site's verifier refuses it", site, "https://evil.example", cmsorigin.ErrOrigin},
		{"no origin, no binding", "", site, cmsorigin.ErrMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signed, err := SignDetached(data, f.rsaCert, f.rsaKey, Options{Hash: crypto.SHA256, Origin: tc.origin, Nonce: "n0nce"})
			require.NoError(t, err)
			p7, err := pkcs7.Parse(signed.DER)
			require.NoError(t, err)
			p7.Content = data
			require.NoError(t, p7.VerifyWithChain(f.trust()))
			err = cmsorigin.Check(signed.DER, tc.check, cmsorigin.PurposeDocument)
			if tc.want == nil {
				require.NoError(t, err)
				b, err := cmsorigin.Read(p7)
				require.NoError(t, err)
				assert.Equal(t, cmsorigin.Binding{Origin: site, Purpose: cmsorigin.PurposeDocument}, b)
				return
			}
			assert.ErrorIs(t, err, tc.want)
		})
	}
}
