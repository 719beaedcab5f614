//go:build !windows

package config

// registryConfig is Windows only: elsewhere the system file is the whole
// system configuration.
func registryConfig() (Config, error) { return Config{}, nil }
