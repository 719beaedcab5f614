//go:build !windows

package nativehost

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// openAppend opens path for appending, creating it 0600, and refuses a
// symbolic link (O_NOFOLLOW): a log path in a folder another user can
// write must not let them point the host's writes at a file of theirs
// choosing.
func openAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
}

// checkLogDir refuses a log folder that another user could redirect: one
// reached through a symbolic link anywhere on its path, or with a folder on
// its path that others may write without the sticky bit (they could swap
// the next folder for a link). O_NOFOLLOW covers only the file itself.
func checkLogDir(dir string) error {
	dir = filepath.Clean(dir)
	if real, err := filepath.EvalSymlinks(dir); err != nil {
		return err
	} else if real != dir {
		return fmt.Errorf("log folder %s is reached through a symbolic link (%s)", dir, real)
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Lstat(d)
		if err != nil {
			return err
		}
		if m := fi.Mode(); m.Perm()&0o002 != 0 && m&os.ModeSticky == 0 {
			return fmt.Errorf("log folder %s: %s may be written by anyone", dir, d)
		}
		if parent := filepath.Dir(d); parent == d {
			return nil
		}
	}
}
