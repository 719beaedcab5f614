package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/cmsorigin"
	"github.com/cardbridge/cardbridge/internal/testca"
	"github.com/smallstep/pkcs7"
)

// fixtures is the TEST PKI of these tests, made once per test binary.
type fixtures struct {
	h, other *testca.Hierarchy
	rsaKey   *rsa.PrivateKey   // the card's cert1 key, as on an RSA card
	ecKey    *ecdsa.PrivateKey // a second card
	rsaCert  *x509.Certificate // cert1 for rsaKey, issued by h
	ecCert   *x509.Certificate // cert1 for ecKey, issued by h
	encCert  *x509.Certificate // cert2 (encryption only) for rsaKey, issued by h
	alien    *x509.Certificate // cert1 for ecKey, issued by other
}

var testFixtures = sync.OnceValues(func() (*fixtures, error) {
	var f fixtures
	var err error
	now := time.Now()
	if f.h, err = testca.New(nil, now); err != nil {
		return nil, err
	}
	if f.other, err = testca.New(nil, now); err != nil {
		return nil, err
	}
	if f.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if f.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	org := testca.Org{Name: "測試幼兒園", UBN: "04595252", OrgCode: "TEST0001", CardSerial: "TEST000000000001"}
	from, to := now.Add(-time.Hour), now.AddDate(2, 0, 0)
	for _, c := range []struct {
		p     **x509.Certificate
		h     *testca.Hierarchy
		pub   crypto.PublicKey
		usage testca.Usage
	}{
		{&f.rsaCert, f.h, f.rsaKey.Public(), testca.Signature},
		{&f.ecCert, f.h, f.ecKey.Public(), testca.Signature},
		{&f.encCert, f.h, f.rsaKey.Public(), testca.Encryption},
		{&f.alien, f.other, f.ecKey.Public(), testca.Signature},
	} {
		if *c.p, err = c.h.Issue(nil, c.pub, org, c.usage, from, to); err != nil {
			return nil, err
		}
	}
	return &f, nil
})

func getFixtures(t *testing.T) *fixtures {
	t.Helper()
	f, err := testFixtures()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// testSite is a demo site on a loopback port, with a cookie-keeping client.
type testSite struct {
	srv    *httptest.Server
	origin string // "http://127.0.0.1:port"
	port   string
	client *http.Client
}

func newTestSite(t *testing.T, pageLib string) *testSite {
	t.Helper()
	f := getFixtures(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSite(siteConfig{CA: f.h, PageLib: pageLib, Addr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &testSite{srv: srv, origin: srv.URL, port: port, client: newClient(t)}
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// do sends a request as a browser on the page would (Origin and
// Sec-Fetch-Site set), unless headers override them, and decodes the JSON
// answer.
func (ts *testSite) do(t *testing.T, c *http.Client, method, path string, body []byte, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, ts.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", ts.origin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, b, err)
		}
	}
	return res.StatusCode, m
}

// errCode is the error code of a refusal, or "".
func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (ts *testSite) challenge(t *testing.T, c *http.Client) string {
	t.Helper()
	status, m := ts.do(t, c, http.MethodPost, "/api/challenge", nil, nil)
	ch, _ := m["challenge"].(string)
	if status != http.StatusOK || ch == "" {
		t.Fatalf("POST /api/challenge = %d %v, want 200 and a challenge", status, m)
	}
	return ch
}

// token makes a login token as the host does (PS256 for RSA, ES256 r||s
// for P-256) over authtoken.SignedDigest(origin, challenge).
func token(t *testing.T, key crypto.Signer, cert *x509.Certificate, origin, challenge string) []byte {
	t.Helper()
	digest := authtoken.SignedDigest(origin, challenge)
	var sig []byte
	var alg string
	switch k := key.(type) {
	case *rsa.PrivateKey:
		s, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		sig, alg = s, authtoken.PS256
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		alg = authtoken.ES256
	default:
		t.Fatalf("key %T", key)
	}
	b, err := json.Marshal(authtoken.Token{
		Format:      authtoken.Format,
		Certificate: base64.StdEncoding.EncodeToString(cert.Raw),
		Algorithm:   alg,
		Signature:   base64.StdEncoding.EncodeToString(sig),
		AppVersion:  "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.1:0", true},
		{"[::1]:8443", true},
		{"localhost:8080", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"[::]:8080", false},
		{"192.168.1.20:8080", false},
		{"127.0.0.2:8080", false},
		{"demo.example:8080", false},
		{"127.0.0.1", false},
	} {
		err := checkLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}

func writeCA(t *testing.T) string {
	t.Helper()
	pem, err := getFixtures(t).h.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunRefusesNetworkAddress(t *testing.T) {
	ca := writeCA(t)
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8080"} {
		var stderr bytes.Buffer
		if got := run(t.Context(), []string{"--addr", addr, "--ca", ca}, &stderr); got != 2 {
			t.Errorf("run(--addr %s) = %d, want 2", addr, got)
		}
		if !strings.Contains(stderr.String(), "loopback") {
			t.Errorf("run(--addr %s) stderr = %q, want it to say loopback", addr, stderr.String())
		}
	}
}

func TestRunServesAndStops(t *testing.T) {
	ca := writeCA(t)
	addrFile := filepath.Join(t.TempDir(), "addr")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--ca", ca, "--addr-file", addrFile, "--page-lib", filepath.Join(t.TempDir(), "none.js")}, &stderr)
	}()
	var addr string
	for i := 0; i < 200 && addr == ""; i++ {
		if b, err := os.ReadFile(addrFile); err == nil {
			addr = strings.TrimSpace(string(b))
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("no address written; stderr: %s", stderr.String())
	}
	res, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET / = %d, want 200", res.StatusCode)
	}
	cancel()
	select {
	case got := <-done:
		if got != 0 {
			t.Errorf("run after cancel = %d, want 0; stderr: %s", got, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
}

func TestLogin(t *testing.T) {
	f := getFixtures(t)
	ts := newTestSite(t, "")

	c := ts.client
	ch := ts.challenge(t, c)
	tok := token(t, f.rsaKey, f.rsaCert, ts.origin, ch)
	status, m := ts.do(t, c, http.MethodPost, "/api/login", tok, nil)
	cert, _ := m["certificate"].(map[string]any)
	if status != http.StatusOK || cert["holder"] != "測試幼兒園" || cert["ubn"] != "04595252" {
		t.Fatalf("POST /api/login (good token) = %d %v, want 200 for 測試幼兒園 04595252", status, m)
	}
	if status, m := ts.do(t, c, http.MethodGet, "/api/session", nil, nil); status != http.StatusOK || m["loggedIn"] != true {
		t.Errorf("GET /api/session after login = %d %v, want loggedIn", status, m)
	}

	t.Run("replay", func(t *testing.T) {
		c := newClient(t)
		ch := ts.challenge(t, c)
		u, _ := url.Parse(ts.srv.URL)
		preLogin := c.Jar.Cookies(u) // the session cookie an eavesdropper could have kept
		tok := token(t, f.rsaKey, f.rsaCert, ts.origin, ch)
		if status, m := ts.do(t, c, http.MethodPost, "/api/login", tok, nil); status != http.StatusOK {
			t.Fatalf("first login = %d %v, want 200", status, m)
		}
		if status, m := ts.do(t, c, http.MethodPost, "/api/login", tok, nil); status != http.StatusForbidden || errCode(m) != "DEMO_NO_CHALLENGE" {
			t.Errorf("same token again = %d %v, want 403 DEMO_NO_CHALLENGE", status, m)
		}
		e := newClient(t)
		e.Jar.SetCookies(u, preLogin)
		if status, m := ts.do(t, e, http.MethodPost, "/api/login", tok, nil); status != http.StatusForbidden || errCode(m) != "DEMO_NO_CHALLENGE" {
			t.Errorf("token replayed with the pre-login session = %d %v, want 403 DEMO_NO_CHALLENGE", status, m)
		}
		e2 := newClient(t)
		ts.challenge(t, e2)
		if status, m := ts.do(t, e2, http.MethodPost, "/api/login", tok, nil); status != http.StatusForbidden || errCode(m) != "DEMO_LOGIN_SIGNATURE" {
			t.Errorf("token replayed in a session with its own challenge = %d %v, want 403 DEMO_LOGIN_SIGNATURE", status, m)
		}
	})

	t.Run("challenge spent", func(t *testing.T) {
		// A failed attempt spends the challenge: a good token for it is
		// then a replay.
		c := newClient(t)
		ch := ts.challenge(t, c)
		bad := token(t, f.rsaKey, f.rsaCert, "https://evil.example", ch)
		if status, m := ts.do(t, c, http.MethodPost, "/api/login", bad, nil); status != http.StatusForbidden || errCode(m) != "DEMO_LOGIN_SIGNATURE" {
			t.Fatalf("token for another origin = %d %v, want 403 DEMO_LOGIN_SIGNATURE", status, m)
		}
		good := token(t, f.rsaKey, f.rsaCert, ts.origin, ch)
		if status, m := ts.do(t, c, http.MethodPost, "/api/login", good, nil); status != http.StatusForbidden || errCode(m) != "DEMO_LOGIN_REPLAY" {
			t.Errorf("good token for a spent challenge = %d %v, want 403 DEMO_LOGIN_REPLAY", status, m)
		}
	})

	t.Run("wrong origin", func(t *testing.T) {
		for _, o := range []string{"https://evil.example", "http://localhost:" + ts.port, "http://127.0.0.1:1"} {
			c := newClient(t)
			ch := ts.challenge(t, c)
			tok := token(t, f.rsaKey, f.rsaCert, o, ch)
			if status, m := ts.do(t, c, http.MethodPost, "/api/login", tok, nil); status != http.StatusForbidden || errCode(m) != "DEMO_LOGIN_SIGNATURE" {
				t.Errorf("token for %s = %d %v, want 403 DEMO_LOGIN_SIGNATURE", o, status, m)
			}
		}
	})

	t.Run("localhost origin", func(t *testing.T) {
		// The page opened as http://localhost:port: its tokens carry that origin.
		c := newClient(t)
		host := "localhost:" + ts.port
		_, m := ts.do(t, c, http.MethodPost, "/api/challenge", nil, map[string]string{"Host": host, "Origin": "http://" + host})
		ch, _ := m["challenge"].(string)
		tok := token(t, f.rsaKey, f.rsaCert, "http://"+host, ch)
		if status, m := ts.do(t, c, http.MethodPost, "/api/login", tok, map[string]string{"Host": host, "Origin": "http://" + host}); status != http.StatusOK {
			t.Errorf("login at %s = %d %v, want 200", host, status, m)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			key     crypto.Signer
			cert    *x509.Certificate
			noChal  bool
			headers map[string]string
			body    []byte
			status  int
			code    string
		}{
			{name: "no challenge", key: f.rsaKey, cert: f.rsaCert, noChal: true, status: 403, code: "DEMO_NO_CHALLENGE"},
			{name: "untrusted CA", key: f.ecKey, cert: f.alien, status: 403, code: "DEMO_LOGIN_CERTIFICATE"},
			{name: "encryption certificate", key: f.rsaKey, cert: f.encCert, status: 403, code: "DEMO_LOGIN_CERTIFICATE"},
			{name: "malformed", body: []byte(`{"format":"cardbridge:1"}`), status: 400, code: "DEMO_LOGIN_MALFORMED"},
			{name: "oversize", body: bytes.Repeat([]byte(" "), authtoken.MaxTokenSize+1), status: 413, code: "DEMO_TOO_LARGE"},
			{name: "cross-site", key: f.rsaKey, cert: f.rsaCert, headers: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, status: 403, code: "DEMO_CROSS_ORIGIN"},
			{name: "other host", key: f.rsaKey, cert: f.rsaCert, headers: map[string]string{"Host": "evil.example:" + ts.port, "Origin": ""}, status: 421, code: "DEMO_WRONG_HOST"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := newClient(t)
				var ch string
				if !tc.noChal {
					ch = ts.challenge(t, c)
				} else {
					ch = base64.StdEncoding.EncodeToString(make([]byte, 32))
				}
				body := tc.body
				if body == nil {
					body = token(t, tc.key, tc.cert, ts.origin, ch)
				}
				status, m := ts.do(t, c, http.MethodPost, "/api/login", body, tc.headers)
				if status != tc.status || errCode(m) != tc.code {
					t.Errorf("POST /api/login = %d %v, want %d %s", status, m, tc.status, tc.code)
				}
			})
		}
	})
}

// signCMS signs data as the host does for a page of origin: detached
// SignedData with the signer certificate only, signingTime, the nonce when
// not empty, and the origin binding (package cmsorigin) when origin is not
// empty.
func signCMS(t *testing.T, origin string, cert *x509.Certificate, key crypto.PrivateKey, data []byte, nonce string) []byte {
	t.Helper()
	sd, err := pkcs7.NewSignedData(data)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	var attrs []pkcs7.Attribute
	if nonce != "" {
		attrs = append(attrs, pkcs7.Attribute{Type: oidRandomNonce, Value: []byte(nonce)})
	}
	attrs = append(attrs, pkcs7.Attribute{Type: oidCardSerial, Value: "TEST000000000001"})
	if origin != "" {
		attrs = append(attrs, pkcs7.Attribute{Type: cmsorigin.OIDContentHints, Value: cmsorigin.Attribute(origin, cmsorigin.PurposeDocument)})
	}
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{ExtraSignedAttributes: attrs}); err != nil {
		t.Fatal(err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (ts *testSite) nonce(t *testing.T, c *http.Client) string {
	t.Helper()
	status, m := ts.do(t, c, http.MethodPost, "/api/nonce", nil, nil)
	n, _ := m["nonce"].(string)
	if status != http.StatusOK || len(n) < 4 || len(n) > 128 {
		t.Fatalf("POST /api/nonce = %d %v, want 200 and a 4-128 byte nonce", status, m)
	}
	return n
}

func verifyBody(data, der []byte) []byte {
	b, _ := json.Marshal(verifyRequest{Data: base64.StdEncoding.EncodeToString(data), CMS: base64.StdEncoding.EncodeToString(der)})
	return b
}

func TestVerifySignature(t *testing.T) {
	f := getFixtures(t)
	ts := newTestSite(t, "")
	doc := []byte("臺北市私立測試幼兒園　函\n主旨：檢送招生簡章一份，請　鑒核。\n")

	t.Run("good", func(t *testing.T) {
		c := newClient(t)
		n := ts.nonce(t, c)
		status, m := ts.do(t, c, http.MethodPost, "/api/verify-signature", verifyBody(doc, signCMS(t, ts.origin, f.rsaCert, f.rsaKey, doc, n)), nil)
		signer, _ := m["signer"].(map[string]any)
		if status != http.StatusOK || signer["holder"] != "測試幼兒園" || m["nonceMatch"] != true || m["nonce"] != n ||
			m["cardSerial"] != "TEST000000000001" || m["digestAlgorithm"] != "SHA-256" || m["signerIsLoggedIn"] != false ||
			m["boundOrigin"] != ts.origin {
			t.Fatalf("verify good signature = %d %v", status, m)
		}
		if st, err := time.Parse(time.RFC3339, m["signingTime"].(string)); err != nil || time.Since(st) > time.Minute {
			t.Errorf("signingTime = %v (%v), want about now", m["signingTime"], err)
		}
		// The nonce is spent: the same signature again is refused.
		status, m = ts.do(t, c, http.MethodPost, "/api/verify-signature", verifyBody(doc, signCMS(t, ts.origin, f.rsaCert, f.rsaKey, doc, n)), nil)
		if status != http.StatusForbidden || errCode(m) != "DEMO_NO_NONCE" {
			t.Errorf("verify with a spent nonce = %d %v, want 403 DEMO_NO_NONCE", status, m)
		}
	})

	t.Run("ecdsa", func(t *testing.T) {
		c := newClient(t)
		n := ts.nonce(t, c)
		if status, m := ts.do(t, c, http.MethodPost, "/api/verify-signature", verifyBody(doc, signCMS(t, ts.origin, f.ecCert, f.ecKey, doc, n)), nil); status != http.StatusOK {
			t.Errorf("verify ECDSA signature = %d %v, want 200", status, m)
		}
	})

	tampered := append([]byte{}, doc...)
	tampered[len(tampered)-2] ^= 1
	for _, tc := range []struct {
		name   string
		der    func(n string) []byte
		data   []byte
		status int
		code   string
	}{
		{"tampered document", func(n string) []byte { return signCMS(t, ts.origin, f.rsaCert, f.rsaKey, doc, n) }, tampered, 403, "DEMO_CMS_DIGEST"},
		{"wrong nonce", func(n string) []byte { return signCMS(t, ts.origin, f.rsaCert, f.rsaKey, doc, n+"x") }, doc, 403, "DEMO_NONCE_MISMATCH"},
		{"no nonce", func(string) []byte { return signCMS(t, ts.origin, f.rsaCert, f.rsaKey, doc, "") }, doc, 403, "DEMO_NONCE_MISMATCH"},
		// A signature a page of another site obtained through CardBridge, or
		// one made without CardBridge's origin binding, is refused.
		{"signature for another site", func(n string) []byte { return signCMS(t, "https://evil.example", f.rsaCert, f.rsaKey, doc, n) }, doc, 403, "DEMO_CMS_ORIGIN"},
		{"no origin binding", func(n string) []byte { return signCMS(t, "", f.rsaCert, f.rsaKey, doc, n) }, doc, 403, "DEMO_CMS_ORIGIN"},
		{"untrusted CA", func(n string) []byte { return signCMS(t, ts.origin, f.alien, f.ecKey, doc, n) }, doc, 403, "DEMO_CMS_CERTIFICATE"},
		{"encryption certificate", func(n string) []byte { return signCMS(t, ts.origin, f.encCert, f.rsaKey, doc, n) }, doc, 403, "DEMO_CMS_CERTIFICATE"},
		{"key of another certificate", func(n string) []byte { return signCMS(t, ts.origin, f.rsaCert, f.ecKey, doc, n) }, doc, 403, "DEMO_CMS_SIGNATURE"},
		{"garbage", func(string) []byte { return []byte{0x30, 0x03, 0x02, 0x01, 0x01} }, doc, 400, "DEMO_CMS_MALFORMED"},
		{"embedded content", func(n string) []byte {
			sd, _ := pkcs7.NewSignedData(doc)
			sd.AddSigner(f.rsaCert, f.rsaKey, pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{{Type: oidRandomNonce, Value: []byte(n)}}})
			der, _ := sd.Finish()
			return der
		}, doc, 400, "DEMO_CMS_MALFORMED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			n := ts.nonce(t, c)
			status, m := ts.do(t, c, http.MethodPost, "/api/verify-signature", verifyBody(tc.data, tc.der(n)), nil)
			if status != tc.status || errCode(m) != tc.code {
				t.Errorf("verify = %d %v, want %d %s", status, m, tc.status, tc.code)
			}
		})
	}

	t.Run("without nonce", func(t *testing.T) {
		c := newClient(t)
		status, m := ts.do(t, c, http.MethodPost, "/api/verify-signature", verifyBody(doc, signCMS(t, ts.origin, f.rsaCert, f.rsaKey, doc, "abcd")), nil)
		if status != http.StatusForbidden || errCode(m) != "DEMO_NO_NONCE" {
			t.Errorf("verify without a nonce issued = %d %v, want 403 DEMO_NO_NONCE", status, m)
		}
	})

	t.Run("logged in", func(t *testing.T) {
		c := newClient(t)
		ch := ts.challenge(t, c)
		if status, m := ts.do(t, c, http.MethodPost, "/api/login", token(t, f.rsaKey, f.rsaCert, ts.origin, ch), nil); status != http.StatusOK {
			t.Fatalf("login = %d %v", status, m)
		}
		n := ts.nonce(t, c)
		status, m := ts.do(t, c, http.MethodPost, "/api/verify-signature", verifyBody(doc, signCMS(t, ts.origin, f.ecCert, f.ecKey, doc, n)), nil)
		if status != http.StatusForbidden || errCode(m) != "DEMO_SIGNER_MISMATCH" {
			t.Errorf("signature by another TEST card after login = %d %v, want 403 DEMO_SIGNER_MISMATCH", status, m)
		}
		n = ts.nonce(t, c)
		status, m = ts.do(t, c, http.MethodPost, "/api/verify-signature", verifyBody(doc, signCMS(t, ts.origin, f.rsaCert, f.rsaKey, doc, n)), nil)
		if status != http.StatusOK || m["signerIsLoggedIn"] != true {
			t.Errorf("signature by the logged-in card = %d %v, want 200 signerIsLoggedIn", status, m)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		c := newClient(t)
		ts.nonce(t, c)
		for _, tc := range []struct {
			body   []byte
			status int
			code   string
		}{
			{[]byte(`{"data":"AAAA","cms":"AAAA","extra":1}`), 400, "DEMO_BAD_REQUEST"},
			{[]byte(`{"data":"not base64!","cms":"AAAA"}`), 400, "DEMO_BAD_REQUEST"},
			{[]byte(`{"data":"AAAA","cms":""}`), 400, "DEMO_BAD_REQUEST"},
			{bytes.Repeat([]byte("A"), maxVerifyBody+1), 413, "DEMO_TOO_LARGE"},
		} {
			status, m := ts.do(t, c, http.MethodPost, "/api/verify-signature", tc.body, nil)
			if status != tc.status || errCode(m) != tc.code {
				t.Errorf("verify %.40q = %d %v, want %d %s", tc.body, status, m, tc.status, tc.code)
			}
		}
	})
}

func TestPage(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "cardbridge.js")
	if err := os.WriteFile(lib, []byte("export async function status() { return {}; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := newTestSite(t, lib)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := ts.client.Get(ts.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, body := get("/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{"CardBridge 示範網站（測試用）", `id="status"`, `id="certs"`, `id="login-btn"`, `id="login-result"`,
		`id="sign-btn"`, `id="sign-result"`, `id="error"`, `id="doc"`, `src="/app.js"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %s", want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if res, body := get("/app.js"); res.StatusCode != http.StatusOK || !strings.Contains(body, `import("/cardbridge.js")`) {
		t.Errorf("GET /app.js = %d", res.StatusCode)
	}
	if res, body := get("/cardbridge.js"); res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(body, "status") {
		t.Errorf("GET /cardbridge.js = %d %s %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if res, _ := get("/nothing"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing = %d, want 404", res.StatusCode)
	}
	if status, _ := ts.do(t, ts.client, http.MethodGet, "/api/login", nil, nil); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/login = %d, want 405", status)
	}

	os.Remove(lib)
	if res, _ := get("/cardbridge.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /cardbridge.js without the file = %d, want 404", res.StatusCode)
	}

	req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+"/api/challenge", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cs := res.Cookies()
	if len(cs) != 1 || cs[0].Name != sessionCookie || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Path != "/" {
		t.Errorf("session cookie = %+v, want one HttpOnly SameSite=Strict cookie %s", cs, sessionCookie)
	}
}

func TestAcceptedCertificates(t *testing.T) {
	f := getFixtures(t)
	ts := newTestSite(t, "")
	enc := func(c *x509.Certificate) string { return base64.StdEncoding.EncodeToString(c.Raw) }
	body, _ := json.Marshal(map[string][]string{"certificates": {enc(f.rsaCert), enc(f.alien), enc(f.encCert), "AAAA", enc(f.ecCert)}})
	status, m := ts.do(t, ts.client, http.MethodPost, "/api/accepted-certificates", body, nil)
	got, _ := json.Marshal(m["accepted"])
	if status != http.StatusOK || string(got) != "[true,false,false,false,true]" {
		t.Errorf("POST /api/accepted-certificates = %d %s, want 200 [true,false,false,false,true]", status, got)
	}
	if status, m := ts.do(t, ts.client, http.MethodPost, "/api/accepted-certificates", []byte(`{"certs":[]}`), nil); status != http.StatusBadRequest {
		t.Errorf("unknown field = %d %v, want 400", status, m)
	}
}
