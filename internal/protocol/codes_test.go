package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestCodeFor(t *testing.T) {
	wrapped := func(err error) error { return fmt.Errorf("sign: general authenticate 9A: %w", err) }
	for _, tc := range []struct {
		err  error
		want Code
	}{
		{nil, ""},
		{wrapped(context.DeadlineExceeded), ErrTimeout},
		{wrapped(context.Canceled), ErrCancelled},
		{errors.New("anything else"), ErrInternal},
		{&FrameError{Size: MaxRequestSize + 1, Resynced: true, Err: ErrFrameTooLarge}, ErrMessageTooLarge},
		{wrapped(&FrameError{Size: 0xFFFFFFFF, Err: ErrFrameTooLarge}), ErrMessageTooLarge},
		{&FrameError{Size: 0, Resynced: true, Err: ErrFrameEmpty}, ErrBadMessage},
		{wrapped(&FrameError{Size: MaxResponseSize + 1, Err: ErrOversizeResponse}), ErrResponseTooLarge},
		{wrapped(Errorf(ErrUnknownCommand, "no such command %q", "x")), ErrUnknownCommand},
		{&Error{Code: ErrBusy}, ErrBusy},
		// A protocol error keeps its own code whatever it wraps.
		{&Error{Code: ErrCertificateUsage, Err: context.Canceled}, ErrCertificateUsage},
		{argErr(&ArgError{Arg: "pin", Missing: true}), ErrMissingArgument},
		{argErr(&ArgError{Arg: "pin", Reason: "x"}), ErrBadArgument},
		{CheckOrigin("http://example.com"), ErrBadOrigin},
		{io.EOF, ErrInternal},
	} {
		if got := CodeFor(tc.err); got != tc.want {
			t.Errorf("CodeFor(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// Every code has a message in both languages that says what to do, and
// every message belongs to a code.
func TestMessagesComplete(t *testing.T) {
	codes := Codes
	seen := map[Code]bool{}
	for _, c := range codes {
		if seen[c] {
			t.Errorf("code %s listed twice", c)
		}
		seen[c] = true
	}
	if len(Messages) != len(codes) {
		t.Errorf("len(Messages) = %d, want %d", len(Messages), len(codes))
	}
	for _, c := range codes {
		m, ok := Messages[c]
		if !ok || m.ZH == "" || m.EN == "" {
			t.Errorf("Messages[%s] = %+v, want both languages", c, m)
			continue
		}
		if !strings.HasPrefix(string(c), "ERR_") || strings.ToUpper(string(c)) != string(c) {
			t.Errorf("code %q is not ERR_UPPER_CASE", c)
		}
		if !strings.ContainsFunc(m.ZH, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
			t.Errorf("Messages[%s].ZH = %q has no Chinese", c, m.ZH)
		}
	}
}

func TestDetailsTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want map[string]any
	}{
		{"oversize request", &FrameError{Size: MaxRequestSize + 1, Resynced: true, Err: ErrFrameTooLarge},
			map[string]any{"size": uint32(MaxRequestSize + 1), "limit": MaxRequestSize}},
		{"oversize response", fmt.Errorf("write: %w", &FrameError{Size: MaxResponseSize + 5, Err: ErrOversizeResponse}),
			map[string]any{"size": uint32(MaxResponseSize + 5), "limit": MaxResponseSize}},
		{"argument", argErr(&ArgError{Arg: "digest", Reason: "too long"}), map[string]any{"argument": "digest", "reason": "too long"}},
		{"missing argument", argErr(&ArgError{Arg: "pin", Missing: true}), map[string]any{"argument": "pin"}},
		{"origin", CheckOrigin("ftp://x"), map[string]any{"origin": "ftp://x"}},
		{"protocol error without details", Errorf(ErrBadMessage, "x"), nil},
		{"unmapped error", errors.New("x"), nil},
		{"nil", nil, nil},
	} {
		if got := Details(tc.err); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Details(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
