//go:build !windows

package install

import "fmt"

// ApplyRegistry is Windows only: elsewhere policy lives in files.
func ApplyRegistry([]RegistryValue) error {
	return fmt.Errorf("%w: the registry is Windows only", ErrUnsupportedOS)
}

// RemoveRegistry is Windows only.
func RemoveRegistry() error {
	return fmt.Errorf("%w: the registry is Windows only", ErrUnsupportedOS)
}
