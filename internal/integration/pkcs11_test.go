//go:build cgo

package integration

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/card"
	cbcards "github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/p11"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/errcode"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// These tests drive the virtual PIV card through OpenSC's PKCS#11 module
// (opensc-pkcs11.so) as a p11 backend: a real card module over the real
// PC/SC stack, where the p11 unit tests have only SoftHSM2. The Manager
// has no backend but the module's, so only the PKCS#11 view is tested.
// OpenSC is used with its installed configuration, as opensc_test.go uses
// it (no OPENSC_CONF).

// p11CallTimeout bounds each module call: far above what the virtual card
// needs, far below the test timeout, so a hung module fails the test.
const p11CallTimeout = 20 * time.Second

// openscModule is the path of OpenSC's PKCS#11 module, found at test time
// from the Debian packages' file lists (the architecture's libdir), else
// in the usual places.
func openscModule(t *testing.T) string {
	t.Helper()
	needPCSC(t)
	var found []string
	if out, err := exec.Command("dpkg", "-L", "opensc-pkcs11", "opensc").Output(); err == nil || len(out) > 0 {
		for _, l := range strings.Split(string(out), "\n") {
			if filepath.Base(strings.TrimSpace(l)) == "opensc-pkcs11.so" {
				found = append(found, strings.TrimSpace(l))
			}
		}
	}
	for _, g := range []string{"/usr/lib/*/opensc-pkcs11.so", "/usr/lib64/opensc-pkcs11.so", "/usr/lib/opensc-pkcs11.so", "/usr/lib/*/pkcs11/opensc-pkcs11.so"} {
		m, _ := filepath.Glob(g)
		found = append(found, m...)
	}
	for _, p := range found {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
		t.Fatal("opensc-pkcs11.so not found (Debian package opensc-pkcs11)")
	}
	t.Skip("opensc-pkcs11.so not found (Debian package opensc-pkcs11)")
	return ""
}

// p11Manager is a Manager whose one backend is OpenSC's PKCS#11 module.
func p11Manager(t *testing.T) *cbcards.Manager {
	t.Helper()
	b, err := p11.New(openscModule(t), p11.Options{Timeout: p11CallTimeout})
	if err != nil {
		t.Fatalf("p11.New(opensc-pkcs11.so) = %v", err)
	}
	return cbcards.New(cbcards.Options{Backends: []cbcards.Backend{}, Extra: []cbcards.Backend{b}})
}

// p11Cert returns the certificate of st in slot as the module lists it,
// failing when the module does not list it.
func p11Cert(t *testing.T, m *cbcards.Manager, st *softcard.State, slot softcard.Slot) cbcards.Certificate {
	t.Helper()
	want := card.CertID(st.Cert(slot))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	certs, err := m.Certificates(ctx, "")
	if err != nil {
		t.Fatalf("Certificates() through opensc-pkcs11.so = %v", err)
	}
	for _, c := range certs {
		if c.ID == want {
			return c
		}
	}
	t.Fatalf("certificate of slot %02X not listed by opensc-pkcs11.so among %d", byte(slot), len(certs))
	return cbcards.Certificate{}
}

// ctxT is a context bounded well inside the test timeout.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func sortedIDs(cs []cbcards.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

// TestPKCS11ListsCertificatesAsPIV: a card reached through a vendor's
// module must be the same card to everything above internal/cards. The
// certificate ids (which pages keep) and what each certificate may do
// must not depend on whether the PIV backend or the PKCS#11 backend read
// it, or a page's stored certificate id would stop working when the host
// switches backend.
func TestPKCS11ListsCertificatesAsPIV(t *testing.T) {
	st := issued(t, "p11-list", softcard.IssueOptions{})
	insert(t, st)
	ctx := ctxT(t)
	pivCerts, err := cbcards.New(cbcards.Options{}).Certificates(ctx, readerName)
	if err != nil {
		t.Fatalf("PIV Certificates(%q) = %v", readerName, err)
	}
	m := p11Manager(t)
	all, err := m.Certificates(ctx, "")
	if err != nil {
		t.Fatalf("PKCS#11 Certificates() = %v", err)
	}
	// Only the token of this card (a bench may have a card in another
	// reader): the one holding cert1.
	cert1 := card.CertID(st.Cert(softcard.SlotAuthentication))
	var reader string
	for _, c := range all {
		if c.ID == cert1 {
			reader = c.Reader
		}
	}
	if reader == "" {
		t.Fatalf("opensc-pkcs11.so does not list cert1; it lists %v", sortedIDs(all))
	}
	if !strings.HasSuffix(reader, "(PKCS#11: opensc-pkcs11.so)") && !strings.Contains(reader, "(PKCS#11: opensc-pkcs11.so, slot ") {
		t.Errorf("PKCS#11 reader name %q does not name the module", reader)
	}
	var p11Certs []cbcards.Certificate
	for _, c := range all {
		if c.Reader == reader {
			p11Certs = append(p11Certs, c)
		}
	}
	if got, want := sortedIDs(p11Certs), sortedIDs(pivCerts); !slices.Equal(got, want) {
		t.Fatalf("certificate ids: PKCS#11 %v, PIV %v", got, want)
	}
	if len(pivCerts) != 2 {
		t.Errorf("PIV backend lists %d certificates, want cert1 and cert2", len(pivCerts))
	}
	byID := map[string]cbcards.Certificate{}
	for _, c := range p11Certs {
		byID[c.ID] = c
	}
	for _, pc := range pivCerts {
		c := byID[pc.ID]
		if !bytes.Equal(c.Cert.Raw, pc.Cert.Raw) {
			t.Errorf("certificate %s: the two views hold different DER", pc.ID[:8])
		}
		if c.Usage != pc.Usage || !slices.Equal(c.Capabilities, pc.Capabilities) {
			t.Errorf("certificate %s: PKCS#11 usage %s %v, PIV %s %v", pc.ID[:8], c.Usage, c.Capabilities, pc.Usage, pc.Capabilities)
		}
	}
	if c := byID[cert1]; c.Usage != certinfo.UsageSignature {
		t.Errorf("cert1 usage = %s, want %s", c.Usage, certinfo.UsageSignature)
	}
	if c := byID[card.CertID(st.Cert(softcard.SlotKeyManagement))]; c.Usage != certinfo.UsageEncryption {
		t.Errorf("cert2 usage = %s, want %s", c.Usage, certinfo.UsageEncryption)
	}
}

// TestPKCS11SignDigest: the raw RSA PKCS#1 v1.5 signature made through
// the module (CKM_RSA_PKCS over the DigestInfo p11 builds) must verify
// with cert1's public key, for every hash raw signing offers; a DigestInfo
// built wrongly, or a module that hashes again, would not.
func TestPKCS11SignDigest(t *testing.T) {
	st := issued(t, "p11-sign", softcard.IssueOptions{})
	insert(t, st)
	m := p11Manager(t)
	c := p11Cert(t, m, st, softcard.SlotAuthentication)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		hh := h.New()
		hh.Write([]byte("公文 signed through opensc-pkcs11.so"))
		d := hh.Sum(nil)
		sig, err := m.SignDigest(ctxT(t), c.ID, d, h, []byte(softcard.DefaultPIN))
		if err != nil {
			t.Fatalf("SignDigest(%v) = %v", h, err)
		}
		if err := rsa.VerifyPKCS1v15(pub, h, d, sig.Signature); err != nil {
			t.Errorf("SignDigest(%v) does not verify with cert1's key: %v", h, err)
		}
	}
}

// TestPKCS11AlwaysAuthenticateKey: OpenSC marks a PIV card's signature
// key (9C) CKA_ALWAYS_AUTHENTICATE, so the module refuses C_Sign until the
// PIN is given again for that one operation (a context-specific login).
// The clerk types the PIN once; the card's tries stay full.
func TestPKCS11AlwaysAuthenticateKey(t *testing.T) {
	st := issued(t, "p11-9c", softcard.IssueOptions{SignSlot: softcard.SlotSignature})
	vc := insert(t, st)
	m := p11Manager(t)
	c := p11Cert(t, m, st, softcard.SlotSignature)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	d := sha256.Sum256([]byte("公文 signed with the 9C key"))
	sig, err := m.SignDigest(ctxT(t), c.ID, d[:], crypto.SHA256, []byte(softcard.DefaultPIN))
	if err != nil {
		t.Fatalf("SignDigest with the 9C key = %v", err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig.Signature); err != nil {
		t.Errorf("the 9C signature does not verify: %v", err)
	}
	if pin, _ := vc.card.Tries(); pin != softcard.MaxTries {
		t.Errorf("PIN tries = %d after one good signature, want %d", pin, softcard.MaxTries)
	}
}

// TestPKCS11SignCMS: the CMS SignedData a document gets must verify with
// an independent CMS implementation (smallstep/pkcs7) when the signature
// comes from a real card module.
func TestPKCS11SignCMS(t *testing.T) {
	st := issued(t, "p11-cms", softcard.IssueOptions{})
	insert(t, st)
	m := p11Manager(t)
	c := p11Cert(t, m, st, softcard.SlotAuthentication)
	data := []byte("公文 in CMS through opensc-pkcs11.so")
	sig, err := m.SignCMS(ctxT(t), c.ID, data, crypto.SHA256, cbcards.CMSOptions{Nonce: "n-1"}, []byte(softcard.DefaultPIN))
	if err != nil {
		t.Fatalf("SignCMS() = %v", err)
	}
	p7, err := pkcs7.Parse(sig.CMS)
	if err != nil {
		t.Fatalf("pkcs7.Parse() = %v", err)
	}
	p7.Content = data
	if err := p7.Verify(); err != nil {
		t.Errorf("pkcs7 Verify() = %v", err)
	}
	if s := p7.GetOnlySigner(); s == nil || !s.Equal(c.Cert) {
		t.Errorf("CMS signer is not cert1")
	}
}

// TestPKCS11Authenticate: a login token made through the module must be
// accepted by a site's authtoken.Verifier for the origin it was made for
// and refused for another: RSA-PSS (CKM_RSA_PKCS_PSS) through OpenSC is
// what makes the token, and a salt or MGF mismatch would fail here only.
func TestPKCS11Authenticate(t *testing.T) {
	st := issued(t, "p11-auth", softcard.IssueOptions{})
	insert(t, st)
	m := p11Manager(t)
	c := p11Cert(t, m, st, softcard.SlotAuthentication)
	const origin = "https://example.gov.tw"
	ch, err := authtoken.NewChallenges(time.Minute).Issue("test")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Authenticate(ctxT(t), c.ID, origin, ch, []byte(softcard.DefaultPIN), "test")
	if err != nil {
		t.Fatalf("Authenticate() = %v", err)
	}
	if tok.Algorithm != authtoken.PS256 {
		t.Errorf("token algorithm = %s, want %s", tok.Algorithm, authtoken.PS256)
	}
	cert, err := siteVerifier(origin).Verify(&tok, ch)
	if err != nil {
		t.Fatalf("Verify(token) = %v", err)
	}
	if !cert.Equal(c.Cert) {
		t.Errorf("token certificate is not cert1")
	}
	if _, err := siteVerifier("https://other.example").Verify(&tok, ch); !errors.Is(err, authtoken.ErrSignature) {
		t.Errorf("Verify(token) at another origin = %v, want ErrSignature", err)
	}
}

// TestPKCS11Decrypt: a key sent to cert2 must come back through the
// module: PKCS#1 v1.5 (CKM_RSA_PKCS) always; OAEP SHA-256 either
// decrypts (the module does OAEP or the raw RSA fallback in p11 decodes
// it) or is refused as an unsupported algorithm, never a wrong
// plaintext or an internal error. Garbage is ERR_DECRYPT_FAILED.
func TestPKCS11Decrypt(t *testing.T) {
	st := issued(t, "p11-decrypt", softcard.IssueOptions{})
	insert(t, st)
	m := p11Manager(t)
	c := p11Cert(t, m, st, softcard.SlotKeyManagement)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	secret := []byte("session key 0123456789abcdef")
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, secret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Decrypt(ctxT(t), c.ID, ct, nil, []byte(softcard.DefaultPIN))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Decrypt(PKCS#1 v1.5) = %q, %v, want %q", got, err, secret)
	}
	ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err = m.Decrypt(ctxT(t), c.ID, ct, &rsa.OAEPOptions{Hash: crypto.SHA256}, []byte(softcard.DefaultPIN))
	switch {
	case err == nil && bytes.Equal(got, secret):
		t.Logf("OAEP SHA-256 through opensc-pkcs11.so decrypts")
	case err != nil && errcode.Code(err) == protocol.ErrUnsupportedAlg:
		t.Logf("opensc-pkcs11.so refuses OAEP SHA-256: %v", err)
	default:
		t.Errorf("Decrypt(OAEP SHA-256) = %q, %v (%s), want the secret or ERR_UNSUPPORTED_ALGORITHM", got, err, errcode.Code(err))
	}
	garbage := make([]byte, pub.Size())
	rand.Read(garbage[1:]) // below the modulus, not a padded message
	if _, err := m.Decrypt(ctxT(t), c.ID, garbage, nil, []byte(softcard.DefaultPIN)); errcode.Code(err) != protocol.ErrDecryptFailed {
		t.Errorf("Decrypt(garbage) = %v (%s), want %s", err, errcode.Code(err), protocol.ErrDecryptFailed)
	}
}

// TestPKCS11WrongPINBlocks: the clerk must be told the tries left after a
// wrong PIN, and that the PIN is blocked after the third, through a module
// that reports only token flags. OpenSC's PIV driver does not know the
// PIN's maximum tries, so it never sets CKF_USER_PIN_COUNT_LOW: after one
// wrong PIN no flag is set, after two CKF_USER_PIN_FINAL_TRY, after three
// CKF_USER_PIN_LOCKED (checked here with pkcs11-tool, an independent
// reader of the same flags). p11 maps them as documented at p11.FullTries:
// the AuthError of a wrong PIN says 2, 1, then blocked (no flag right
// after a failure means FullTries-1); PINStatus, which has no failure to
// go by, says FullTries, 1, then blocked. The right PIN after the block
// does not sign, and its error is ERR_PIN_BLOCKED.
func TestPKCS11WrongPINBlocks(t *testing.T) {
	st := issued(t, "p11-wrongpin", softcard.IssueOptions{})
	vc := insert(t, st)
	m := p11Manager(t)
	c := p11Cert(t, m, st, softcard.SlotAuthentication)
	ref := cbcards.Ref{CertificateID: c.ID}
	d := sha256.Sum256([]byte("x"))
	ps, err := m.PINStatus(ctxT(t), ref)
	if err != nil || ps.TriesLeft != p11.FullTries || ps.Blocked {
		t.Fatalf("PINStatus() before = %+v, %v, want %d tries", ps.PINStatus, err, p11.FullTries)
	}
	for i, step := range []struct {
		errTries, statusTries int
		flag                  string // pkcs11-tool's name of the flag OpenSC sets
	}{
		{2, p11.FullTries, ""},
		{1, 1, "final user PIN try"},
		{0, 0, "user PIN locked"},
	} {
		blocked := step.errTries == 0
		_, err := m.SignDigest(ctxT(t), c.ID, d[:], crypto.SHA256, []byte("000000"))
		var ae *card.AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("wrong PIN %d: SignDigest() = %v, want *card.AuthError", i+1, err)
		}
		if ae.Ref != card.RefPIN || ae.TriesLeft != step.errTries || ae.Blocked != blocked {
			t.Errorf("wrong PIN %d: AuthError %+v, want PIN, %d tries, blocked %v", i+1, *ae, step.errTries, blocked)
		}
		if pin, _ := vc.card.Tries(); pin != softcard.MaxTries-1-i {
			t.Errorf("wrong PIN %d: the card's counter is %d, want %d", i+1, pin, softcard.MaxTries-1-i)
		}
		wantCode := protocol.ErrPINIncorrect
		if blocked {
			wantCode = protocol.ErrPINBlocked
		}
		if code := errcode.Code(err); code != wantCode {
			t.Errorf("wrong PIN %d: errcode.Code = %s, want %s", i+1, code, wantCode)
		}
		ps, err := m.PINStatus(ctxT(t), ref)
		if err != nil || ps.TriesLeft != step.statusTries || ps.Blocked != blocked {
			t.Errorf("wrong PIN %d: PINStatus() = %+v, %v, want %d tries, blocked %v", i+1, ps.PINStatus, err, step.statusTries, blocked)
		}
		out, err := tool(t, "pkcs11-tool", "--module", openscModule(t), "--list-token-slots")
		if err != nil {
			t.Fatalf("pkcs11-tool --list-token-slots = %v\n%s", err, out)
		}
		for _, f := range []string{"user PIN count low", "final user PIN try", "user PIN locked"} {
			if strings.Contains(out, f) != (f == step.flag) {
				t.Errorf("wrong PIN %d: OpenSC token flags %q: set %v, want %v\n%s", i+1, f, !(f == step.flag), f == step.flag, out)
			}
		}
	}
	_, err = m.SignDigest(ctxT(t), c.ID, d[:], crypto.SHA256, []byte(softcard.DefaultPIN))
	if code := errcode.Code(err); code != protocol.ErrPINBlocked {
		t.Errorf("right PIN on a blocked card: SignDigest() = %v (%s), want %s", err, code, protocol.ErrPINBlocked)
	}
}

// TestPKCS11UnblockPIN: a blocked PIN must either be recoverable with the
// PUK through the module or be refused with p11.ErrNoSOLogin, so the clerk
// is sent to the issuer's tool, without spending a PUK try. OpenSC's PIV
// driver logs the SO in by VERIFY of the PUK (00 20 00 81), which PIV
// cards (and the virtual card) refuse with 6A88: the PUK can only be used
// by RESET RETRY COUNTER. So through opensc-pkcs11.so the answer is
// ErrNoSOLogin, for a wrong PUK and the right one alike, and neither
// counter moves. (The same card is unblocked by pkcs15-tool in
// TestOpenSCChangeAndUnblockPIN, which does not go through SO login.)
func TestPKCS11UnblockPIN(t *testing.T) {
	st := issued(t, "p11-unblock", softcard.IssueOptions{})
	vc := insert(t, st)
	m := p11Manager(t)
	c := p11Cert(t, m, st, softcard.SlotAuthentication)
	ref := cbcards.Ref{CertificateID: c.ID}
	d := sha256.Sum256([]byte("x"))
	for i := 0; i < softcard.MaxTries; i++ {
		m.SignDigest(ctxT(t), c.ID, d[:], crypto.SHA256, []byte("000000"))
	}
	if ps, err := m.PINStatus(ctxT(t), ref); err != nil || !ps.Blocked {
		t.Fatalf("PINStatus() after three wrong PINs = %+v, %v, want blocked", ps.PINStatus, err)
	}
	for _, puk := range []string{"87654321", softcard.DefaultPUK} {
		_, err := m.UnblockPIN(ctxT(t), ref, []byte(puk), []byte("111111"))
		if !errors.Is(err, p11.ErrNoSOLogin) {
			t.Errorf("UnblockPIN(PUK %s) = %v, want p11.ErrNoSOLogin", puk, err)
		}
		if code := errcode.Code(err); code != protocol.ErrUnblockElsewhere {
			t.Errorf("UnblockPIN(PUK %s) code %s, want %s (the issuer's online service)", puk, code, protocol.ErrUnblockElsewhere)
		}
		var ae *card.AuthError
		if errors.As(err, &ae) {
			t.Errorf("UnblockPIN(PUK %s) is an AuthError %+v: the card was never asked", puk, *ae)
		}
	}
	if pin, puk := vc.card.Tries(); pin != 0 || puk != softcard.MaxTries {
		t.Errorf("card counters after the refused unblocks = PIN %d, PUK %d, want 0 and %d", pin, puk, softcard.MaxTries)
	}
	if ps, err := m.PINStatus(ctxT(t), ref); err != nil || !ps.Blocked {
		t.Errorf("PINStatus() after the refused unblocks = %+v, %v, want still blocked", ps.PINStatus, err)
	}
}

// TestPKCS11ChangePIN: a PIN changed through the module (C_SetPIN) must
// be the card's PIN: the new one signs, the old one is refused, and a
// wrong old PIN changes nothing. OpenSC's PIV driver takes digits only: a
// new PIN with letters, which card.Rule allows, is refused before any
// APDU (CKR_DATA_INVALID) and must reach the clerk as ERR_PIN_FORMAT with
// no try used, not as an internal error.
func TestPKCS11ChangePIN(t *testing.T) {
	st := issued(t, "p11-changepin", softcard.IssueOptions{})
	vc := insert(t, st)
	m := p11Manager(t)
	c := p11Cert(t, m, st, softcard.SlotAuthentication)
	ref := cbcards.Ref{CertificateID: c.ID}
	const newPIN = "654321"
	_, err := m.ChangePIN(ctxT(t), ref, []byte(softcard.DefaultPIN), []byte("abc123"))
	if code := errcode.Code(err); !errors.Is(err, card.ErrPINFormat) || code != protocol.ErrPINFormat {
		t.Errorf("ChangePIN(new PIN with letters) = %v (%s), want card.ErrPINFormat, %s", err, code, protocol.ErrPINFormat)
	}
	if pin, _ := vc.card.Tries(); pin != softcard.MaxTries {
		t.Errorf("PIN tries after the refused letters = %d, want %d", pin, softcard.MaxTries)
	}
	var ae *card.AuthError
	_, err = m.ChangePIN(ctxT(t), ref, []byte("999999"), []byte(newPIN))
	if !errors.As(err, &ae) || ae.Ref != card.RefPIN || ae.TriesLeft != p11.FullTries-1 {
		t.Errorf("ChangePIN(wrong old PIN) = %v, want *card.AuthError for the PIN with %d tries", err, p11.FullTries-1)
	}
	res, err := m.ChangePIN(ctxT(t), ref, []byte(softcard.DefaultPIN), []byte(newPIN))
	if err != nil {
		t.Fatalf("ChangePIN() = %v", err)
	}
	if res.TriesLeft != p11.FullTries {
		t.Errorf("ChangePIN() tries left = %d, want %d", res.TriesLeft, p11.FullTries)
	}
	if saved, err := softcard.LoadState(vc.statePath); err != nil || string(saved.PIN) != newPIN {
		t.Errorf("card state after the change: %v, PIN changed %v", err, err == nil && string(saved.PIN) == newPIN)
	}
	d := sha256.Sum256([]byte("after the change"))
	sig, err := m.SignDigest(ctxT(t), c.ID, d[:], crypto.SHA256, []byte(newPIN))
	if err != nil {
		t.Fatalf("SignDigest(new PIN) = %v", err)
	}
	if err := rsa.VerifyPKCS1v15(c.Cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig.Signature); err != nil {
		t.Errorf("signature with the new PIN does not verify: %v", err)
	}
	_, err = m.SignDigest(ctxT(t), c.ID, d[:], crypto.SHA256, []byte(softcard.DefaultPIN))
	if !errors.As(err, &ae) || ae.Ref != card.RefPIN {
		t.Errorf("SignDigest(old PIN) = %v, want *card.AuthError", err)
	}
}

// TestPKCS11CardPulledMidSignature: a card pulled between the PIN and the
// signature must end the operation with "card removed" (or "no card"),
// promptly: the module must not hang CardBridge, and the error must reach
// the page as a code it explains, not an internal error.
func TestPKCS11CardPulledMidSignature(t *testing.T) {
	st := issued(t, "p11-pulled", softcard.IssueOptions{})
	vc := insert(t, st)
	m := p11Manager(t)
	c := p11Cert(t, m, st, softcard.SlotAuthentication)
	vc.srv.RemoveOn(0x87) // GENERAL AUTHENTICATE: after VERIFY, before the signature
	d := sha256.Sum256([]byte("x"))
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := m.SignDigest(context.Background(), c.ID, d[:], crypto.SHA256, []byte(softcard.DefaultPIN))
		done <- err
	}()
	select {
	case err := <-done:
		code := errcode.Code(err)
		if code != protocol.ErrCardRemoved && code != protocol.ErrNoCard {
			t.Errorf("SignDigest() with the card pulled = %v (%s), want %s or %s", err, code, protocol.ErrCardRemoved, protocol.ErrNoCard)
		}
		t.Logf("card pulled: %s after %v: %v", code, time.Since(start).Round(time.Millisecond), err)
	case <-time.After(2 * p11CallTimeout):
		t.Fatal("SignDigest() hung after the card was pulled")
	}
}

// The host reaches cards through the modules of pkcs11Modules and says so:
// the same card appears twice, once through CardBridge's own PIV
// ("backend":"pcsc") and once through the module ("backend":"pkcs11" with
// the module's path), with the same certificate ids. A module path that is
// not a module is left out with a log line and the rest still works.
func TestPKCS11HostLists(t *testing.T) {
	needPCSC(t)
	module := openscModule(t)
	insert(t, issued(t, "p11-host", softcard.IssueOptions{}))
	bogus := filepath.Join(t.TempDir(), "not-a-module.so")
	if err := os.WriteFile(bogus, []byte("not a module"), 0o644); err != nil {
		t.Fatal(err)
	}
	byBackend := func(h *host) map[string][]string {
		out := map[string][]string{}
		for _, v := range h.call("certificates", pageOrigin, nil)["certificates"].([]any) {
			c := v.(map[string]any)
			b, _ := c["backend"].(string)
			out[b] = append(out[b], c["id"].(string))
			if b == "pkcs11" && c["module"] != module {
				t.Errorf("module = %v, want %s", c["module"], module)
			}
		}
		return out
	}
	// The same card reached directly and through the module is listed
	// once, by the direct (first) way.
	h := startHost(t, hostOptions{config: `{"pkcs11Modules":["` + module + `","` + bogus + `"]}`})
	h.hello()
	if got := byBackend(h); len(got["pcsc"]) != 2 || len(got) != 1 {
		t.Errorf("certificates by backend = %v, want the two once, through pcsc", got)
	}
	if !strings.Contains(h.c.Stderr(), bogus) {
		t.Errorf("the host did not log the refused module %s", bogus)
	}
	// modulesOnly: the same two, through the module.
	h2 := startHost(t, hostOptions{config: `{"pkcs11Modules":["` + module + `"],"modulesOnly":true}`})
	h2.hello()
	if got := byBackend(h2); len(got["pkcs11"]) != 2 || len(got) != 1 {
		t.Errorf("modulesOnly: certificates by backend = %v, want the two through pkcs11", got)
	}

	// The command line takes --pkcs11 and says how each certificate was
	// reached.
	var reader string
	for _, v := range h.call("readers", pageOrigin, nil)["readers"].([]any) {
		if n := v.(map[string]any)["name"].(string); strings.Contains(n, "(PKCS#11: ") && v.(map[string]any)["card"] == true {
			reader = n
		}
	}
	if reader == "" {
		t.Fatal("no PKCS#11 reader listed")
	}
	out, errOut, code := cli(t, "", "certs", "--json", "--pkcs11", module, "--reader", reader)
	if code != 0 || !strings.Contains(out, `"backend": "pkcs11"`) || !strings.Contains(out, module) {
		t.Errorf("cardbridge certs --pkcs11 = %d\n%s\n%s", code, out, errOut)
	}
}
