package authtoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	fx := fixture(f)
	for _, tok := range []*Token{
		makeToken(f, fx.rsaKey, fx.rsaCert, PS256, siteOrigin, testChallenge),
		makeToken(f, fx.rsaKey, fx.rsaCert, RS256, siteOrigin, testChallenge), // refused: ErrAlgorithm
		makeToken(f, fx.ecKey, fx.ecCert, ES256, siteOrigin, testChallenge),
		makeToken(f, fx.ecKey, fx.ecCert, ES256, evilOrigin, testChallenge),
		makeToken(f, fx.ecKey, fx.expiredCert, ES256, siteOrigin, testChallenge),
		makeToken(f, fx.rsaKey, fx.encCert, PS256, siteOrigin, testChallenge),
	} {
		b, err := json.Marshal(tok)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{goodJSON, "", "{}", "null", `{"format":1}`, goodJSON + goodJSON,
		`{"format":"cardbridge:1","format":"cardbridge:1"}`, `{"appVersion":"\ud800"}`} {
		f.Add([]byte(s))
	}
	v := verifier(fx.h)
	f.Fuzz(func(t *testing.T, in []byte) {
		tok, err := Parse(in)
		if err != nil {
			if !checkErr(err, ErrMalformed) || tok != nil {
				t.Fatalf("Parse(%q) = %v, %v, want nil and an error wrapping only ErrMalformed", in, tok, err)
			}
			return
		}
		if tok.Format == "" || tok.Certificate == "" || tok.Algorithm == "" || tok.Signature == "" {
			t.Fatalf("Parse(%q) = %+v, nil with a required field empty", in, tok)
		}
		// What Parse accepted survives encoding/json, as the host writes it.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(tok); err != nil {
			t.Fatal(err)
		}
		if buf.Len() <= MaxTokenSize { // re-encoding may grow escaped text
			if again, err := Parse(buf.Bytes()); err != nil || *again != *tok {
				t.Fatalf("Parse(%s) = %+v, %v, want %+v (from Parse(%q))", buf.Bytes(), again, err, tok, in)
			}
		}
		cert, err := v.Verify(tok, testChallenge)
		if err != nil {
			if cert != nil || !checkErr(err, firstSentinel(err)) {
				t.Fatalf("Verify(Parse(%q)) = %v, %v, want nil and an error wrapping one sentinel", in, cert, err)
			}
			return
		}
		if !cert.Equal(fx.rsaCert) && !cert.Equal(fx.ecCert) {
			t.Fatalf("Verify(Parse(%q)) accepted certificate %v", in, cert.Subject)
		}
	})
}

// firstSentinel returns the first sentinel err wraps, or nil.
func firstSentinel(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}
