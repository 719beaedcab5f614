package integration

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// open connects to the virtual card through pcscd.
func open(t *testing.T, cache *card.Cache) *card.PIV {
	t.Helper()
	x, err := pcsc.Establish()
	if err != nil {
		t.Fatalf("Establish() = %v", err)
	}
	t.Cleanup(func() { x.Close() })
	piv, conn, err := card.Open(x, readerName, cache)
	if err != nil {
		t.Fatalf("card.Open(%q) = %v", readerName, err)
	}
	t.Cleanup(func() { conn.Close() })
	return piv
}

func certByUsage(t *testing.T, piv *card.PIV, u certinfo.Usage) card.Certificate {
	t.Helper()
	certs, err := piv.Certificates()
	if err != nil {
		t.Fatalf("Certificates() = %v", err)
	}
	for _, c := range certs {
		if c.Usage == u {
			return c
		}
	}
	t.Fatalf("no %s certificate among %d", u, len(certs))
	return card.Certificate{}
}

func TestReadersListed(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	x, err := pcsc.Establish()
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	readers, err := x.Readers()
	if err != nil {
		t.Fatalf("Readers() = %v", err)
	}
	for _, want := range []string{"Virtual PCD 00 00", "Virtual PCD 00 01"} {
		if !slices.Contains(readers, want) {
			t.Errorf("Readers() = %q, want it to contain %q", readers, want)
		}
	}
	st, err := x.Status([]string{readerName})
	if err != nil || len(st) != 1 || !st[0].Present() {
		t.Fatalf("Status(%q) = %+v, %v, want a present card", readerName, st, err)
	}
	if !bytes.Contains(st[0].ATR, []byte{0xA0, 0x00, 0x00, 0x03, 0x08}) {
		t.Errorf("ATR = %X, want the PIV AID in its historical bytes", st[0].ATR)
	}
}

func TestInsertRemoveEvents(t *testing.T) {
	vc := insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	w, err := pcsc.NewWatcher()
	if err != nil {
		t.Fatalf("NewWatcher() = %v", err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next := func(want pcsc.EventKind) {
		t.Helper()
		for {
			evs, err := w.Next(ctx)
			if err != nil {
				t.Fatalf("Next() waiting for %s = %v", want, err)
			}
			for _, e := range evs {
				if e.State.Reader == readerName && e.Kind == want {
					return
				}
			}
		}
	}
	vc.srv.Remove()
	next(pcsc.CardRemoved)
	vc.srv.Insert()
	next(pcsc.CardInserted)

	// A cancelled context ends a wait at once, through SCardCancel.
	cctx, ccancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, ccancel)
	start := time.Now()
	if _, err := w.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next(cancelled) = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Next(cancelled) took %v, want a prompt return", d)
	}
}

func TestCertificatesAndCache(t *testing.T) {
	vc := insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	cache := card.NewCache()
	piv := open(t, cache)
	certs, err := piv.Certificates()
	if err != nil {
		t.Fatalf("Certificates() = %v", err)
	}
	var usages []certinfo.Usage
	for _, c := range certs {
		usages = append(usages, c.Usage)
		info := certinfo.Describe(c.Cert, time.Now())
		if info.CA != certinfo.CAXCA || !info.Test || info.UBN != "04595252" || info.OrgCode != "TEST0001" {
			t.Errorf("Describe(slot %s) = CA %s test %v UBN %q org %q, want XCA test 04595252 TEST0001", c.Slot, info.CA, info.Test, info.UBN, info.OrgCode)
		}
	}
	if want := []certinfo.Usage{certinfo.UsageSignature, certinfo.UsageEncryption}; !slices.Equal(usages, want) {
		t.Errorf("usages = %v, want %v", usages, want)
	}
	before := vc.card.APDUs()
	again, err := open(t, cache).Certificates()
	if err != nil || len(again) != len(certs) {
		t.Fatalf("Certificates() again = %d, %v", len(again), err)
	}
	if n := vc.card.APDUs() - before; n != 0 {
		t.Errorf("warm Certificates() sent %d APDUs, want 0", n)
	}
	// Re-inserting changes the reader's event counter: the cache must miss.
	vc.srv.Remove()
	waitPresent(t, false)
	vc.srv.Insert()
	waitPresent(t, true)
	before = vc.card.APDUs()
	if _, err := open(t, cache).Certificates(); err != nil {
		t.Fatalf("Certificates() after re-insert = %v", err)
	}
	if n := vc.card.APDUs() - before; n == 0 {
		t.Errorf("Certificates() after re-insert sent no APDU, want a fresh read")
	}
}

func TestPINLifecycle(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	piv := open(t, nil)
	st, err := piv.PINStatus()
	if err != nil || st.TriesLeft != 3 {
		t.Fatalf("PINStatus() = %+v, %v, want 3 tries", st, err)
	}
	for want := 2; want >= 0; want-- {
		err := piv.VerifyPIN([]byte("000000"))
		var ae *card.AuthError
		if !errors.As(err, &ae) || ae.TriesLeft != want || ae.Blocked != (want == 0) {
			t.Fatalf("VerifyPIN(wrong) = %v, want AuthError with %d tries left", err, want)
		}
	}
	if err := piv.VerifyPIN([]byte(softcard.DefaultPIN)); !errors.Is(err, apdu.ErrAuthBlocked) {
		t.Fatalf("VerifyPIN(right) on a blocked card = %v, want authentication blocked", err)
	}
	if st, _ := piv.PINStatus(); !st.Blocked {
		t.Fatalf("PINStatus() = %+v, want blocked", st)
	}
	var ae *card.AuthError
	if err := piv.UnblockPIN([]byte("87654321"), []byte("246810")); !errors.As(err, &ae) || ae.Ref != card.RefPUK || ae.TriesLeft != 2 {
		t.Fatalf("UnblockPIN(wrong PUK) = %v, want PUK AuthError with 2 tries left", err)
	}
	if err := piv.UnblockPIN([]byte(softcard.DefaultPUK), []byte("246810")); err != nil {
		t.Fatalf("UnblockPIN() = %v", err)
	}
	if err := piv.ChangePIN([]byte("246810"), []byte("13579abc")); err != nil {
		t.Fatalf("ChangePIN() = %v", err)
	}
	if err := piv.VerifyPIN([]byte("13579abc")); err != nil {
		t.Fatalf("VerifyPIN(new) = %v", err)
	}
	if err := piv.ChangePIN([]byte("13579abc"), []byte("12345")); !errors.Is(err, card.ErrPINFormat) {
		t.Errorf("ChangePIN(to 5 characters) = %v, want ErrPINFormat", err)
	}
}

func TestNotActivatedCard(t *testing.T) {
	insert(t, issued(t, "new", softcard.IssueOptions{NotActivated: true}))
	piv := open(t, nil)
	if st, err := piv.PINStatus(); err != nil || !st.Blocked {
		t.Fatalf("PINStatus() of a new card = %+v, %v, want blocked", st, err)
	}
	if err := piv.UnblockPIN([]byte(softcard.DefaultPUK), []byte("112233")); err != nil {
		t.Fatalf("activate with PUK = %v", err)
	}
	if err := piv.VerifyPIN([]byte("112233")); err != nil {
		t.Fatalf("VerifyPIN after activation = %v", err)
	}
}

func TestSignRSAAndECC(t *testing.T) {
	msg := []byte("公文 test document")
	digest := sha256.Sum256(msg)
	for _, tc := range []struct {
		name string
		o    softcard.IssueOptions
		opts crypto.SignerOpts
	}{
		{"rsa-pkcs1", softcard.IssueOptions{}, crypto.SHA256},
		{"rsa-pss", softcard.IssueOptions{}, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"ecc-9c", softcard.IssueOptions{SignAlg: "p256", SignSlot: softcard.SlotSignature}, crypto.SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "rsa"
			if tc.o.SignAlg != "" {
				name = "p256-9c"
			}
			insert(t, issued(t, name, tc.o))
			piv := open(t, nil)
			c := certByUsage(t, piv, certinfo.UsageSignature)
			sig, err := piv.Sign(c.ID, digest[:], tc.opts, []byte(softcard.DefaultPIN))
			if err != nil {
				t.Fatalf("Sign() = %v", err)
			}
			switch pub := c.Cert.PublicKey.(type) {
			case *rsa.PublicKey:
				if pss, ok := tc.opts.(*rsa.PSSOptions); ok {
					err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, pss)
				} else {
					err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
				}
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, digest[:], sig) {
					err = errors.New("ECDSA signature does not verify")
				}
			}
			if err != nil {
				t.Errorf("verify with the certificate's key: %v", err)
			}
			// The standard library's own verification of the whole cert
			// path: x509 signature over the message.
			if err := c.Cert.CheckSignature(sigAlg(c.Cert, tc.opts), msg, sig); err != nil {
				t.Errorf("Certificate.CheckSignature() = %v", err)
			}
		})
	}
}

func TestDecryptToCert2(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	piv := open(t, nil)
	c := certByUsage(t, piv, certinfo.UsageEncryption)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	secret := []byte("session key 0123456789abcdef")
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, secret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := piv.Decrypt(c.ID, ct, nil, []byte(softcard.DefaultPIN))
	if err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Decrypt(PKCS#1 v1.5) = %q, %v, want %q", got, err, secret)
	}
	oaep := &rsa.OAEPOptions{Hash: crypto.SHA256}
	ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err = piv.Decrypt(c.ID, ct, oaep, []byte(softcard.DefaultPIN))
	if err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Decrypt(OAEP) = %q, %v, want %q", got, err, secret)
	}
}

func TestCardPulledMidSignature(t *testing.T) {
	vc := insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	piv := open(t, nil)
	c := certByUsage(t, piv, certinfo.UsageSignature)
	vc.srv.RemoveOn(0x87) // GENERAL AUTHENTICATE: after VERIFY, before the signature
	digest := sha256.Sum256([]byte("x"))
	done := make(chan error, 1)
	go func() {
		_, err := piv.Sign(c.ID, digest[:], crypto.SHA256, []byte(softcard.DefaultPIN))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, pcsc.ErrCardRemoved) && !errors.Is(err, pcsc.ErrReaderUnavailable) {
			t.Errorf("Sign() with the card pulled = %v, want card removed", err)
		}
		var pe *pcsc.Error
		if !errors.As(err, &pe) {
			t.Errorf("Sign() error %v is not a *pcsc.Error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Sign() hung after the card was pulled")
	}
}

func TestServiceStopped(t *testing.T) {
	needPCSC(t)
	if pcscdCmd == nil {
		t.Skip("pcscd was already running; not stopping a daemon this test did not start")
	}
	stopPCSCD()
	defer func() {
		if err := startPCSCD(); err != nil {
			t.Fatalf("restart pcscd: %v", err)
		}
	}()
	if _, err := pcsc.Establish(); !errors.Is(err, pcsc.ErrNoService) {
		t.Errorf("Establish() without pcscd = %v, want ErrNoService", err)
	}
	out, _, code := cli(t, "", "check", "--json")
	if code != 1 || !bytes.Contains([]byte(out), []byte(`"id": "service"`)) || !bytes.Contains([]byte(out), []byte(`"result": "fail"`)) {
		t.Errorf("cardbridge check without pcscd = exit %d\n%s\nwant exit 1 with a failed service item", code, out)
	}
	_, stderr, code := cli(t, "", "readers")
	if code != 1 || !bytes.Contains([]byte(stderr), []byte("智慧卡服務沒有執行")) || !bytes.Contains([]byte(stderr), []byte("smart card service is not running")) {
		t.Errorf("cardbridge readers without pcscd = exit %d, stderr %q, want the service message in both languages", code, stderr)
	}
}

// sigAlg names the x509 algorithm matching a certificate key and options.
func sigAlg(c *x509.Certificate, opts crypto.SignerOpts) x509.SignatureAlgorithm {
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); ok {
		return x509.ECDSAWithSHA256
	}
	if _, ok := opts.(*rsa.PSSOptions); ok {
		return x509.SHA256WithRSAPSS
	}
	return x509.SHA256WithRSA
}
