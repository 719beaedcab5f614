//go:build !windows

package p11

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// othersMayWrite reports a module file, or its folder, that its group or
// everyone may write, or that belongs to someone other than root and the
// current user: the owner of a file may always change it, and module
// discovery looks in folders (a shared Homebrew prefix, /usr/local/lib)
// that an ordinary user can own on a computer shared by several clerks.
func othersMayWrite(file string) error {
	me := os.Geteuid()
	for _, p := range []string{file, filepath.Dir(file)} {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		what := "the file"
		if p != file {
			what = "its folder " + p
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != me {
			return fmt.Errorf("%s belongs to user %d, neither root nor this user", what, st.Uid)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("%s is writable by others (%v)", what, fi.Mode().Perm())
		}
	}
	return nil
}
