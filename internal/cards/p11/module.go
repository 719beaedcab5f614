//go:build cgo

package p11

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
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
//
// Every call to it runs on one OS thread, one at a time (work): vendor
// modules written for single-threaded Windows programs keep state per
// thread or are not safe for concurrent calls, and Go would otherwise
// run each call on whichever thread is free.
type module struct {
	path string
	ctx  *pkcs11.Ctx
	work chan func()
}

// newModule starts the module's thread.
func newModule(path string, ctx *pkcs11.Ctx) *module {
	m := &module{path: path, ctx: ctx, work: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is the module's
		for f := range m.work {
			f()
		}
	}()
	return m
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
	m := newModule(path, ctx)
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
			close(m.work)
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

// call runs f, a module call, on the module's thread, waiting at most
// timeout in all: for the thread (a call before it may hang) and for f.
// On a timeout f goes on, stuck in the module, and the calls after it
// time out waiting for the thread: CardBridge answers.
func (m *module) call(timeout time.Duration, op string, f func() error) error {
	done := make(chan error, 1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m.work <- func() { done <- f() }:
	case <-t.C:
		return &TimeoutError{Module: m.path, Op: op, After: timeout}
	}
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
