//go:build !windows

package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// trustedOwner is the owner a system file and its directory must have:
// root. Tests that cannot run as root set it to their own uid.
var trustedOwner = 0

// errUntrusted reports a system file someone other than an administrator
// could have written.
var errUntrusted = errors.New("not owned by root, or writable by others")

// checkSystemFile accepts path when it is a regular file (not a symbolic
// link) owned by root (or, with byUser, by the current user) and not
// writable by group or others, in a directory with the same properties,
// so that no other user could have written or replaced it.
func checkSystemFile(path string, byUser bool) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: %w", p, errUntrusted)
		}
		switch {
		case p == path && !fi.Mode().IsRegular():
			return fmt.Errorf("%s: not a regular file: %w", p, errUntrusted)
		case int(st.Uid) != trustedOwner && !(byUser && int(st.Uid) == os.Getuid()):
			return fmt.Errorf("%s: owner uid %d: %w", p, st.Uid, errUntrusted)
		case fi.Mode().Perm()&0o022 != 0:
			return fmt.Errorf("%s: mode %v: %w", p, fi.Mode().Perm(), errUntrusted)
		}
	}
	return nil
}
