package main

import (
	"bytes"
	"testing"
)

// Usage mistakes exit 2 before a card is issued or served, and the controls
// never face a network.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"bogus"},
		{"ca"},
		{"issue"},
		{"issue", "--state", "x", "--slot", "9d"},
		{"serve"},
		{"serve", "--state", "x", "extra"},
		{"serve", "--state", "x", "--control", "0.0.0.0:1"},
		{"serve", "--state", "x", "--listen", "192.0.2.1:1"},
	} {
		var errb bytes.Buffer
		if code := run(args, &errb); code != 2 {
			t.Errorf("run(%q) = %d, want 2\n%s", args, code, errb.String())
		}
	}
}
