package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSigner makes a TEST code-signing certificate under its own TEST
// root, as CI's stand-in for the release certificate: the signer and
// the root's PEM file for verifying.
func testSigner(t *testing.T) (*signer, string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CardBridge TEST code-signing root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	require.NoError(t, err)
	rootCert, err := x509.ParseCertificate(rootDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "CardBridge TEST", Organization: []string{"CardBridge"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, rootCert, &key.PublicKey, rootKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return &signer{Cert: write("cert.pem", "CERTIFICATE", leafDER), Key: write("key.pem", "PRIVATE KEY", keyDER)},
		write("root.pem", "CERTIFICATE", rootDER)
}

func needSigning(t *testing.T) {
	needWixl(t)
	for _, name := range []string{"osslsigncode", "msiextract"} {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
				t.Fatalf("%s is not installed (apt-get install osslsigncode msitools)", name)
			}
			t.Skipf("%s is not installed", name)
		}
	}
}

// verify runs osslsigncode verify against root and reports whether the
// file's Authenticode signature holds.
func verify(t *testing.T, file, root string) (bool, string) {
	out, err := exec.Command("osslsigncode", "verify", "-CAfile", root, "-in", file).CombinedOutput()
	return err == nil, string(out)
}

// A release MSI signed with a (TEST) certificate: the MSI's signature and
// the programs inside it verify against the root; a byte changed in the
// MSI breaks it; without a certificate nothing is signed.
func TestMSISigned(t *testing.T) {
	needSigning(t)
	s, root := testSigner(t)
	dir := t.TempDir()
	// Stand-ins for the programs that osslsigncode accepts: small PE
	// files built by Go (any Windows executable will do).
	exe := filepath.Join(dir, "cardbridge.exe")
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644))
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", exe, src)
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	exchange := filepath.Join(dir, "cardbridge-exchange.exe")
	b, err := os.ReadFile(exe)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(exchange, b, 0o644))

	msi, err := buildMSI(msiOptions{Out: filepath.Join(dir, "out"), Version: "2.0.0", Host: exe, Exchange: exchange, Sign: s})
	require.NoError(t, err)
	ok, said := verify(t, msi, root)
	require.True(t, ok, "the MSI's signature: %s", said)
	assert.Contains(t, said, "CardBridge TEST")
	// The tables msibuild wrote are inside what was signed: the MSI still
	// has them.
	assert.NotNil(t, row(table(t, msi, "Component"), 0, "Firefox"))

	files := t.TempDir()
	out, err = exec.Command("msiextract", "-C", files, msi).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range []string{"cardbridge.exe", "cardbridge-exchange.exe"} {
		var found string
		require.NoError(t, filepath.WalkDir(files, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == name {
				found = p
			}
			return err
		}))
		require.NotEmpty(t, found, "%s in the MSI: %s", name, out)
		ok, said := verify(t, found, root)
		assert.True(t, ok, "%s signed: %s", name, said)
	}
	_, said = verify(t, exe, root)
	assert.NotContains(t, said, "CardBridge TEST", "the input program is left as it was (the MSI carries a signed copy)")

	// The MSI changed after signing, as an attacker would: a property's
	// default rewritten.
	b, err = os.ReadFile(msi)
	require.NoError(t, err)
	tampered := filepath.Join(dir, "tampered.msi")
	require.NoError(t, os.WriteFile(tampered, b, 0o644))
	require.NoError(t, tool("msibuild", tampered, "-q", "UPDATE `Property` SET `Value` = '0' WHERE `Property` = 'FIREFOXINSTALL'"))
	ok, said = verify(t, tampered, root)
	assert.False(t, ok, "a changed MSI still verifies: %s", said)

	// Another root: not trusted.
	_, other := testSigner(t)
	ok, _ = verify(t, msi, other)
	assert.False(t, ok, "verifies against a root that did not issue it")

	unsigned, err := buildMSI(msiOptions{Out: filepath.Join(dir, "plain"), Version: "2.0.0", Host: exe, Exchange: exchange})
	require.NoError(t, err)
	ok, said = verify(t, unsigned, root)
	assert.False(t, ok, "%s", said)
	assert.True(t, strings.Contains(said, "signature") || strings.Contains(said, "Signature"), said)
}
