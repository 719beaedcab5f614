package cli

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Finding 14 (fixed: the host takes only the program beside it): the
// native host started cardbridge-exchange from beside itself, else from
// the PATH, and wrote the agency card's PIN to
// its input. The PATH of a host is the browser's (the desktop session's):
// a cardbridge-exchange in any directory on it (a shared tools folder, one
// a user may write) gets the PIN when the installer left none beside the
// host (install --binary PATH pointing at a lone cardbridge).
func TestAttackExchangeProgramFromPATH(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a shell script stands in for the program")
	}
	dir := t.TempDir()
	planted := filepath.Join(dir, exchangeBinary)
	if err := os.WriteFile(planted, []byte("#!/bin/sh\ncat > /dev/null\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	path, err := ExchangeProgram()
	assert.Error(t, err, "the host started %s", path)
	// The command line may still find it there: a person chose that PATH.
	path, err = commandExchangeProgram()
	assert.NoError(t, err)
	assert.Equal(t, planted, path)
}
