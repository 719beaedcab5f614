package hipki

// Attacks on the decoder of what HiPKI pages send (security review of the
// hipki command): resource use, percent-decoding tricks, the bounds the
// host relies on, and the built-in site rule's origin confusions.
//
// FAILS NOW (findings): TestAttackDecodeMemoryBounded,
// TestAttackPercentEncodedQuoteAddsNoField.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// FINDING (fails now). A request within MaxPayload whose unknown field is
// a huge JSON array or object is decoded whole into map[string]any: about
// 45 times its size in allocations (6 MiB → ~270 MiB), eight requests in
// flight at once. Only func, tbs, … are read: decoding them alone (a
// struct of the known fields; json skips the rest) keeps it near the
// payload's size.
func TestAttackDecodeMemoryBounded(t *testing.T) {
	n := (MaxPayload - 64) / 2
	for name, payload := range map[string]string{
		"array of numbers":       `{"func":"GetUserCert","x":[` + strings.Repeat("0,", n-1) + `0]}`,
		"array of empty objects": `{"func":"GetUserCert","x":[` + strings.Repeat("{},", (MaxPayload-64)/3-1) + `{}]}`,
	} {
		require.LessOrEqual(t, len(payload), MaxPayload)
		var err error
		got := allocated(func() { _, err = Decode(payload, "", "") })
		require.NoError(t, err, name)
		assert.Less(t, got, uint64(64<<20), "%s: a %d MiB request allocated %d MiB", name, len(payload)>>20, got>>20)
	}
}

// FINDING (fails now). The whole package is form-decoded before it is
// parsed as JSON, so a %22 inside a string value becomes a quote that ends
// it: text an honest page puts into tbs without URI-encoding it (say a
// document title a third party wrote) adds fields to the request. Here a
// page's PKCS7 request (CMS with the origin binding and the page's nonce)
// becomes a RAW PKCS#1 signature over a digest of the attacker's choice.
// Fix: parse the payload as JSON first and percent-decode each string
// value; form-decode the whole payload only when it is not JSON as it is
// (tbsPackage=%7B…%7D).
func TestAttackPercentEncodedQuoteAddsNoField(t *testing.T) {
	evil := sha256.Sum256([]byte("TLS handshake of another portal"))
	title := `收文 100%22,%22tbsEncoding%22:%22base64%22,%22signatureType%22:%22RAW%22,%22tbs%22:%22` + base64.StdEncoding.EncodeToString(evil[:])
	// As an honest page writes it (CHT's library: JSON.stringify, "+" → %2B), tbs last.
	b, err := json.Marshal(struct {
		Func          string `json:"func"`
		SignatureType string `json:"signatureType"`
		HashAlgorithm string `json:"hashAlgorithm"`
		Nonce         string `json:"nonce"`
		TBSEncoding   string `json:"tbsEncoding"`
		TBS           string `json:"tbs"`
	}{"MakeSignature", "PKCS7", "SHA256", "n0nce-1234", "NONE", title})
	require.NoError(t, err)
	r, err := Decode(strings.ReplaceAll(string(b), "+", "%2B"), "", "")
	require.NoError(t, err)
	require.NotNil(t, r.Sign)
	assert.Equal(t, "PKCS7", r.Sign.SignatureType, "the page's text changed the signature type")
	assert.Equal(t, "cms", r.Sign.Format)
	assert.Empty(t, r.Sign.Digest, "a raw signature over the attacker's digest")
	assert.Equal(t, "n0nce-1234", r.Sign.Nonce)
}

// Defended: whatever percent tricks the text holds, the text the PIN
// window may show is exactly the data signed (and invalid UTF-8 is
// refused, not replaced).
func TestAttackTextIsTheSignedData(t *testing.T) {
	for _, tbs := range []string{
		"100%", "100%25", "%2525", "a+b", "a%2Bb", "%E5%85%AC%E6%96%87", "%e5%85%ac", "%0A%0D%09", "%00x", "%",
		"%%41", "%4", "%G1", "%EF%BB%BF公文", "%E2%80%AE甲乙", "\u202eabc", `\u0000`, "x%5Cu0022y",
	} {
		p, err := json.Marshal(map[string]any{"func": "MakeSignature", "tbs": tbs, "tbsEncoding": "NONE", "signatureType": "PKCS7"})
		require.NoError(t, err)
		for _, payload := range []string{string(p), "tbsPackage=" + string(p)} {
			r, err := Decode(payload, "", "")
			if err != nil {
				continue
			}
			d, err := base64.StdEncoding.DecodeString(r.Sign.Data)
			require.NoError(t, err)
			assert.Equal(t, r.Sign.Text, string(d), "tbs %q", tbs)
		}
	}
	for _, tbs := range []string{"%C0%AF", "%ED%A0%80", "%FF", "%E5%85"} {
		_, err := Decode(`{"func":"MakeSignature","tbs":"`+tbs+`"}`, "", "")
		require.Error(t, err, tbs)
		assert.Equal(t, CodeBadParameter, code(t, err), tbs)
	}
}

// Defended: the bounds the host's sign and decrypt rely on, in bytes, at
// their edges, whatever the encoding.
func TestAttackBounds(t *testing.T) {
	sign := func(extra string) error {
		_, err := Decode(`{"func":"MakeSignature","tbs":"x","signatureType":"PKCS7"`+extra+`}`, "", "")
		return err
	}
	require.NoError(t, sign(`,"nonce":"abcd"`))
	require.NoError(t, sign(`,"nonce":"`+strings.Repeat("n", 128)+`"`))
	require.Error(t, sign(`,"nonce":"`+strings.Repeat("n", 129)+`"`))
	require.Error(t, sign(`,"nonce":"公"`), "3 bytes")
	require.Error(t, sign(`,"nonce":"`+strings.Repeat("公", 43)+`"`), "129 bytes")
	for n, ok := range map[int]bool{63: false, 64: true, 512: true, 513: false} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			_, err := Decode(`{"func":"DecryptData","cipher":"`+enc.EncodeToString(make([]byte, n))+`"}`, "", "")
			assert.Equal(t, ok, err == nil, "%d bytes", n)
		}
	}
	for _, n := range []int{0, 1, 20, 31, 33, 65} {
		_, err := Decode(`{"func":"MakeSignature","signatureType":"RAW","tbs":"`+base64.StdEncoding.EncodeToString(make([]byte, n))+`"}`, "", "")
		require.Error(t, err, "a RAW digest of %d bytes", n)
	}
	// Deep and oversized input is refused without work.
	for _, p := range []string{strings.Repeat("[", MaxPayload), strings.Repeat(`{"a":`, MaxPayload/5), strings.Repeat("%", MaxPayload+1)} {
		var err error
		got := allocated(func() { _, err = Decode(p, "", "") })
		require.Error(t, err)
		assert.Less(t, got, uint64(64<<20))
	}
}

// Defended: the page's own PIN field is read by nothing and echoed by no
// refusal.
func TestAttackPagePINNotEchoed(t *testing.T) {
	const pin = "87654321"
	for _, p := range []string{
		`{"func":"MakeSignature","tbs":"x","pin":"` + pin + `"}`,
		`{"func":"MakeSignature","pin":"` + pin + `"}`,
		`{"func":"MakeSignature","tbs":"x","hashAlgorithm":"SHA1","pin":"` + pin + `"}`,
		`{"func":"CHANGEUSERPIN","pin":"` + pin + `","newPin":"` + pin + `"}`,
		`{"func":"OPENCARD","pin":"` + pin + `"}`,
		`{"pin":"` + pin + `"}`,
		`{"pin":"` + pin + `",}`,
		`{"pin":` + pin + `x}`,
	} {
		r, err := Decode(p, "", "")
		b, _ := json.Marshal(r)
		assert.NotContains(t, string(b), pin, p)
		if err != nil {
			assert.NotContains(t, err.Error(), pin, p)
		}
	}
}

// builtinVectors: origins as a browser may report them, and whether they
// are built-in HiPKI sites. extension/test/hipki-attack.test.js holds the
// extension's siteRule to the same rows.
var builtinVectors = map[string]bool{
	"https://edoc.example.gov.tw": true, "https://www.gov.tw": true, "https://a.b.c.gov.tw": true, "https://xn--kpry57d.gov.tw": true,
	"https://gov.tw": false, "https://.gov.tw": false, "https://x.gov.tw:8443": false, "https://x.gov.tw:443": false,
	"https://evil.gov.tw.": false, "https://evil.gov.tw.example.com": false, "https://evilgov.tw": false, "https://x.gov.tw.tw": false,
	"http://edoc.example.gov.tw": false, "https://user@x.gov.tw": false, "https://x.gov.tw/": false, "https://x..gov.tw": false,
	"https://x.gov.tw#": false, "https://x.gov.tw?": false, "https://x.gov.tw\\": false, "wss://x.gov.tw": false, "": false,
	"https://x.gov.tw%2F.example": false, "https://x.gov.tw\x00": false,
}

func TestAttackBuiltinSiteConfusions(t *testing.T) {
	for o, want := range builtinVectors {
		assert.Equal(t, want, BuiltinSite(o), "%q", o)
	}
}
