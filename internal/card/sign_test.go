package card

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

// digestOf hashes msg with h.
func digestOf(h crypto.Hash, msg string) []byte {
	d := h.New()
	d.Write([]byte(msg))
	return d.Sum(nil)
}

func TestSignRSA(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	c := certBySlot(t, p, SlotAuthentication)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	tests := []struct {
		name string
		opts crypto.SignerOpts
	}{
		{"PKCS1v15 SHA-1", crypto.SHA1},
		{"PKCS1v15 SHA-256", crypto.SHA256},
		{"PKCS1v15 SHA-384", crypto.SHA384},
		{"PKCS1v15 SHA-512", crypto.SHA512},
		{"PSS SHA-256 salt=hash", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"PSS SHA-384 salt=hash", &rsa.PSSOptions{Hash: crypto.SHA384, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"PSS SHA-512 salt=hash", &rsa.PSSOptions{Hash: crypto.SHA512, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"PSS SHA-256 salt=auto", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}},
		{"PSS SHA-512 salt=auto", &rsa.PSSOptions{Hash: crypto.SHA512, SaltLength: rsa.PSSSaltLengthAuto}},
		{"PSS SHA-256 salt=20", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			digest := digestOf(tc.opts.HashFunc(), "CardBridge "+tc.name)
			sig, err := p.Sign(c.ID, digest, tc.opts, goodPIN)
			if err != nil {
				t.Fatalf("Sign() error: %v", err)
			}
			if len(sig) != pub.Size() {
				t.Errorf("signature of %d bytes, want %d", len(sig), pub.Size())
			}
			if pss, ok := tc.opts.(*rsa.PSSOptions); ok {
				if err := rsa.VerifyPSS(pub, pss.Hash, digest, sig, &rsa.PSSOptions{SaltLength: pss.SaltLength}); err != nil {
					t.Errorf("rsa.VerifyPSS: %v", err)
				}
				return
			}
			if err := rsa.VerifyPKCS1v15(pub, tc.opts.HashFunc(), digest, sig); err != nil {
				t.Errorf("rsa.VerifyPKCS1v15: %v", err)
			}
		})
	}
	t.Run("PKCS1v15 prepared DigestInfo", func(t *testing.T) {
		digest := digestOf(crypto.SHA256, "prepared")
		info := append(bytes.Clone(digestInfoPrefix[crypto.SHA256]), digest...)
		sig, err := p.Sign(c.ID, info, crypto.Hash(0), goodPIN)
		if err != nil {
			t.Fatalf("Sign() error: %v", err)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig); err != nil {
			t.Errorf("rsa.VerifyPKCS1v15: %v", err)
		}
	})
	t.Run("PSS salt length is what was asked", func(t *testing.T) {
		digest := digestOf(crypto.SHA256, "salt")
		sig, err := p.Sign(c.ID, digest, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}, goodPIN)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
			t.Errorf("rsa.VerifyPSS with salt 32: %v", err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: 20}); err == nil {
			t.Errorf("rsa.VerifyPSS with salt 20 accepted a salt-32 signature")
		}
	})
}

func TestSignECDSA(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{SignAlg: "p256"})
	c := certBySlot(t, p, SlotAuthentication)
	pub := c.Cert.PublicKey.(*ecdsa.PublicKey)
	for _, hash := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512, crypto.SHA1} {
		t.Run(hash.String(), func(t *testing.T) {
			digest := digestOf(hash, "CardBridge ECDSA")
			sig, err := p.Sign(c.ID, digest, hash, goodPIN)
			if err != nil {
				t.Fatalf("Sign() error: %v", err)
			}
			if !ecdsa.VerifyASN1(pub, digest, sig) {
				t.Errorf("ecdsa.VerifyASN1 failed for % X", sig)
			}
		})
	}
	t.Run("PSS", func(t *testing.T) {
		_, err := p.Sign(c.ID, digestOf(crypto.SHA256, "x"), &rsa.PSSOptions{Hash: crypto.SHA256}, goodPIN)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("Sign(ECDSA key, PSS) = %v, want ErrUnsupported", err)
		}
	})
	t.Run("decrypt", func(t *testing.T) {
		_, err := p.Decrypt(c.ID, make([]byte, 256), nil, goodPIN)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("Decrypt(ECDSA key) = %v, want ErrUnsupported", err)
		}
	})
}

func TestSignSlot9C(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{SignSlot: 0x9C})
	c := certBySlot(t, p, SlotSignature)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	rec := recorderOf(t, p)
	for i := range 2 { // the PIN is verified again for each signature
		rec.take()
		digest := digestOf(crypto.SHA256, "9C")
		sig, err := p.Sign(c.ID, digest, crypto.SHA256, goodPIN)
		if err != nil {
			t.Fatalf("Sign() %d error: %v", i, err)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig); err != nil {
			t.Errorf("rsa.VerifyPKCS1v15: %v", err)
		}
		// SELECT, VERIFY, GENERAL AUTHENTICATE (chained), GET RESPONSE,
		// VERIFY P1=FF (PIN status reset).
		if got, want := insList(rec.take()), "A4 20 87 87 C0 20"; got != want {
			t.Errorf("Sign() sent %s, want %s", got, want)
		}
	}
}

func TestSignErrors(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	c := certBySlot(t, p, SlotAuthentication)
	rec := recorderOf(t, p)
	tests := []struct {
		name   string
		id     string
		digest []byte
		opts   crypto.SignerOpts
		want   error
	}{
		{"short SHA-256 digest", c.ID, make([]byte, 31), crypto.SHA256, ErrUnsupported},
		{"long SHA-256 digest", c.ID, make([]byte, 33), crypto.SHA256, ErrUnsupported},
		{"SHA-384 length for SHA-256", c.ID, make([]byte, 48), crypto.SHA256, ErrUnsupported},
		{"PSS digest length", c.ID, make([]byte, 20), &rsa.PSSOptions{Hash: crypto.SHA256}, ErrUnsupported},
		{"PSS without hash", c.ID, make([]byte, 32), &rsa.PSSOptions{}, ErrUnsupported},
		{"SHA-224 has no DigestInfo here", c.ID, make([]byte, 28), crypto.SHA224, ErrUnsupported},
		{"raw input too long", c.ID, make([]byte, 250), crypto.Hash(0), ErrUnsupported},
		{"unknown certificate", CertID([]byte("nothing")), make([]byte, 32), crypto.SHA256, ErrUnknownCertificate},
		{"empty id", "", make([]byte, 32), crypto.SHA256, ErrUnknownCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec.take()
			_, err := p.Sign(tc.id, tc.digest, tc.opts, goodPIN)
			if !errors.Is(err, tc.want) {
				t.Errorf("Sign(%.8s…, %d bytes, %T) = %v, want %v", tc.id, len(tc.digest), tc.opts, err, tc.want)
			}
			if cmds := rec.take(); len(cmds) != 0 {
				t.Errorf("Sign() sent %s, want nothing (certificates cached, input refused)", insList(cmds))
			}
		})
	}
	t.Run("wrong PIN", func(t *testing.T) {
		_, err := p.Sign(c.ID, make([]byte, 32), crypto.SHA256, badPIN)
		wantAuthError(t, "Sign(wrong PIN)", err, RefPIN, 2, false)
	})
}

func TestDecrypt(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	c := certBySlot(t, p, SlotKeyManagement)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	msg := []byte("CardBridge session key 0123456789")
	maxPKCS1 := bytes.Repeat([]byte{0x5A}, pub.Size()-11)
	tests := []struct {
		name    string
		msg     []byte
		encrypt func(msg []byte) ([]byte, error)
		opts    crypto.DecrypterOpts
	}{
		{"PKCS1v15 nil opts", msg, func(m []byte) ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, pub, m) }, nil},
		{"PKCS1v15 opts", msg, func(m []byte) ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, pub, m) }, &rsa.PKCS1v15DecryptOptions{}},
		{"PKCS1v15 empty", nil, func(m []byte) ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, pub, m) }, nil},
		{"PKCS1v15 longest", maxPKCS1, func(m []byte) ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, pub, m) }, nil},
		{"OAEP SHA-256", msg, func(m []byte) ([]byte, error) {
			return rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, pub, m, nil)
		}, &rsa.OAEPOptions{Hash: crypto.SHA256}},
		{"OAEP SHA-256 label", msg, func(m []byte) ([]byte, error) {
			return rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, pub, m, []byte("label"))
		}, &rsa.OAEPOptions{Hash: crypto.SHA256, Label: []byte("label")}},
		{"OAEP SHA-256 empty", nil, func(m []byte) ([]byte, error) {
			return rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, pub, m, nil)
		}, &rsa.OAEPOptions{Hash: crypto.SHA256}},
		{"OAEP SHA-256 longest", bytes.Repeat([]byte{1}, pub.Size()-2*32-2), func(m []byte) ([]byte, error) {
			return rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, pub, m, nil)
		}, &rsa.OAEPOptions{Hash: crypto.SHA256}},
		{"OAEP SHA-1", msg, func(m []byte) ([]byte, error) {
			return rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, m, nil)
		}, &rsa.OAEPOptions{Hash: crypto.SHA1}},
		{"OAEP SHA-256 MGF1-SHA-1", msg, func(m []byte) ([]byte, error) {
			return rsa.EncryptOAEPWithOptions(rand.Reader, pub, m, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1})
		}, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := tc.encrypt(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Decrypt(c.ID, ct, tc.opts, goodPIN)
			if err != nil {
				t.Fatalf("Decrypt() error: %v", err)
			}
			if !bytes.Equal(got, tc.msg) {
				t.Errorf("Decrypt() = %q, want %q", got, tc.msg)
			}
		})
	}
}

func TestDecryptErrors(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	c := certBySlot(t, p, SlotKeyManagement)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	msg := []byte("secret")
	pkcs1, err := rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
	if err != nil {
		t.Fatal(err)
	}
	oaep, err := rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, pub, msg, []byte("label"))
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(b []byte) []byte {
		b = bytes.Clone(b)
		b[len(b)-1] ^= 0x01
		return b
	}
	oaepOpts := &rsa.OAEPOptions{Hash: crypto.SHA256, Label: []byte("label")}
	tests := []struct {
		name string
		ct   []byte
		opts crypto.DecrypterOpts
		want error
	}{
		{"PKCS1v15 tampered", tamper(pkcs1), nil, ErrDecrypt},
		{"OAEP tampered", tamper(oaep), oaepOpts, ErrDecrypt},
		{"OAEP wrong label", oaep, &rsa.OAEPOptions{Hash: crypto.SHA256, Label: []byte("other")}, ErrDecrypt},
		{"OAEP no label", oaep, &rsa.OAEPOptions{Hash: crypto.SHA256}, ErrDecrypt},
		{"OAEP wrong hash", oaep, &rsa.OAEPOptions{Hash: crypto.SHA1, Label: []byte("label")}, ErrDecrypt},
		{"OAEP ciphertext as PKCS1v15", oaep, nil, ErrDecrypt},
		{"PKCS1v15 ciphertext as OAEP", pkcs1, oaepOpts, ErrDecrypt},
		{"zero ciphertext", make([]byte, 256), nil, ErrDecrypt},
		{"short ciphertext", pkcs1[1:], nil, ErrDecrypt},
		{"long ciphertext", append(bytes.Clone(pkcs1), 0), nil, ErrDecrypt},
		{"OAEP unavailable hash", oaep, &rsa.OAEPOptions{Hash: crypto.Hash(99)}, ErrUnsupported},
		{"unknown certificate", pkcs1, nil, ErrUnknownCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := c.ID
			if tc.want == ErrUnknownCertificate {
				id = CertID(nil)
			}
			got, err := p.Decrypt(id, tc.ct, tc.opts, goodPIN)
			if !errors.Is(err, tc.want) || got != nil {
				t.Errorf("Decrypt() = %q, %v, want nil, %v", got, err, tc.want)
			}
		})
	}
	t.Run("wrong PIN", func(t *testing.T) {
		_, err := p.Decrypt(c.ID, pkcs1, nil, badPIN)
		wantAuthError(t, "Decrypt(wrong PIN)", err, RefPIN, 2, false)
	})
}

// A ciphertext at or over the modulus does not decrypt; crypto/rsa calls
// that ErrDecryption, and ErrDecrypt is documented as "a ciphertext that
// does not decrypt under the key".
func TestDecryptCiphertextOverModulus(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	c := certBySlot(t, p, SlotKeyManagement)
	_, err := p.Decrypt(c.ID, bytes.Repeat([]byte{0xFF}, 256), nil, goodPIN)
	if !errors.Is(err, ErrDecrypt) {
		t.Errorf("Decrypt(FF…FF) = %v, want ErrDecrypt", err)
	}
}

// rsa.PKCS1v15DecryptOptions.SessionKeyLen: "If not zero, then a padding
// error during decryption will cause a random plaintext of this length to
// be returned rather than an error" (the Bleichenbacher countermeasure
// crypto/tls relies on through crypto.Decrypter).
func TestDecryptSessionKeyLen(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	c := certBySlot(t, p, SlotKeyManagement)
	pub := c.Cert.PublicKey.(*rsa.PublicKey)
	key := bytes.Repeat([]byte{0x42}, 16)
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	opts := &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 16}
	t.Run("valid", func(t *testing.T) {
		got, err := p.Decrypt(c.ID, ct, opts, goodPIN)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("Decrypt(SessionKeyLen 16) = % X, %v, want % X, nil", got, err, key)
		}
	})
	t.Run("bad padding", func(t *testing.T) {
		bad := bytes.Clone(ct)
		bad[len(bad)-1] ^= 1
		got, err := p.Decrypt(c.ID, bad, opts, goodPIN)
		if err != nil || len(got) != 16 {
			t.Errorf("Decrypt(bad padding, SessionKeyLen 16) = % X, %v, want 16 random bytes, nil", got, err)
		}
	})
}

func TestKeySigner(t *testing.T) {
	tests := []struct {
		name string
		opts cardOpts
		slot Slot
		alg  x509.SignatureAlgorithm
	}{
		{"RSA PKCS1v15", cardOpts{}, SlotAuthentication, x509.SHA256WithRSA},
		{"RSA PKCS1v15 SHA-512", cardOpts{}, SlotAuthentication, x509.SHA512WithRSA},
		{"RSA PSS", cardOpts{}, SlotAuthentication, x509.SHA256WithRSAPSS},
		{"RSA 9C", cardOpts{SignSlot: 0x9C}, SlotSignature, x509.SHA256WithRSA},
		{"ECDSA", cardOpts{SignAlg: "p256"}, SlotAuthentication, x509.ECDSAWithSHA256},
		{"ECDSA SHA-384", cardOpts{SignAlg: "p256"}, SlotAuthentication, x509.ECDSAWithSHA384},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, p, _ := newTestCard(t, tc.opts)
			c := certBySlot(t, p, tc.slot)
			prompts := 0
			key := NewKey(p, c, func() ([]byte, error) { prompts++; return bytes.Clone(goodPIN), nil })
			var signer crypto.Signer = key
			if !c.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(signer.Public()) {
				t.Fatalf("Public() is not the certificate's key")
			}
			now := time.Now()
			tmpl := &x509.Certificate{
				SerialNumber:          big.NewInt(1),
				Subject:               pkix.Name{CommonName: "CardBridge TEST self-signed " + tc.name},
				NotBefore:             now.Add(-time.Hour),
				NotAfter:              now.Add(time.Hour),
				KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
				BasicConstraintsValid: true,
				IsCA:                  true,
				SignatureAlgorithm:    tc.alg,
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
			if err != nil {
				t.Fatalf("x509.CreateCertificate: %v", err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := cert.CheckSignatureFrom(cert); err != nil {
				t.Errorf("CheckSignatureFrom(self): %v", err)
			}
			csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
				Subject: pkix.Name{CommonName: "CardBridge TEST"}, SignatureAlgorithm: tc.alg,
			}, signer)
			if err != nil {
				t.Fatalf("x509.CreateCertificateRequest: %v", err)
			}
			csr, err := x509.ParseCertificateRequest(csrDER)
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil {
				t.Errorf("CSR CheckSignature: %v", err)
			}
			if prompts != 2 {
				t.Errorf("PIN prompted %d times for 2 signatures, want 2", prompts)
			}
		})
	}
}

func TestKeyDecrypter(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	c := certBySlot(t, p, SlotKeyManagement)
	var dec crypto.Decrypter = NewKey(p, c, func() ([]byte, error) { return bytes.Clone(goodPIN), nil })
	pub := dec.Public().(*rsa.PublicKey)
	msg := []byte("for the card")
	for _, tc := range []struct {
		name    string
		encrypt func() ([]byte, error)
		opts    crypto.DecrypterOpts
	}{
		{"PKCS1v15", func() ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, pub, msg) }, nil},
		{"OAEP", func() ([]byte, error) { return rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, pub, msg, nil) }, &rsa.OAEPOptions{Hash: crypto.SHA256}},
		{"OAEP label", func() ([]byte, error) {
			return rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, pub, msg, []byte("l"))
		}, &rsa.OAEPOptions{Hash: crypto.SHA256, Label: []byte("l")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := tc.encrypt()
			if err != nil {
				t.Fatal(err)
			}
			got, err := dec.Decrypt(rand.Reader, ct, tc.opts)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("Decrypt() = %q, %v, want %q, nil", got, err, msg)
			}
		})
	}
}

func TestKeyPrompt(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	c1 := certBySlot(t, p, SlotAuthentication)
	c2 := certBySlot(t, p, SlotKeyManagement)
	rec := recorderOf(t, p)
	errCanceled := errors.New("user canceled the PIN dialog")
	cancel := func() ([]byte, error) { return nil, errCanceled }

	t.Run("error is returned, nothing sent", func(t *testing.T) {
		rec.take()
		if _, err := NewKey(p, c1, cancel).Sign(rand.Reader, digestOf(crypto.SHA256, "x"), crypto.SHA256); !errors.Is(err, errCanceled) {
			t.Errorf("Sign() = %v, want the prompt's error", err)
		}
		if _, err := NewKey(p, c2, cancel).Decrypt(rand.Reader, make([]byte, 256), nil); !errors.Is(err, errCanceled) {
			t.Errorf("Decrypt() = %v, want the prompt's error", err)
		}
		if cmds := rec.take(); len(cmds) != 0 {
			t.Errorf("a canceled prompt sent %s, want nothing", insList(cmds))
		}
	})
	t.Run("PIN cleared after use", func(t *testing.T) {
		var given []byte
		k := NewKey(p, c1, func() ([]byte, error) { given = bytes.Clone(goodPIN); return given, nil })
		if _, err := k.Sign(rand.Reader, digestOf(crypto.SHA256, "x"), crypto.SHA256); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(given, make([]byte, len(given))) {
			t.Errorf("PIN slice after Sign = %q, want cleared", given)
		}
		k = NewKey(p, c1, func() ([]byte, error) { given = []byte("000000"); return given, nil })
		if _, err := k.Sign(rand.Reader, digestOf(crypto.SHA256, "x"), crypto.SHA256); err == nil {
			t.Fatal("Sign with a wrong PIN succeeded")
		}
		if !bytes.Equal(given, make([]byte, len(given))) {
			t.Errorf("PIN slice after a failed Sign = %q, want cleared", given)
		}
	})
	t.Run("wrong PIN is an AuthError", func(t *testing.T) {
		k := NewKey(p, c1, func() ([]byte, error) { return []byte("000000"), nil })
		_, err := k.Sign(rand.Reader, digestOf(crypto.SHA256, "x"), crypto.SHA256)
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Ref != RefPIN || !errors.Is(err, apdu.ErrWrongPIN) {
			t.Errorf("Sign() with a wrong PIN = %v, want *AuthError wrapping 63Cx", err)
		}
	})
}
