package card

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

var (
	goodPIN = []byte("123456")
	goodPUK = []byte("12345678")
	badPIN  = []byte("000000")
	badPUK  = []byte("00000000")
)

// wantAuthError checks that err is an *AuthError with the given fields.
func wantAuthError(t *testing.T, call string, err error, ref Ref, tries int, blocked bool) {
	t.Helper()
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Errorf("%s = %v, want *AuthError", call, err)
		return
	}
	if ae.Ref != ref || ae.TriesLeft != tries || ae.Blocked != blocked {
		t.Errorf("%s = &AuthError{Ref: %s, TriesLeft: %d, Blocked: %v}, want {Ref: %s, TriesLeft: %d, Blocked: %v}",
			call, ae.Ref, ae.TriesLeft, ae.Blocked, ref, tries, blocked)
	}
	if blocked && !errors.Is(err, apdu.ErrAuthBlocked) && !errors.Is(err, apdu.ErrWrongPIN) {
		t.Errorf("%s = %v, want it to wrap 6983 or 63C0", call, err)
	}
	if !blocked && !errors.Is(err, apdu.ErrWrongPIN) {
		t.Errorf("%s = %v, want errors.Is(err, apdu.ErrWrongPIN)", call, err)
	}
	for _, secret := range []string{"123456", "000000", "12345678"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s error %q contains a PIN", call, err)
		}
	}
}

func TestPINStatus(t *testing.T) {
	tests := []struct {
		name  string
		opts  cardOpts
		setup func(p *PIV)
		want  PINStatus
	}{
		{"fresh", cardOpts{}, func(*PIV) {}, PINStatus{TriesLeft: 3}},
		{"one wrong", cardOpts{}, func(p *PIV) { p.VerifyPIN(badPIN) }, PINStatus{TriesLeft: 2}},
		{"two wrong", cardOpts{}, func(p *PIV) { p.VerifyPIN(badPIN); p.VerifyPIN(badPIN) }, PINStatus{TriesLeft: 1}},
		{"blocked", cardOpts{}, func(p *PIV) {
			for range 3 {
				p.VerifyPIN(badPIN)
			}
		}, PINStatus{TriesLeft: 0, Blocked: true}},
		{"wrong then right", cardOpts{}, func(p *PIV) { p.VerifyPIN(badPIN); p.VerifyPIN(goodPIN) }, PINStatus{TriesLeft: -1, Verified: true}},
		{"not activated", cardOpts{NotActivated: true}, func(*PIV) {}, PINStatus{TriesLeft: 0, Blocked: true}},
		{"activated", cardOpts{NotActivated: true}, func(p *PIV) { p.UnblockPIN(goodPUK, []byte("222222")) }, PINStatus{TriesLeft: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, p, _ := newTestCard(t, tc.opts)
			tc.setup(p)
			pinBefore, pukBefore := sc.Tries()
			rec := recorderOf(t, p)
			rec.take()
			got, err := p.PINStatus()
			if err != nil {
				t.Fatalf("PINStatus() error: %v", err)
			}
			if got != tc.want {
				t.Errorf("PINStatus() = %+v, want %+v", got, tc.want)
			}
			if cmds := rec.take(); len(cmds) != 2 || !bytes.Equal(cmds[1], h("00 20 00 80")) {
				t.Errorf("PINStatus() sent % X, want SELECT and 00 20 00 80", cmds)
			}
			if pin, puk := sc.Tries(); pin != pinBefore || puk != pukBefore {
				t.Errorf("PINStatus() changed the tries from %d, %d to %d, %d", pinBefore, pukBefore, pin, puk)
			}
		})
	}
}

// The client's reading of the card's answers, on a scripted card.
func TestPINStatusAnswers(t *testing.T) {
	tests := []struct {
		resp    string
		want    PINStatus
		wantErr error
	}{
		{"90 00", PINStatus{TriesLeft: -1, Verified: true}, nil},
		{"63 C3", PINStatus{TriesLeft: 3}, nil},
		{"63 C1", PINStatus{TriesLeft: 1}, nil},
		{"63 C0", PINStatus{TriesLeft: 0, Blocked: true}, nil},
		{"69 83", PINStatus{TriesLeft: 0, Blocked: true}, nil},
		{"6A 88", PINStatus{}, apdu.ErrRefDataNotFound},
		{"6D 00", PINStatus{}, apdu.ErrInsNotSupported},
	}
	for _, tc := range tests {
		t.Run(tc.resp, func(t *testing.T) {
			s := newScript(t,
				exchange{cmd: selectCmd, resp: "90 00"},
				exchange{cmd: "00 20 00 80", resp: tc.resp},
			)
			got, err := NewPIV(s, Identity{}, nil).PINStatus()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("PINStatus() with %s = %v, want %v", tc.resp, err, tc.wantErr)
				}
			} else if err != nil || got != tc.want {
				t.Errorf("PINStatus() with %s = %+v, %v, want %+v, nil", tc.resp, got, err, tc.want)
			}
			s.finish()
		})
	}
}

func TestPINStatusAfterVerify(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	if err := p.VerifyPIN(goodPIN); err != nil {
		t.Fatal(err)
	}
	if got, err := p.PINStatus(); err != nil || got != (PINStatus{TriesLeft: -1, Verified: true}) {
		t.Errorf("PINStatus() after VerifyPIN = %+v, %v, want {TriesLeft:-1 Verified:true}", got, err)
	}
}

func TestVerifyPIN(t *testing.T) {
	sc, p, _ := newTestCard(t, cardOpts{})
	rec := recorderOf(t, p)
	steps := []struct {
		pin     []byte
		ok      bool
		tries   int
		blocked bool
	}{
		{badPIN, false, 2, false},
		{goodPIN, true, 0, false}, // resets to 3
		{badPIN, false, 2, false},
		{[]byte("12345678"), false, 1, false},
		{badPIN, false, 0, true},
		{badPIN, false, 0, true},  // 6983
		{goodPIN, false, 0, true}, // blocked: the right PIN is refused too
	}
	for i, s := range steps {
		rec.take()
		err := p.VerifyPIN(s.pin)
		call := fmt.Sprintf("VerifyPIN(%q) (step %d)", s.pin, i)
		if s.ok {
			if err != nil {
				t.Errorf("%s = %v, want nil", call, err)
			}
		} else {
			wantAuthError(t, call, err, RefPIN, s.tries, s.blocked)
		}
		cmds := rec.take()
		if n := insCount(cmds, insVerify, true); n != 1 {
			t.Errorf("%s sent %d VERIFY with a PIN, want 1 (commands %s)", call, n, insList(cmds))
		}
	}
	if pin, _ := sc.Tries(); pin != 0 {
		t.Errorf("PIN tries at the end = %d, want 0", pin)
	}
}

func TestVerifyPINBlockedWrapsStatus(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{NotActivated: true})
	err := p.VerifyPIN(goodPIN)
	wantAuthError(t, "VerifyPIN on a blocked card", err, RefPIN, 0, true)
	if !errors.Is(err, apdu.ErrAuthBlocked) {
		t.Errorf("VerifyPIN on a blocked card = %v, want errors.Is(err, apdu.ErrAuthBlocked)", err)
	}
	if errors.Is(err, apdu.ErrWrongPIN) {
		t.Errorf("VerifyPIN on a blocked card = %v, want not ErrWrongPIN", err)
	}
}

func TestChangePIN(t *testing.T) {
	t.Run("right old PIN", func(t *testing.T) {
		_, p, _ := newTestCard(t, cardOpts{})
		if err := p.ChangePIN(goodPIN, []byte("654321")); err != nil {
			t.Fatalf("ChangePIN() = %v", err)
		}
		wantAuthError(t, "VerifyPIN(old)", p.VerifyPIN(goodPIN), RefPIN, 2, false)
		if err := p.VerifyPIN([]byte("654321")); err != nil {
			t.Errorf("VerifyPIN(new) = %v", err)
		}
		cmds := recorderOf(t, p).take()
		if n := insCount(cmds, insChangeRef, true); n != 1 {
			t.Errorf("%d CHANGE REFERENCE DATA sent, want 1", n)
		}
	})
	t.Run("wrong old PIN", func(t *testing.T) {
		sc, p, _ := newTestCard(t, cardOpts{})
		wantAuthError(t, "ChangePIN(wrong)", p.ChangePIN(badPIN, []byte("654321")), RefPIN, 2, false)
		if pin, _ := sc.Tries(); pin != 2 {
			t.Errorf("PIN tries = %d, want 2", pin)
		}
	})
	t.Run("blocked", func(t *testing.T) {
		_, p, _ := newTestCard(t, cardOpts{NotActivated: true})
		wantAuthError(t, "ChangePIN(blocked)", p.ChangePIN(goodPIN, []byte("654321")), RefPIN, 0, true)
	})
	t.Run("PUK", func(t *testing.T) {
		sc, p, _ := newTestCard(t, cardOpts{})
		wantAuthError(t, "ChangePUK(wrong)", p.ChangePUK(badPUK, []byte("87654321")), RefPUK, 2, false)
		if err := p.ChangePUK(goodPUK, []byte("87654321")); err != nil {
			t.Fatalf("ChangePUK() = %v", err)
		}
		if _, puk := sc.Tries(); puk != 3 {
			t.Errorf("PUK tries = %d, want 3", puk)
		}
		wantAuthError(t, "UnblockPIN(old PUK)", p.UnblockPIN(goodPUK, []byte("111111")), RefPUK, 2, false)
		if err := p.UnblockPIN([]byte("87654321"), []byte("111111")); err != nil {
			t.Errorf("UnblockPIN(new PUK) = %v", err)
		}
	})
}

func TestUnblockPIN(t *testing.T) {
	sc, p, _ := newTestCard(t, cardOpts{})
	for range 3 {
		p.VerifyPIN(badPIN)
	}
	wantAuthError(t, "UnblockPIN(wrong PUK)", p.UnblockPIN(badPUK, []byte("111111")), RefPUK, 2, false)
	wantAuthError(t, "VerifyPIN(blocked)", p.VerifyPIN(goodPIN), RefPIN, 0, true)
	if err := p.UnblockPIN(goodPUK, []byte("111111")); err != nil {
		t.Fatalf("UnblockPIN() = %v", err)
	}
	if pin, puk := sc.Tries(); pin != 3 || puk != 3 {
		t.Errorf("tries after UnblockPIN = %d, %d, want 3, 3", pin, puk)
	}
	if err := p.VerifyPIN([]byte("111111")); err != nil {
		t.Errorf("VerifyPIN(new) = %v", err)
	}
	wantAuthError(t, "UnblockPIN(wrong PUK)", p.UnblockPIN(badPUK, []byte("111111")), RefPUK, 2, false)
	wantAuthError(t, "UnblockPIN(wrong PUK)", p.UnblockPIN(badPUK, []byte("111111")), RefPUK, 1, false)
	wantAuthError(t, "UnblockPIN(wrong PUK)", p.UnblockPIN(badPUK, []byte("111111")), RefPUK, 0, true)
	wantAuthError(t, "UnblockPIN(blocked PUK)", p.UnblockPIN(goodPUK, []byte("111111")), RefPUK, 0, true)
}

func TestActivate(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{NotActivated: true})
	if err := p.UnblockPIN(goodPUK, []byte("24680135")); err != nil {
		t.Fatalf("UnblockPIN() on a new card = %v", err)
	}
	if err := p.VerifyPIN([]byte("24680135")); err != nil {
		t.Errorf("VerifyPIN(new) = %v", err)
	}
}

// pinCalls are the operations that take a PIN or PUK, with the argument
// under test in the given position.
func pinCalls(t *testing.T, p *PIV, id2 string) []struct {
	name string
	call func(v []byte) error
} {
	digest := sha256.Sum256([]byte("x"))
	ct := make([]byte, 256)
	return []struct {
		name string
		call func(v []byte) error
	}{
		{"VerifyPIN", func(v []byte) error { return p.VerifyPIN(v) }},
		{"ChangePIN old", func(v []byte) error { return p.ChangePIN(v, []byte("654321")) }},
		{"ChangePIN new", func(v []byte) error { return p.ChangePIN(goodPIN, v) }},
		{"ChangePUK old", func(v []byte) error { return p.ChangePUK(v, []byte("87654321")) }},
		{"ChangePUK new", func(v []byte) error { return p.ChangePUK(goodPUK, v) }},
		{"UnblockPIN PUK", func(v []byte) error { return p.UnblockPIN(v, []byte("654321")) }},
		{"UnblockPIN PIN", func(v []byte) error { return p.UnblockPIN(goodPUK, v) }},
		{"Sign", func(v []byte) error {
			_, err := p.Sign(certBySlot(t, p, SlotAuthentication).ID, digest[:], crypto.SHA256, v)
			return err
		}},
		{"Decrypt", func(v []byte) error { _, err := p.Decrypt(id2, ct, nil, v); return err }},
	}
}

var badPINs = []struct {
	name string
	v    []byte
	puk  bool // also bad as a PUK (every bad PIN is; these are bad PUKs only)
}{
	{"empty", nil, false},
	{"5 characters", []byte("12345"), false},
	{"9 characters", []byte("123456789"), false},
	{"non-ASCII", []byte("12345é"), false},
	{"space", []byte("123 456"), false},
	{"NUL", []byte("123456\x00"), false},
	{"DEL", []byte("123456\x7f"), false},
	{"FF padding byte", []byte("123456\xff"), false},
	{"punctuation", []byte("12345!"), false},
	{"7-character PUK", []byte("1234567"), true},
}

func TestPINFormat(t *testing.T) {
	sc, p, _ := newTestCard(t, cardOpts{})
	id2 := certBySlot(t, p, SlotKeyManagement).ID
	rec := recorderOf(t, p)
	for _, c := range pinCalls(t, p, id2) {
		for _, b := range badPINs {
			isPUKArg := strings.Contains(c.name, "PUK") && !strings.HasSuffix(c.name, "PIN")
			if b.puk && !isPUKArg {
				continue // 7 characters is a fine PIN
			}
			t.Run(c.name+"/"+b.name, func(t *testing.T) {
				rec.take()
				err := c.call(b.v)
				if !errors.Is(err, ErrPINFormat) {
					t.Errorf("%s(%q) = %v, want ErrPINFormat", c.name, b.v, err)
				}
				cmds := rec.take()
				for _, ins := range []byte{insVerify, insChangeRef, insResetRetry, insGeneralAuth} {
					if n := insCount(cmds, ins, false); n != 0 {
						t.Errorf("%s(%q) sent %d commands with INS %02X (commands %s)", c.name, b.v, n, ins, insList(cmds))
					}
				}
				if pin, puk := sc.Tries(); pin != 3 || puk != 3 {
					t.Errorf("%s(%q) used a try: tries %d, %d", c.name, b.v, pin, puk)
				}
			})
		}
	}
}

// ErrPINFormat says "it is caught before anything is sent".
func TestPINFormatSendsNothing(t *testing.T) {
	sc, p, _ := newTestCard(t, cardOpts{})
	id2 := certBySlot(t, p, SlotKeyManagement).ID
	for _, c := range pinCalls(t, p, id2) {
		before := sc.APDUs()
		if err := c.call([]byte("12345")); !errors.Is(err, ErrPINFormat) {
			t.Errorf("%s(\"12345\") = %v, want ErrPINFormat", c.name, err)
		}
		if n := sc.APDUs() - before; n != 0 {
			t.Errorf("%s(\"12345\") sent %d APDUs, want 0", c.name, n)
		}
	}
}

func TestPINOfEightCharacters(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	for _, pin := range []string{"AbCd1234", "87654321", "zzzzzz"} {
		if err := p.ChangePIN(goodPIN, []byte(pin)); err != nil {
			t.Fatalf("ChangePIN(%q) = %v", pin, err)
		}
		if err := p.VerifyPIN([]byte(pin)); err != nil {
			t.Errorf("VerifyPIN(%q) = %v", pin, err)
		}
		if err := p.ChangePIN([]byte(pin), goodPIN); err != nil {
			t.Fatalf("ChangePIN back = %v", err)
		}
	}
}

// No operation sends a PIN twice, right or wrong.
func TestOneVerifyPerCall(t *testing.T) {
	digest := sha256.Sum256([]byte("one verify"))
	tests := []struct {
		name string
		opts cardOpts
		call func(t *testing.T, p *PIV) error
	}{
		{"VerifyPIN", cardOpts{}, func(t *testing.T, p *PIV) error { return p.VerifyPIN(goodPIN) }},
		{"VerifyPIN wrong", cardOpts{}, func(t *testing.T, p *PIV) error { return p.VerifyPIN(badPIN) }},
		{"Sign", cardOpts{}, func(t *testing.T, p *PIV) error {
			_, err := p.Sign(certBySlot(t, p, SlotAuthentication).ID, digest[:], crypto.SHA256, goodPIN)
			return err
		}},
		{"Sign wrong PIN", cardOpts{}, func(t *testing.T, p *PIV) error {
			_, err := p.Sign(certBySlot(t, p, SlotAuthentication).ID, digest[:], crypto.SHA256, badPIN)
			return err
		}},
		{"Sign 9C", cardOpts{SignSlot: 0x9C}, func(t *testing.T, p *PIV) error {
			_, err := p.Sign(certBySlot(t, p, SlotSignature).ID, digest[:], &rsa.PSSOptions{Hash: crypto.SHA256}, goodPIN)
			return err
		}},
		{"Sign ECDSA", cardOpts{SignAlg: "p256"}, func(t *testing.T, p *PIV) error {
			_, err := p.Sign(certBySlot(t, p, SlotAuthentication).ID, digest[:], crypto.SHA256, goodPIN)
			return err
		}},
		{"Decrypt", cardOpts{}, func(t *testing.T, p *PIV) error {
			_, err := p.Decrypt(certBySlot(t, p, SlotKeyManagement).ID, make([]byte, 256), nil, goodPIN)
			return err
		}},
		{"Decrypt wrong PIN", cardOpts{}, func(t *testing.T, p *PIV) error {
			_, err := p.Decrypt(certBySlot(t, p, SlotKeyManagement).ID, make([]byte, 256), nil, badPIN)
			return err
		}},
		{"blocked", cardOpts{NotActivated: true}, func(t *testing.T, p *PIV) error {
			_, err := p.Sign(certBySlot(t, p, SlotAuthentication).ID, digest[:], crypto.SHA256, goodPIN)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, p, _ := newTestCard(t, tc.opts)
			certBySlot(t, p, SlotKeyManagement) // fill the cache
			rec := recorderOf(t, p)
			rec.take()
			err := tc.call(t, p)
			cmds := rec.take()
			if n := insCount(cmds, insVerify, true); n != 1 {
				t.Errorf("%s sent %d VERIFY with a PIN, want 1 (commands %s; err %v)", tc.name, n, insList(cmds), err)
			}
			var ae *AuthError
			if errors.As(err, &ae) && insCount(cmds, insGeneralAuth, false) != 0 {
				t.Errorf("%s sent GENERAL AUTHENTICATE after a refused PIN", tc.name)
			}
		})
	}
}

// After a signature, a decryption, a PIN change and an unblock the PIN is
// no longer verified: PIN status shows tries left and the next key
// operation needs the PIN again.
func TestPINNotLeftVerified(t *testing.T) {
	for _, op := range []string{"sign", "decrypt", "change", "unblock"} {
		t.Run(op, func(t *testing.T) {
			_, p, _ := newTestCard(t, cardOpts{})
			var err error
			switch op {
			case "sign":
				c := certBySlot(t, p, SlotAuthentication)
				_, err = p.Sign(c.ID, digestOf(crypto.SHA256, "x"), crypto.SHA256, goodPIN)
			case "decrypt":
				c := certBySlot(t, p, SlotKeyManagement)
				ct, encErr := rsa.EncryptPKCS1v15(rand.Reader, c.Cert.PublicKey.(*rsa.PublicKey), []byte("k"))
				if encErr != nil {
					t.Fatal(encErr)
				}
				_, err = p.Decrypt(c.ID, ct, nil, goodPIN)
			case "change":
				err = p.ChangePIN(goodPIN, []byte("654321"))
			case "unblock":
				err = p.UnblockPIN([]byte("12345678"), []byte("654321"))
			}
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			st, err := p.PINStatus()
			if err != nil || st.Verified || st.TriesLeft != 3 {
				t.Errorf("PINStatus() after %s = %+v, %v; want not verified, 3 tries left", op, st, err)
			}
		})
	}
}
