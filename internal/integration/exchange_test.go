package integration

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/card"
	cbcards "github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// cardDecrypter is the card's cert2 key as the crypto.Decrypter the
// exchange opens envelopes with (the agent's use of cards.Manager).
type cardDecrypter struct {
	m   *cbcards.Manager
	id  string
	pub crypto.PublicKey
	pin []byte
}

func (d cardDecrypter) Public() crypto.PublicKey { return d.pub }

func (d cardDecrypter) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return d.m.Decrypt(ctx, d.id, msg, opts, d.pin)
}

// A package sealed to the virtual card's encryption certificate opens with
// the card through pcscd (RSA-OAEP-SHA-256 over the card's raw RSA), and a
// wrong PIN is the card's own error, one try used, never retried.
func TestExchangeParcelOpenedWithTheCard(t *testing.T) {
	st := issued(t, "exchange", softcard.IssueOptions{})
	vc := insert(t, st)
	encDER := st.Cert(softcard.SlotKeyManagement)
	enc, err := x509.ParseCertificate(encDER)
	if err != nil {
		t.Fatal(err)
	}
	// The sender: a software TEST agency of the same TEST CA.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sign, err := ca.Issue(rand.Reader, key.Public(), testca.Org{Name: "測試市教育局", UBN: "10458570"}, testca.Signature, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	letter, err := os.ReadFile("../exchange/di/testdata/letter-104.di")
	if err != nil {
		t.Fatal(err)
	}
	inner, err := parcel.Build(parcel.Draft{ID: "it-1", Sender: "XC10458570", Recipients: []string{"XC04595252"}, Subject: "研習計畫", Created: time.Now(),
		Files: []parcel.File{{Name: "a.di", Role: parcel.RoleDI, Data: letter}}}, parcel.Signer{Cert: sign, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	env, err := parcel.Seal(inner, []*x509.Certificate{enc})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root.Cert)
	inter := x509.NewCertPool()
	inter.AddCert(ca.Issuing.Cert)
	trust := parcel.Trust{Roots: roots, Intermediates: inter, Now: time.Now()}
	m := cbcards.New(cbcards.Options{})
	id := card.CertID(encDER)

	_, err = parcel.Open(env, enc, cardDecrypter{m: m, id: id, pub: enc.PublicKey, pin: []byte("654321")}, trust)
	var ae *card.AuthError
	if !errors.As(err, &ae) || ae.TriesLeft != 2 {
		t.Fatalf("wrong PIN: %v, want the card's AuthError with 2 tries left", err)
	}
	o, err := parcel.Open(env, enc, cardDecrypter{m: m, id: id, pub: enc.PublicKey, pin: []byte(softcard.DefaultPIN)}, trust)
	if err != nil {
		t.Fatalf("open with the card: %v", err)
	}
	if !bytes.Equal(o.Files[0].Data, letter) || o.Manifest.Sender != "XC10458570" {
		t.Errorf("opened %+v", o.Manifest)
	}
	if pin, _ := vc.card.Tries(); pin != softcard.MaxTries {
		t.Errorf("PIN tries = %d after a good PIN, want %d", pin, softcard.MaxTries)
	}
}
