//go:build cgo

package p11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/smallstep/pkcs7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/errcode"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// manager is a cards.Manager with no backend but the fixture's module.
func manager(t *testing.T, f *fixture, log *slog.Logger) *cards.Manager {
	t.Helper()
	return cards.New(cards.Options{Backends: []cards.Backend{}, Extra: []cards.Backend{f.backend}, Log: log})
}

func readerOf(label string) string { return label + " (PKCS#11: libsofthsm2.so)" }

func TestReaders(t *testing.T) {
	f := theFixture(t)
	st, err := manager(t, f, nil).Readers(context.Background())
	require.NoError(t, err)
	present := map[string]bool{}
	for _, s := range st {
		present[s.Reader] = s.Present()
	}
	for _, l := range []string{labelMain, labelPIN, labelBad} {
		assert.True(t, present[readerOf(l)], "reader of token %s in %v", l, present)
	}
	// SoftHSM2 keeps one blank token in a spare slot: an empty reader.
	assert.Len(t, present, 4)
	empty := 0
	for r, p := range present {
		assert.Contains(t, r, "(PKCS#11: libsofthsm2.so")
		if !p {
			empty++
		}
	}
	assert.Equal(t, 1, empty)
}

func TestRegistryLoadsOnce(t *testing.T) {
	f := theFixture(t)
	b, err := New(softhsmModule, Options{})
	require.NoError(t, err)
	assert.Same(t, f.backend.mod, b.mod, "a second backend of the module shares its one C_Initialize")
	_, err = b.Readers()
	require.NoError(t, err)
}

func TestCertificates(t *testing.T) {
	f := theFixture(t)
	certs, err := manager(t, f, nil).Certificates(context.Background(), readerOf(labelMain))
	require.NoError(t, err)
	got := map[string]cards.Certificate{}
	for _, c := range certs {
		got[c.ID] = c
	}
	require.Len(t, got, 3)
	for _, tc := range []struct {
		name  string
		k     issuedKey
		usage certinfo.Usage
		caps  []cards.Capability
	}{
		{"RSA cert1", f.rsaSign, certinfo.UsageSignature, []cards.Capability{cards.CapSign, cards.CapAuthenticate}},
		{"RSA cert2", f.rsaEnc, certinfo.UsageEncryption, []cards.Capability{cards.CapDecrypt}},
		{"P-256 cert1", f.ecSign, certinfo.UsageSignature, []cards.Capability{cards.CapSign, cards.CapAuthenticate}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := got[card.CertID(tc.k.cert.Raw)]
			require.True(t, ok, "certificate listed")
			assert.Equal(t, tc.usage, c.Usage)
			assert.Equal(t, tc.caps, c.Capabilities)
			assert.Equal(t, readerOf(labelMain), c.Reader)
			assert.True(t, bytes.Equal(tc.k.cert.Raw, c.Cert.Raw))
		})
	}
}

// logLines collects what the manager and backend log.
type logLines struct{ bytes.Buffer }

func (l *logLines) logger() *slog.Logger { return slog.New(slog.NewTextHandler(&l.Buffer, nil)) }

// The bad token lists its one good certificate; the others are skipped
// with a log line each, and nothing crashes.
func TestBadObjects(t *testing.T) {
	f := theFixture(t)
	var lines logLines
	b, err := New(softhsmModule, Options{Log: lines.logger()})
	require.NoError(t, err)
	m := cards.New(cards.Options{Backends: []cards.Backend{}, Extra: []cards.Backend{b}})
	certs, err := m.Certificates(context.Background(), readerOf(labelBad))
	require.NoError(t, err)
	require.Len(t, certs, 1)
	assert.Equal(t, card.CertID(f.badGood.cert.Raw), certs[0].ID)
	log := lines.String()
	assert.Equal(t, 2, strings.Count(log, "no key with its CKA_ID"), "the certificate without a key and the one whose key is hidden")
	assert.Equal(t, 2, strings.Count(log, "CKA_ID shared with another certificate"))
	assert.Contains(t, log, "unparsable certificate")
	// And the good one signs.
	sig, err := m.SignCMS(context.Background(), certs[0].ID, []byte("data"), crypto.SHA256, cards.CMSOptions{}, []byte(testPIN))
	require.NoError(t, err)
	verifyCMS(t, sig.CMS, []byte("data"))
}

func verifyCMS(t *testing.T, der, data []byte) {
	t.Helper()
	p7, err := pkcs7.Parse(der)
	require.NoError(t, err)
	p7.Content = data
	require.NoError(t, p7.Verify())
}

func TestSignDigestRSA(t *testing.T) {
	f := theFixture(t)
	m := manager(t, f, nil)
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		hh := h.New()
		hh.Write([]byte("公文"))
		d := hh.Sum(nil)
		sig, err := m.SignDigest(context.Background(), card.CertID(f.rsaSign.cert.Raw), d, h, []byte(testPIN))
		require.NoError(t, err, "%v", h)
		require.NoError(t, rsa.VerifyPKCS1v15(f.rsaSign.cert.PublicKey.(*rsa.PublicKey), h, d, sig.Signature), "%v", h)
	}
	// ECDSA keys sign with CMS only; an encryption certificate never signs.
	d := sha256.Sum256([]byte("x"))
	_, err := m.SignDigest(context.Background(), card.CertID(f.ecSign.cert.Raw), d[:], crypto.SHA256, []byte(testPIN))
	assert.ErrorIs(t, err, cards.ErrRawNeedsRSA)
	_, err = m.SignDigest(context.Background(), card.CertID(f.rsaEnc.cert.Raw), d[:], crypto.SHA256, []byte(testPIN))
	var ue *cards.UsageError
	assert.ErrorAs(t, err, &ue)
}

func TestSignCMS(t *testing.T) {
	f := theFixture(t)
	m := manager(t, f, nil)
	for _, k := range []struct {
		name string
		k    issuedKey
	}{{"RSA", f.rsaSign}, {"P-256", f.ecSign}} {
		t.Run(k.name, func(t *testing.T) {
			data := []byte("公文 " + k.name)
			sig, err := m.SignCMS(context.Background(), card.CertID(k.k.cert.Raw), data, crypto.SHA256, cards.CMSOptions{Nonce: "n", WithCardSerial: true}, []byte(testPIN))
			require.NoError(t, err)
			verifyCMS(t, sig.CMS, data)
			assert.Equal(t, "TEST000000000001", sig.CardSerial)
		})
	}
}

// The token's key as a crypto.Signer: ECDSA signatures come back as
// ASN.1, RSA-PSS verifies.
func TestTokenSignDirect(t *testing.T) {
	f := theFixture(t)
	tok, closeTok, err := f.backend.Open(readerOf(labelMain), nil)
	require.NoError(t, err)
	defer closeTok()
	d := sha256.Sum256([]byte("direct"))
	sig, err := tok.Sign(card.CertID(f.ecSign.cert.Raw), d[:], crypto.SHA256, []byte(testPIN))
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(f.ecSign.cert.PublicKey.(*ecdsa.PublicKey), d[:], sig))
	for _, salt := range []int{rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto, 20} {
		opts := &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256}
		sig, err = tok.Sign(card.CertID(f.rsaSign.cert.Raw), d[:], opts, []byte(testPIN))
		require.NoError(t, err, "salt %d", salt)
		assert.NoError(t, rsa.VerifyPSS(f.rsaSign.cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}), "salt %d", salt)
	}
	_, err = tok.Sign(card.CertID(f.ecSign.cert.Raw), d[:], &rsa.PSSOptions{Hash: crypto.SHA256}, []byte(testPIN))
	assert.ErrorIs(t, err, card.ErrUnsupported)
	_, err = tok.Sign(card.CertID(f.rsaSign.cert.Raw), d[:20], crypto.SHA256, []byte(testPIN))
	assert.ErrorIs(t, err, card.ErrUnsupported)
	_, err = tok.Sign(strings.Repeat("0", 64), d[:], crypto.SHA256, []byte(testPIN))
	assert.ErrorIs(t, err, card.ErrUnknownCertificate)
	assert.Equal(t, "", strings.Trim(tok.Serial(), "0123456789abcdef"), "the token's serial")
}

func TestAuthenticate(t *testing.T) {
	f := theFixture(t)
	m := manager(t, f, nil)
	const origin = "https://example.gov.tw"
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.Root.Cert)
	inter := x509.NewCertPool()
	inter.AddCert(f.ca.Issuing.Cert)
	for _, k := range []struct {
		name, alg string
		k         issuedKey
	}{{"RSA", authtoken.PS256, f.rsaSign}, {"P-256", authtoken.ES256, f.ecSign}} {
		t.Run(k.name, func(t *testing.T) {
			ch, err := authtoken.NewChallenges(time.Minute).Issue("test")
			require.NoError(t, err)
			tok, err := m.Authenticate(context.Background(), card.CertID(k.k.cert.Raw), origin, ch, []byte(testPIN), "test")
			require.NoError(t, err)
			assert.Equal(t, k.alg, tok.Algorithm)
			v := &authtoken.Verifier{Roots: roots, Intermediates: inter, Origin: origin}
			cert, err := v.Verify(&tok, ch)
			require.NoError(t, err)
			assert.True(t, cert.Equal(k.k.cert))
			v.Origin = "https://other.example"
			_, err = v.Verify(&tok, ch)
			assert.Error(t, err, "a token made for another origin")
		})
	}
}

func TestDecrypt(t *testing.T) {
	f := theFixture(t)
	m := manager(t, f, nil)
	pub := f.rsaEnc.cert.PublicKey.(*rsa.PublicKey)
	id := card.CertID(f.rsaEnc.cert.Raw)
	msg := []byte("session key 0123456789abcdef")
	t.Run("PKCS#1 v1.5", func(t *testing.T) {
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
		require.NoError(t, err)
		pt, err := m.Decrypt(context.Background(), id, ct, nil, []byte(testPIN))
		require.NoError(t, err)
		assert.Equal(t, msg, pt)
	})
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		t.Run("OAEP "+h.String(), func(t *testing.T) {
			var ct []byte
			var err error
			if h == crypto.SHA1 {
				ct, err = rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, msg, nil)
			} else {
				ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, nil)
			}
			require.NoError(t, err)
			pt, err := m.Decrypt(context.Background(), id, ct, &rsa.OAEPOptions{Hash: h}, []byte(testPIN))
			require.NoError(t, err)
			assert.Equal(t, msg, pt)
		})
	}
	t.Run("OAEP with a label", func(t *testing.T) {
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, []byte("label"))
		require.NoError(t, err)
		pt, err := m.Decrypt(context.Background(), id, ct, &rsa.OAEPOptions{Hash: crypto.SHA256, Label: []byte("label")}, []byte(testPIN))
		require.NoError(t, err)
		assert.Equal(t, msg, pt)
	})
	t.Run("garbage", func(t *testing.T) {
		ct := bytes.Repeat([]byte{0x42}, pub.Size())
		_, err := m.Decrypt(context.Background(), id, ct, nil, []byte(testPIN))
		assert.ErrorIs(t, err, card.ErrDecrypt)
		_, err = m.Decrypt(context.Background(), id, ct[:10], nil, []byte(testPIN))
		assert.ErrorIs(t, err, card.ErrDecrypt)
	})
	t.Run("signature certificate refused", func(t *testing.T) {
		ct, _ := rsa.EncryptPKCS1v15(rand.Reader, f.rsaSign.cert.PublicKey.(*rsa.PublicKey), msg)
		_, err := m.Decrypt(context.Background(), card.CertID(f.rsaSign.cert.Raw), ct, nil, []byte(testPIN))
		var ue *cards.UsageError
		assert.ErrorAs(t, err, &ue)
	})
}

// tokenFlags reads the flags of the token labelled label.
func tokenFlags(t *testing.T, f *fixture, label string) uint {
	t.Helper()
	tok, closeTok, err := f.backend.Open(readerOf(label), nil)
	require.NoError(t, err)
	defer closeTok()
	ti, err := tok.(*Token).tokenInfo()
	require.NoError(t, err)
	return ti.Flags
}

// The PIN's life on its own token, in order: a malformed PIN never
// reaches the module, a wrong one is an AuthError with the tries the
// flags give, the PIN is changed and then reset with the SO PIN (PUK).
func TestPINLifecycle(t *testing.T) {
	f := theFixture(t)
	m := manager(t, f, nil)
	ctx := context.Background()
	ref := cards.Ref{Reader: readerOf(labelPIN)}
	id := card.CertID(f.pinSign.cert.Raw)
	sign := func(pin string) error {
		_, err := m.SignCMS(ctx, id, []byte("d"), crypto.SHA256, cards.CMSOptions{}, []byte(pin))
		return err
	}
	lowFlags := uint(pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_LOCKED)

	st, err := m.PINStatus(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, FullTries, st.TriesLeft)
	assert.False(t, st.Blocked)

	t.Run("malformed PIN refused before the module", func(t *testing.T) {
		for _, pin := range []string{"12345", "123456789", "12345!", ""} {
			assert.ErrorIs(t, sign(pin), card.ErrPINFormat, "%q", pin)
		}
		_, err := m.ChangePIN(ctx, ref, []byte(testPIN), []byte("1"))
		assert.ErrorIs(t, err, card.ErrPINFormat)
		_, err = m.UnblockPIN(ctx, ref, []byte("1234567"), []byte(testPIN))
		assert.ErrorIs(t, err, card.ErrPINFormat)
		assert.Equal(t, protocol.ErrPINFormat, errcode.Code(sign("12345")))
		assert.Zero(t, tokenFlags(t, f, labelPIN)&lowFlags, "no try used")
	})
	t.Run("wrong PIN", func(t *testing.T) {
		err := sign("654321")
		var ae *card.AuthError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, card.RefPIN, ae.Ref)
		assert.False(t, ae.Blocked)
		assert.Equal(t, FullTries-1, ae.TriesLeft)
		assert.True(t, isCKR(err, pkcs11.CKR_PIN_INCORRECT), "the CKR stays in the chain: %v", err)
		assert.Equal(t, protocol.ErrPINIncorrect, errcode.Code(err), "the edge maps it as a PIV card's")
		st, err := m.PINStatus(ctx, ref)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, st.TriesLeft, 1)
		assert.LessOrEqual(t, st.TriesLeft, FullTries)
	})
	t.Run("right PIN signs", func(t *testing.T) {
		require.NoError(t, sign(testPIN))
	})
	t.Run("change PIN", func(t *testing.T) {
		_, err := m.ChangePIN(ctx, ref, []byte("999999"), []byte("abc123"))
		var ae *card.AuthError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, card.RefPIN, ae.Ref)
		res, err := m.ChangePIN(ctx, ref, []byte(testPIN), []byte("abc123"))
		require.NoError(t, err)
		assert.Equal(t, readerOf(labelPIN), res.Reader)
		require.NoError(t, sign("abc123"))
		var ae2 *card.AuthError
		assert.ErrorAs(t, sign(testPIN), &ae2, "the old PIN no longer works")
	})
	t.Run("unblock with the SO PIN", func(t *testing.T) {
		_, err := m.UnblockPIN(ctx, ref, []byte("87654321"), []byte("new123"))
		var ae *card.AuthError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, card.RefPUK, ae.Ref)
		res, err := m.UnblockPIN(ctx, ref, []byte(testSOPIN), []byte("new123"))
		require.NoError(t, err)
		assert.Equal(t, FullTries, res.TriesLeft)
		require.NoError(t, sign("new123"))
	})
}

func TestModulePath(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.so")
	require.NoError(t, os.WriteFile(garbage, []byte("not a shared object"), 0o600))
	for _, tc := range []struct {
		name, path string
		want       error
	}{
		{"relative", "libsofthsm2.so", ErrUnsafeModule},
		{"missing", filepath.Join(dir, "missing.so"), ErrNoModule},
		{"a folder", dir, ErrNoModule},
		{"not a module", garbage, ErrNoModule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.path, Options{})
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.path, "the error names the path")
		})
	}
	t.Run("file writable by others", func(t *testing.T) {
		p := filepath.Join(dir, "w.so")
		require.NoError(t, os.WriteFile(p, nil, 0o600))
		require.NoError(t, os.Chmod(p, 0o666))
		_, err := New(p, Options{})
		require.ErrorIs(t, err, ErrUnsafeModule)
		assert.Contains(t, err.Error(), p)
	})
	t.Run("folder writable by others", func(t *testing.T) {
		sub := filepath.Join(dir, "open")
		require.NoError(t, os.Mkdir(sub, 0o700))
		require.NoError(t, os.Chmod(sub, 0o777))
		p := filepath.Join(sub, "m.so")
		require.NoError(t, os.WriteFile(p, nil, 0o600))
		_, err := New(p, Options{})
		require.ErrorIs(t, err, ErrUnsafeModule)
		assert.Contains(t, err.Error(), sub)
	})
	t.Run("a refused module leaves other backends working", func(t *testing.T) {
		f := theFixture(t)
		_, err := New(garbage, Options{})
		require.Error(t, err)
		certs, err := manager(t, f, nil).Certificates(context.Background(), readerOf(labelMain))
		require.NoError(t, err)
		assert.Len(t, certs, 3)
	})
}

// A hung module call ends in a *TimeoutError; the calls after it wait for
// the module's thread no longer than their own bound, and once the module
// returns, calls go through again.
func TestCallTimeout(t *testing.T) {
	m := newModule("/x/hang.so", nil)
	release := make(chan struct{})
	start := time.Now()
	err := m.call(50*time.Millisecond, "C_Sign", func() error { <-release; return nil })
	var te *TimeoutError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Contains(t, err.Error(), "hang.so")
	assert.Contains(t, err.Error(), "C_Sign")

	err = m.call(50*time.Millisecond, "C_GetSlotList", func() error { return nil })
	require.ErrorAs(t, err, &te, "a call behind a hung one")
	assert.Contains(t, err.Error(), "C_GetSlotList")

	close(release)
	assert.NoError(t, m.call(5*time.Second, "C_Fast", func() error { return nil }))
}

// Every call of a module runs on the same OS thread, whichever goroutine
// makes it, one at a time.
func TestCallsOnOneThread(t *testing.T) {
	m := newModule("/x/threads.so", nil)
	var mu sync.Mutex
	tids := map[int]bool{}
	running := 0
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, m.call(5*time.Second, "C_Sign", func() error {
				mu.Lock()
				running++
				tids[syscall.Gettid()] = true
				assert.Equal(t, 1, running, "two calls in the module at once")
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				running--
				mu.Unlock()
				return nil
			}))
		}()
	}
	wg.Wait()
	assert.Len(t, tids, 1, "threads used: %v", tids)
}

func TestMapCKR(t *testing.T) {
	for _, tc := range []struct {
		rv   uint
		want error
	}{
		{pkcs11.CKR_PIN_LEN_RANGE, card.ErrPINFormat},
		{pkcs11.CKR_PIN_INVALID, card.ErrPINFormat},
		{pkcs11.CKR_TOKEN_NOT_PRESENT, pcsc.ErrNoCard},
		{pkcs11.CKR_DEVICE_REMOVED, pcsc.ErrCardRemoved},
		{pkcs11.CKR_ENCRYPTED_DATA_INVALID, card.ErrDecrypt},
		{pkcs11.CKR_MECHANISM_INVALID, card.ErrUnsupported},
	} {
		err := mapCKR("op", pkcs11.Error(tc.rv))
		assert.ErrorIs(t, err, tc.want, "%v", err)
		assert.True(t, isCKR(err, tc.rv))
	}
	err := mapCKR("op", pkcs11.Error(pkcs11.CKR_GENERAL_ERROR))
	assert.Contains(t, err.Error(), "CKR_GENERAL_ERROR")
	assert.True(t, errors.Is(mapCKR("op", &TimeoutError{}), context.DeadlineExceeded))
	assert.True(t, isSessionErr(pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)))
}

func TestTriesOf(t *testing.T) {
	for _, tc := range []struct {
		flags   uint
		ref     card.Ref
		failed  bool
		tries   int
		blocked bool
	}{
		{0, card.RefPIN, false, FullTries, false},
		{0, card.RefPIN, true, FullTries - 1, false},
		{pkcs11.CKF_USER_PIN_COUNT_LOW, card.RefPIN, false, 2, false},
		{pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_COUNT_LOW, card.RefPIN, true, 1, false},
		{pkcs11.CKF_USER_PIN_LOCKED, card.RefPIN, false, 0, true},
		{pkcs11.CKF_USER_PIN_LOCKED, card.RefPUK, false, FullTries, false},
		{pkcs11.CKF_SO_PIN_LOCKED, card.RefPUK, true, 0, true},
		{pkcs11.CKF_SO_PIN_FINAL_TRY, card.RefPUK, true, 1, false},
	} {
		n, b := triesOf(tc.flags, tc.ref, tc.failed)
		assert.Equal(t, tc.tries, n, "%+v", tc)
		assert.Equal(t, tc.blocked, b, "%+v", tc)
	}
}

// A lost session is opened again once for reading certificates and PIN
// status; a PIN operation is never retried.
func TestSessionLost(t *testing.T) {
	f := theFixture(t)
	open := func() (*Token, func()) {
		tok, closeTok, err := f.backend.Open(readerOf(labelMain), nil)
		require.NoError(t, err)
		return tok.(*Token), closeTok
	}
	tok, closeTok := open()
	defer closeTok()
	require.NoError(t, f.backend.mod.ctx.CloseSession(tok.sh))
	certs, err := tok.Certificates()
	require.NoError(t, err)
	assert.Len(t, certs, 3)

	tok2, closeTok2 := open()
	defer closeTok2()
	_, err = tok2.Certificates()
	require.NoError(t, err)
	require.NoError(t, f.backend.mod.ctx.CloseSession(tok2.sh))
	d := sha256.Sum256([]byte("x"))
	_, err = tok2.Sign(card.CertID(f.rsaSign.cert.Raw), d[:], crypto.SHA256, []byte(testPIN))
	require.Error(t, err)
	assert.True(t, isSessionErr(err), "not retried: %v", err)
	st, err := tok2.PINStatus()
	require.NoError(t, err)
	assert.Equal(t, FullTries, st.TriesLeft)
}

// The generous-buffer read gives what the two-call pattern gives.
func TestGenerousAttrs(t *testing.T) {
	f := theFixture(t)
	tok, closeTok, err := f.backend.Open(readerOf(labelMain), nil)
	require.NoError(t, err)
	defer closeTok()
	p := tok.(*Token)
	hs, err := p.find([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE)})
	require.NoError(t, err)
	require.NotEmpty(t, hs)
	want, err := p.attrs(hs[0], pkcs11.CKA_ID, pkcs11.CKA_VALUE)
	require.NoError(t, err)
	got, err := p.generousAttrs(hs[0], []uint{pkcs11.CKA_ID, pkcs11.CKA_VALUE}, errors.New("unused"))
	if runtime.GOOS == "windows" {
		require.EqualError(t, err, "unused")
		return
	}
	require.NoError(t, err)
	require.Len(t, got, 2)
	for i := range want {
		assert.Equal(t, want[i].Type, got[i].Type)
		assert.Equal(t, want[i].Value, got[i].Value)
	}
	_, err = p.generousAttrs(pkcs11.ObjectHandle(0xdeadbeef), []uint{pkcs11.CKA_VALUE}, errors.New("unused"))
	assert.True(t, isCKR(err, pkcs11.CKR_OBJECT_HANDLE_INVALID), "%v", err)
}
