package integration

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/softcard"
)

// OpenSC 0.23 is the independent client here: if it and the virtual card
// disagree, the card is wrong. Reader 0 is "Virtual PCD 00 00".

func TestOpenSCListsCertificates(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	out, err := tool(t, "opensc-tool", "--reader", "0", "--name")
	if err != nil || !strings.Contains(out, "Personal Identity Verification Card") {
		t.Errorf("opensc-tool --name = %v\n%s", err, out)
	}
	out, err = tool(t, "pkcs15-tool", "--reader", "0", "--list-certificates")
	if err != nil {
		t.Fatalf("pkcs15-tool --list-certificates = %v\n%s", err, out)
	}
	// 9A → OpenSC id 01, 9D → 03.
	for _, want := range []string{`Certificate for PIV Authentication\]`, `Certificate for Key Management\]`, `ID\s+: 01\n`, `ID\s+: 03\n`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("pkcs15-tool --list-certificates lacks %q:\n%s", want, out)
		}
	}
}

func TestOpenSCSignVerifies(t *testing.T) {
	for _, tc := range []struct {
		name, card, id, mech string
		o                    softcard.IssueOptions
	}{
		{"rsa-9a", "rsa", "01", "SHA256-RSA-PKCS", softcard.IssueOptions{}},
		{"ecc-9c", "p256-9c", "02", "ECDSA-SHA256", softcard.IssueOptions{SignAlg: "p256", SignSlot: softcard.SlotSignature}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := issued(t, tc.card, tc.o)
			insert(t, st)
			dir := t.TempDir()
			data := filepath.Join(dir, "data.txt")
			sig := filepath.Join(dir, "sig.bin")
			os.WriteFile(data, []byte("OpenSC signs on the CardBridge virtual card\n"), 0o600)
			args := []string{"--slot-index", "0", "--login", "--pin", softcard.DefaultPIN, "--sign", "--id", tc.id,
				"--mechanism", tc.mech, "--input-file", data, "--output-file", sig}
			if strings.HasPrefix(tc.mech, "ECDSA") {
				args = append(args, "--signature-format", "openssl")
			}
			if out, err := tool(t, "pkcs11-tool", args...); err != nil {
				t.Fatalf("pkcs11-tool --sign = %v\n%s", err, out)
			}
			slot := softcard.SlotAuthentication
			if tc.o.SignSlot != 0 {
				slot = tc.o.SignSlot
			}
			pub := writePubKey(t, dir, st.Cert(slot))
			out, err := tool(t, "openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data)
			if err != nil || !strings.Contains(out, "Verified OK") {
				t.Errorf("openssl dgst -verify = %v\n%s", err, out)
			}
		})
	}
}

func TestOpenSCChangeAndUnblockPIN(t *testing.T) {
	vc := insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	if out, err := tool(t, "pkcs15-tool", "--reader", "0", "--change-pin", "--auth-id", "01", "--pin", "123456", "--new-pin", "654321"); err != nil {
		t.Fatalf("pkcs15-tool --change-pin = %v\n%s", err, out)
	}
	for i := 0; i < 3; i++ {
		if out, err := tool(t, "pkcs15-tool", "--reader", "0", "--verify-pin", "--auth-id", "01", "--pin", "000000"); err == nil {
			t.Fatalf("pkcs15-tool --verify-pin with a wrong PIN succeeded\n%s", out)
		}
	}
	if pin, _ := vc.card.Tries(); pin != 0 {
		t.Fatalf("PIN tries after three wrong = %d, want 0", pin)
	}
	out, err := tool(t, "pkcs15-tool", "--reader", "0", "--verify-pin", "--auth-id", "01", "--pin", "654321")
	if err == nil {
		t.Fatalf("pkcs15-tool --verify-pin on a blocked PIN succeeded\n%s", out)
	}
	if out, err := tool(t, "pkcs15-tool", "--reader", "0", "--unblock-pin", "--auth-id", "01", "--puk", softcard.DefaultPUK, "--new-pin", "111111"); err != nil {
		t.Fatalf("pkcs15-tool --unblock-pin = %v\n%s", err, out)
	}
	if out, err := tool(t, "pkcs15-tool", "--reader", "0", "--verify-pin", "--auth-id", "01", "--pin", "111111"); err != nil {
		t.Errorf("pkcs15-tool --verify-pin with the new PIN = %v\n%s", err, out)
	}
	// CardBridge sees what OpenSC did: the state file holds the new PIN.
	st, err := softcard.LoadState(vc.statePath)
	if err != nil || string(st.PIN) != "111111" || st.PINTries != 3 {
		t.Errorf("state after OpenSC unblock = %v, PIN tries %d", err, st.PINTries)
	}
}

func writePubKey(t *testing.T, dir string, der []byte) string {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "pub.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o600)
	return p
}
