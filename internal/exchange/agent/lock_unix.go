//go:build !windows

package agent

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f without waiting; the lock ends
// with the process, so a crashed agent never leaves its home locked.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
