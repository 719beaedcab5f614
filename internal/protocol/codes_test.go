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

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

func TestCodeFor(t *testing.T) {
	wrapped := func(err error) error { return fmt.Errorf("sign: general authenticate 9A: %w", err) }
	for _, tc := range []struct {
		err  error
		want Code
	}{
		{nil, ""},
		{wrapped(pcsc.ErrNoService), ErrNoService},
		{wrapped(pcsc.ErrNoReader), ErrNoReader},
		{wrapped(pcsc.ErrUnknownReader), ErrNoReader},
		{wrapped(pcsc.ErrNoCard), ErrNoCard},
		{wrapped(pcsc.ErrCardRemoved), ErrCardRemoved},
		{wrapped(pcsc.ErrCardReset), ErrCardReset},
		{wrapped(pcsc.ErrReaderUnavailable), ErrReaderUnavailable},
		{wrapped(pcsc.ErrSharingViolation), ErrCardInUse},
		{wrapped(pcsc.ErrUnresponsiveCard), ErrCardUnresponsive},
		{wrapped(card.ErrNotPIV), ErrUnsupportedCard},
		{wrapped(&card.AuthError{Ref: card.RefPIN, TriesLeft: 2, Err: apdu.Status(0x63C2)}), ErrPINIncorrect},
		{wrapped(&card.AuthError{Ref: card.RefPIN, Blocked: true, Err: apdu.ErrAuthBlocked}), ErrPINBlocked},
		{wrapped(&card.AuthError{Ref: card.RefPUK, TriesLeft: 1}), ErrPUKIncorrect},
		{wrapped(&card.AuthError{Ref: card.RefPUK, Blocked: true}), ErrPUKBlocked},
		{wrapped(card.ErrPINFormat), ErrPINFormat},
		{wrapped(card.ErrUnknownCertificate), ErrUnknownCertificate},
		{wrapped(card.ErrUnsupported), ErrUnsupportedAlg},
		{wrapped(card.ErrDecrypt), ErrDecryptFailed},
		{wrapped(context.DeadlineExceeded), ErrTimeout},
		{wrapped(pcsc.ErrTimeout), ErrTimeout},
		{wrapped(context.Canceled), ErrCancelled},
		{wrapped(apdu.ErrNotFound), ErrInternal},
		{errors.New("anything else"), ErrInternal},
		{&FrameError{Size: MaxRequestSize + 1, Resynced: true, Err: ErrFrameTooLarge}, ErrMessageTooLarge},
		{wrapped(&FrameError{Size: 0xFFFFFFFF, Err: ErrFrameTooLarge}), ErrMessageTooLarge},
		{&FrameError{Size: 0, Resynced: true, Err: ErrFrameEmpty}, ErrBadMessage},
		{wrapped(&FrameError{Size: MaxResponseSize + 1, Err: ErrOversizeResponse}), ErrResponseTooLarge},
		{wrapped(Errorf(ErrUnknownCommand, "no such command %q", "x")), ErrUnknownCommand},
		{&Error{Code: ErrBusy}, ErrBusy},
		// A protocol error that wraps a card error keeps its own code.
		{&Error{Code: ErrCertificateUsage, Err: card.ErrUnknownCertificate}, ErrCertificateUsage},
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

func TestDetails(t *testing.T) {
	d := Details(fmt.Errorf("x: %w", &card.AuthError{Ref: card.RefPIN, TriesLeft: 1}))
	if d["triesLeft"] != 1 || d["reference"] != "PIN" {
		t.Errorf("Details(wrong PIN) = %v, want triesLeft 1, reference PIN", d)
	}
	if d := Details(errors.New("x")); d != nil {
		t.Errorf("Details(other) = %v, want nil", d)
	}
}

func TestDetailsTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want map[string]any
	}{
		{"wrong PUK", &card.AuthError{Ref: card.RefPUK, TriesLeft: 2}, map[string]any{"triesLeft": 2, "reference": "PUK"}},
		{"blocked PIN", fmt.Errorf("x: %w", &card.AuthError{Ref: card.RefPIN, Blocked: true}), map[string]any{"triesLeft": 0, "reference": "PIN"}},
		{"oversize request", &FrameError{Size: MaxRequestSize + 1, Resynced: true, Err: ErrFrameTooLarge},
			map[string]any{"size": uint32(MaxRequestSize + 1), "limit": MaxRequestSize}},
		{"oversize response", fmt.Errorf("write: %w", &FrameError{Size: MaxResponseSize + 5, Err: ErrOversizeResponse}),
			map[string]any{"size": uint32(MaxResponseSize + 5), "limit": MaxResponseSize}},
		{"argument", argErr(&ArgError{Arg: "digest", Reason: "too long"}), map[string]any{"argument": "digest", "reason": "too long"}},
		{"missing argument", argErr(&ArgError{Arg: "pin", Missing: true}), map[string]any{"argument": "pin"}},
		{"origin", CheckOrigin("ftp://x"), map[string]any{"origin": "ftp://x"}},
		{"protocol error without details", Errorf(ErrBadMessage, "x"), nil},
		{"card error", card.ErrDecrypt, nil},
		{"nil", nil, nil},
	} {
		if got := Details(tc.err); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Details(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
