package card

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

func TestCertificates(t *testing.T) {
	type want struct {
		slot  Slot
		from  softcard.Slot
		usage certinfo.Usage
		ecdsa bool
	}
	tests := []struct {
		name string
		opts cardOpts
		want []want
	}{
		{"default", cardOpts{}, []want{
			{SlotAuthentication, softcard.SlotAuthentication, certinfo.UsageSignature, false},
			{SlotKeyManagement, softcard.SlotKeyManagement, certinfo.UsageEncryption, false},
		}},
		{"cert1 in 9C", cardOpts{SignSlot: softcard.SlotSignature}, []want{
			{SlotSignature, softcard.SlotSignature, certinfo.UsageSignature, false},
			{SlotKeyManagement, softcard.SlotKeyManagement, certinfo.UsageEncryption, false},
		}},
		{"p256", cardOpts{SignAlg: "p256"}, []want{
			{SlotAuthentication, softcard.SlotAuthentication, certinfo.UsageSignature, true},
			{SlotKeyManagement, softcard.SlotKeyManagement, certinfo.UsageEncryption, false},
		}},
		{"not activated", cardOpts{NotActivated: true}, []want{
			{SlotAuthentication, softcard.SlotAuthentication, certinfo.UsageSignature, false},
			{SlotKeyManagement, softcard.SlotKeyManagement, certinfo.UsageEncryption, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, p, st := newTestCard(t, tc.opts)
			certs, err := p.Certificates()
			if err != nil {
				t.Fatalf("Certificates() error: %v", err)
			}
			if len(certs) != len(tc.want) {
				t.Fatalf("Certificates() = %d certificates, want %d", len(certs), len(tc.want))
			}
			for i, w := range tc.want {
				c := certs[i]
				der := st.Cert(w.from)
				sum := sha256.Sum256(der)
				if c.Slot != w.slot {
					t.Errorf("cert %d: Slot = %s, want %s", i, c.Slot, w.slot)
				}
				if !bytes.Equal(c.Cert.Raw, der) {
					t.Errorf("cert %d: DER differs from the card's slot %02X", i, byte(w.from))
				}
				if wantID := hex.EncodeToString(sum[:]); c.ID != wantID || CertID(der) != wantID {
					t.Errorf("cert %d: ID = %s, CertID = %s, want %s", i, c.ID, CertID(der), wantID)
				}
				if c.Usage != w.usage {
					t.Errorf("cert %d: Usage = %q, want %q", i, c.Usage, w.usage)
				}
				if _, isEC := c.Cert.PublicKey.(*ecdsa.PublicKey); isEC != w.ecdsa {
					t.Errorf("cert %d: key %T, want ECDSA %v", i, c.Cert.PublicKey, w.ecdsa)
				}
				if _, isRSA := c.Cert.PublicKey.(*rsa.PublicKey); isRSA == w.ecdsa {
					t.Errorf("cert %d: key %T, want RSA %v", i, c.Cert.PublicKey, !w.ecdsa)
				}
			}
		})
	}
}

func TestCertificatesAPDUs(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	if _, err := p.Certificates(); err != nil {
		t.Fatal(err)
	}
	cmds := recorderOf(t, p).take()
	if len(cmds) == 0 || !bytes.Equal(cmds[0], h(selectCmd)) {
		t.Fatalf("first command = % X, want SELECT %s", cmds[0], selectCmd)
	}
	for _, tag := range []string{"5F C1 05", "5F C1 0A", "5F C1 0B", "5F C1 01"} {
		want := h("00 CB 3F FF 05 5C 03 " + tag + " 00")
		n := 0
		for _, c := range cmds {
			if bytes.Equal(c, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("GET DATA %s sent %d times, want once (commands: %s)", tag, n, insList(cmds))
		}
	}
	// Events != 0: the CHUID is not read.
	if n := insCount(cmds, insGetData, true); n != 4 {
		t.Errorf("%d GET DATA commands, want 4", n)
	}
}

func TestCertificatesCache(t *testing.T) {
	sc, p, _ := newTestCard(t, cardOpts{})
	rec := recorderOf(t, p)
	first, err := p.Certificates()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.take()); n == 0 {
		t.Fatalf("first Certificates() sent no APDU")
	}

	reread := func(t *testing.T, p *PIV, wantAPDUs bool) {
		t.Helper()
		before := sc.APDUs()
		certs, err := p.Certificates()
		if err != nil {
			t.Fatalf("Certificates() error: %v", err)
		}
		if len(certs) != len(first) || certs[0].ID != first[0].ID || certs[1].ID != first[1].ID {
			t.Errorf("Certificates() = %d certificates, want the same %d", len(certs), len(first))
		}
		sent := sc.APDUs() - before
		if wantAPDUs && sent == 0 {
			t.Errorf("Certificates() sent no APDU, want a re-read")
		}
		if !wantAPDUs && sent != 0 {
			t.Errorf("Certificates() sent %d APDUs, want 0 (cached)", sent)
		}
	}
	id := p.Identity()
	with := func(f func(*Identity)) *PIV {
		i := id
		i.ATR = bytes.Clone(id.ATR)
		f(&i)
		return NewPIV(sc, i, p.cache)
	}
	t.Run("same identity", func(t *testing.T) { reread(t, p, false) })
	t.Run("same identity, new connection", func(t *testing.T) { reread(t, with(func(*Identity) {}), false) })
	t.Run("events changed", func(t *testing.T) { reread(t, with(func(i *Identity) { i.Events++ }), true) })
	t.Run("ATR changed", func(t *testing.T) { reread(t, with(func(i *Identity) { i.ATR[len(i.ATR)-1] ^= 1 }), true) })
	t.Run("other reader", func(t *testing.T) { reread(t, with(func(i *Identity) { i.Reader = "Virtual PCD 00 01" }), true) })
	t.Run("forgotten", func(t *testing.T) {
		// The subtests above replaced the reader's one entry.
		q := with(func(*Identity) {})
		if _, err := q.Certificates(); err != nil {
			t.Fatal(err)
		}
		reread(t, q, false)
		q.cache.Forget(id.Reader)
		reread(t, q, true)
		reread(t, q, false)
	})
	t.Run("no cache", func(t *testing.T) {
		q := NewPIV(sc, id, nil)
		reread(t, q, true)
		reread(t, q, true)
	})
}

func TestCertificatesCacheWithoutEvents(t *testing.T) {
	sc, p, st := newTestCard(t, cardOpts{})
	// Events 0: Windows has no event counter.
	p = NewPIV(recorderOf(t, p), Identity{Reader: testReader, Events: 0, ATR: sc.ATR()}, NewCache())
	rec := recorderOf(t, p)
	chuidCmd := h("00 CB 3F FF 05 5C 03 5F C1 02 00")

	if _, err := p.Certificates(); err != nil {
		t.Fatal(err)
	}
	if cmds := rec.take(); len(cmds) < 6 || !bytes.Equal(cmds[1], chuidCmd) {
		t.Fatalf("first Certificates(): commands %s, want SELECT, GET DATA CHUID, then the certificates", insList(cmds))
	}

	if _, err := p.Certificates(); err != nil {
		t.Fatal(err)
	}
	cmds := rec.take()
	if len(cmds) != 2 || !bytes.Equal(cmds[0], h(selectCmd)) || !bytes.Equal(cmds[1], chuidCmd) {
		t.Errorf("second Certificates(): % X, want exactly SELECT and GET DATA CHUID", cmds)
	}

	// Another card with the same ATR in the same reader: its CHUID differs.
	st.CHUID[30] ^= 0xFF // inside the GUID
	if _, err := p.Certificates(); err != nil {
		t.Fatal(err)
	}
	if cmds := rec.take(); len(cmds) <= 2 {
		t.Errorf("Certificates() after a CHUID change sent %d APDUs (%s), want a re-read", len(cmds), insList(cmds))
	}
	if _, err := p.Certificates(); err != nil {
		t.Fatal(err)
	}
	if cmds := rec.take(); len(cmds) != 2 {
		t.Errorf("Certificates() after the re-read sent %d APDUs (%s), want 2", len(cmds), insList(cmds))
	}
}

func TestCacheNeverServesAnotherCard(t *testing.T) {
	// Two different cards, one after the other, in a reader without an
	// event counter: same reader, same ATR, Events 0.
	scA, _, stA := newTestCard(t, cardOpts{})
	scB, _, stB := newTestCard(t, cardOpts{SignAlg: "p256"})
	cache := NewCache()
	id := Identity{Reader: testReader, ATR: scA.ATR()}
	if !bytes.Equal(scA.ATR(), scB.ATR()) {
		t.Fatalf("test cards have different ATRs")
	}
	for i, c := range []struct {
		sc *softcard.Card
		st *softcard.State
	}{{scA, stA}, {scB, stB}, {scA, stA}} {
		certs, err := NewPIV(c.sc, id, cache).Certificates()
		if err != nil {
			t.Fatal(err)
		}
		if want := CertID(c.st.Cert(softcard.SlotAuthentication)); len(certs) == 0 || certs[0].ID != want {
			t.Errorf("insertion %d: certificate %s, want the card's %s", i, certs[0].ID, want)
		}
	}
}

func TestCHUID(t *testing.T) {
	_, p, st := newTestCard(t, cardOpts{})
	got, err := p.CHUID()
	if err != nil {
		t.Fatalf("CHUID() error: %v", err)
	}
	if !bytes.Equal(got, st.CHUID) {
		t.Errorf("CHUID() = % X, want % X", got, st.CHUID)
	}
	if g, want := GUIDOf(got), hex.EncodeToString(st.CHUID[29:45]); g != want {
		t.Errorf("GUIDOf(CHUID) = %q, want %q", g, want)
	}
	for _, in := range [][]byte{nil, h("30 01 00"), h("34"), h("34 05 01")} {
		if g := GUIDOf(in); g != "" {
			t.Errorf("GUIDOf(% X) = %q, want \"\"", in, g)
		}
	}
}

func TestErrNotPIV(t *testing.T) {
	ops := []struct {
		name string
		do   func(p *PIV) error
	}{
		{"Certificates", func(p *PIV) error { _, err := p.Certificates(); return err }},
		{"CHUID", func(p *PIV) error { _, err := p.CHUID(); return err }},
		{"PINStatus", func(p *PIV) error { _, err := p.PINStatus(); return err }},
		{"VerifyPIN", func(p *PIV) error { return p.VerifyPIN([]byte("123456")) }},
		{"ChangePIN", func(p *PIV) error { return p.ChangePIN([]byte("123456"), []byte("654321")) }},
		{"UnblockPIN", func(p *PIV) error { return p.UnblockPIN([]byte("12345678"), []byte("654321")) }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			s := newScript(t, exchange{cmd: selectCmd, resp: "6A 82"})
			err := op.do(NewPIV(s, Identity{Reader: testReader, Events: 1}, NewCache()))
			if !errors.Is(err, ErrNotPIV) {
				t.Errorf("%s on a card without PIV = %v, want ErrNotPIV", op.name, err)
			}
			s.finish()
		})
	}
	t.Run("other refusal", func(t *testing.T) {
		s := newScript(t, exchange{cmd: selectCmd, resp: "6D 00"})
		_, err := NewPIV(s, Identity{}, nil).Certificates()
		if errors.Is(err, ErrNotPIV) || !errors.Is(err, apdu.ErrInsNotSupported) {
			t.Errorf("Certificates() with SELECT answered 6D00 = %v, want apdu.ErrInsNotSupported and not ErrNotPIV", err)
		}
		s.finish()
	})
}

// certObj wraps a certificate DER as the card's GET DATA answer.
func certObj(der []byte, info byte) []byte {
	inner := apdu.TLVBytes(0x70, der)
	inner = apdu.AppendTLV(inner, 0x71, []byte{info})
	inner = apdu.AppendTLV(inner, 0xFE, nil)
	return apdu.TLVBytes(0x53, inner)
}

func TestCertificatesBadObjects(t *testing.T) {
	_, _, st := newTestCard(t, cardOpts{})
	der := st.Cert(softcard.SlotAuthentication)
	tests := []struct {
		name string
		obj  []byte
		sw   string
		want error // nil: any error
	}{
		{"no 53", apdu.TLVBytes(0x70, der), "90 00", apdu.ErrMalformed},
		{"no 70", apdu.TLVBytes(0x53, h("71 01 00 FE 00")), "90 00", apdu.ErrMalformed},
		{"compressed", certObj(der, 0x01), "90 00", nil},
		{"not a certificate", certObj(h("30 03 02 01 01"), 0), "90 00", nil},
		{"security status", nil, "69 82", apdu.ErrSecurityStatus},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := hex.EncodeToString(tc.obj) + tc.sw
			if len(tc.obj) > 256 {
				// The card answers 256 bytes and 61xx; the client fetches the rest.
				rest := len(tc.obj) - 256
				s := newScript(t,
					exchange{cmd: selectCmd, resp: "90 00"},
					exchange{cmd: "00 CB 3F FF 05 5C 03 5F C1 05 00", resp: hex.EncodeToString(tc.obj[:256]) + "61" + hex.EncodeToString([]byte{byte(min(rest, 256))})},
				)
				for off := 256; off < len(tc.obj); off += 256 {
					end := min(off+256, len(tc.obj))
					next := len(tc.obj) - end
					sw := "90 00"
					if next > 0 {
						sw = "61" + hex.EncodeToString([]byte{byte(min(next, 256))})
					}
					s.steps = append(s.steps, exchange{
						cmd:  "00 C0 00 00" + hex.EncodeToString([]byte{byte(end - off)}),
						resp: hex.EncodeToString(tc.obj[off:end]) + sw,
					})
				}
				_, err := NewPIV(s, Identity{}, nil).Certificates()
				checkErr(t, err, tc.want)
				s.finish()
				return
			}
			s := newScript(t,
				exchange{cmd: selectCmd, resp: "90 00"},
				exchange{cmd: "00 CB 3F FF 05 5C 03 5F C1 05 00", resp: resp},
			)
			_, err := NewPIV(s, Identity{}, nil).Certificates()
			checkErr(t, err, tc.want)
			s.finish()
		})
	}
}

func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("Certificates() succeeded, want an error")
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("Certificates() = %v, want %v", err, want)
	}
}

func TestSlotString(t *testing.T) {
	for s, want := range map[Slot]string{SlotAuthentication: "9A", SlotSignature: "9C", SlotKeyManagement: "9D", SlotCardAuth: "9E", 0x05: "05"} {
		if got := s.String(); got != want {
			t.Errorf("Slot(%#x).String() = %q, want %q", byte(s), got, want)
		}
	}
}

// A caller that sorts or edits the slice it got must not change what the
// next caller gets from the cache.
func TestCertificatesReturnsCopy(t *testing.T) {
	_, p, _ := newTestCard(t, cardOpts{})
	certs, err := p.Certificates()
	if err != nil {
		t.Fatal(err)
	}
	want := certs[0].ID
	certs[0].ID = "x"
	certs[0], certs[1] = certs[1], certs[0]
	again, err := p.Certificates()
	if err != nil {
		t.Fatal(err)
	}
	if again[0].ID != want {
		t.Errorf("Certificates()[0].ID after the caller edited its copy = %q, want %q", again[0].ID, want)
	}
}
