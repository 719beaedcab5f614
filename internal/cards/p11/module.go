//go:build cgo

package p11

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// DefaultTimeout bounds one module call. A module that does not return by
// then gets a *TimeoutError; the goroutine of the call stays stuck inside
// the module (C code cannot be interrupted) and the module's later calls
// may queue behind it, but CardBridge answers.
const DefaultTimeout = 2 * time.Minute

// module is a loaded, initialised PKCS#11 module. It is never finalised:
// other backends of the same module may be using it, and C_Finalize with
// a call in flight is undefined.
type module struct {
	path string
	ctx  *pkcs11.Ctx
}

var (
	registryMu sync.Mutex
	registry   = map[string]*module{}
)

// loadModule returns the module at the real path, loading and initialising
// it the first time. A module that fails to initialise is not kept, so a
// later call tries again.
func loadModule(path string, timeout time.Duration) (*module, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if m, ok := registry[path]; ok {
		return m, nil
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("PKCS#11 module %s: cannot load it or it has no C_GetFunctionList: %w", path, ErrNoModule)
	}
	m := &module{path: path, ctx: ctx}
	err := m.call(timeout, "C_Initialize", func() error {
		err := ctx.Initialize()
		if isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			return nil
		}
		return err
	})
	if err != nil {
		var te *TimeoutError
		if !errors.As(err, &te) { // a hung C_Initialize may still touch ctx
			ctx.Destroy()
		}
		return nil, fmt.Errorf("PKCS#11 module %s: %w", path, err)
	}
	registry[path] = m
	return m, nil
}

// TimeoutError reports a module call that did not return in time. It
// matches context.DeadlineExceeded, which the edge reports as a timeout.
type TimeoutError struct {
	Module string
	Op     string
	After  time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("PKCS#11 module %s: %s did not return within %v (the module hangs)", filepath.Base(e.Module), e.Op, e.After)
}

// Unwrap returns context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// call runs f, a module call, waiting at most timeout. On a timeout f
// goes on in its goroutine, stuck in the module.
func (m *module) call(timeout time.Duration, op string, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return &TimeoutError{Module: m.path, Op: op, After: timeout}
	}
}

// isCKR reports whether err is the module's return value rv.
func isCKR(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}
