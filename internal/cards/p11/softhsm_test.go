//go:build cgo

package p11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/cardbridge/cardbridge/internal/testca"
)

// The SoftHSM2 fixture: one configuration for the whole test binary (a
// module is initialised once per process, and SoftHSM2 reads
// SOFTHSM2_CONF then), with its token folder in a temporary directory.
const (
	testPIN   = "123456"
	testSOPIN = "12345678" // the PUK's length, as card.Rule wants

	labelMain = "cb-main" // RSA cert1 and cert2, P-256 cert1
	labelPIN  = "cb-pin"  // P-256 cert1; PIN changes and unblocks
	labelBad  = "cb-bad"  // a good P-256 cert1 and the bad objects
)

var (
	softhsmModule string // the module, "" when SoftHSM2 is missing
	skipWhy       string
	fixtureDir    string
)

// softhsmModules are where Debian and others install the module.
var softhsmModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "cardbridge-softhsm-")
		if err != nil {
			skipWhy = err.Error()
			return m.Run()
		}
		defer os.RemoveAll(dir)
		fixtureDir = dir
		skipWhy = setupSoftHSM(dir)
		return m.Run()
	}()
	os.Exit(code)
}

// setupSoftHSM writes the configuration and creates the tokens; it
// returns why SoftHSM2 cannot be used, or "".
func setupSoftHSM(dir string) string {
	for _, p := range softhsmModules {
		if _, err := os.Stat(p); err == nil {
			softhsmModule = p
			break
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if softhsmModule == "" || err != nil {
		return "SoftHSM2 is not installed (Debian package softhsm2; scripts/deps.sh installs it)"
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return err.Error()
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return err.Error()
	}
	os.Setenv("SOFTHSM2_CONF", conf)
	for _, label := range []string{labelMain, labelPIN, labelBad} {
		out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", testPIN, "--so-pin", testSOPIN).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("softhsm2-util --init-token: %v: %s", err, out)
		}
	}
	return ""
}

// needSoftHSM skips the test when SoftHSM2 is missing, and fails it when
// CARDBRIDGE_REQUIRE_PCSC=1 (as the PC/SC integration tests do).
func needSoftHSM(t *testing.T) {
	t.Helper()
	if skipWhy == "" {
		return
	}
	if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
		t.Fatalf("SoftHSM2 required but unavailable: %s", skipWhy)
	}
	t.Skip(skipWhy)
}

// issuedKey is a TEST certificate with its key.
type issuedKey struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// fixture is what every test shares: the TEST CA, the certificates on the
// tokens, and a backend of the module.
type fixture struct {
	ca                         *testca.Hierarchy
	rsaSign, rsaEnc, ecSign    issuedKey // on cb-main
	pinSign                    issuedKey // on cb-pin
	badGood                    issuedKey // the good one on cb-bad
	noKey, dupA, dupB, garbage []byte    // CKA_VALUEs of the bad objects
	backend                    *Backend
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

// theFixture imports the objects once per test binary.
func theFixture(t *testing.T) *fixture {
	t.Helper()
	needSoftHSM(t)
	fixOnce.Do(func() { fix, fixErr = makeFixture() })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func issue(ca *testca.Hierarchy, key crypto.Signer, u testca.Usage, name string) (issuedKey, error) {
	now := time.Now()
	org := testca.Org{Name: name, UBN: "04595252", CardSerial: "TEST000000000001"}
	c, err := ca.Issue(nil, key.Public(), org, u, now.Add(-time.Hour), now.AddDate(2, 0, 0))
	return issuedKey{cert: c, key: key}, err
}

func makeFixture() (*fixture, error) {
	f := &fixture{}
	var err error
	if f.ca, err = testca.New(nil, time.Now()); err != nil {
		return nil, err
	}
	rsaKey := func() crypto.Signer { k, _ := rsa.GenerateKey(rand.Reader, 2048); return k }
	ecKey := func() crypto.Signer { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }
	for _, x := range []struct {
		dst  *issuedKey
		key  crypto.Signer
		u    testca.Usage
		name string
	}{
		{&f.rsaSign, rsaKey(), testca.Signature, "測試幼兒園"},
		{&f.rsaEnc, rsaKey(), testca.Encryption, "測試幼兒園"},
		{&f.ecSign, ecKey(), testca.Signature, "測試幼兒園"},
		{&f.pinSign, ecKey(), testca.Signature, "測試國小"},
		{&f.badGood, ecKey(), testca.Signature, "測試國中"},
	} {
		if *x.dst, err = issue(f.ca, x.key, x.u, x.name); err != nil {
			return nil, err
		}
	}
	var other [4]issuedKey
	for i := range other {
		if other[i], err = issue(f.ca, ecKey(), testca.Signature, fmt.Sprintf("測試機關%d", i)); err != nil {
			return nil, err
		}
	}
	f.noKey, f.dupA, f.dupB = other[0].cert.Raw, other[1].cert.Raw, other[2].cert.Raw
	f.garbage = []byte("this is not a certificate \x30\x82\xff\xff")
	if f.backend, err = New(softhsmModule, Options{}); err != nil {
		return nil, err
	}
	imp := func(label string, do func(*importer) error) error {
		im, err := openImporter(f.backend, label)
		if err != nil {
			return err
		}
		defer im.close()
		return do(im)
	}
	err = imp(labelMain, func(im *importer) error {
		for i, k := range []issuedKey{f.rsaSign, f.rsaEnc, f.ecSign} {
			if err := im.pair([]byte{0x01, byte(i)}, k, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = imp(labelPIN, func(im *importer) error { return im.pair([]byte{0x02}, f.pinSign, true) })
	}
	if err == nil {
		err = imp(labelBad, func(im *importer) error {
			return firstErr(
				im.pair([]byte{0x03}, f.badGood, true),
				im.cert([]byte("nokey"), f.noKey),
				im.cert([]byte("dup"), f.dupA),
				im.cert([]byte("dup"), f.dupB),
				im.publicKey([]byte("dup"), other[1].key.Public()),
				im.cert([]byte("garbage"), f.garbage),
				im.publicKey([]byte("garbage"), other[2].key.Public()),
				// A private key hidden until login, with no public key
				// object: nothing shows the pair before login.
				im.cert([]byte("hidden"), other[3].cert.Raw),
				im.privateKey([]byte("hidden"), other[3].key),
			)
		})
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// importer writes objects into a token with C_CreateObject.
type importer struct {
	ctx *pkcs11.Ctx
	sh  pkcs11.SessionHandle
}

func openImporter(b *Backend, label string) (*importer, error) {
	ctx := b.mod.ctx
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return nil, err
	}
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil || strings.TrimSpace(ti.Label) != label {
			continue
		}
		sh, err := ctx.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return nil, err
		}
		if err := ctx.Login(sh, pkcs11.CKU_USER, testPIN); err != nil {
			ctx.CloseSession(sh)
			return nil, err
		}
		return &importer{ctx: ctx, sh: sh}, nil
	}
	return nil, fmt.Errorf("no token %q", label)
}

func (im *importer) close() {
	im.ctx.Logout(im.sh)
	im.ctx.CloseSession(im.sh)
}

func (im *importer) create(tmpl ...*pkcs11.Attribute) error {
	_, err := im.ctx.CreateObject(im.sh, tmpl)
	return err
}

// pair imports certificate, private key (CKA_PRIVATE: hidden until
// login) and, when withPublic, the public key object, all under id.
func (im *importer) pair(id []byte, k issuedKey, withPublic bool) error {
	if err := im.cert(id, k.cert.Raw); err != nil {
		return err
	}
	if err := im.privateKey(id, k.key); err != nil {
		return err
	}
	if withPublic {
		return im.publicKey(id, k.key.Public())
	}
	return nil
}

func (im *importer) cert(id, der []byte) error {
	subject := []byte{0x30, 0x00}
	if c, err := x509.ParseCertificate(der); err == nil {
		subject = c.RawSubject
	}
	return im.create(
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, subject),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, der),
	)
}

var oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}

func (im *importer) privateKey(id []byte, key crypto.Signer) error {
	base := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		k.Precompute()
		return im.create(append(base,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.N.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, bigBytes(k.E)),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE_EXPONENT, k.D.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PRIME_1, k.Primes[0].Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PRIME_2, k.Primes[1].Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_1, k.Precomputed.Dp.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_2, k.Precomputed.Dq.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_COEFFICIENT, k.Precomputed.Qinv.Bytes()),
		)...)
	case *ecdsa.PrivateKey:
		params, _ := asn1.Marshal(oidP256)
		d := make([]byte, 32)
		k.D.FillBytes(d)
		return im.create(append(base,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, d),
		)...)
	}
	return fmt.Errorf("key %T", key)
}

func (im *importer) publicKey(id []byte, pub crypto.PublicKey) error {
	base := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return im.create(append(base,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.N.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, bigBytes(k.E)),
		)...)
	case *ecdsa.PublicKey:
		params, _ := asn1.Marshal(oidP256)
		raw, err := k.Bytes()
		if err != nil {
			return err
		}
		point, _ := asn1.Marshal(raw)
		return im.create(append(base,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
			pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, point),
		)...)
	}
	return fmt.Errorf("key %T", pub)
}

func bigBytes(e int) []byte {
	var out []byte
	for ; e > 0; e >>= 8 {
		out = append([]byte{byte(e)}, out...)
	}
	return out
}
