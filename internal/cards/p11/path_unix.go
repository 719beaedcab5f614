//go:build !windows

package p11

import (
	"fmt"
	"os"
	"path/filepath"
)

// othersMayWrite reports a module file, or its folder, that its group or
// everyone may write.
func othersMayWrite(file string) error {
	for _, p := range []string{file, filepath.Dir(file)} {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o022 != 0 {
			what := "the file"
			if p != file {
				what = "its folder " + p
			}
			return fmt.Errorf("%s is writable by others (%v)", what, fi.Mode().Perm())
		}
	}
	return nil
}
