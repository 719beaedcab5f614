//go:build windows

package config

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cardbridge/cardbridge/internal/winacl"
)

// errUntrusted reports a system file someone other than an administrator
// could have written.
var errUntrusted = errors.New("not owned by Administrators or SYSTEM, or writable by others")

// checkSystemFile accepts path (in %ProgramData%, which standard users may
// write to) only when its owner is an administrator and no access-allowed
// entry of its DACL gives write rights to anyone else. Its folder is
// checked the same way, so the file cannot be replaced.
// byUser is not offered on Windows: development there uses the user file.
func checkSystemFile(path string, byUser bool) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		if err := winacl.Check(p, winacl.Admin); err != nil {
			return fmt.Errorf("%w: %w", errUntrusted, err)
		}
	}
	return nil
}
