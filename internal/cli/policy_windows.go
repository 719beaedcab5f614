//go:build windows

package cli

import (
	"errors"
	"io/fs"
	"os"
)

// On Windows the machine policy is in the registry (install.ApplyRegistry);
// the Firefox file functions are not used there.

func openNoFollow(path string) (*os.File, error) { return os.Open(path) }

func fileOwner(fs.FileInfo) (uid, gid int, owned bool) { return -1, -1, false }

func safeFolder(string) error { return errors.New("policies.json is Linux only") }
