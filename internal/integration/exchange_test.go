package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"
	"github.com/cardbridge/cardbridge/internal/protocol"

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
	// The bureau's card expires in 20 days: its clerk is told at each sync.
	bureauCard := issuedFor(t, "exchange-bureau", testca.Org{Name: "測試市教育局", UBN: "10458570", CardSerial: "TEST000000000002"},
		softcard.IssueOptions{NotAfter: time.Now().AddDate(0, 0, 20)})
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
	letter := bureauLetter(t, "XC10458570", "研習計畫.pdf") // the bureau's letter, with the one attachment it sends
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
	out = run(pin, "sync", "--home", homeB, "--reader", readerName2, "--pin-stdin")
	if !strings.Contains(out, "憑證卡將於") || !strings.Contains(out, "days left") {
		t.Errorf("the bureau's sync does not warn of its card's expiry:\n%s", out)
	}

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
	out = run("", "show", "--home", homeK, got.PackageID)
	for _, want := range []string{"收文完成", "XC10458570", "研習計畫.pdf", "1150012345.di", got.Folder} {
		if !strings.Contains(out, want) {
			t.Errorf("show does not say %q:\n%s", want, out)
		}
	}
	pdfOut := filepath.Join(t.TempDir(), "可攜式公文.pdf")
	run("", "export", "--home", homeK, "--pdf", pdfOut, got.PackageID)
	if text, err := tool(t, "pdftotext", pdfOut, "-"); err != nil || !strings.Contains(text, "電子交換章") || !strings.Contains(text, "第 1 頁") {
		t.Errorf("the exported 可攜式公文: %v\n%s", err, text)
	}
	// Settings: the guide's defaults, then printing to a printer that does
	// not exist: 補列印 says what was not printed, and fails.
	out = run("", "settings", "--home", homeK, "--json")
	if !strings.Contains(out, `"saveArchive": true`) || !strings.Contains(out, `"print": false`) || !strings.Contains(out, `"keepDINames": true`) {
		t.Errorf("default settings: %s", out)
	}
	run("", "settings", "--home", homeK, "--print", "on", "--printer", "NoSuchPrinter")
	if out, _, code := cli(t, "", "exchange", "print", "--home", homeK, got.PackageID); code != 1 || !strings.Contains(out, "✘") {
		t.Errorf("print to a missing printer: exit %d\n%s", code, out)
	}
	run("", "settings", "--home", homeK, "--print", "off", "--printer", "")
	out = run("", "list", "--home", homeK, "--in", "--json")
	if !strings.Contains(out, `"unread": false`) || !strings.Contains(out, `"label": "收文完成"`) {
		t.Errorf("shown, the document is read: %s", out)
	}
	run(pin, "return", "--home", homeK, "--reader", readerName, "--pin-stdin", "--reason", "非本園業務", got.PackageID)
	run(pin, "sync", "--home", homeB, "--reader", readerName2, "--pin-stdin")
	out = run("", "list", "--home", homeB, "--out")
	if !strings.Contains(out, "使用者退文") || !strings.Contains(out, "非本園業務") {
		t.Errorf("the sender's list does not show the return:\n%s", out)
	}

	// The kindergarten keeps watching: a second letter is taken in as the
	// centre pushes it; Ctrl-C (SIGINT to cardbridge, which passes it on)
	// ends the watch cleanly.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watch := exec.CommandContext(ctx, binary, "exchange", "sync", "--watch", "--poll", "1h", "--json", "--home", homeK, "--reader", readerName, "--pin-stdin")
	watch.Stdin = strings.NewReader(pin)
	var werr bytes.Buffer
	watch.Stderr = &werr
	lines, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer watch.Process.Kill()
	next := make(chan string)
	go func() {
		defer close(next)
		for sc := bufio.NewScanner(lines); sc.Scan(); {
			next <- sc.Text()
		}
	}()
	line := func() string {
		t.Helper()
		select {
		case l, ok := <-next:
			if !ok {
				t.Fatalf("the watch ended: %s", werr.String())
			}
			return l
		case <-time.After(30 * time.Second):
			t.Fatalf("the watch said nothing for 30 s: %s", werr.String())
		}
		return ""
	}
	line() // the first sync: nothing new
	// This one composed from a subject and a plain body (--body).
	body := filepath.Join(dir, "說明.txt")
	os.WriteFile(body, []byte("研習日期：116年1月10日。\n\n請於12月20日前報名。\n"), 0o644)
	run(pin, "send", "--home", homeB, "--reader", readerName2, "--to", "XC04595252", "--subject", "請派員參加研習，請　查照。", "--body", body, "--attach", pdfFile, "--pin-stdin")
	run(pin, "sync", "--home", homeB, "--reader", readerName2, "--pin-stdin")
	for received := false; !received; {
		l := line()
		var r struct {
			Received []string
			Error    string
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Error != "" {
			t.Fatalf("watch line %q: %v", l, err)
		}
		received = len(r.Received) == 1
	}
	if err := watch.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := watch.Wait(); err != nil {
		t.Errorf("watch after Ctrl-C: %v\n%s", err, werr.String())
	}
	// The same, as a program (the extension's page, next) reaches it:
	// JSON lines on standard input, the PIN in the login request.
	reqs := `{"id":1,"op":"login","args":{"pin":"` + softcard.DefaultPIN + `"}}` + "\n" + `{"id":2,"op":"status"}` + "\n" +
		`{"id":3,"op":"list","args":{"box":"in","text":"研習"}}` + "\n" + `{"id":4,"op":"logout"}` + "\n"
	served, serr, code := cli(t, reqs, "exchange", "serve", "--home", homeK, "--reader", readerName)
	if code != 0 || !strings.Contains(served, `"loggedIn":true`) || !strings.Contains(served, `"event":"sessionEnded"`) || !strings.Contains(served, "請派員參加研習") {
		t.Errorf("exchange serve: exit %d\n%s\n%s", code, served, serr)
	}
	if strings.Contains(served, softcard.DefaultPIN) {
		t.Error("the PIN came back in the answers")
	}

	// A home is one agent's at a time: listed once the watch has ended.
	out = run("", "list", "--home", homeK, "--in", "--json")
	if !strings.Contains(out, "請派員參加研習") {
		t.Errorf("the composed letter is not in the inbox: %s", out)
	}
	if pinTries, _ := kg.card.Tries(); pinTries != softcard.MaxTries {
		t.Errorf("PIN tries = %d after watching, want %d", pinTries, softcard.MaxTries)
	}
}

// pullingCard is the kindergarten's card session whose next decryption
// pulls the card out of the reader in the middle (after VERIFY PIN, at the
// GENERAL AUTHENTICATE that unwraps the key).
type pullingCard struct {
	*cbcards.Session
	vc   *vcard
	pull bool
}

func (p *pullingCard) Decrypter() (*x509.Certificate, crypto.Decrypter) {
	c, d := p.Session.Decrypter()
	return c, pullingKey{Decrypter: d, p: p}
}

type pullingKey struct {
	crypto.Decrypter
	p *pullingCard
}

func (k pullingKey) Decrypt(r io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	if k.p.pull {
		k.p.pull = false
		k.p.vc.srv.RemoveOn(0x87)
	}
	return k.Decrypter.Decrypt(r, msg, opts)
}

// The card is pulled while it decrypts a document: nothing is refused,
// nothing acknowledged, no PIN try is used; with the card back, the next
// sync takes the document in once.
func TestExchangeCardPulledDuringDecryption(t *testing.T) {
	needPCSC(t)
	ctx := context.Background()
	kgCard := issued(t, "exchange-pulled", softcard.IssueOptions{})
	vc := insert(t, kgCard)
	bureau := exchangetest.Valid(t, ca, "測試市教育局", "10458570")
	c := exchangetest.StartCentre(t, ca, map[string][]byte{bureau.Code: bureau.Enc.Raw, "XC04595252": kgCard.Cert(softcard.SlotKeyManagement)})
	trust := exchangetest.Trust(ca)
	open := func(code string) (*agent.Agent, string) {
		home := t.TempDir()
		a, err := agent.Open(ctx, agent.Options{Home: home, Trust: parcel.Trust{Roots: trust.Roots, Intermediates: trust.Intermediates}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		archive := filepath.Join(home, "收文")
		if err := a.Setup(ctx, c.URL, code, archive, nil); err != nil {
			t.Fatal(err)
		}
		return a, archive
	}
	ab, _ := open(bureau.Code)
	ak, archive := open("XC04595252")
	letter := bureauLetter(t, bureau.Code)
	if _, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{"XC04595252"}, Subject: "拔卡測試", DI: parcel.File{Name: "1150012345.di", Data: letter}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ab.Sync(ctx, bureau); err != nil {
		t.Fatal(err)
	}

	session, err := cbcards.New(cbcards.Options{}).NewSession(ctx, readerName, []byte(softcard.DefaultPIN), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	kg := &pullingCard{Session: session, vc: vc, pull: true}
	rep, err := ak.Sync(ctx, kg)
	if err == nil || len(rep.Refused) != 0 || len(rep.Received) != 0 {
		t.Fatalf("sync with the card pulled: %+v, %v; want an error, nothing refused", rep, err)
	}
	t.Logf("card pulled: %v", err)
	day := time.Now()
	in, _ := ak.Inbox(ctx, day.Add(-time.Hour), day.Add(time.Hour))
	if len(in) != 1 || in[0].State != "downloading" {
		t.Fatalf("inbox after the pull: %+v", in)
	}
	if p, _ := c.Store.Package(ctx, in[0].PackageID, "XC04595252"); p.Recipients[0].State != "downloading" {
		t.Fatalf("the centre's state after the pull: %+v", p.Recipients)
	}
	vc.srv.Insert()
	waitPresent(t, true)
	if tries, _ := vc.card.Tries(); tries != softcard.MaxTries {
		t.Errorf("PIN tries = %d after the pull, want %d", tries, softcard.MaxTries)
	}
	rep, err = ak.Sync(ctx, kg)
	if err != nil || len(rep.Received) != 1 {
		t.Fatalf("sync with the card back: %+v, %v", rep, err)
	}
	in, _ = ak.Inbox(ctx, day.Add(-time.Hour), day.Add(time.Hour))
	if len(in) != 1 || in[0].State != "completed" {
		t.Fatalf("inbox: %+v", in)
	}
	if b, err := os.ReadFile(filepath.Join(in[0].Folder, "1150012345.di")); err != nil || !bytes.Equal(b, letter) || !strings.HasPrefix(in[0].Folder, archive) {
		t.Errorf("archived: %v", err)
	}
}

// bureauLetter is the sample 函 as the agency code sends it, declaring the
// attachments named.
func bureauLetter(t *testing.T, code string, attachments ...string) []byte {
	t.Helper()
	sample, err := os.ReadFile("../exchange/di/testdata/letter-104.di")
	if err != nil {
		t.Fatal(err)
	}
	l, err := di.Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	l.Sender.Code, l.Unknown, l.Attachment.Files = code, nil, nil
	for i, name := range attachments {
		l.Attachment.Files = append(l.Attachment.Files, di.File{Entity: fmt.Sprintf("ATTCH%d", i+1), Name: name, Notation: "DI"})
	}
	letter, err := di.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return letter
}

// The 公文交換 page's way to the exchange, without the browser: the host's
// exchange command (extension only) relays to cardbridge-exchange beside
// it. The kindergarten logs in with its card, found by its 統一編號 while
// the bureau's card sits in the other reader; a wrong PIN costs one try and
// says how many are left; the bureau's letter arrives by push as an
// exchange event; its attachment and 可攜式公文 come in parts; a reply is
// signed with a PIN typed for it and sent at once; the PIN is in no log.
func TestExchangeThroughTheHost(t *testing.T) {
	needPCSC(t)
	bureauCard := issuedFor(t, "host-exchange-bureau", testca.Org{Name: "測試市教育局", UBN: "10458570", CardSerial: "TEST000000000002"}, softcard.IssueOptions{})
	kgCard := issued(t, "host-exchange-kindergarten", softcard.IssueOptions{})
	kg := insertAt(t, kgCard, softcard.Options{}, vpcdAddr, readerName)
	bureau := insertAt(t, bureauCard, softcard.Options{}, vpcdAddr2, readerName2)
	centre, roots := exchangeCentre(t, map[string]*softcard.State{"XC10458570": bureauCard, "XC04595252": kgCard})

	dataHome := t.TempDir()
	homeK := filepath.Join(dataHome, "cardbridge", "exchange") // the default home under XDG_DATA_HOME
	homeB := t.TempDir()
	for _, args := range [][]string{
		{"setup", "--home", homeB, "--centre", centre, "--agency", "XC10458570", "--roots", roots},
		{"setup", "--home", homeK, "--centre", centre, "--agency", "XC04595252", "--roots", roots, "--archive", filepath.Join(dataHome, "收文")},
	} {
		if out, errOut, code := cli(t, "", append([]string{"exchange"}, args...)...); code != 0 {
			t.Fatalf("exchange %v: %s %s", args, out, errOut)
		}
	}
	h := startHost(t, hostOptions{env: []string{"XDG_DATA_HOME=" + dataHome}})
	h.hello()
	// ask sends one exchange request and returns its reply.
	ask := func(op string, args any, pin string) map[string]any {
		t.Helper()
		a := map[string]any{"op": op}
		if args != nil {
			a["args"] = args
		}
		if pin != "" {
			a["pin"] = pin
		}
		return h.reply(h.send("exchange", "", a), 60*time.Second)
	}
	result := func(m map[string]any) any {
		t.Helper()
		if e, ok := m["error"]; ok {
			t.Fatalf("exchange error: %v", e)
		}
		return m["result"]
	}

	st := result(ask("status", nil, "")).(map[string]any)
	if st["setUp"] != true || st["loggedIn"] != false || st["agency"] != "XC04595252" {
		t.Fatalf("status: %v", st)
	}
	wantCode(t, ask("directory", nil, "")["error"].(map[string]any), protocol.ErrExchangeLoginNeeded)
	wantCode(t, h.callErr("exchange", pageOrigin, map[string]any{"op": "status"}), protocol.ErrUnknownCommand)

	e := ask("login", nil, "654321")["error"].(map[string]any)
	wantCode(t, e, protocol.ErrPINIncorrect)
	if tries := e["details"].(map[string]any)["triesLeft"]; tries != float64(softcard.MaxTries-1) {
		t.Errorf("triesLeft = %v after a wrong PIN", tries)
	}
	if pin, _ := kg.card.Tries(); pin != softcard.MaxTries-1 {
		t.Fatalf("the kindergarten's card has %d tries, want one used (the PIN reached another card?)", pin)
	}
	login := result(ask("login", nil, softcard.DefaultPIN)).(map[string]any)
	if login["agency"] != "XC04595252" {
		t.Fatalf("login: %v", login)
	}
	if pin, _ := kg.card.Tries(); pin != softcard.MaxTries {
		t.Errorf("tries = %d after the right PIN", pin)
	}

	// The bureau sends with the command line; the page hears of it.
	pdf := bytes.Repeat([]byte("%PDF-1.7 研習計畫 "), 60000) // 1.2 MB: three parts
	dir := t.TempDir()
	pdfFile, body := filepath.Join(dir, "研習計畫.pdf"), filepath.Join(dir, "說明.txt")
	os.WriteFile(pdfFile, pdf, 0o644)
	os.WriteFile(body, []byte("研習日期：116年1月10日。\n"), 0o644)
	pin := softcard.DefaultPIN + "\n"
	for _, args := range [][]string{
		{"send", "--home", homeB, "--reader", readerName2, "--to", "XC04595252", "--subject", "請派員參加研習", "--body", body, "--attach", pdfFile, "--pin-stdin"},
		{"sync", "--home", homeB, "--reader", readerName2, "--pin-stdin"},
	} {
		if out, errOut, code := cli(t, pin, append([]string{"exchange"}, args...)...); code != 0 {
			t.Fatalf("exchange %v: %s %s", args, out, errOut)
		}
	}
	var id string
	for deadline := time.Now().Add(30 * time.Second); id == "" && time.Now().Before(deadline); {
		ev := h.waitEvent("exchange", 30*time.Second)
		d := ev["data"].(map[string]any)
		if d["name"] != "synced" {
			continue
		}
		if got, _ := d["data"].(map[string]any)["report"].(map[string]any)["received"].([]any); len(got) == 1 {
			id = got[0].(string)
		}
	}
	if id == "" {
		t.Fatal("no synced event with the received document")
	}
	rows := result(ask("list", map[string]any{"box": "in", "text": "研習"}, "")).([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["state"] != "completed" || rows[0].(map[string]any)["unread"] != true {
		t.Fatalf("inbox: %v", rows)
	}
	fetch := func(op string, args map[string]any) []byte {
		t.Helper()
		var got []byte
		for {
			args["offset"] = len(got)
			part := result(ask(op, args, "")).(map[string]any)
			b, err := base64.StdEncoding.DecodeString(part["data"].(string))
			if err != nil || len(b) == 0 {
				t.Fatalf("%s part at %d: %v", op, len(got), err)
			}
			got = append(got, b...)
			if len(got) >= int(part["size"].(float64)) {
				return got
			}
		}
	}
	if got := fetch("file", map[string]any{"id": id, "name": "研習計畫.pdf"}); !bytes.Equal(got, pdf) {
		t.Errorf("the attachment through the host: %d bytes, want %d", len(got), len(pdf))
	}
	if got := fetch("portable", map[string]any{"id": id}); !bytes.HasPrefix(got, []byte("%PDF-")) {
		t.Errorf("the 可攜式公文 is not a PDF: %.20q", got)
	}

	// A reply, signed with the PIN typed for it and sent at once.
	sent := result(ask("send", map[string]any{"to": []string{"XC10458570"}, "subject": "回覆：已報名", "body": "本園已報名。",
		"files": []map[string]any{{"name": "報名表.pdf", "data": base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 報名表"))}}}, softcard.DefaultPIN)).(map[string]any)
	if sent["state"] != "queued" {
		t.Fatalf("send: %v", sent)
	}
	for sentNow := false; !sentNow; {
		d := h.waitEvent("exchange", 30*time.Second)["data"].(map[string]any)
		if s, _ := d["data"].(map[string]any)["report"].(map[string]any)["sent"].([]any); len(s) == 1 {
			sentNow = true
		}
	}
	if out, errOut, code := cli(t, pin, "exchange", "sync", "--home", homeB, "--reader", readerName2, "--pin-stdin", "--json"); code != 0 || !strings.Contains(out, `"received": [`) {
		t.Errorf("the bureau's sync: %s %s", out, errOut)
	}

	result(ask("logout", nil, ""))
	if h.exit() != 0 {
		t.Error("the host's exit status")
	}
	h.noPIN(softcard.DefaultPIN, "654321")
	if !strings.Contains(h.c.Stderr(), "exchange program started") {
		t.Errorf("the host's log does not say it started the exchange program:\n%s", h.c.Stderr())
	}

	// The command line without --reader finds the agency's card too: the
	// bureau's clerk's wrong PIN costs the bureau's card a try, not the
	// kindergarten's card in the first reader (found by a helper's attack).
	if _, _, code := cli(t, "000000\n", "exchange", "sync", "--home", homeB, "--pin-stdin"); code != 1 {
		t.Errorf("sync with a wrong PIN: exit %d", code)
	}
	kgTries, _ := kg.card.Tries()
	bureauTries, _ := bureau.card.Tries()
	if kgTries != softcard.MaxTries || bureauTries != softcard.MaxTries-1 {
		t.Errorf("tries after the bureau's wrong PIN: kindergarten %d, bureau %d", kgTries, bureauTries)
	}
	out, errOut, code := cli(t, pin, "exchange", "sync", "--home", homeB, "--pin-stdin", "--json")
	var rep map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Errorf("the bureau's sync without --reader: exit %d, one JSON document?\n%s\n%s", code, out, errOut)
	}
	// Without the agency's card in a reader the PIN goes nowhere, not to
	// the other agency's card.
	bureau.srv.Remove()
	waitPresentIn(t, readerName2, false)
	_, errOut, code = cli(t, "000000\n", "exchange", "sync", "--home", homeB, "--pin-stdin")
	if code != 1 || !strings.Contains(errOut, "XC10458570") {
		t.Errorf("sync without the agency's card: exit %d\n%s", code, errOut)
	}
	if tries, _ := kg.card.Tries(); tries != softcard.MaxTries {
		t.Errorf("the kindergarten's card has %d tries after the bureau's sync", tries)
	}
	bureau.srv.Insert()
	waitPresentIn(t, readerName2, true)
}
