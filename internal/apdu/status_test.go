package apdu

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

var sentinels = []struct {
	name string
	err  Status
	sw   uint16
}{
	{"ErrWrongPIN", ErrWrongPIN, 0x63C0},
	{"ErrWrongLength", ErrWrongLength, 0x6700},
	{"ErrSecurityStatus", ErrSecurityStatus, 0x6982},
	{"ErrAuthBlocked", ErrAuthBlocked, 0x6983},
	{"ErrRefDataNotUsable", ErrRefDataNotUsable, 0x6984},
	{"ErrConditions", ErrConditions, 0x6985},
	{"ErrWrongData", ErrWrongData, 0x6A80},
	{"ErrFuncNotSupported", ErrFuncNotSupported, 0x6A81},
	{"ErrNotFound", ErrNotFound, 0x6A82},
	{"ErrNoSpace", ErrNoSpace, 0x6A84},
	{"ErrIncorrectP1P2", ErrIncorrectP1P2, 0x6A86},
	{"ErrRefDataNotFound", ErrRefDataNotFound, 0x6A88},
	{"ErrInsNotSupported", ErrInsNotSupported, 0x6D00},
	{"ErrClaNotSupported", ErrClaNotSupported, 0x6E00},
	{"ErrUnknown", ErrUnknown, 0x6F00},
}

// TestStatusIsSentinels checks every sentinel against the status word of
// every sentinel: a word matches its own sentinel and no other.
func TestStatusIsSentinels(t *testing.T) {
	for _, sw := range sentinels {
		t.Run(fmt.Sprintf("%04X", sw.sw), func(t *testing.T) {
			// The error a caller gets: a Response's Err, wrapped once.
			r := Response{SW: sw.sw}
			err := fmt.Errorf("GET DATA: %w", r.Err())
			for _, target := range sentinels {
				want := target.sw == sw.sw
				if got := errors.Is(err, target.err); got != want {
					t.Errorf("errors.Is(%v, %s) = %v, want %v", err, target.name, got, want)
				}
			}
			if got := errors.Is(err, io.EOF); got {
				t.Errorf("errors.Is(%v, io.EOF) = %v, want false", err, got)
			}
		})
	}
}

func TestStatusWrongPINFamily(t *testing.T) {
	for x := range 16 {
		sw := uint16(0x63C0 | x)
		t.Run(fmt.Sprintf("%04X", sw), func(t *testing.T) {
			st := Status(sw)
			if !errors.Is(st, ErrWrongPIN) {
				t.Errorf("errors.Is(Status(%04X), ErrWrongPIN) = false, want true", sw)
			}
			n, ok := st.TriesLeft()
			if n != x || !ok {
				t.Errorf("Status(%04X).TriesLeft() = %d, %v, want %d, true", sw, n, ok, x)
			}
			if errors.Is(st, ErrAuthBlocked) {
				t.Errorf("errors.Is(Status(%04X), ErrAuthBlocked) = true, want false", sw)
			}
			if want := fmt.Sprintf("%d tries left", x); !strings.Contains(st.Error(), want) {
				t.Errorf("Status(%04X).Error() = %q, want it to contain %q", sw, st.Error(), want)
			}
		})
	}
}

// TestStatusNotWrongPIN lists words next to the 63Cx family that must not
// match it; 6983 (blocked) in particular is what a card answers once the
// tries are spent, and callers treat it differently from a wrong PIN.
func TestStatusNotWrongPIN(t *testing.T) {
	for _, sw := range []uint16{0x6983, 0x6300, 0x63B0, 0x63BF, 0x63D0, 0x6282, 0x64C0, 0x73C0, 0x9000, 0x6982} {
		t.Run(fmt.Sprintf("%04X", sw), func(t *testing.T) {
			st := Status(sw)
			if errors.Is(st, ErrWrongPIN) {
				t.Errorf("errors.Is(Status(%04X), ErrWrongPIN) = true, want false", sw)
			}
			if n, ok := st.TriesLeft(); n != 0 || ok {
				t.Errorf("Status(%04X).TriesLeft() = %d, %v, want 0, false", sw, n, ok)
			}
		})
	}
}

// TestStatusIsExactForOtherTargets checks that only ErrWrongPIN matches a
// family: a 63Cx target other than 63C0 matches its exact word only.
func TestStatusIsExactForOtherTargets(t *testing.T) {
	tests := []struct {
		err, target Status
		want        bool
	}{
		{Status(0x63C3), Status(0x63C3), true},
		{Status(0x63C3), Status(0x63C2), false},
		{Status(0x63C0), Status(0x63C3), false},
		{Status(0x6A82), Status(0x6A83), false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%04X_%04X", uint16(tc.err), uint16(tc.target)), func(t *testing.T) {
			if got := errors.Is(tc.err, tc.target); got != tc.want {
				t.Errorf("errors.Is(Status(%04X), Status(%04X)) = %v, want %v", uint16(tc.err), uint16(tc.target), got, tc.want)
			}
		})
	}
}

func TestStatusWrapped(t *testing.T) {
	st := Status(0x63C2)
	err := fmt.Errorf("x: %w", st)
	err2 := fmt.Errorf("verify PIN: %w", err)
	for _, e := range []error{err, err2} {
		if !errors.Is(e, ErrWrongPIN) {
			t.Errorf("errors.Is(%q, ErrWrongPIN) = false, want true", e)
		}
		var got Status
		if !errors.As(e, &got) {
			t.Fatalf("errors.As(%q, *Status) = false, want true", e)
		}
		if got != st {
			t.Errorf("errors.As(%q, *Status) gives %04X, want %04X", e, uint16(got), uint16(st))
		}
		if n, ok := got.TriesLeft(); n != 2 || !ok {
			t.Errorf("TriesLeft() of the Status in %q = %d, %v, want 2, true", e, n, ok)
		}
	}
	// errors.Join keeps the match as well.
	joined := errors.Join(errors.New("other"), Status(0x6A82))
	if !errors.Is(joined, ErrNotFound) {
		t.Errorf("errors.Is(%q, ErrNotFound) = false, want true", joined)
	}
}

func TestStatusError(t *testing.T) {
	tests := []struct {
		sw   uint16
		want string
	}{
		{0x63C2, "card status 63C2 (verification failed, 2 tries left)"},
		{0x6983, "card status 6983 (authentication method blocked)"},
		{0x6A82, "card status 6A82 (not found)"},
		{0x6D00, "card status 6D00 (instruction not supported)"},
		{0x6282, "card status 6282 (warning)"},
		{0x6300, "card status 6300 (warning)"},
		{0x6581, "card status 6581 (execution error)"},
		{0x6B00, "card status 6B00 (checking error)"},
		{0x9000, "card status 9000 (unknown)"},
		{0x1234, "card status 1234 (unknown)"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%04X", tc.sw), func(t *testing.T) {
			if got := Status(tc.sw).Error(); got != tc.want {
				t.Errorf("Status(%04X).Error() = %q, want %q", tc.sw, got, tc.want)
			}
		})
	}
	// Every sentinel has its own meaning, not a family fallback.
	for _, s := range sentinels {
		msg := s.err.Error()
		for _, generic := range []string{"(warning)", "(execution error)", "(checking error)", "(unknown)"} {
			if strings.HasSuffix(msg, generic) {
				t.Errorf("%s.Error() = %q, want a specific meaning", s.name, msg)
			}
		}
	}
}

func TestResponseErr(t *testing.T) {
	tests := []struct {
		sw      uint16
		wantNil bool
	}{
		{0x9000, true},
		{0x6100, false}, // more data: the transport handles it, but it is not success
		{0x6C10, false},
		{0x63C2, false},
		{0x6A82, false},
		{0x9001, false},
		{0x0000, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%04X", tc.sw), func(t *testing.T) {
			r := Response{Data: []byte{0x01}, SW: tc.sw}
			err := r.Err()
			if (err == nil) != tc.wantNil {
				t.Fatalf("Response{SW: %04X}.Err() = %v, want nil %v", tc.sw, err, tc.wantNil)
			}
			if err == nil {
				return
			}
			var st Status
			if !errors.As(err, &st) || uint16(st) != tc.sw {
				t.Errorf("Response{SW: %04X}.Err() = %#v, want Status(%04X)", tc.sw, err, tc.sw)
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantData []byte
		wantSW   uint16
	}{
		{"status only", []byte{0x90, 0x00}, nil, 0x9000},
		{"wrong PIN", []byte{0x63, 0xC2}, nil, 0x63C2},
		{"data", []byte{0x53, 0x00, 0x90, 0x00}, []byte{0x53, 0x00}, 0x9000},
		{"more data", cat(seq(256), []byte{0x61, 0x10}), seq(256), 0x6110},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseResponse(tc.in)
			if err != nil {
				t.Fatalf("ParseResponse(%X) error: %v", tc.in, err)
			}
			if string(got.Data) != string(tc.wantData) || got.SW != tc.wantSW {
				t.Errorf("ParseResponse(%X) = {%X %04X}, want {%X %04X}", tc.in, got.Data, got.SW, tc.wantData, tc.wantSW)
			}
			if got.SW1() != byte(tc.wantSW>>8) || got.SW2() != byte(tc.wantSW) {
				t.Errorf("ParseResponse(%X) SW1, SW2 = %02X, %02X, want %02X, %02X", tc.in, got.SW1(), got.SW2(), byte(tc.wantSW>>8), byte(tc.wantSW))
			}
			if b := got.Bytes(); string(b) != string(tc.in) {
				t.Errorf("ParseResponse(%X).Bytes() = %X, want %X", tc.in, b, tc.in)
			}
		})
	}
	for _, in := range [][]byte{nil, {}, {0x90}} {
		if got, err := ParseResponse(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseResponse(%X) = %v, %v, want error matching ErrMalformed", in, got, err)
		}
	}
}
