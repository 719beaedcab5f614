//go:build windows

package config

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/windows/registry"

	"github.com/cardbridge/cardbridge/internal/install"
)

// registryConfig reads the administrator's settings the MSI (or Group
// Policy) wrote under HKLM\SOFTWARE\Policies\CardBridge: ApprovedOrigins,
// a REG_MULTI_SZ (or a REG_SZ of origins separated by spaces, commas or
// semicolons). HKLM\SOFTWARE is writable by administrators only, so no
// ownership check is needed as for the file in %ProgramData%.
func registryConfig() (Config, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, install.HostPolicyKey, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("config HKLM\\%s: %w", install.HostPolicyKey, err)
	}
	defer k.Close()
	list, _, err := k.GetStringsValue(install.HostPolicyValueName)
	if errors.Is(err, registry.ErrUnexpectedType) {
		var s string
		s, _, err = k.GetStringValue(install.HostPolicyValueName)
		list = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ';' })
	}
	if errors.Is(err, registry.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("config HKLM\\%s %s: %w", install.HostPolicyKey, install.HostPolicyValueName, err)
	}
	if len(list) > install.MaxPolicyOrigins {
		return Config{}, fmt.Errorf("config HKLM\\%s %s: more than %d origins", install.HostPolicyKey, install.HostPolicyValueName, install.MaxPolicyOrigins)
	}
	c := Config{ApprovedOrigins: list}
	if err := c.Check(); err != nil {
		return Config{}, fmt.Errorf("config HKLM\\%s: %w", install.HostPolicyKey, err)
	}
	return c, nil
}
