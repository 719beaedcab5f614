//go:build windows

// Package winacl answers one question about a Windows file: who, besides
// the people a caller trusts, may change it. Unix permission bits say
// nothing on Windows, where access is decided by the file's access control
// list; the system configuration (internal/config) and PKCS#11 modules
// (internal/cards/p11) are refused when someone else may write them, since
// whoever can replace them decides what CardBridge does.
package winacl

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// ErrWritableByOthers reports a file whose owner is not trusted, or that
// someone not trusted may change.
var ErrWritableByOthers = errors.New("not owned by a trusted account, or writable by others")

// writeRights are the access rights that let a holder change the file.
const writeRights = windows.FILE_WRITE_DATA | windows.FILE_APPEND_DATA | windows.FILE_WRITE_EA |
	windows.FILE_WRITE_ATTRIBUTES | windows.WRITE_DAC | windows.WRITE_OWNER | windows.DELETE |
	windows.GENERIC_WRITE | windows.GENERIC_ALL

// Admin reports whether sid is the local Administrators group, SYSTEM or
// TrustedInstaller.
func Admin(sid *windows.SID) bool {
	if sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) || sid.IsWellKnown(windows.WinLocalSystemSid) {
		return true
	}
	return sid.String() == "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464" // NT SERVICE\TrustedInstaller
}

// CurrentUser is the SID of the user this process runs as.
func CurrentUser() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, err
	}
	return u.User.Sid.Copy()
}

// Check accepts path only when trusted(owner) holds and every
// access-allowed entry of its DACL that grants a write right names a SID
// trusted accepts (CREATOR OWNER always passes: it applies to files created
// later, not to this one).
func Check(path string, trusted func(*windows.SID) bool) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return err
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil || !trusted(owner) {
		return fmt.Errorf("%s: owner %v: %w", path, owner, ErrWritableByOthers)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if dacl == nil { // a NULL DACL grants everyone everything
		return fmt.Errorf("%s: no access control list: %w", path, ErrWritableByOthers)
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Mask&writeRights == 0 {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if !trusted(sid) && !sid.IsWellKnown(windows.WinCreatorOwnerSid) {
			return fmt.Errorf("%s: %s may write it: %w", path, sid, ErrWritableByOthers)
		}
	}
	return nil
}
