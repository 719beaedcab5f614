package softcard

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/cardbridge/cardbridge/internal/testca"
)

// selectTemplate is the SELECT answer: the application property template
// with the PIX, the coexistent tag allocation authority and the label.
var selectTemplate = cat(h("61 26 4F 06 00 00 10 00 01 00 79 07 4F 05 A0 00 00 03 08 50 13"), []byte("CardBridge TEST PIV"))

func TestSelect(t *testing.T) {
	tests := []struct {
		name     string
		cmd      []byte
		wantSW   uint16
		wantData []byte
	}{
		{"full AID", selectAID(h("A0 00 00 03 08 00 00 10 00 01 00")), 0x9000, selectTemplate},
		{"9-byte truncated AID", selectAID(h("A0 00 00 03 08 00 00 10 00")), 0x9000, selectTemplate},
		{"5-byte RID", selectAID(h("A0 00 00 03 08")), 0x9000, selectTemplate},
		{"without Le", capdu(0, 0xA4, 0x04, 0x00, PIVAID[:9], -1), 0x9000, selectTemplate},
		{"foreign AID", selectAID(h("A0 00 00 00 01 01")), 0x6A82, nil},
		{"OpenPGP AID", selectAID(h("D2 76 00 01 24 01")), 0x6A82, nil},
		{"4-byte prefix", selectAID(h("A0 00 00 03")), 0x6A82, nil},
		{"AID too long", selectAID(h("A0 00 00 03 08 00 00 10 00 01 00 00")), 0x6A82, nil},
		{"other version", selectAID(h("A0 00 00 03 08 00 00 10 00 02 00")), 0x6A82, nil},
		{"select by file id", capdu(0, 0xA4, 0x00, 0x00, PIVAID, 0), 0x6A82, nil},
		{"no data", capdu(0, 0xA4, 0x04, 0x00, nil, 0), 0x6A82, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCard(t, cardOpts{})
			r := transmit(t, c, tc.cmd)
			if got := swOf(r); got != tc.wantSW {
				t.Fatalf("Transmit(% X) SW = %04X, want %04X", tc.cmd, got, tc.wantSW)
			}
			if got := r[:len(r)-2]; !bytes.Equal(got, tc.wantData) {
				t.Errorf("Transmit(% X) data = % X, want % X", tc.cmd, got, tc.wantData)
			}
			// Only a PIV SELECT selects the application.
			wantSW := uint16(0x6D00)
			if tc.wantSW == 0x9000 {
				wantSW = 0x9000
			}
			if got := swOf(transmit(t, c, getData(tagDiscovery, 0))); got != wantSW {
				t.Errorf("GET DATA Discovery after %s: SW = %04X, want %04X", tc.name, got, wantSW)
			}
		})
	}
}

func TestForeignSelectKeepsPIVSelected(t *testing.T) {
	c, _ := newTestCard(t, cardOpts{})
	runSteps(t, c, []step{
		{"select PIV", selectAID(PIVAID[:9]), 0x9000},
		{"verify", verifyPIN(DefaultPIN), 0x9000},
		{"foreign select", selectAID(h("A0 00 00 00 01 01")), 0x6A82},
		{"get data", getData(tagDiscovery, 0), 0x9000},
		{"pin status", verifyPIN(""), 0x9000},
	})
}

// SP 800-73-4 Part 2 §3.1.1: selecting the PIV application while it is
// already selected leaves every security status indicator unchanged.
func TestReselectKeepsSecurityStatus(t *testing.T) {
	c, _ := newTestCard(t, cardOpts{})
	runSteps(t, c, []step{
		{"select PIV", selectAID(PIVAID[:9]), 0x9000},
		{"verify", verifyPIN(DefaultPIN), 0x9000},
		{"select PIV again", selectAID(PIVAID[:9]), 0x9000},
		{"pin status", verifyPIN(""), 0x9000},
	})
}

func TestCommandsBeforeSelect(t *testing.T) {
	tests := []struct {
		name string
		cmd  []byte
		want uint16
	}{
		{"get data discovery", getData(tagDiscovery, 8), 0x6D00},
		{"get data cert", getData(tagCert9A, 0), 0x6D00},
		{"verify status", verifyPIN(""), 0x6D00},
		{"verify", verifyPIN(DefaultPIN), 0x6D00},
		{"verify wrong", verifyPIN("000000"), 0x6D00},
		{"change reference", changeRef(keyRefPIN, DefaultPIN, "654321"), 0x6D00},
		{"reset retry counter", resetRetry(DefaultPUK, "654321"), 0x6D00},
		{"general authenticate", capdu(0, insGeneralAuth, AlgRSA2048, 0x9A, gaData(0x81, make([]byte, 32)), 0), 0x6D00},
		{"unknown instruction", capdu(0, 0xB0, 0, 0, nil, 0), 0x6D00},
		{"get response without data", capdu(0, insGetResponse, 0, 0, nil, 0), 0x6985},
		{"class not supported", capdu(0x80, insSelect, 0x04, 0, PIVAID, 0), 0x6E00},
		{"three bytes", []byte{0x00, 0xA4, 0x04}, 0x6700},
		{"empty", nil, 0x6700},
		{"bad Lc", h("00 A4 04 00 09 A0 00"), 0x6700},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCard(t, cardOpts{})
			if got := swOf(transmit(t, c, tc.cmd)); got != tc.want {
				t.Errorf("Transmit(% X) SW = %04X, want %04X", tc.cmd, got, tc.want)
			}
			if pin, puk := c.Tries(); pin != MaxTries || puk != MaxTries {
				t.Errorf("Tries() = %d, %d, want %d, %d", pin, puk, MaxTries, MaxTries)
			}
		})
	}
}

func TestUnknownInstructionAfterSelect(t *testing.T) {
	c, _ := newTestCard(t, cardOpts{})
	runSteps(t, c, []step{
		{"select", selectAID(PIVAID), 0x9000},
		{"read binary", capdu(0, 0xB0, 0, 0, nil, 0), 0x6D00},
		{"generate key", capdu(0, 0x47, 0, 0x9A, h("AC 03 80 01 07"), 0), 0x6D00},
		{"cla 80", capdu(0x80, insGetData, 0x3F, 0xFF, h("5C 01 7E"), 0), 0x6E00},
	})
}

// certObject is the content of a certificate data object as GET DATA
// returns it: 53 { 70 DER, 71 01 00, FE 00 }.
func certObject(der []byte) []byte {
	return tlv([]byte{0x53}, cat(tlv([]byte{0x70}, der), h("71 01 00 FE 00")))
}

func TestGetData(t *testing.T) {
	discovery := h("7E 12 4F 0B A0 00 00 03 08 00 00 10 00 01 00 5F 2F 02 40 00")
	tests := []struct {
		name   string
		opts   cardOpts
		cmd    []byte
		wantSW uint16
		want   func(st *State) []byte // nil: no data
	}{
		{"discovery", cardOpts{}, getData(tagDiscovery, 0), 0x9000, func(*State) []byte { return discovery }},
		{"chuid", cardOpts{}, getData(tagCHUID, 0), 0x9000, func(st *State) []byte { return tlv([]byte{0x53}, st.CHUID) }},
		{"cert 9A", cardOpts{}, getData(tagCert9A, 0), 0x9000, func(st *State) []byte { return certObject(st.Cert(SlotAuthentication)) }},
		{"cert 9C absent", cardOpts{}, getData(tagCert9C, 0), 0x6A82, nil},
		{"cert 9D", cardOpts{}, getData(tagCert9D, 0), 0x9000, func(st *State) []byte { return certObject(st.Cert(SlotKeyManagement)) }},
		{"cert 9E absent", cardOpts{}, getData(tagCert9E, 0), 0x6A82, nil},
		{"9C card: cert 9C", cardOpts{SignSlot: SlotSignature}, getData(tagCert9C, 0), 0x9000, func(st *State) []byte { return certObject(st.Cert(SlotSignature)) }},
		{"9C card: cert 9A absent", cardOpts{SignSlot: SlotSignature}, getData(tagCert9A, 0), 0x6A82, nil},
		{"9C card: cert 9D", cardOpts{SignSlot: SlotSignature}, getData(tagCert9D, 0), 0x9000, func(st *State) []byte { return certObject(st.Cert(SlotKeyManagement)) }},
		{"CCC absent", cardOpts{}, getData(h("5F C1 07"), 8), 0x6A82, nil},
		{"key history absent", cardOpts{}, getData(h("5F C1 0C"), 8), 0x6A82, nil},
		{"no 5C", cardOpts{}, capdu(0, insGetData, 0x3F, 0xFF, h("5D 01 7E"), 0), 0x6A80, nil},
		{"empty tag", cardOpts{}, capdu(0, insGetData, 0x3F, 0xFF, h("5C 00"), 0), 0x6A80, nil},
		{"4-byte tag", cardOpts{}, capdu(0, insGetData, 0x3F, 0xFF, h("5C 04 5F C1 05 00"), 0), 0x6A80, nil},
		{"truncated TLV", cardOpts{}, capdu(0, insGetData, 0x3F, 0xFF, h("5C 03 5F"), 0), 0x6A80, nil},
		{"no data field", cardOpts{}, capdu(0, insGetData, 0x3F, 0xFF, nil, 0), 0x6A80, nil},
		{"wrong P1P2", cardOpts{}, capdu(0, insGetData, 0x3F, 0x00, h("5C 01 7E"), 0), 0x6A86, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, st := newTestCard(t, tc.opts)
			mustSelect(t, c)
			got, sw := collect(t, c, transmit(t, c, tc.cmd))
			if sw != tc.wantSW {
				t.Fatalf("GET DATA (% X) SW = %04X, want %04X", tc.cmd, sw, tc.wantSW)
			}
			var want []byte
			if tc.want != nil {
				want = tc.want(st)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("GET DATA (% X) = % X, want % X", tc.cmd, got, want)
			}
		})
	}
}

func TestCHUIDLayout(t *testing.T) {
	_, st := newTestCard(t, cardOpts{})
	// 30 19 FASC-N, 34 10 GUID, 35 08 YYYYMMDD, 3E 00, FE 00.
	if len(st.CHUID) != 0x3B {
		t.Fatalf("len(CHUID) = %d, want %d", len(st.CHUID), 0x3B)
	}
	for _, at := range []struct {
		off int
		hdr []byte
	}{{0, h("30 19")}, {27, h("34 10")}, {45, h("35 08")}, {55, h("3E 00 FE 00")}} {
		if got := st.CHUID[at.off : at.off+len(at.hdr)]; !bytes.Equal(got, at.hdr) {
			t.Errorf("CHUID[%d:] = % X, want % X", at.off, got, at.hdr)
		}
	}
}

func TestResponseChaining(t *testing.T) {
	c, st := newTestCard(t, cardOpts{})
	mustSelect(t, c)
	want := certObject(st.Cert(SlotAuthentication))
	if len(want) <= 8+256 {
		t.Fatalf("certificate object of %d bytes is too short for this test", len(want))
	}

	r := transmit(t, c, getData(tagCert9A, 8))
	if len(r) != 10 || r[8] != 0x61 {
		t.Fatalf("GET DATA Le=08 = % X, want 8 bytes and 61xx", r)
	}
	got := append([]byte(nil), r[:8]...)
	for len(got) < len(want) {
		left := len(want) - len(got)
		wantSW2 := byte(left)
		if left >= 256 {
			wantSW2 = 0
		}
		if r[len(r)-2] != 0x61 || r[len(r)-1] != wantSW2 {
			t.Fatalf("after %d bytes: SW = %04X, want 61%02X", len(got), swOf(r), wantSW2)
		}
		r = transmit(t, c, capdu(0, insGetResponse, 0, 0, nil, 0))
		got = append(got, r[:len(r)-2]...)
	}
	if swOf(r) != 0x9000 {
		t.Fatalf("last GET RESPONSE SW = %04X, want 9000", swOf(r))
	}
	if !bytes.Equal(got, want) {
		t.Errorf("chained GET DATA = % X, want % X", got, want)
	}
	if !bytes.HasPrefix(got, cat(h("53 82"))) || !bytes.HasSuffix(got, h("71 01 00 FE 00")) {
		t.Errorf("object = % X…% X, want 53 82 … 71 01 00 FE 00", got[:8], got[len(got)-8:])
	}
	if got := swOf(transmit(t, c, capdu(0, insGetResponse, 0, 0, nil, 0))); got != 0x6985 {
		t.Errorf("GET RESPONSE with nothing pending: SW = %04X, want 6985", got)
	}
}

func TestGetResponse(t *testing.T) {
	tests := []struct {
		name    string
		between []byte // command sent between GET DATA and GET RESPONSE
		get     []byte
		want    uint16
		n       int // data bytes wanted
	}{
		{"Le 05", nil, capdu(0, insGetResponse, 0, 0, nil, 0x05), 0x6107, 0x05},
		{"Le over what is left", nil, capdu(0, insGetResponse, 0, 0, nil, 0x10), 0x9000, 0x0C},
		{"Le exact", nil, capdu(0, insGetResponse, 0, 0, nil, 0x0C), 0x9000, 0x0C},
		{"wrong P1P2", nil, capdu(0, insGetResponse, 1, 0, nil, 0), 0x6A86, 0},
		{"other command drops pending data", verifyPIN(""), capdu(0, insGetResponse, 0, 0, nil, 0), 0x6985, 0},
		{"malformed command drops pending data", []byte{0}, capdu(0, insGetResponse, 0, 0, nil, 0), 0x6985, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCard(t, cardOpts{})
			mustSelect(t, c)
			// Discovery is 20 bytes: 8 now and 61 0C.
			if r := transmit(t, c, getData(tagDiscovery, 8)); !bytes.Equal(r, h("7E 12 4F 0B A0 00 00 03 61 0C")) {
				t.Fatalf("GET DATA Discovery Le=08 = % X, want 7E 12 4F 0B A0 00 00 03 61 0C", r)
			}
			if tc.between != nil {
				transmit(t, c, tc.between)
			}
			r := transmit(t, c, tc.get)
			if got := swOf(r); got != tc.want {
				t.Errorf("GET RESPONSE SW = %04X, want %04X", got, tc.want)
			}
			if got := len(r) - 2; got != tc.n {
				t.Errorf("GET RESPONSE gave %d bytes, want %d", got, tc.n)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name      string
		opts      cardOpts
		steps     []step
		wantTries int
	}{
		{"status", cardOpts{}, []step{
			{"status", verifyPIN(""), 0x63C3},
		}, 3},
		{"correct", cardOpts{}, []step{
			{"verify", verifyPIN(DefaultPIN), 0x9000},
			{"status", verifyPIN(""), 0x9000},
		}, 3},
		{"wrong until blocked", cardOpts{}, []step{
			{"wrong 1", verifyPIN("000000"), 0x63C2},
			{"wrong 2", verifyPIN("000000"), 0x63C1},
			{"wrong 3", verifyPIN("000000"), 0x63C0},
			{"wrong 4", verifyPIN("000000"), 0x6983},
			{"correct when blocked", verifyPIN(DefaultPIN), 0x6983},
			{"status", verifyPIN(""), 0x6983},
		}, 0},
		{"correct resets counter", cardOpts{}, []step{
			{"wrong 1", verifyPIN("000000"), 0x63C2},
			{"wrong 2", verifyPIN("654321"), 0x63C1},
			{"status", verifyPIN(""), 0x63C1},
			{"correct", verifyPIN(DefaultPIN), 0x9000},
			{"logout", capdu(0, insVerify, 0xFF, keyRefPIN, nil, -1), 0x9000},
			{"status", verifyPIN(""), 0x63C3},
		}, 3},
		{"wrong clears verified", cardOpts{}, []step{
			{"correct", verifyPIN(DefaultPIN), 0x9000},
			{"wrong", verifyPIN("1234567"), 0x63C2},
			{"status", verifyPIN(""), 0x63C2},
		}, 2},
		{"format errors use no try", cardOpts{}, []step{
			{"7 bytes", capdu(0, insVerify, 0, keyRefPIN, h("31 32 33 34 35 36 FF"), -1), 0x6A80},
			{"9 bytes", capdu(0, insVerify, 0, keyRefPIN, h("31 32 33 34 35 36 FF FF FF"), -1), 0x6A80},
			{"data after padding", capdu(0, insVerify, 0, keyRefPIN, h("31 32 33 FF 34 35 36 FF"), -1), 0x6A80},
			{"control character", capdu(0, insVerify, 0, keyRefPIN, h("31 32 33 34 35 0A FF FF"), -1), 0x6A80},
			{"all padding", capdu(0, insVerify, 0, keyRefPIN, h("FF FF FF FF FF FF FF FF"), -1), 0x6A80},
			{"PUK reference", capdu(0, insVerify, 0, keyRefPUK, pad8(DefaultPUK), -1), 0x6A88},
			{"P1 01", capdu(0, insVerify, 1, keyRefPIN, pad8(DefaultPIN), -1), 0x6A86},
			{"logout with data", capdu(0, insVerify, 0xFF, keyRefPIN, pad8(DefaultPIN), -1), 0x6A80},
			{"status", verifyPIN(""), 0x63C3},
		}, 3},
		{"not activated", cardOpts{NotActivated: true}, []step{
			{"status", verifyPIN(""), 0x6983},
			{"correct", verifyPIN(DefaultPIN), 0x6983},
			{"sign", capdu(0, insGeneralAuth, AlgRSA2048, 0x9A, gaData(0x81, make([]byte, 32)), 0), 0x6982},
			{"activate", resetRetry(DefaultPUK, "222222"), 0x9000},
			{"old PIN", verifyPIN(DefaultPIN), 0x63C2},
			{"new PIN", verifyPIN("222222"), 0x9000},
			{"status", verifyPIN(""), 0x9000},
		}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCard(t, tc.opts)
			mustSelect(t, c)
			runSteps(t, c, tc.steps)
			if pin, _ := c.Tries(); pin != tc.wantTries {
				t.Errorf("PIN tries = %d, want %d", pin, tc.wantTries)
			}
		})
	}
}

func TestChangeReferenceData(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step
		pin, puk int // tries wanted at the end
	}{
		{"change PIN", []step{
			{"change", changeRef(keyRefPIN, DefaultPIN, "654321"), 0x9000},
			{"old PIN", verifyPIN(DefaultPIN), 0x63C2},
			{"new PIN", verifyPIN("654321"), 0x9000},
		}, 3, 3},
		{"change PIN to 8 characters", []step{
			{"change", changeRef(keyRefPIN, DefaultPIN, "Abc-1234"), 0x9000},
			{"new PIN", verifyPIN("Abc-1234"), 0x9000},
		}, 3, 3},
		{"new PIN too short uses no try", []step{
			{"5 characters", changeRef(keyRefPIN, DefaultPIN, "12345"), 0x6A80},
			{"5 characters, wrong old PIN", changeRef(keyRefPIN, "000000", "12345"), 0x6A80},
			{"empty", changeRef(keyRefPIN, DefaultPIN, ""), 0x6A80},
			{"old PIN still valid", verifyPIN(DefaultPIN), 0x9000},
		}, 3, 3},
		{"wrong old PIN", []step{
			{"verify", verifyPIN(DefaultPIN), 0x9000},
			{"change", changeRef(keyRefPIN, "000000", "654321"), 0x63C2},
			{"status", verifyPIN(""), 0x63C2},
			{"new PIN not set", verifyPIN("654321"), 0x63C1},
		}, 1, 3},
		{"change PIN when blocked", []step{
			{"wrong 1", verifyPIN("000000"), 0x63C2},
			{"wrong 2", verifyPIN("000000"), 0x63C1},
			{"wrong 3", verifyPIN("000000"), 0x63C0},
			{"change", changeRef(keyRefPIN, DefaultPIN, "654321"), 0x6983},
		}, 0, 3},
		{"correct old PIN resets tries", []step{
			{"wrong", verifyPIN("000000"), 0x63C2},
			{"change", changeRef(keyRefPIN, DefaultPIN, "654321"), 0x9000},
		}, 3, 3},
		{"change PUK", []step{
			{"change", changeRef(keyRefPUK, DefaultPUK, "87654321"), 0x9000},
			{"old PUK", resetRetry(DefaultPUK, "111111"), 0x63C2},
			{"new PUK", resetRetry("87654321", "111111"), 0x9000},
			{"new PIN", verifyPIN("111111"), 0x9000},
		}, 3, 3},
		{"new PUK too short", []step{
			{"7 characters", changeRef(keyRefPUK, DefaultPUK, "1234567"), 0x6A80},
		}, 3, 3},
		{"wrong old PUK", []step{
			{"change", changeRef(keyRefPUK, "00000000", "87654321"), 0x63C2},
		}, 3, 2},
		{"bad parameters", []step{
			{"P2 9A", capdu(0, insChangeRef, 0, 0x9A, cat(pad8(DefaultPIN), pad8("654321")), -1), 0x6A88},
			{"P1 01", capdu(0, insChangeRef, 1, keyRefPIN, cat(pad8(DefaultPIN), pad8("654321")), -1), 0x6A86},
			{"15 bytes", capdu(0, insChangeRef, 0, keyRefPIN, cat(pad8(DefaultPIN), pad8("654321"))[:15], -1), 0x6A80},
			{"8 bytes", capdu(0, insChangeRef, 0, keyRefPIN, pad8(DefaultPIN), -1), 0x6A80},
		}, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCard(t, cardOpts{})
			mustSelect(t, c)
			runSteps(t, c, tc.steps)
			if pin, puk := c.Tries(); pin != tc.pin || puk != tc.puk {
				t.Errorf("Tries() = %d, %d, want %d, %d", pin, puk, tc.pin, tc.puk)
			}
		})
	}
}

func TestResetRetryCounter(t *testing.T) {
	block := []step{
		{"wrong 1", verifyPIN("000000"), 0x63C2},
		{"wrong 2", verifyPIN("000000"), 0x63C1},
		{"wrong 3", verifyPIN("000000"), 0x63C0},
	}
	tests := []struct {
		name     string
		steps    []step
		pin, puk int
	}{
		{"unblock", append(append([]step(nil), block...),
			step{"unblock", resetRetry(DefaultPUK, "111111"), 0x9000},
			step{"old PIN", verifyPIN(DefaultPIN), 0x63C2},
			step{"new PIN", verifyPIN("111111"), 0x9000},
		), 3, 3},
		{"wrong PUK until blocked", []step{
			{"wrong 1", resetRetry("00000000", "111111"), 0x63C2},
			{"wrong 2", resetRetry("00000000", "111111"), 0x63C1},
			{"wrong 3", resetRetry("00000000", "111111"), 0x63C0},
			{"wrong 4", resetRetry("00000000", "111111"), 0x6983},
			{"correct when blocked", resetRetry(DefaultPUK, "111111"), 0x6983},
			{"change PUK when blocked", changeRef(keyRefPUK, DefaultPUK, "87654321"), 0x6983},
			{"PIN unchanged", verifyPIN(DefaultPIN), 0x9000},
		}, 3, 0},
		{"correct PUK resets PUK tries", []step{
			{"wrong", resetRetry("00000000", "111111"), 0x63C2},
			{"correct", resetRetry(DefaultPUK, "111111"), 0x9000},
		}, 3, 3},
		{"short new PIN uses no try", []step{
			{"wrong PUK, short PIN", resetRetry("00000000", "11111"), 0x6A80},
			{"short PIN", resetRetry(DefaultPUK, "11111"), 0x6A80},
			{"PIN unchanged", verifyPIN(DefaultPIN), 0x9000},
		}, 3, 3},
		{"clears verified", []step{
			{"verify", verifyPIN(DefaultPIN), 0x9000},
			{"reset", resetRetry(DefaultPUK, "111111"), 0x9000},
			{"status", verifyPIN(""), 0x63C3},
		}, 3, 3},
		{"bad parameters", []step{
			{"P2 81", capdu(0, insResetRetry, 0, keyRefPUK, cat(pad8(DefaultPUK), pad8("111111")), -1), 0x6A86},
			{"P1 01", capdu(0, insResetRetry, 1, keyRefPIN, cat(pad8(DefaultPUK), pad8("111111")), -1), 0x6A86},
			{"8 bytes", capdu(0, insResetRetry, 0, keyRefPIN, pad8(DefaultPUK), -1), 0x6A80},
		}, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCard(t, cardOpts{})
			mustSelect(t, c)
			runSteps(t, c, tc.steps)
			if pin, puk := c.Tries(); pin != tc.pin || puk != tc.puk {
				t.Errorf("Tries() = %d, %d, want %d, %d", pin, puk, tc.pin, tc.puk)
			}
		})
	}
}

// pkcs1Block is EMSA-PKCS1-v1_5 for a SHA-256 digest in a k-byte block.
func pkcs1Block(k int, digest []byte) []byte {
	t := cat(h("30 31 30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20"), digest)
	em := bytes.Repeat([]byte{0xFF}, k)
	em[0], em[1] = 0x00, 0x01
	em[k-len(t)-1] = 0x00
	copy(em[k-len(t):], t)
	return em
}

func certOf(tb testing.TB, st *State, s Slot) *x509.Certificate {
	tb.Helper()
	cert, err := x509.ParseCertificate(st.Cert(s))
	if err != nil {
		tb.Fatalf("certificate %02X: %v", byte(s), err)
	}
	return cert
}

// signResponse extracts the signature from 7C { 82 sig }.
func signResponse(tb testing.TB, data []byte) []byte {
	tb.Helper()
	if len(data) < 4 || data[0] != 0x7C {
		tb.Fatalf("response % X is not a 7C template", data)
	}
	rest := data[1:]
	skip := func(b []byte) ([]byte, int) {
		switch {
		case b[0] < 0x80:
			return b[1:], int(b[0])
		case b[0] == 0x81:
			return b[2:], int(b[1])
		}
		return b[3:], int(b[1])<<8 | int(b[2])
	}
	rest, n := skip(rest)
	if n != len(rest) || rest[0] != 0x82 {
		tb.Fatalf("response % X: bad 7C template", data)
	}
	rest, n = skip(rest[1:])
	if n != len(rest) {
		tb.Fatalf("response % X: bad 82 length", data)
	}
	return rest
}

func TestGeneralAuthenticateRSA(t *testing.T) {
	c, st := newTestCard(t, cardOpts{})
	pub := certOf(t, st, SlotAuthentication).PublicKey.(*rsa.PublicKey)
	digest := sha256.Sum256([]byte("CardBridge softcard RSA"))
	data := gaData(0x81, pkcs1Block(256, digest[:]))
	if len(data) != 266 {
		t.Fatalf("GENERAL AUTHENTICATE data of %d bytes, want 266", len(data))
	}
	mustSelect(t, c)
	runSteps(t, c, []step{{"verify", verifyPIN(DefaultPIN), 0x9000}})

	// Chained exactly as OpenSC sends it: 255 bytes with CLA 10, then the
	// last 11 bytes, then GET RESPONSE for the 8 bytes over 256.
	if r := transmit(t, c, capdu(0x10, insGeneralAuth, AlgRSA2048, 0x9A, data[:255], -1)); !bytes.Equal(r, h("90 00")) {
		t.Fatalf("chained part 1 = % X, want 90 00", r)
	}
	r := transmit(t, c, capdu(0x00, insGeneralAuth, AlgRSA2048, 0x9A, data[255:], 0))
	if len(r) != 258 || swOf(r) != 0x6108 {
		t.Fatalf("last part = %d bytes, SW %04X; want 256 bytes and 61 08", len(r)-2, swOf(r))
	}
	if !bytes.HasPrefix(r, h("7C 82 01 04 82 82 01 00")) {
		t.Errorf("response starts % X, want 7C 82 01 04 82 82 01 00", r[:8])
	}
	resp, sw := collect(t, c, r)
	if sw != 0x9000 || len(resp) != 264 {
		t.Fatalf("GET RESPONSE: %d bytes, SW %04X; want 264, 9000", len(resp), sw)
	}
	sig := signResponse(t, resp)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("rsa.VerifyPKCS1v15: %v", err)
	}
}

func TestGeneralAuthenticateECC(t *testing.T) {
	c, st := newTestCard(t, cardOpts{SignAlg: "p256"})
	pub := certOf(t, st, SlotAuthentication).PublicKey.(*ecdsa.PublicKey)
	mustSelect(t, c)
	runSteps(t, c, []step{{"verify", verifyPIN(DefaultPIN), 0x9000}})

	t.Run("sign", func(t *testing.T) {
		digest := sha256.Sum256([]byte("CardBridge softcard ECC"))
		cmd := capdu(0, insGeneralAuth, AlgECCP256, 0x9A, gaData(0x81, digest[:]), 0)
		if !bytes.HasPrefix(cmd, h("00 87 11 9A 26 7C 24 82 00 81 20")) {
			t.Fatalf("command % X does not match OpenSC's layout", cmd)
		}
		resp, sw := collect(t, c, transmit(t, c, cmd))
		if sw != 0x9000 {
			t.Fatalf("GENERAL AUTHENTICATE SW = %04X, want 9000", sw)
		}
		if !ecdsa.VerifyASN1(pub, digest[:], signResponse(t, resp)) {
			t.Errorf("ecdsa.VerifyASN1 failed for % X", resp)
		}
	})
	t.Run("key agreement", func(t *testing.T) {
		peer, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cardPub, err := pub.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		want, err := peer.ECDH(cardPub)
		if err != nil {
			t.Fatal(err)
		}
		cmd := capdu(0, insGeneralAuth, AlgECCP256, 0x9A, gaData(0x85, peer.PublicKey().Bytes()), 0)
		resp, sw := collect(t, c, transmit(t, c, cmd))
		if sw != 0x9000 {
			t.Fatalf("GENERAL AUTHENTICATE 85 SW = %04X, want 9000", sw)
		}
		if got := signResponse(t, resp); !bytes.Equal(got, want) {
			t.Errorf("shared secret = % X, want % X", got, want)
		}
	})
	t.Run("bad inputs", func(t *testing.T) {
		runSteps(t, c, []step{
			{"RSA algorithm", capdu(0, insGeneralAuth, AlgRSA2048, 0x9A, gaData(0x81, make([]byte, 32)), 0), 0x6A86},
			{"empty digest", capdu(0, insGeneralAuth, AlgECCP256, 0x9A, gaData(0x81, nil), 0), 0x6A80},
			{"bad point", capdu(0, insGeneralAuth, AlgECCP256, 0x9A, gaData(0x85, h("04 01 02")), 0), 0x6A80},
		})
	})
}

func TestGeneralAuthenticateSecurity(t *testing.T) {
	block := pkcs1Block(256, make([]byte, 32))
	ga := func(slot Slot, alg byte, data []byte) func(t *testing.T, c *Card) uint16 {
		return func(t *testing.T, c *Card) uint16 {
			_, sw := exchangeAll(t, c, 0, insGeneralAuth, alg, byte(slot), data)
			return sw
		}
	}
	send := func(cmd []byte) func(t *testing.T, c *Card) uint16 {
		return func(t *testing.T, c *Card) uint16 { return swOf(transmit(t, c, cmd)) }
	}
	type action struct {
		name string
		do   func(t *testing.T, c *Card) uint16
		want uint16
	}
	tests := []struct {
		name    string
		opts    cardOpts
		actions []action
	}{
		{"9A without VERIFY", cardOpts{}, []action{
			{"sign", ga(SlotAuthentication, AlgRSA2048, gaData(0x81, block)), 0x6982},
		}},
		{"9A after wrong PIN", cardOpts{}, []action{
			{"verify", send(verifyPIN(DefaultPIN)), 0x9000},
			{"wrong", send(verifyPIN("000000")), 0x63C2},
			{"sign", ga(SlotAuthentication, AlgRSA2048, gaData(0x81, block)), 0x6982},
		}},
		{"9A twice after one VERIFY", cardOpts{}, []action{
			{"verify", send(verifyPIN(DefaultPIN)), 0x9000},
			{"sign 1", ga(SlotAuthentication, AlgRSA2048, gaData(0x81, block)), 0x9000},
			{"get data", send(getData(tagDiscovery, 0)), 0x9000},
			{"sign 2", ga(SlotAuthentication, AlgRSA2048, gaData(0x81, block)), 0x9000},
		}},
		{"9A after logout", cardOpts{}, []action{
			{"verify", send(verifyPIN(DefaultPIN)), 0x9000},
			{"logout", send(capdu(0, insVerify, 0xFF, keyRefPIN, nil, -1)), 0x9000},
			{"sign", ga(SlotAuthentication, AlgRSA2048, gaData(0x81, block)), 0x6982},
		}},
		{"9D decrypt without VERIFY", cardOpts{}, []action{
			{"decrypt", ga(SlotKeyManagement, AlgRSA2048, gaData(0x81, block)), 0x6982},
		}},
		{"wrong algorithm", cardOpts{}, []action{
			{"verify", send(verifyPIN(DefaultPIN)), 0x9000},
			{"sign", send(capdu(0, insGeneralAuth, AlgECCP256, 0x9A, gaData(0x81, make([]byte, 32)), 0)), 0x6A86},
		}},
		{"empty slots", cardOpts{}, []action{
			{"verify", send(verifyPIN(DefaultPIN)), 0x9000},
			{"9C", ga(SlotSignature, AlgRSA2048, gaData(0x81, block)), 0x6A88},
			{"9E", ga(SlotCardAuth, AlgRSA2048, gaData(0x81, block)), 0x6A88},
			{"9B", ga(0x9B, AlgRSA2048, gaData(0x81, block)), 0x6A88},
		}},
		{"malformed templates", cardOpts{}, []action{
			{"verify", send(verifyPIN(DefaultPIN)), 0x9000},
			{"no 82", ga(SlotAuthentication, AlgRSA2048, tlv([]byte{0x7C}, tlv([]byte{0x81}, block))), 0x6A80},
			{"no 7C", ga(SlotAuthentication, AlgRSA2048, cat(h("82 00"), tlv([]byte{0x81}, block))), 0x6A80},
			{"81 and 85", ga(SlotAuthentication, AlgRSA2048, tlv([]byte{0x7C}, cat(h("82 00 85 01 04"), tlv([]byte{0x81}, block)))), 0x6A80},
			{"85 on RSA", ga(SlotAuthentication, AlgRSA2048, gaData(0x85, block)), 0x6A80},
			{"short block", ga(SlotAuthentication, AlgRSA2048, gaData(0x81, block[1:])), 0x6A80},
			{"block over modulus", ga(SlotAuthentication, AlgRSA2048, gaData(0x81, bytes.Repeat([]byte{0xFF}, 256))), 0x6A80},
			{"still verified", ga(SlotAuthentication, AlgRSA2048, gaData(0x81, block)), 0x9000},
		}},
		{"9C needs VERIFY right before", cardOpts{SignSlot: SlotSignature}, []action{
			{"verify", send(verifyPIN(DefaultPIN)), 0x9000},
			{"get data", send(getData(tagDiscovery, 0)), 0x9000},
			{"sign", ga(SlotSignature, AlgRSA2048, gaData(0x81, block)), 0x6982},
			{"verify again", send(verifyPIN(DefaultPIN)), 0x9000},
			{"sign after verify", ga(SlotSignature, AlgRSA2048, gaData(0x81, block)), 0x9000},
			{"sign again", ga(SlotSignature, AlgRSA2048, gaData(0x81, block)), 0x6982},
			{"pin status", send(verifyPIN("")), 0x9000},
			{"sign after status", ga(SlotSignature, AlgRSA2048, gaData(0x81, block)), 0x6982},
			{"9D still usable", ga(SlotKeyManagement, AlgRSA2048, gaData(0x81, block)), 0x9000},
			{"9A empty", ga(SlotAuthentication, AlgRSA2048, gaData(0x81, block)), 0x6A88},
		}},
		{"9C without VERIFY", cardOpts{SignSlot: SlotSignature}, []action{
			{"sign", ga(SlotSignature, AlgRSA2048, gaData(0x81, block)), 0x6982},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCard(t, tc.opts)
			mustSelect(t, c)
			for i, a := range tc.actions {
				if got := a.do(t, c); got != a.want {
					t.Errorf("action %d (%s): SW = %04X, want %04X", i, a.name, got, a.want)
				}
			}
		})
	}
}

func TestCommandChaining(t *testing.T) {
	digest := sha256.Sum256([]byte("CardBridge chain"))
	data := gaData(0x81, pkcs1Block(256, digest[:]))
	part1 := capdu(0x10, insGeneralAuth, AlgRSA2048, 0x9A, data[:255], -1)
	part2 := capdu(0x00, insGeneralAuth, AlgRSA2048, 0x9A, data[255:], 0)

	t.Run("broken by another instruction", func(t *testing.T) {
		c, _ := newTestCard(t, cardOpts{})
		mustSelect(t, c)
		runSteps(t, c, []step{
			{"verify", verifyPIN(DefaultPIN), 0x9000},
			{"part 1", part1, 0x9000},
			{"get data", getData(tagDiscovery, 0), 0x9000},
			{"part 2 alone", part2, 0x6A80},
			{"part 1 again", part1, 0x9000},
		})
		resp, sw := collect(t, c, transmit(t, c, part2))
		if sw != 0x9000 || len(resp) != 264 {
			t.Errorf("whole chain after a broken one: %d bytes, SW %04X; want 264, 9000", len(resp), sw)
		}
	})
	t.Run("broken by another key reference", func(t *testing.T) {
		c, _ := newTestCard(t, cardOpts{})
		mustSelect(t, c)
		runSteps(t, c, []step{
			{"verify", verifyPIN(DefaultPIN), 0x9000},
			{"part 1", part1, 0x9000},
			{"part 2 to 9D", capdu(0x00, insGeneralAuth, AlgRSA2048, 0x9D, data[255:], 0), 0x6A80},
		})
	})
	t.Run("too long", func(t *testing.T) {
		c, _ := newTestCard(t, cardOpts{})
		mustSelect(t, c)
		chunk := bytes.Repeat([]byte{0xAA}, 255)
		var sw uint16
		n := 0
		for ; n < 20; n++ {
			if sw = swOf(transmit(t, c, capdu(0x10, insGeneralAuth, AlgRSA2048, 0x9A, chunk, -1))); sw != 0x9000 {
				break
			}
		}
		if sw != 0x6700 || n != maxChainedCommand/255 {
			t.Errorf("chain of 255-byte parts refused at part %d with %04X, want part %d with 6700", n+1, sw, maxChainedCommand/255+1)
		}
		if got := swOf(transmit(t, c, getData(tagDiscovery, 0))); got != 0x9000 {
			t.Errorf("GET DATA after an overlong chain: SW = %04X, want 9000", got)
		}
	})
}

func TestStatePersisted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "card.json")
	c, _ := newTestCard(t, cardOpts{Path: path})
	mustSelect(t, c)
	load := func() *State {
		t.Helper()
		st, err := LoadState(path)
		if err != nil {
			t.Fatalf("LoadState: %v", err)
		}
		return st
	}

	runSteps(t, c, []step{{"wrong PIN", verifyPIN("000000"), 0x63C2}})
	if st := load(); st.PINTries != 2 || st.PUKTries != 3 {
		t.Errorf("after a wrong PIN: saved tries = %d, %d, want 2, 3", st.PINTries, st.PUKTries)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}

	runSteps(t, c, []step{{"change PIN", changeRef(keyRefPIN, DefaultPIN, "654321"), 0x9000}})
	if st := load(); string(st.PIN) != "654321" || st.PINTries != 3 {
		t.Errorf("after CHANGE REFERENCE DATA: saved PIN %q tries %d, want \"654321\" 3", st.PIN, st.PINTries)
	}

	runSteps(t, c, []step{
		{"wrong PUK", resetRetry("00000000", "111111"), 0x63C2},
		{"unblock", resetRetry(DefaultPUK, "111111"), 0x9000},
	})
	if st := load(); string(st.PIN) != "111111" || st.PINTries != 3 || st.PUKTries != 3 {
		t.Errorf("after RESET RETRY COUNTER: saved PIN %q tries %d, %d, want \"111111\" 3, 3", st.PIN, st.PINTries, st.PUKTries)
	}

	// A card over the saved state remembers the new PIN.
	c2 := NewCard(load(), Options{})
	mustSelect(t, c2)
	runSteps(t, c2, []step{{"verify new PIN", verifyPIN("111111"), 0x9000}})
}

func TestReset(t *testing.T) {
	c, _ := newTestCard(t, cardOpts{})
	mustSelect(t, c)
	runSteps(t, c, []step{
		{"verify", verifyPIN(DefaultPIN), 0x9000},
		{"get data Le=08", getData(tagCert9A, 8), 0x6100},
	})
	c.Reset()
	runSteps(t, c, []step{
		{"get response after reset", capdu(0, insGetResponse, 0, 0, nil, 0), 0x6985},
		{"get data after reset", getData(tagDiscovery, 0), 0x6D00},
		{"select", selectAID(PIVAID[:9]), 0x9000},
		{"status", verifyPIN(""), 0x63C3},
		{"verify", verifyPIN(DefaultPIN), 0x9000},
		{"chain part 1", capdu(0x10, insGeneralAuth, AlgRSA2048, 0x9A, bytes.Repeat([]byte{0xAA}, 255), -1), 0x9000},
	})
	c.Reset()
	mustSelect(t, c)
	// The chain from before the reset is gone: a short template alone is a
	// whole command, refused only for want of a verified PIN.
	runSteps(t, c, []step{
		{"after reset", capdu(0, insGeneralAuth, AlgRSA2048, 0x9A, gaData(0x81, pkcs1Block(256, make([]byte, 32)))[:10], 0), 0x6982},
	})
	if pin, puk := c.Tries(); pin != 3 || puk != 3 {
		t.Errorf("Tries() after reset = %d, %d, want 3, 3", pin, puk)
	}
}

func TestATR(t *testing.T) {
	c, _ := newTestCard(t, cardOpts{})
	atr := c.ATR()
	if want := h("3B 8B 01 80 F9 A0 00 00 03 08 00 00 10 00 48"); !bytes.Equal(atr, want) {
		t.Errorf("ATR() = % X, want % X", atr, want)
	}
	if atr[0] != 0x3B {
		t.Errorf("TS = %02X, want 3B (direct convention)", atr[0])
	}
	var x byte
	for _, b := range atr[1:] {
		x ^= b
	}
	if x != 0 {
		t.Errorf("ATR % X: XOR of T0…TCK = %02X, want 00", atr, x)
	}
	if hist := int(atr[1] & 0x0F); hist != 11 {
		t.Errorf("ATR % X: %d historical bytes, want 11", atr, hist)
	}
	if !bytes.Contains(atr, cat([]byte{0xF9}, PIVAID[:9])) {
		t.Errorf("ATR % X does not carry compact-TLV F9 + PIV AID % X", atr, PIVAID[:9])
	}
	atr[0] = 0
	if c.ATR()[0] != 0x3B {
		t.Errorf("ATR() returned the card's own slice")
	}
}

func TestIssueOptions(t *testing.T) {
	ca, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []IssueOptions{
		{SignSlot: SlotKeyManagement},
		{SignSlot: SlotCardAuth},
		{SignAlg: "rsa4096"},
		{PIN: "12345"},
		{PIN: "123456789"},
		{PUK: "1234567"},
	} {
		o.Org = testca.Org{Name: "測試幼兒園"}
		if _, err := Issue(ca, o); err == nil {
			t.Errorf("Issue(%+v) succeeded, want an error", o)
		}
	}
}
