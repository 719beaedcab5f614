package integration

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/softcard"
)

func TestCLIReadersCertsCheck(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	out, stderr, code := cli(t, "", "readers", "--json")
	if code != 0 || !strings.Contains(out, `"name": "Virtual PCD 00 00"`) || !strings.Contains(out, `"card": true`) {
		t.Errorf("readers --json = exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = cli(t, "", "certs", "--json", "--reader", readerName)
	var certs struct {
		Certificates []struct {
			ID    string `json:"id"`
			Label string `json:"label"`
			Info  struct {
				UBN      string `json:"UBN"`
				CA       string `json:"CA"`
				DaysLeft int    `json:"DaysLeft"`
			} `json:"info"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(out), &certs); code != 0 || err != nil || len(certs.Certificates) != 2 {
		t.Fatalf("certs --json = exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if c := certs.Certificates[0]; c.Label != "cert1" || c.Info.UBN != "04595252" || c.Info.CA != "XCA" || c.Info.DaysLeft < 700 {
		t.Errorf("certs --json first = %+v, want cert1 of XCA, UBN 04595252, about 730 days", c)
	}
	if certs.Certificates[1].Label != "cert2" {
		t.Errorf("certs --json second label = %q, want cert2", certs.Certificates[1].Label)
	}
	out, _, code = cli(t, "", "check", "--reader", readerName)
	for _, want := range []string{"智慧卡服務", "Smart card service", "PIN 碼可使用（剩 3 次嘗試機會）", "測試用卡片", "結果 Result"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("check on a working TEST card = exit %d, want 0 (warnings only)", code)
	}
}

func TestCLICheckFailures(t *testing.T) {
	now := time.Now()
	insert(t, issued(t, "expired", softcard.IssueOptions{NotActivated: true, NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -1)}))
	out, _, code := cli(t, "", "check", "--json", "--reader", readerName)
	var rep struct {
		Overall string `json:"overall"`
		Items   []struct {
			ID     string `json:"id"`
			Result string `json:"result"`
			Fix    struct{ ZH, EN string }
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("check --json = %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, it := range rep.Items {
		got[it.ID] = it.Result
		if it.Result != "pass" && (it.Fix.ZH == "" || it.Fix.EN == "") {
			t.Errorf("item %s is %s without a fix in both languages", it.ID, it.Result)
		}
	}
	if code != 1 || rep.Overall != "fail" || got["validity"] != "fail" || got["pin"] != "fail" {
		t.Errorf("check on an expired, not activated card = exit %d overall %s items %v, want validity and pin failed", code, rep.Overall, got)
	}
}

func TestCLIPINAndSign(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	dir := t.TempDir()
	doc := filepath.Join(dir, "doc.txt")
	if err := os.WriteFile(doc, []byte("中華民國115年 公文 sample\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Wrong PIN: exit 1, JSON error with the tries left, message in both languages.
	out, stderr, code := cli(t, "000000\n", "sign", "--in", doc, "--pin-stdin", "--json", "--reader", readerName)
	if code != 1 || !strings.Contains(out, `"code":"ERR_PIN_INCORRECT"`) || !strings.Contains(out, `"triesLeft":2`) ||
		!strings.Contains(stderr, "PIN 碼錯誤") || !strings.Contains(stderr, "2 tries left") {
		t.Errorf("sign with a wrong PIN = exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	if strings.Contains(out+stderr, "000000") {
		t.Errorf("the PIN appears in the output")
	}

	// Right PIN: a signature that openssl verifies with the certificate.
	out, stderr, code = cli(t, softcard.DefaultPIN+"\n", "sign", "--in", doc, "--pin-stdin", "--json", "--reader", readerName)
	var res struct{ Certificate, Signature string }
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
		t.Fatalf("sign = exit %d, %v\n%s%s", code, err, out, stderr)
	}
	sig, err := base64.StdEncoding.DecodeString(res.Signature)
	if err != nil {
		t.Fatal(err)
	}
	sigPath := filepath.Join(dir, "doc.sig")
	os.WriteFile(sigPath, sig, 0o600)
	pubPath := writeCertPubKey(t, dir, res.Certificate)
	if out, err := tool(t, "openssl", "dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, doc); err != nil || !strings.Contains(out, "Verified OK") {
		t.Errorf("openssl dgst -verify = %v\n%s", err, out)
	}

	// Change the PIN, then unblock with the PUK after three wrong PINs.
	if out, stderr, code := cli(t, "123456\n654321\n", "pin", "change", "--pin-stdin", "--reader", readerName); code != 0 {
		t.Fatalf("pin change = exit %d\n%s%s", code, out, stderr)
	}
	for i := 0; i < 3; i++ {
		cli(t, "999999\n", "sign", "--in", doc, "--pin-stdin", "--reader", readerName)
	}
	out, stderr, code = cli(t, "", "pin", "status", "--json", "--reader", readerName)
	if code != 0 || !strings.Contains(out, `"Blocked": true`) {
		t.Errorf("pin status after three wrong PINs = exit %d\n%s%s", code, out, stderr)
	}
	_, stderr, code = cli(t, "654321\n", "sign", "--in", doc, "--pin-stdin", "--reader", readerName)
	if code != 1 || !strings.Contains(stderr, "ERR_PIN_BLOCKED") || !strings.Contains(stderr, "PUK") {
		t.Errorf("sign on a blocked card = exit %d, stderr %s", code, stderr)
	}
	if out, stderr, code := cli(t, softcard.DefaultPUK+"\n112233\n", "pin", "unblock", "--pin-stdin", "--reader", readerName); code != 0 {
		t.Fatalf("pin unblock = exit %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code := cli(t, "112233\n", "sign", "--in", doc, "--pin-stdin", "--reader", readerName); code != 0 {
		t.Errorf("sign with the new PIN = exit %d\n%s%s", code, out, stderr)
	}
}

func TestCLINoCard(t *testing.T) {
	needPCSC(t)
	waitPresent(t, false)
	_, stderr, code := cli(t, "", "certs", "--reader", readerName)
	if code != 1 || !strings.Contains(stderr, "ERR_NO_CARD") || !strings.Contains(stderr, "讀卡機中沒有 IC 卡") {
		t.Errorf("certs with an empty reader = exit %d, stderr %s", code, stderr)
	}
}

// writeCertPubKey writes the public key of the card certificate with id.
func writeCertPubKey(t *testing.T, dir, id string) string {
	t.Helper()
	out, _, code := cli(t, "", "certs", "--json", "--pem", "--reader", readerName)
	if code != 0 {
		t.Fatalf("certs --pem = exit %d", code)
	}
	var certs struct {
		Certificates []struct{ ID, PEM string } `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(out), &certs); err != nil {
		t.Fatal(err)
	}
	for _, c := range certs.Certificates {
		if c.ID != id {
			continue
		}
		certPath := filepath.Join(dir, "cert.pem")
		if b, _ := pem.Decode([]byte(c.PEM)); b == nil {
			t.Fatalf("certificate %s has no PEM", id)
		}
		os.WriteFile(certPath, []byte(c.PEM), 0o600)
		pub, err := tool(t, "openssl", "x509", "-in", certPath, "-noout", "-pubkey")
		if err != nil {
			t.Fatalf("openssl x509 -pubkey: %v\n%s", err, pub)
		}
		p := filepath.Join(dir, "pub.pem")
		os.WriteFile(p, []byte(pub), 0o600)
		return p
	}
	t.Fatalf("certificate %s not listed", id)
	return ""
}
