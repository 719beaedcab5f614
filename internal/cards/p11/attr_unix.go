//go:build cgo && !windows

package p11

/*
#cgo linux LDFLAGS: -ldl
#cgo darwin LDFLAGS: -ldl
#cgo freebsd LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// The PKCS#11 types this file needs, as the standard lays them out on
// Unix (no packing; CK_ULONG is unsigned long).
typedef unsigned long ck_ulong;
typedef struct { ck_ulong type; void *pValue; ck_ulong ulValueLen; } ck_attribute;
typedef ck_ulong (*get_attr_fn)(ck_ulong, ck_ulong, ck_attribute *, ck_ulong);

// cb_get_attr_fn returns the module's C_GetAttributeValue, without loading
// the module a second time (it is loaded already), or NULL.
static void *cb_get_attr_fn(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL) {
		return NULL;
	}
	void *f = dlsym(h, "C_GetAttributeValue");
	dlclose(h); // the module stays loaded: miekg/pkcs11 holds it
	return f;
}

static ck_ulong cb_get_attr(void *f, ck_ulong session, ck_ulong object, ck_ulong type, void *buf, ck_ulong *len) {
	ck_attribute a = { type, buf, *len };
	ck_ulong rv = ((get_attr_fn)f)(session, object, &a, 1);
	*len = a.ulValueLen;
	return rv;
}
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/miekg/pkcs11"
)

// maxAttr bounds the generous buffer: a certificate is a few KB.
const maxAttr = 1 << 20

var (
	attrFnMu sync.Mutex
	attrFns  = map[string]unsafe.Pointer{}
)

func attrFn(path string) unsafe.Pointer {
	attrFnMu.Lock()
	defer attrFnMu.Unlock()
	if f, ok := attrFns[path]; ok {
		return f
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	f := C.cb_get_attr_fn(cpath)
	attrFns[path] = f
	return f
}

// generousAttr reads one attribute into a buffer of 64 KB, then larger up
// to maxAttr, for modules that answer the size query of the two-call
// pattern wrongly and then return CKR_BUFFER_TOO_SMALL. ok is false when
// the module's C_GetAttributeValue cannot be reached this way.
func generousAttr(path string, sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, ty uint) (value []byte, ok bool, err error) {
	f := attrFn(path)
	if f == nil {
		return nil, false, nil
	}
	for size := 64 << 10; size <= maxAttr; size *= 4 {
		buf := C.malloc(C.size_t(size))
		n := C.ck_ulong(size)
		rv := C.cb_get_attr(f, C.ck_ulong(sh), C.ck_ulong(o), C.ck_ulong(ty), buf, &n)
		if rv == 0 && uint64(n) <= uint64(size) {
			value = C.GoBytes(buf, C.int(n))
		}
		C.free(buf)
		switch {
		case rv == 0 && value != nil:
			return value, true, nil
		case rv == 0:
			return nil, true, pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)
		case uint(rv) != pkcs11.CKR_BUFFER_TOO_SMALL:
			return nil, true, pkcs11.Error(uint(rv))
		}
	}
	return nil, true, pkcs11.Error(pkcs11.CKR_BUFFER_TOO_SMALL)
}
