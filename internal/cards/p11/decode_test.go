package p11

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/testca"
)

// FuzzPairCertificates: whatever a token holds, pairing never panics and
// lists only parsable certificates with a unique CKA_ID that names a key.
func FuzzPairCertificates(f *testing.F) {
	now := time.Now()
	ca, err := testca.New(nil, now)
	if err != nil {
		f.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := ca.Issue(nil, key.Public(), testca.Org{Name: "測試幼兒園"}, testca.Signature, now, now.AddDate(1, 0, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{1}, cert.Raw, []byte{2}, []byte{1})
	f.Add([]byte{1}, cert.Raw, []byte{1}, []byte{1})
	f.Add([]byte{1}, []byte("not a certificate"), []byte{1}, []byte{1})
	f.Add([]byte{}, []byte{0x30, 0x82, 0xff, 0xff}, []byte{}, []byte{2})
	f.Add([]byte("dup"), []byte{0x30, 0x03, 0x02, 0x01, 0x01}, []byte("dup"), []byte("dup"))
	f.Fuzz(func(t *testing.T, id, value, id2, keyID []byte) {
		objs := []certObject{{ID: id, Value: value}, {ID: id2, Value: value}}
		out, notes := pairCertificates(objs, [][]byte{keyID})
		if len(out)+len(notes) != len(objs) {
			t.Fatalf("%d listed and %d notes for %d objects", len(out), len(notes), len(objs))
		}
		if len(out) > 1 {
			t.Fatalf("the same certificate listed twice")
		}
		for _, c := range out {
			if c.Cert == nil || c.ID == "" || string(c.ckaID) != string(keyID) || len(keyID) == 0 {
				t.Fatalf("bad pairing %+v", c)
			}
		}
	})
}
