//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseNofile makes sure the open-files limit is at least need (the
// centre, a child, inherits it) and returns the soft limit. Go has raised
// the soft limit to the hard one at start-up; above the hard limit only
// root may raise it.
func raiseNofile(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= need {
		return lim.Cur, nil
	}
	old := lim
	lim.Cur, lim.Max = need, max(lim.Max, need)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("RLIMIT_NOFILE %d (hard %d) is below the %d row 3 needs, and cannot be raised (%v): raise the hard limit (ulimit -Hn)",
			old.Cur, old.Max, need, err)
	}
	return need, nil
}
