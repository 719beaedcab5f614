package p11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// ErrUnsafeModule refuses a module path that is not absolute, or a module
// file or folder others may write to: whoever can replace the file runs
// code in CardBridge, next to the PINs.
var ErrUnsafeModule = errors.New("unsafe PKCS#11 module path")

// ErrNoModule reports a module path with no file, or a file that is not a
// PKCS#11 module.
var ErrNoModule = errors.New("not a PKCS#11 module")

// CheckPath returns the real path of the module at p (symbolic links
// resolved), after refusing a relative path and a file or folder writable
// by others (group or world). On Windows the permission bits say nothing
// about ACLs, so only the path's form and the file's existence are
// checked there (TODO: check the ACLs).
func CheckPath(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("PKCS#11 module %q: the path must be absolute: %w", p, ErrUnsafeModule)
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(p))
	if err != nil {
		return "", fmt.Errorf("PKCS#11 module %s: %w: %w", p, ErrNoModule, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("PKCS#11 module %s: %w: %w", p, ErrNoModule, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("PKCS#11 module %s: not a regular file: %w", p, ErrNoModule)
	}
	if runtime.GOOS == "windows" {
		return real, nil
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("PKCS#11 module %s: the file is writable by others (%v): %w", real, fi.Mode().Perm(), ErrUnsafeModule)
	}
	dir := filepath.Dir(real)
	di, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("PKCS#11 module %s: folder %s: %w", p, dir, err)
	}
	if di.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("PKCS#11 module %s: its folder %s is writable by others (%v): %w", real, dir, di.Mode().Perm(), ErrUnsafeModule)
	}
	return real, nil
}
