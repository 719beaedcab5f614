package cards

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"
)

func TestRawECDSA(t *testing.T) {
	der := func(r, s *big.Int) []byte {
		b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one := big.NewInt(1)
	short := big.NewInt(0x1234) // must be left-padded to 32 bytes
	high := new(big.Int).Lsh(one, 255)
	tooBig := new(big.Int).Lsh(one, 256)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"short r and s", der(short, short), true},
		{"high bit", der(high, one), true},
		{"r too large", der(tooBig, one), false},
		{"zero", der(big.NewInt(0), one), false},
		{"negative", der(big.NewInt(-5), one), false},
		{"trailing bytes", append(der(one, one), 0), false},
		{"not DER", []byte{0x30, 0x03, 0x02}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := rawECDSA(tc.in, 32)
			if (err == nil) != tc.ok {
				t.Fatalf("rawECDSA = %x, %v; want ok=%v", out, err, tc.ok)
			}
			if tc.ok && len(out) != 64 {
				t.Errorf("len = %d, want 64", len(out))
			}
		})
	}
	out, _ := rawECDSA(der(short, high), 32)
	if !bytes.Equal(out[30:32], []byte{0x12, 0x34}) || out[32] != 0x80 || !bytes.Equal(out[:30], make([]byte, 30)) {
		t.Errorf("rawECDSA layout = %x", out)
	}
	// Round trip with a real signature.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("x"))
	sig, _ := ecdsa.SignASN1(rand.Reader, k, d[:])
	out, err := rawECDSA(sig, 32)
	if err != nil || !ecdsa.Verify(&k.PublicKey, d[:], new(big.Int).SetBytes(out[:32]), new(big.Int).SetBytes(out[32:])) {
		t.Errorf("rawECDSA of a real signature does not verify: %v", err)
	}
}

func TestAlgorithmName(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		pub  crypto.PublicKey
		h    crypto.Hash
		want string
	}{
		{&rk.PublicKey, crypto.SHA256, "RS256"},
		{&rk.PublicKey, crypto.SHA512, "RS512"},
		{&ek.PublicKey, crypto.SHA256, "ECDSA-SHA-256"},
		{&ek.PublicKey, crypto.SHA384, "ECDSA-SHA-384"},
	} {
		if got, err := algorithmName(tc.pub, tc.h); err != nil || got != tc.want {
			t.Errorf("algorithmName(%T, %v) = %q, %v; want %q", tc.pub, tc.h, got, err, tc.want)
		}
	}
	if _, err := algorithmName(struct{}{}, crypto.SHA256); err == nil {
		t.Error("algorithmName(unknown key) succeeded")
	}
}

// A request waiting for a reader another request holds gives up when its
// context ends, and the reader is free again once released.
func TestManagerLock(t *testing.T) {
	c := New(Options{Backends: []Backend{}})
	unlock, err := c.lock(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.lock(ctx, "r"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("lock of a held reader = %v, want a deadline", err)
	}
	if u2, err := c.lock(context.Background(), "other"); err != nil {
		t.Errorf("another reader is not blocked: %v", err)
	} else {
		u2()
	}
	unlock()
	if u3, err := c.lock(context.Background(), "r"); err != nil {
		t.Errorf("lock after release: %v", err)
	} else {
		u3()
	}
}
