//go:build windows

package p11

import (
	"path/filepath"

	"golang.org/x/sys/windows"

	"github.com/cardbridge/cardbridge/internal/winacl"
)

// othersMayWrite reports a module file, or its folder, that someone other
// than an administrator or the current user owns or may change. The
// vendor's module in System32 passes; a module a user keeps in their own
// folder passes for that user only (it runs with their rights anyway).
func othersMayWrite(file string) error {
	me, err := winacl.CurrentUser()
	if err != nil {
		return err
	}
	trusted := func(sid *windows.SID) bool { return winacl.Admin(sid) || sid.Equals(me) }
	for _, p := range []string{file, filepath.Dir(file)} {
		if err := winacl.Check(p, trusted); err != nil {
			return err
		}
	}
	return nil
}
