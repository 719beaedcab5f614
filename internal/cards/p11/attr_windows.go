//go:build cgo && windows

package p11

import "github.com/miekg/pkcs11"

// generousAttr is not available on Windows yet (TODO: GetProcAddress on
// the module, with Windows' packed PKCS#11 structures): the two-call
// pattern of miekg/pkcs11 is all there is.
func generousAttr(string, pkcs11.SessionHandle, pkcs11.ObjectHandle, uint) ([]byte, bool, error) {
	return nil, false, nil
}
