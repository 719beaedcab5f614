package integration

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// TestNativeSignCannotForgeToken is the end-to-end regression test for the
// sign oracle. A page allowed to sign (here at evilOrigin) asks the host
// for signatures over SHA-256(SHA-256(victim) ‖ SHA-256(challenge)), the
// digest a login token for victim signs, or over the data
// SHA-256(victim) ‖ SHA-256(challenge), and packages each as a token for
// victim. The site's verifier must refuse every one of them, and accept a
// token the host made by authenticate for victim. evilOrigin is even one
// an administrator listed for raw signatures (rawSignOrigins): the listing
// must not make a page able to log in elsewhere.
func TestNativeSignCannotForgeToken(t *testing.T) {
	const (
		evilOrigin = "https://evil.example"
		victim     = pageOrigin
	)
	for _, tc := range []struct {
		name, card string
		o          softcard.IssueOptions
	}{
		{"RSA", "rsa", softcard.IssueOptions{}},
		{"P-256", "native-p256", softcard.IssueOptions{SignAlg: "p256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			insert(t, issued(t, tc.card, tc.o))
			h := startHost(t, hostOptions{system: `{"rawSignOrigins":["` + evilOrigin + `"]}`})
			h.hello()
			c := hostCertFor(t, h, "signature")
			v := siteVerifier(victim)

			nonce := make([]byte, 32)
			rand.Read(nonce)
			challenge := b64e(nonce)
			// Computed here, not with authtoken.SignedDigest.
			o := sha256.Sum256([]byte(victim))
			ch := sha256.Sum256([]byte(challenge))
			data := append(o[:], ch[:]...)
			digest := sha256.Sum256(data)

			forged := map[string][]byte{} // what the page got, by how it asked
			for _, req := range []struct {
				name string
				args map[string]any
			}{
				{"digest", map[string]any{"hashAlgorithm": "SHA-256", "digest": b64e(digest[:])}},
				{"data SHA-256", map[string]any{"hashAlgorithm": "SHA-256", "data": b64e(data)}},
				{"data SHA-384", map[string]any{"hashAlgorithm": "SHA-384", "data": b64e(data)}},
				{"data SHA-512", map[string]any{"hashAlgorithm": "SHA-512", "data": b64e(data)}},
				{"digest PSS", map[string]any{"hashAlgorithm": "SHA-256", "digest": b64e(digest[:]), "padding": "PSS"}},
			} {
				req.args["certificateId"], req.args["pin"] = c.id, softcard.DefaultPIN
				m := h.reply(h.send("sign", evilOrigin, req.args), 30*time.Second)
				if e, ok := m["error"].(map[string]any); ok {
					// The refusals that close the hole: no PSS, no raw ECDSA.
					switch {
					case req.args["padding"] != nil:
						wantCode(t, e, protocol.ErrBadArgument)
						wantDetail(t, e, "argument", "padding")
					case tc.name == "P-256":
						wantCode(t, e, protocol.ErrUnsupportedAlg)
						wantDetail(t, e, "hint", "format cms")
					default:
						t.Errorf("sign %s = %v, want a PKCS#1 v1.5 signature", req.name, e)
					}
					continue
				}
				res, _ := m["result"].(map[string]any)
				if req.args["padding"] != nil || tc.name != "RSA" {
					t.Errorf("sign %s with a %s key = a %v signature, want it refused", req.name, tc.name, res["algorithm"])
				}
				sig := b64d(t, res["signature"])
				forged["raw "+req.name] = sig
				if rs, err := rawRS(sig, 32); err == nil && tc.name != "RSA" {
					forged["raw "+req.name+" as r‖s"] = rs
				}
			}
			if tc.name == "RSA" {
				// The premise: raw sign gave PKCS#1 v1.5 signatures over the
				// victim's token digest, both from the digest and from data.
				for _, name := range []string{"raw digest", "raw data SHA-256"} {
					verifyRSA(t, c.cert, crypto.SHA256, digest[:], forged[name])
				}
				if len(forged) != 4 {
					t.Errorf("got %d raw signatures, want 4", len(forged))
				}
			} else {
				// An ECDSA key still signs CMS; its signature covers the
				// signed attributes, not data, so it is no token either.
				res := h.call("sign", evilOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "format": "cms", "data": b64e(data)})
				der := cmsSignature(t, b64d(t, res["cms"]))
				forged["cms data"] = der
				if rs, err := rawRS(der, 32); err == nil {
					forged["cms data as r‖s"] = rs
				} else {
					t.Errorf("CMS ECDSA signature: %v", err)
				}
			}

			for name, sig := range forged {
				for _, alg := range []string{authtoken.RS256, authtoken.PS256, authtoken.ES256} {
					body, err := json.Marshal(map[string]any{"format": authtoken.Format, "certificate": b64e(c.cert.Raw), "algorithm": alg, "signature": b64e(sig)})
					if err != nil {
						t.Fatal(err)
					}
					tok, err := authtoken.Parse(body)
					if err != nil {
						t.Fatalf("%s as %s: Parse = %v", name, alg, err)
					}
					cert, err := v.Verify(tok, challenge)
					if err == nil || cert != nil {
						t.Errorf("%s from sign, as a %s token for %s: Verify accepted it (error %v); want it refused", name, alg, victim, err)
						continue
					}
					if !errors.Is(err, authtoken.ErrAlgorithm) && !errors.Is(err, authtoken.ErrSignature) {
						t.Errorf("%s as %s: Verify error = %v, want ErrAlgorithm or ErrSignature", name, alg, err)
					}
				}
			}

			// The control: the host's own token for victim verifies with the
			// same verifier.
			res := h.call("authenticate", victim, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "challenge": challenge})
			body, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := authtoken.Parse(body)
			if err != nil {
				t.Fatalf("authenticate token does not parse: %v\n%s", err, body)
			}
			cert, err := v.Verify(tok, challenge)
			if err != nil || !cert.Equal(c.cert) {
				t.Errorf("Verify(authenticate token for %s) = %v, %v; want the card's certificate", victim, cert, err)
			}
			// And the same kind of token, made by the evil page for itself,
			// is no token for victim.
			res = h.call("authenticate", evilOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "challenge": challenge})
			body, _ = json.Marshal(res)
			if tok, err = authtoken.Parse(body); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(tok, challenge); !errors.Is(err, authtoken.ErrSignature) {
				t.Errorf("Verify(token for %s) at %s = %v, want ErrSignature", evilOrigin, victim, err)
			}
			h.noPIN(softcard.DefaultPIN)
		})
	}
}

// siteVerifier is the verifier of a site at origin that trusts the TEST
// hierarchy the cards of this run are issued by.
func siteVerifier(origin string) *authtoken.Verifier {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Root.Cert)
	inters.AddCert(ca.Issuing.Cert)
	return &authtoken.Verifier{Roots: roots, Intermediates: inters, Origin: origin}
}

// rawRS converts an ASN.1 DER ECDSA signature to r‖s, size bytes each.
func rawRS(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) > 0 {
		return nil, errors.New("not a DER ECDSA signature")
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}
