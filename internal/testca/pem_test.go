package testca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

func TestMarshalPEMRoundTrip(t *testing.T) {
	h := hierarchy(t)
	data, err := h.MarshalPEM()
	if err != nil {
		t.Fatalf("MarshalPEM() error = %v", err)
	}
	if !bytes.HasPrefix(data, []byte("# CardBridge TEST CA")) {
		t.Errorf("MarshalPEM() does not start with the TEST banner: %.40q", data)
	}
	got, err := UnmarshalPEM(data)
	if err != nil {
		t.Fatalf("UnmarshalPEM(MarshalPEM()) error = %v", err)
	}
	for _, p := range []struct {
		role      string
		got, want *CA
	}{{"root", got.Root, h.Root}, {"issuing", got.Issuing, h.Issuing}} {
		if !p.got.Cert.Equal(p.want.Cert) {
			t.Errorf("UnmarshalPEM(MarshalPEM()) %s certificate differs", p.role)
		}
		if !p.got.Key.(*ecdsa.PrivateKey).Equal(p.want.Key) {
			t.Errorf("UnmarshalPEM(MarshalPEM()) %s key differs", p.role)
		}
	}
	// The reloaded hierarchy issues certificates that chain to the root.
	c, err := got.Issue(nil, testECKey().Public(), Org{Name: "測試"}, Signature, testNow, testNow.AddDate(1, 0, 0))
	if err != nil {
		t.Fatalf("Issue() after reload error = %v", err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(h.Root.Cert)
	inters.AddCert(h.Issuing.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: testNow,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("Verify() after reload = %v, want nil", err)
	}
}

// splitPEM returns the PEM blocks of data in order.
func splitPEM(t *testing.T, data []byte) []*pem.Block {
	t.Helper()
	var blocks []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return blocks
		}
		blocks = append(blocks, b)
	}
}

// joinPEM encodes blocks.
func joinPEM(blocks ...*pem.Block) []byte {
	var buf bytes.Buffer
	for _, b := range blocks {
		pem.Encode(&buf, b)
	}
	return buf.Bytes()
}

// realLookingCA returns PEM for a root CA that lacks the TEST markers.
func realLookingCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{Country: []string{"TW"}, Organization: []string{"行政院"}, OrganizationalUnit: []string{"組織及團體憑證管理中心"}},
		NotBefore: testNow, NotAfter: testNow.Add(time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign,
	}
	c, err := create(rand.Reader, tmpl, nil, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return joinPEM(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestUnmarshalPEM(t *testing.T) {
	h := hierarchy(t)
	data, err := h.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	b := splitPEM(t, data) // root cert, root key, issuing cert, issuing key
	other, err := New(nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	ob := splitPEM(t, must(other.MarshalPEM()))

	// Order does not matter.
	if _, err := UnmarshalPEM(joinPEM(b[3], b[2], b[1], b[0])); err != nil {
		t.Errorf("UnmarshalPEM(reversed blocks) error = %v, want nil", err)
	}

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformedPEM},
		{"not PEM", []byte("hello"), ErrMalformedPEM},
		{"certificates only", joinPEM(b[0], b[2]), ErrMalformedPEM},
		{"missing issuing key", joinPEM(b[0], b[1], b[2]), ErrMalformedPEM},
		{"extra block", joinPEM(b[0], b[1], b[2], b[3], b[0]), ErrMalformedPEM},
		{"unknown block type", joinPEM(b[0], b[1], b[2], &pem.Block{Type: "EC PRIVATE KEY", Bytes: b[3].Bytes}), ErrMalformedPEM},
		{"garbage certificate", joinPEM(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30}}, b[1], b[2], b[3]), ErrMalformedPEM},
		{"garbage key", joinPEM(b[0], &pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30}}, b[2], b[3]), ErrMalformedPEM},
		{"key from another hierarchy", joinPEM(b[0], ob[1], b[2], b[3]), ErrMalformedPEM},
		{"issuing CA from another hierarchy", joinPEM(b[0], b[1], ob[2], ob[3]), ErrMalformedPEM},
		{"two roots", joinPEM(b[0], b[1], ob[0], ob[1]), ErrMalformedPEM},
		{"two issuing CAs", joinPEM(b[2], b[3], ob[2], ob[3]), ErrMalformedPEM},
		{"CA not marked TEST", append(realLookingCA(t), joinPEM(b[2], b[3])...), ErrNotTestCA},
		{"too large", make([]byte, maxPEM+1), ErrMalformedPEM},
	}
	for _, tc := range tests {
		if got, err := UnmarshalPEM(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("UnmarshalPEM(%s) = %v, %v, want error wrapping %v", tc.name, got, err, tc.want)
		}
	}
}

func TestMarshalPEMErrors(t *testing.T) {
	h := hierarchy(t)
	tests := []struct {
		name string
		h    *Hierarchy
	}{
		{"nil", nil},
		{"no issuing CA", &Hierarchy{Root: h.Root}},
		{"root without key", &Hierarchy{Root: &CA{Cert: h.Root.Cert}, Issuing: h.Issuing}},
		{"issuing without certificate", &Hierarchy{Root: h.Root, Issuing: &CA{Key: h.Issuing.Key}}},
	}
	for _, tc := range tests {
		if _, err := tc.h.MarshalPEM(); err == nil {
			t.Errorf("MarshalPEM(%s) error = nil, want error", tc.name)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzUnmarshalPEM(f *testing.F) {
	h, err := testHierarchy()
	if err != nil {
		f.Fatal(err)
	}
	data, err := h.MarshalPEM()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := UnmarshalPEM(in)
		if err != nil {
			return
		}
		if got.Root == nil || got.Issuing == nil || got.Root.Key == nil || got.Issuing.Key == nil {
			t.Fatalf("UnmarshalPEM() = incomplete hierarchy %+v, nil", got)
		}
		if err := got.Issuing.Cert.CheckSignatureFrom(got.Root.Cert); err != nil {
			t.Errorf("UnmarshalPEM() issuing CA not signed by root: %v", err)
		}
	})
}
