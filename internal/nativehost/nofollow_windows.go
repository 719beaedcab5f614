//go:build windows

package nativehost

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// openAppend opens path for appending, creating it, and refuses a
// symbolic link or other reparse point. Windows has no O_NOFOLLOW for
// os.OpenFile, so the check comes first and the handle is checked again:
// a link swapped in between is caught by the second look at the same
// path.
func openAppend(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("log file %s is a symbolic link", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&fs.ModeSymlink != 0 {
		f.Close()
		return nil, fmt.Errorf("log file %s changed to a symbolic link", path)
	}
	return f, nil
}

// checkLogDir refuses a log folder reached through a symbolic link or
// junction anywhere on its path.
func checkLogDir(dir string) error {
	dir = filepath.Clean(dir)
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if !strings.EqualFold(real, dir) {
		return fmt.Errorf("log folder %s is reached through a link (%s)", dir, real)
	}
	return nil
}
