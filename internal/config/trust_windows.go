//go:build windows

package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// errUntrusted reports a system file someone other than an administrator
// could have written.
var errUntrusted = errors.New("not owned by Administrators or SYSTEM, or writable by others")

// writeRights are the access rights that let a holder change the file.
const writeRights = windows.FILE_WRITE_DATA | windows.FILE_APPEND_DATA | windows.FILE_WRITE_EA |
	windows.FILE_WRITE_ATTRIBUTES | windows.WRITE_DAC | windows.WRITE_OWNER | windows.DELETE |
	windows.GENERIC_WRITE | windows.GENERIC_ALL

// admin reports whether sid is the local Administrators group, SYSTEM or
// TrustedInstaller.
func admin(sid *windows.SID) bool {
	if sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) || sid.IsWellKnown(windows.WinLocalSystemSid) {
		return true
	}
	return sid.String() == "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464" // NT SERVICE\TrustedInstaller
}

// checkSystemFile accepts path (in %ProgramData%, which standard users may
// write to) only when its owner is an administrator and no access-allowed
// entry of its DACL gives write rights to anyone else. Its folder is
// checked the same way, so the file cannot be replaced.
// byUser is not offered on Windows: development there uses the user file.
func checkSystemFile(path string, byUser bool) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			return err
		}
		owner, _, err := sd.Owner()
		if err != nil || owner == nil || !admin(owner) {
			return fmt.Errorf("%s: owner %v: %w", p, owner, errUntrusted)
		}
		dacl, _, err := sd.DACL()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if dacl == nil { // a NULL DACL grants everyone everything
			return fmt.Errorf("%s: no access control list: %w", p, errUntrusted)
		}
		for i := uint32(0); i < uint32(dacl.AceCount); i++ {
			var ace *windows.ACCESS_ALLOWED_ACE
			if err := windows.GetAce(dacl, i, &ace); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Mask&writeRights == 0 {
				continue
			}
			sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
			if !admin(sid) && !sid.IsWellKnown(windows.WinCreatorOwnerSid) {
				return fmt.Errorf("%s: %s may write it: %w", p, sid, errUntrusted)
			}
		}
	}
	return nil
}
