//go:build !windows

package nativehost

import (
	"os"
	"syscall"
)

// openAppend opens path for appending, creating it 0600, and refuses a
// symbolic link (O_NOFOLLOW): a log path in a folder another user can
// write must not let them point the host's writes at a file of theirs
// choosing.
func openAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
}
