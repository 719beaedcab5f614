package p11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// by others: on Unix by group or world (permission bits), on Windows by
// anyone but Administrators, SYSTEM, TrustedInstaller and the current user
// (the access control lists, path_windows.go).
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
	if err := othersMayWrite(real); err != nil {
		return "", fmt.Errorf("PKCS#11 module %s: %w: %w", real, ErrUnsafeModule, err)
	}
	return real, nil
}
