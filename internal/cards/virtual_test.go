package cards_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// These tests run the Manager end to end: the Virtual backend dials a
// softcard served on a loopback listener, the PIV client speaks to it,
// and the results are checked with independent verifiers (crypto/rsa,
// pkcs7, authtoken).

const (
	testSerial = "TEST000000000001"
	pin        = softcard.DefaultPIN
	puk        = softcard.DefaultPUK
	siteOrigin = "https://site.example"
)

// Issuing a card generates RSA keys, which is slow: each kind is issued
// once per test binary and every test gets a deep copy of its state.
var (
	testCA   = sync.OnceValues(func() (*testca.Hierarchy, error) { return testca.New(nil, time.Time{}) })
	issuedMu sync.Mutex
	issued   = map[string][]byte{}
)

// issuedState returns a copy of the card of kind: "" (RSA-2048 cert1 in
// 9A), "p256" (P-256 cert1 in 9A) or "9c" (RSA-2048 cert1 in 9C, whose key
// needs the PIN right before every use).
func issuedState(tb testing.TB, kind string) *softcard.State {
	tb.Helper()
	issuedMu.Lock()
	defer issuedMu.Unlock()
	b, ok := issued[kind]
	if !ok {
		ca, err := testCA()
		require.NoError(tb, err)
		o := softcard.IssueOptions{Org: testca.Org{Name: "測試幼兒園", UBN: "12345675", CardSerial: testSerial}}
		switch kind {
		case "p256":
			o.SignAlg = "p256"
		case "9c":
			o.SignSlot = softcard.SlotSignature
		}
		st, err := softcard.Issue(ca, o)
		require.NoError(tb, err)
		b, err = json.Marshal(st)
		require.NoError(tb, err)
		issued[kind] = b
	}
	var st softcard.State
	require.NoError(tb, json.Unmarshal(b, &st))
	return &st
}

// virtualCard is a softcard served for the direct transport, and a
// Manager that reaches it through the Virtual backend.
type virtualCard struct {
	srv   *softcard.Server
	card  *softcard.Card
	st    *softcard.State
	addr  string
	m     *cards.Manager
	sigID string // cert1
	encID string // cert2
}

// serve starts st's card on 127.0.0.1:0 until the test ends.
func serve(t *testing.T, st *softcard.State) *virtualCard {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := softcard.NewCard(st, softcard.Options{})
	srv := softcard.NewServer(c, "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Listen(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := ln.Addr().String()
	return &virtualCard{srv: srv, card: c, st: st, addr: addr,
		m:     cards.New(cards.Options{Backends: []cards.Backend{cards.NewVirtual(addr)}}),
		sigID: card.CertID(signCert(st)),
		encID: card.CertID(st.Cert(softcard.SlotKeyManagement)),
	}
}

// signCert is cert1's DER, in 9A or 9C.
func signCert(st *softcard.State) []byte {
	if der := st.Cert(softcard.SlotAuthentication); der != nil {
		return der
	}
	return st.Cert(softcard.SlotSignature)
}

func (v *virtualCard) cert(t *testing.T, slot softcard.Slot) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(v.st.Cert(slot))
	require.NoError(t, err)
	return c
}

// pinTries is the card's own count, not what the host reports.
func (v *virtualCard) pinTries() int {
	n, _ := v.card.Tries()
	return n
}

// caPools returns the TEST root and its issuing CA as verifiers load them.
func caPools(t *testing.T) (roots, intermediates *x509.CertPool) {
	t.Helper()
	ca, err := testCA()
	require.NoError(t, err)
	roots, intermediates = x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Root.Cert)
	intermediates.AddCert(ca.Issuing.Cert)
	return roots, intermediates
}

// The virtual reader lists the card's two certificates in their reader,
// with the capabilities their key usages give.
func TestVirtualCertificates(t *testing.T) {
	v := serve(t, issuedState(t, ""))
	ctx := context.Background()

	st, err := v.m.Readers(ctx)
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Equal(t, cards.VirtualReaderName, st[0].Reader)
	assert.True(t, st[0].Present())
	assert.Equal(t, v.st.ATR, st[0].ATR)

	for _, reader := range []string{"", cards.VirtualReaderName} {
		certs, err := v.m.Certificates(ctx, reader)
		require.NoError(t, err)
		require.Len(t, certs, 2)
		assert.Equal(t, v.sigID, certs[0].ID)
		assert.Equal(t, card.SlotAuthentication, certs[0].Slot)
		assert.Equal(t, []cards.Capability{cards.CapSign, cards.CapAuthenticate}, certs[0].Capabilities)
		assert.Equal(t, v.encID, certs[1].ID)
		assert.Equal(t, card.SlotKeyManagement, certs[1].Slot)
		assert.Equal(t, []cards.Capability{cards.CapDecrypt}, certs[1].Capabilities)
		for _, c := range certs {
			assert.Equal(t, cards.VirtualReaderName, c.Reader)
		}
	}
	assert.Equal(t, 3, v.pinTries(), "listing certificates used a PIN try")
}

// Options.VirtualReader offers the virtual card beside the PC/SC readers,
// whether or not a smart-card service runs on this computer.
func TestVirtualReaderOption(t *testing.T) {
	v := serve(t, issuedState(t, ""))
	m := cards.New(cards.Options{VirtualReader: v.addr})
	certs, err := m.Certificates(context.Background(), cards.VirtualReaderName)
	require.NoError(t, err)
	require.Len(t, certs, 2)
	assert.Equal(t, v.sigID, certs[0].ID)
}

// A raw signature from the card verifies with the certificate's key under
// each hash offered.
func TestVirtualSignDigest(t *testing.T) {
	v := serve(t, issuedState(t, ""))
	pub := v.cert(t, softcard.SlotAuthentication).PublicKey.(*rsa.PublicKey)
	for _, tc := range []struct {
		h    crypto.Hash
		name string
	}{{crypto.SHA256, "RS256"}, {crypto.SHA384, "RS384"}, {crypto.SHA512, "RS512"}} {
		t.Run(tc.name, func(t *testing.T) {
			hh := tc.h.New()
			hh.Write([]byte("公文 " + tc.name))
			digest := hh.Sum(nil)
			sig, err := v.m.SignDigest(context.Background(), v.sigID, digest, tc.h, []byte(pin))
			require.NoError(t, err)
			assert.Equal(t, tc.name, sig.Algorithm)
			assert.Equal(t, v.st.Cert(softcard.SlotAuthentication), sig.Certificate)
			require.NoError(t, rsa.VerifyPKCS1v15(pub, tc.h, digest, sig.Signature))
		})
	}
}

// A detached CMS signature from the card parses, verifies against the data
// and the TEST chain, and carries signingTime, the nonce and the card
// serial the certificate names.
func TestVirtualSignCMS(t *testing.T) {
	for _, tc := range []struct {
		kind string
		h    crypto.Hash
		name string
	}{
		{"", crypto.SHA256, "RS256"},
		{"", crypto.SHA512, "RS512"},
		{"p256", crypto.SHA256, "ECDSA-SHA-256"},
		{"9c", crypto.SHA384, "RS384"}, // PIN "always": one VERIFY right before the one signature
	} {
		t.Run(strings.TrimPrefix(tc.kind+"/"+tc.name, "/"), func(t *testing.T) {
			v := serve(t, issuedState(t, tc.kind))
			data := []byte("公文內容 " + tc.name)
			before := time.Now().Truncate(time.Second)
			sig, err := v.m.SignCMS(context.Background(), v.sigID, data, tc.h, cards.CMSOptions{Nonce: "nonce-1234", WithCardSerial: true}, []byte(pin))
			require.NoError(t, err)
			after := time.Now()
			assert.Equal(t, tc.name, sig.Algorithm)
			assert.Equal(t, testSerial, sig.CardSerial)
			assert.Equal(t, signCert(v.st), sig.Certificate)
			assert.Nil(t, sig.Signature)

			p7, err := pkcs7.Parse(sig.CMS)
			require.NoError(t, err)
			assert.Empty(t, p7.Content, "signature not detached")
			p7.Content = data
			require.NoError(t, p7.Verify())
			ca, err := testCA()
			require.NoError(t, err)
			roots, _ := caPools(t)
			roots.AddCert(ca.Issuing.Cert) // pkcs7 takes no intermediates pool
			require.NoError(t, p7.VerifyWithChain(roots))
			require.NotNil(t, p7.GetOnlySigner())
			assert.Equal(t, sig.Certificate, p7.GetOnlySigner().Raw)

			var signingTime time.Time
			require.NoError(t, p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &signingTime))
			require.NotNil(t, sig.SigningTime)
			assert.True(t, sig.SigningTime.Equal(signingTime))
			assert.False(t, signingTime.Before(before) || signingTime.After(after), "signingTime %v outside [%v, %v]", signingTime, before, after)
			var nonce []byte
			require.NoError(t, p7.UnmarshalSignedAttribute(cms.OIDRandomNonce, &nonce))
			assert.Equal(t, "nonce-1234", string(nonce))
			var serial string
			require.NoError(t, p7.UnmarshalSignedAttribute(cms.OIDCardSerial, &serial))
			assert.Equal(t, testSerial, serial)

			p7.Content = []byte("another document")
			assert.Error(t, p7.Verify(), "signature verifies over other data")
			assert.Equal(t, 3, v.pinTries())
		})
	}
}

// An ECDSA key makes no raw signatures (they are RSA PKCS#1 v1.5 only);
// the card is not asked and no PIN try is spent.
func TestVirtualSignDigestECDSA(t *testing.T) {
	v := serve(t, issuedState(t, "p256"))
	digest := sha256.Sum256([]byte("x"))
	_, err := v.m.SignDigest(context.Background(), v.sigID, digest[:], crypto.SHA256, []byte("000000"))
	require.ErrorIs(t, err, cards.ErrRawNeedsRSA)
	assert.Equal(t, 3, v.pinTries())
}

// A login token from the card verifies with the public authtoken package
// for the origin and challenge it was made for, and for no other.
func TestVirtualAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		alg     string
		wantAlg string
	}{{"", authtoken.PS256}, {"p256", authtoken.ES256}} {
		t.Run(tc.wantAlg, func(t *testing.T) {
			v := serve(t, issuedState(t, tc.alg))
			challenge := make([]byte, 32)
			_, err := rand.Read(challenge)
			require.NoError(t, err)
			ch := base64.StdEncoding.EncodeToString(challenge)

			tok, err := v.m.Authenticate(context.Background(), v.sigID, siteOrigin, ch, []byte(pin), "9.9.9")
			require.NoError(t, err)
			assert.Equal(t, authtoken.Format, tok.Format)
			assert.Equal(t, tc.wantAlg, tok.Algorithm)
			assert.Equal(t, "9.9.9", tok.AppVersion)

			// The token as the site receives it.
			body, err := json.Marshal(tok)
			require.NoError(t, err)
			parsed, err := authtoken.Parse(body)
			require.NoError(t, err)
			roots, intermediates := caPools(t)
			verifier := &authtoken.Verifier{Roots: roots, Intermediates: intermediates, Origin: siteOrigin}
			cert, err := verifier.Verify(parsed, ch)
			require.NoError(t, err)
			assert.Equal(t, v.st.Cert(softcard.SlotAuthentication), cert.Raw)

			phished := &authtoken.Verifier{Roots: roots, Intermediates: intermediates, Origin: "https://evil.example"}
			_, err = phished.Verify(parsed, ch)
			assert.ErrorIs(t, err, authtoken.ErrSignature)
			other := base64.StdEncoding.EncodeToString(make([]byte, 32))
			_, err = verifier.Verify(parsed, other)
			assert.ErrorIs(t, err, authtoken.ErrSignature)

			if tc.alg == "p256" {
				// The certificate's key type is what set the token's form.
				_, ok := cert.PublicKey.(*ecdsa.PublicKey)
				assert.True(t, ok)
			}
		})
	}
}

// cert2 decrypts what was encrypted to it, PKCS#1 v1.5 and OAEP; cert1 is
// refused before the PIN is sent.
func TestVirtualDecrypt(t *testing.T) {
	v := serve(t, issuedState(t, ""))
	ctx := context.Background()
	pub := v.cert(t, softcard.SlotKeyManagement).PublicKey.(*rsa.PublicKey)
	msg := []byte("session key 0123456789abcdef")

	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
	require.NoError(t, err)
	pt, err := v.m.Decrypt(ctx, v.encID, ct, nil, []byte(pin))
	require.NoError(t, err)
	assert.Equal(t, msg, pt)

	oaep, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, nil)
	require.NoError(t, err)
	pt, err = v.m.Decrypt(ctx, v.encID, oaep, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256}, []byte(pin))
	require.NoError(t, err)
	assert.Equal(t, msg, pt)

	_, err = v.m.Decrypt(ctx, v.sigID, ct, nil, []byte("000000"))
	var ue *cards.UsageError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, certinfo.UsageSignature, ue.Usage)
	assert.Equal(t, 3, v.pinTries(), "a refused decryption used a PIN try")
}

// A wrong PIN is the card's answer with the tries left; the host does not
// retry it, and the right PIN restores the tries.
func TestVirtualWrongPIN(t *testing.T) {
	v := serve(t, issuedState(t, ""))
	ctx := context.Background()
	digest := sha256.Sum256([]byte("x"))
	for want := 2; want >= 1; want-- {
		_, err := v.m.SignDigest(ctx, v.sigID, digest[:], crypto.SHA256, []byte("000000"))
		var ae *card.AuthError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, card.RefPIN, ae.Ref)
		assert.Equal(t, want, ae.TriesLeft)
		assert.False(t, ae.Blocked)
		assert.Equal(t, want, v.pinTries(), "the host retried the PIN")

		st, err := v.m.PINStatus(ctx, cards.Ref{CertificateID: v.sigID})
		require.NoError(t, err)
		assert.Equal(t, want, st.TriesLeft)
	}
	_, err := v.m.SignDigest(ctx, v.sigID, digest[:], crypto.SHA256, []byte(pin))
	require.NoError(t, err)
	assert.Equal(t, 3, v.pinTries())
}

// PIN status, change, blocking and unblocking with the PUK, through the
// Manager as the PIN commands use them.
func TestVirtualPINLifecycle(t *testing.T) {
	v := serve(t, issuedState(t, ""))
	ctx := context.Background()
	digest := sha256.Sum256([]byte("x"))
	sign := func(p string) error {
		_, err := v.m.SignDigest(ctx, v.sigID, digest[:], crypto.SHA256, []byte(p))
		return err
	}

	st, err := v.m.PINStatus(ctx, cards.Ref{})
	require.NoError(t, err)
	assert.Equal(t, cards.PINState{PINStatus: card.PINStatus{TriesLeft: 3}, Reader: cards.VirtualReaderName, Rule: card.Rule}, st)

	ch, err := v.m.ChangePIN(ctx, cards.Ref{Reader: cards.VirtualReaderName}, []byte(pin), []byte("abc123"))
	require.NoError(t, err)
	assert.Equal(t, cards.PINChange{Reader: cards.VirtualReaderName, TriesLeft: 3}, ch)
	var ae *card.AuthError
	require.ErrorAs(t, sign(pin), &ae, "the old PIN still signs")
	require.NoError(t, sign("abc123"))

	_, err = v.m.ChangePIN(ctx, cards.Ref{}, []byte("zzz999"), []byte("abc124"))
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 2, ae.TriesLeft)

	// Block it.
	for range 2 {
		_ = sign("000000")
	}
	st, err = v.m.PINStatus(ctx, cards.Ref{CertificateID: v.sigID})
	require.NoError(t, err)
	assert.True(t, st.Blocked)
	require.ErrorAs(t, sign("abc123"), &ae)
	assert.True(t, ae.Blocked)

	_, err = v.m.UnblockPIN(ctx, cards.Ref{}, []byte("87654321"), []byte("123457"))
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, card.RefPUK, ae.Ref)
	assert.Equal(t, 2, ae.TriesLeft)

	ch, err = v.m.UnblockPIN(ctx, cards.Ref{}, []byte(puk), []byte("123457"))
	require.NoError(t, err)
	assert.Equal(t, cards.PINChange{Reader: cards.VirtualReaderName, TriesLeft: 3}, ch)
	require.NoError(t, sign("123457"))

	// A malformed PIN is refused before the card is asked.
	require.ErrorIs(t, sign("12"), card.ErrPINFormat)
	assert.Equal(t, 3, v.pinTries())
}

// A new card arrives with its PIN blocked and is activated (開卡) with the
// PUK.
func TestVirtualActivate(t *testing.T) {
	st := issuedState(t, "")
	st.PINTries = 0
	v := serve(t, st)
	ctx := context.Background()
	s, err := v.m.PINStatus(ctx, cards.Ref{})
	require.NoError(t, err)
	assert.True(t, s.Blocked)
	ch, err := v.m.UnblockPIN(ctx, cards.Ref{}, []byte(puk), []byte(pin))
	require.NoError(t, err)
	assert.Equal(t, 3, ch.TriesLeft)
}

// A card pulled in the middle of an operation is reported as removed (not
// as a wrong PIN or an internal error); afterwards the reader is empty
// until the card is back.
func TestVirtualCardRemoved(t *testing.T) {
	const (
		insGeneralAuthenticate = 0x87
		insGetData             = 0xCB
	)
	digest := sha256.Sum256([]byte("x"))
	for _, tc := range []struct {
		name string
		ins  byte
		op   func(t *testing.T, v *virtualCard) error
	}{
		{"while signing", insGeneralAuthenticate, func(t *testing.T, v *virtualCard) error {
			_, err := v.m.SignDigest(context.Background(), v.sigID, digest[:], crypto.SHA256, []byte(pin))
			return err
		}},
		{"while reading certificates", insGetData, func(t *testing.T, v *virtualCard) error {
			_, err := v.m.Certificates(context.Background(), "")
			return err
		}},
		{"while decrypting", insGeneralAuthenticate, func(t *testing.T, v *virtualCard) error {
			ct, err := rsa.EncryptPKCS1v15(rand.Reader, v.cert(t, softcard.SlotKeyManagement).PublicKey.(*rsa.PublicKey), []byte("x"))
			if err != nil {
				return err
			}
			_, err = v.m.Decrypt(context.Background(), v.encID, ct, nil, []byte(pin))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := serve(t, issuedState(t, ""))
			ctx := context.Background()
			// Warm the cache, so the operation reaches the armed command.
			_, err := v.m.Certificates(ctx, "")
			require.NoError(t, err)

			v.srv.RemoveOn(tc.ins)
			err = tc.op(t, v)
			require.ErrorIs(t, err, pcsc.ErrCardRemoved)
			var ae *card.AuthError
			assert.False(t, errors.As(err, &ae))

			st, err := v.m.Readers(ctx)
			require.NoError(t, err)
			require.Len(t, st, 1)
			assert.False(t, st[0].Present(), "reader reports the removed card")
			_, err = v.m.Certificates(ctx, "")
			assert.ErrorIs(t, err, pcsc.ErrNoCard)
			_, err = v.m.SignDigest(ctx, v.sigID, digest[:], crypto.SHA256, []byte(pin))
			assert.ErrorIs(t, err, pcsc.ErrNoCard)

			v.srv.Insert()
			certs, err := v.m.Certificates(ctx, "")
			require.NoError(t, err)
			assert.Len(t, certs, 2)
		})
	}
}

// With nothing listening at the virtual reader's address the reader is
// there and empty: no card, not an error of the service.
func TestVirtualNothingListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	m := cards.New(cards.Options{Backends: []cards.Backend{cards.NewVirtual(addr)}})
	ctx := context.Background()
	st, err := m.Readers(ctx)
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Equal(t, cards.VirtualReaderName, st[0].Reader)
	assert.False(t, st[0].Present())
	_, err = m.Certificates(ctx, "")
	assert.ErrorIs(t, err, pcsc.ErrNoCard)
	_, err = m.PINStatus(ctx, cards.Ref{Reader: cards.VirtualReaderName})
	assert.ErrorIs(t, err, pcsc.ErrNoCard)

	// Open itself also says "no card".
	_, _, err = cards.NewVirtual(addr).Open(cards.VirtualReaderName, nil)
	assert.ErrorIs(t, err, pcsc.ErrNoCard)
}

// The virtual card serves one connection at a time. While an operation
// holds it, listing readers must report the card (not probe and time out)
// and a second operation must wait for the reader's lock instead of
// failing as "no card".
func TestVirtualBusyCard(t *testing.T) {
	v := serve(t, issuedState(t, ""))
	ctx := context.Background()
	_, err := v.m.Certificates(ctx, "")
	require.NoError(t, err)
	v.srv.DelayOn(0x87, 600*time.Millisecond) // per chained APDU: longer than the backend's probe timeout in all

	digest := sha256.Sum256([]byte("x"))
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := v.m.SignDigest(ctx, v.sigID, digest[:], crypto.SHA256, []byte(pin))
			errs <- err
		}()
	}
	// Wait until one of them holds the slow card (a fixed sleep made this
	// test flaky on a loaded machine).
	deadline := time.Now().Add(10 * time.Second)
	for !v.srv.Status().Connected {
		require.True(t, time.Now().Before(deadline), "no signature reached the card")
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // from the connection to the backend's count of it

	start := time.Now()
	st, err := v.m.Readers(ctx)
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.True(t, st[0].Present(), "the card in use is reported missing")
	assert.Equal(t, v.st.ATR, st[0].ATR)
	assert.Less(t, time.Since(start), 300*time.Millisecond, "Readers probed the busy card")

	for range 2 {
		assert.NoError(t, <-errs)
	}
}
