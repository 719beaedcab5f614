package integration

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/cmsorigin"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// What a web page may get from the card (docs/protocol.md §4.16), with the
// real host, pcscd and the virtual card. Each test is a finding of the
// security review, kept as a regression test.

// evilOrigin is a site the clerk allowed once, and nothing more.
const evilOrigin = "https://relay.example"

// relaySigner is the attacker's side of a TLS client handshake: every
// signature the handshake needs is asked of the host as a page of origin
// would, with a raw sign over the handshake's digest.
type relaySigner struct {
	h      *host
	origin string
	cert   hostCert
	err    error // the host's refusal, when there was one
}

func (r *relaySigner) Public() crypto.PublicKey { return r.cert.cert.PublicKey }

func (r *relaySigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	names := map[crypto.Hash]string{crypto.SHA256: "SHA-256", crypto.SHA384: "SHA-384", crypto.SHA512: "SHA-512"}
	m := r.h.reply(r.h.send("sign", r.origin, map[string]any{"certificateId": r.cert.id, "pin": softcard.DefaultPIN,
		"hashAlgorithm": names[opts.HashFunc()], "digest": base64.StdEncoding.EncodeToString(digest)}), 30*time.Second)
	if e, ok := m["error"].(map[string]any); ok {
		r.err = fmt.Errorf("%v", e["code"])
		return nil, r.err
	}
	sig, err := base64.StdEncoding.DecodeString(m["result"].(map[string]any)["signature"].(string))
	return sig, err
}

// portal is a TLS 1.2 site that logs in whoever presents a certificate of
// the card's CA: "another portal that accepts the card's CA".
func portal(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "portal.example"},
		DNSNames: []string{"portal.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Root.Cert)
	pool.AddCert(ca.Issuing.Cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool,
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
	})
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "client authenticated as %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// relayLogin logs in to the portal with the card's certificate, every
// handshake signature made by the host for origin.
func relayLogin(t *testing.T, h *host, origin, addr string) (string, *relaySigner, error) {
	t.Helper()
	signer := &relaySigner{h: h, origin: origin, cert: hostCertFor(t, h, "signature")}
	tr := &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &tls.Certificate{Certificate: [][]byte{signer.cert.cert.Raw}, PrivateKey: signer,
				SupportedSignatureAlgorithms: []tls.SignatureScheme{tls.PKCS1WithSHA256}}, nil
		},
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 60 * time.Second}).Get("https://" + addr + "/")
	if err != nil {
		return "", signer, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), signer, nil
}

// The TLS-relay attack: a page the clerk allowed asks for a raw PKCS#1 v1.5
// signature over the CertificateVerify digest of a TLS 1.2 handshake it
// relays to another portal, and logs in there as the clerk. The host
// refuses raw signatures to any origin an administrator did not list, so
// the handshake fails and no PIN try is used; listed (as the HiPKI-style
// government pages will be), the very same relay gets in, which shows the
// attack is real and the refusal is what stops it.
func TestTLSRelayRefused(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	addr := portal(t)

	h := startHost(t, hostOptions{system: `{}`})
	h.hello()
	_, signer, err := relayLogin(t, h, evilOrigin, addr)
	require.Error(t, err, "the relayed handshake must fail")
	require.EqualError(t, signer.err, string(protocol.ErrNotAllowed))
	st := h.call("pinStatus", pageOrigin, onReader)
	assert.Equal(t, float64(3), st["triesLeft"], "the refusal used no PIN try")

	listed := startHost(t, hostOptions{system: `{"rawSignOrigins":["` + evilOrigin + `"]}`})
	listed.hello()
	body, _, err := relayLogin(t, listed, evilOrigin, addr)
	require.NoError(t, err)
	assert.Equal(t, "client authenticated as 測試幼兒園", body)
}

// A page that is not listed gets CMS signatures, which name it: a verifier
// that demands the binding accepts the signature for that page's origin
// and refuses it for any other (another site's "sign this nonce" login).
func TestCMSBoundToOrigin(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{system: `{}`})
	h.hello()
	c := hostCertFor(t, h, "signature")
	data := []byte("nonce-of-another-site")
	res := h.call("sign", evilOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN,
		"hashAlgorithm": "SHA-256", "format": "cms", "data": b64e(data)})
	der := b64d(t, res["cms"])
	require.NoError(t, cmsorigin.Check(der, evilOrigin, cmsorigin.PurposeDocument))
	err := cmsorigin.Check(der, "https://bank.example", cmsorigin.PurposeDocument)
	require.True(t, errors.Is(err, cmsorigin.ErrOrigin), "Check for another origin = %v, want ErrOrigin", err)

	// The extension's own requests (no origin) carry no page binding.
	own := h.call("sign", "", map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN,
		"hashAlgorithm": "SHA-256", "format": "cms", "data": b64e(data)})
	assert.ErrorIs(t, cmsorigin.Check(b64d(t, own["cms"]), evilOrigin, cmsorigin.PurposeDocument), cmsorigin.ErrMissing)
}

// decrypt decrypts anything addressed to the clerk's encryption
// certificate: an unlisted page may not ask, and the refusal comes before
// the card (no PIN try). A listed page may.
func TestDecryptOnlyListedOrigins(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{system: `{"decryptOrigins":["` + pageOrigin + `"]}`})
	h.hello()
	enc := hostCertFor(t, h, "encryption")
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, enc.cert.PublicKey.(*rsa.PublicKey), []byte("session-key"))
	require.NoError(t, err)
	args := map[string]any{"certificateId": enc.id, "pin": softcard.DefaultPIN, "ciphertext": b64e(ct)}

	e := h.callErr("decrypt", evilOrigin, args)
	wantCode(t, e, protocol.ErrNotAllowed)
	assert.Equal(t, map[string]any{"operation": "decrypt", "origin": evilOrigin}, e["details"])
	assert.Equal(t, float64(3), h.call("pinStatus", pageOrigin, onReader)["triesLeft"])

	res := h.call("decrypt", pageOrigin, args)
	assert.Equal(t, "session-key", string(b64d(t, res["plaintext"])))
}

// A user's configuration cannot list origins: only the system file may.
func TestUserConfigCannotAllowRawSign(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{system: `{}`, config: `{"rawSignOrigins":["` + evilOrigin + `"]}`})
	h.hello()
	c := hostCertFor(t, h, "signature")
	d := sha256.Sum256([]byte("x"))
	e := h.callErr("sign", evilOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(d[:])})
	wantCode(t, e, protocol.ErrNotAllowed)
	cfg := h.call("config", "", nil)
	assert.Equal(t, []any{}, cfg["rawSignOrigins"])
	assert.True(t, strings.Contains(h.c.Stderr(), "only the system configuration may set them"), "the host logs why")
}
