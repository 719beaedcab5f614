//go:build !windows

package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// openNoFollow opens path for reading without following a final link
// and without blocking on a FIFO.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// fileOwner returns fi's owner and group, and whether this user (root,
// in a maintainer script) owns it.
func fileOwner(fi fs.FileInfo) (uid, gid int, owned bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, -1, false
	}
	return int(st.Uid), int(st.Gid), int(st.Uid) == os.Geteuid()
}

// safeFolder accepts dir when it, as resolved, and every folder above it
// belong to this user or root and nobody else may write them (a sticky
// folder such as /tmp excepted above the last): root never writes where a
// local user could swap the file, plant a FIFO or point a link.
func safeFolder(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for d, last := real, true; ; d, last = filepath.Dir(d), false {
		fi, err := os.Lstat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || !fi.IsDir() {
			return fmt.Errorf("%s is not a folder", d)
		}
		if int(st.Uid) != os.Geteuid() && st.Uid != 0 {
			return fmt.Errorf("%s belongs to another user: left as it is", d)
		}
		sticky := fi.Mode()&fs.ModeSticky != 0
		if fi.Mode().Perm()&0o022 != 0 && (last || !sticky) {
			return fmt.Errorf("%s may be written by others: left as it is", d)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}
