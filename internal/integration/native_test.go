package integration

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/softcard"
)

func b64d(t *testing.T, v any) []byte {
	t.Helper()
	s, _ := v.(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

// signingCert returns the id and certificate of the signature certificate
// the host lists.
func signingCert(t *testing.T, h *host) (string, *x509.Certificate) {
	t.Helper()
	res := h.call("certificates", "https://site.example", nil)
	for _, c := range res["certificates"].([]any) {
		m := c.(map[string]any)
		if m["info"].(map[string]any)["usage"] == "signature" {
			cert, err := x509.ParseCertificate(b64d(t, m["certificate"]))
			if err != nil {
				t.Fatal(err)
			}
			return m["id"].(string), cert
		}
	}
	t.Fatalf("no signature certificate in %v", res)
	return "", nil
}

func TestNativeSmoke(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	if v := h.call("version", "", nil); v["protocol"] != float64(1) {
		t.Errorf("version = %v", v)
	}
	id, cert := signingCert(t, h)
	digest := sha256.Sum256([]byte("公文"))
	res := h.call("sign", "https://site.example", map[string]any{"certificateId": id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": base64.StdEncoding.EncodeToString(digest[:])})
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], b64d(t, res["signature"])); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	_ = time.Second
	h.noPIN(softcard.DefaultPIN)
	if st := h.exit(); st != 0 {
		t.Errorf("exit status %d", st)
	}
}
