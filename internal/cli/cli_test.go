package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/card"
)

// Usage mistakes exit 2 before anything touches PC/SC.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"bogus"},
		{"certs", "extra"},
		{"certs", "--no-such-flag"},
		{"pin"},
		{"pin", "dance"},
		{"sign"},
		{"sign", "--in", "a", "--digest", "00"},
		{"sign", "--digest", "abcd"},
		{"sign", "--digest", strings.Repeat("00", 32), "--hash", "md5"},
		{"softcard"}, // moved to cardbridge-softcard: says so
		{"native"},
	} {
		var out, errb bytes.Buffer
		if code := Run(args, strings.NewReader(""), &out, &errb, Options{}); code != 2 {
			t.Errorf("run(%q) = %d, want 2\n%s", args, code, errb.String())
		}
	}
}

func TestSecretFromStdin(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr error
	}{
		{"123456\n654321\n", []string{"123456", "654321"}, nil},
		{"123456\r\n654321", []string{"123456", "654321"}, nil},
		{"123456\n", []string{"123456", ""}, errUsage},
		{strings.Repeat("9", 65) + "\n", []string{""}, card.ErrPINFormat},
	} {
		c := &cli{stdin: strings.NewReader(tc.in)}
		var err error
		for i, want := range tc.want {
			var got []byte
			got, err = c.secret(true, "PIN", "PIN")
			if err != nil {
				break
			}
			if string(got) != want {
				t.Errorf("secret(%q) #%d = %q, want %q", tc.in, i, got, want)
			}
		}
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("secret(%q) error = %v, want %v", tc.in, err, tc.wantErr)
		}
	}
}

// Without --pin-stdin and without a terminal the PIN is not read from a
// pipe by accident.
func TestSecretNeedsTerminal(t *testing.T) {
	c := &cli{stdin: strings.NewReader("123456\n"), stderr: &bytes.Buffer{}}
	if _, err := c.secret(false, "PIN", "PIN"); !errors.Is(err, errUsage) {
		t.Errorf("secret(no terminal) = %v, want a usage error", err)
	}
}
