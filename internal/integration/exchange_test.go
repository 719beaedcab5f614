package integration

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"

	_ "modernc.org/sqlite"

	"github.com/cardbridge/cardbridge/internal/card"
	cbcards "github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/exchange/di"
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

// exchangeCentre runs a centre in-process over SQLite with the agencies of
// the given cards' encryption certificates; it returns its origin and the
// roots file agents trust.
func exchangeCentre(t *testing.T, agencies map[string]*softcard.State) (string, string) {
	t.Helper()
	dir := map[string][]byte{}
	for code, s := range agencies {
		dir[code] = s.Cert(softcard.SlotKeyManagement)
	}
	c := exchangetest.StartCentre(t, ca, dir)
	rootsFile := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(rootsFile, exchangetest.RootsPEM(ca), 0o644); err != nil {
		t.Fatal(err)
	}
	return c.URL, rootsFile
}

// Two agencies, each with its virtual card in its own reader, exchange a
// 函 with an attachment through the centre with the command line: queued,
// sent, received, decrypted with the card, archived byte for byte,
// acknowledged with the card's receipt, confirmed to the sender, returned
// with a reason. A wrong PIN stops the receiving after one try.
func TestExchangeTwoAgenciesWithTheirCards(t *testing.T) {
	needPCSC(t)
	bureauCard := issuedFor(t, "exchange-bureau", testca.Org{Name: "測試市教育局", UBN: "10458570", CardSerial: "TEST000000000002"}, softcard.IssueOptions{})
	kgCard := issued(t, "exchange-kindergarten", softcard.IssueOptions{})
	kg := insertAt(t, kgCard, softcard.Options{}, vpcdAddr, readerName)
	insertAt(t, bureauCard, softcard.Options{}, vpcdAddr2, readerName2)
	centre, roots := exchangeCentre(t, map[string]*softcard.State{"XC10458570": bureauCard, "XC04595252": kgCard})

	homeB, homeK := t.TempDir(), t.TempDir()
	archive := filepath.Join(homeK, "收文")
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := cli(t, stdin, append([]string{"exchange"}, args...)...)
		if code != 0 {
			t.Fatalf("cardbridge exchange %v = %d\n%s\n%s", args, code, out, errOut)
		}
		return out
	}
	run("", "setup", "--home", homeB, "--centre", centre, "--agency", "XC10458570", "--roots", roots)
	run("", "setup", "--home", homeK, "--centre", centre, "--agency", "XC04595252", "--roots", roots, "--archive", archive)

	dir := t.TempDir()
	sample, err := os.ReadFile("../exchange/di/testdata/letter-104.di")
	if err != nil {
		t.Fatal(err)
	}
	l, err := di.Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	l.Sender.Code, l.Unknown = "XC10458570", nil // the bureau's letter, with the one attachment it sends
	l.Attachment.Files = []di.File{{Entity: "ATTCH1", Name: "研習計畫.pdf", Notation: "DI"}}
	letter, err := di.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	diFile := filepath.Join(dir, "1150012345.di")
	pdf := bytes.Repeat([]byte("%PDF-1.7 研習計畫 "), 2000)
	pdfFile := filepath.Join(dir, "研習計畫.pdf")
	os.WriteFile(diFile, letter, 0o644)
	os.WriteFile(pdfFile, pdf, 0o644)

	pin := softcard.DefaultPIN + "\n"
	out := run(pin, "send", "--home", homeB, "--reader", readerName2, "--to", "XC04595252", "--di", diFile, "--attach", pdfFile, "--json", "--pin-stdin")
	if !strings.Contains(out, `"state": "queued"`) {
		t.Fatalf("send: %s", out)
	}
	run(pin, "sync", "--home", homeB, "--reader", readerName2, "--pin-stdin")

	// A wrong PIN: one try, then nothing more.
	_, errOut, code := cli(t, "654321\n", "exchange", "sync", "--home", homeK, "--reader", readerName, "--pin-stdin")
	if code == 0 {
		t.Fatal("sync with a wrong PIN succeeded")
	}
	if pinTries, _ := kg.card.Tries(); pinTries != softcard.MaxTries-1 {
		t.Fatalf("PIN tries = %d after a wrong PIN, want one used: %s", pinTries, errOut)
	}
	// The right PIN.
	out = run(pin, "sync", "--home", homeK, "--reader", readerName, "--pin-stdin", "--json")
	var rep struct{ Received []string }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Received) != 1 {
		t.Fatalf("receive: %s", out)
	}
	var listed struct {
		Inbox []struct {
			PackageID, State, Subject, Folder string
			Unread                            bool
		}
	}
	out = run("", "list", "--home", homeK, "--in", "--json")
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed.Inbox) != 1 {
		t.Fatalf("list: %s", out)
	}
	got := listed.Inbox[0]
	if got.State != "completed" || !got.Unread || !strings.Contains(got.Subject, "研習計畫") || !strings.HasPrefix(got.Folder, archive) {
		t.Errorf("inbox: %+v", got)
	}
	for name, want := range map[string][]byte{"研習計畫.pdf": pdf, "1150012345.di": letter} {
		b, err := os.ReadFile(filepath.Join(got.Folder, name))
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("archived %s: %v (%d bytes, want %d)", name, err, len(b), len(want))
		}
	}
	if pinTries, _ := kg.card.Tries(); pinTries != softcard.MaxTries {
		t.Errorf("PIN tries = %d after the right PIN, want %d", pinTries, softcard.MaxTries)
	}

	// The sender learns 使用者確認; then the kindergarten returns it.
	run(pin, "sync", "--home", homeB, "--reader", readerName2, "--pin-stdin")
	out = run("", "list", "--home", homeB, "--out")
	if !strings.Contains(out, "使用者確認") {
		t.Errorf("the sender's list does not show 使用者確認:\n%s", out)
	}
	run(pin, "return", "--home", homeK, "--reader", readerName, "--pin-stdin", "--reason", "非本園業務", got.PackageID)
	run(pin, "sync", "--home", homeB, "--reader", readerName2, "--pin-stdin")
	out = run("", "list", "--home", homeB, "--out")
	if !strings.Contains(out, "使用者退文") || !strings.Contains(out, "非本園業務") {
		t.Errorf("the sender's list does not show the return:\n%s", out)
	}
}
