//go:build windows

package install

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/windows/registry"
)

// access is what policy apply and remove need, in the 64-bit view (the
// browsers and the host are 64-bit; SOFTWARE\Policies is shared anyway).
const access = registry.ALL_ACCESS | registry.WOW64_64KEY

// ApplyRegistry writes values under HKEY_LOCAL_MACHINE and records what it
// wrote (the values, and the keys it had to create) for RemoveRegistry. A
// value someone else already set is not replaced: the install stops and
// says where, since two sources for one list would leave the browsers
// reading either. A previous record (a repair, or an apply run twice) is
// removed first.
func ApplyRegistry(values []RegistryValue) error {
	if err := RemoveRegistry(); err != nil {
		return err
	}
	for _, v := range values {
		if k, err := registry.OpenKey(registry.LOCAL_MACHINE, v.Key, registry.QUERY_VALUE|registry.WOW64_64KEY); err == nil {
			_, _, err := k.GetValue(v.Name, nil)
			k.Close()
			if err == nil {
				return fmt.Errorf("%w: HKLM\\%s already has %q (Group Policy?): remove it or leave APPROVEDORIGINS out", ErrPolicy, v.Key, v.Name)
			}
		}
	}
	var rec record
	for _, v := range values {
		created, err := createKey(v.Key)
		rec.keys = append(rec.keys, created...)
		if err == nil {
			err = setValue(v)
		}
		if err == nil {
			rec.values = append(rec.values, v.Key, v.Name)
		}
		// The record is written after every value, so that a failure half
		// way still leaves RemoveRegistry (the MSI's rollback) what to undo.
		if werr := rec.write(); err == nil {
			err = werr
		}
		if err != nil {
			return fmt.Errorf("%w: HKLM\\%s: %w", ErrPolicy, v.Key, err)
		}
	}
	return nil
}

// RemoveRegistry removes what ApplyRegistry recorded: its values, then the
// keys it created when nothing else is in them, then the record.
func RemoveRegistry() error {
	rec, err := readRecord()
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for i := 0; i+1 < len(rec.values); i += 2 {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, rec.values[i], access)
		if errors.Is(err, registry.ErrNotExist) {
			continue
		}
		if err == nil {
			err = k.DeleteValue(rec.values[i+1])
			k.Close()
		}
		if err != nil && !errors.Is(err, registry.ErrNotExist) {
			errs = append(errs, fmt.Errorf("HKLM\\%s %q: %w", rec.values[i], rec.values[i+1], err))
		}
	}
	// Deepest first: a created key's parent may be created too.
	keys := slices.Clone(rec.keys)
	slices.SortFunc(keys, func(a, b string) int { return strings.Count(b, `\`) - strings.Count(a, `\`) })
	for _, key := range keys {
		deleteIfEmpty(key)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := registry.DeleteKey(registry.LOCAL_MACHINE, policyRecordKey); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return err
	}
	deleteIfEmpty(`SOFTWARE\CardBridge`)
	return nil
}

// createKey creates key and returns the keys that did not exist before,
// shallowest first.
func createKey(key string) ([]string, error) {
	parts := strings.Split(key, `\`)
	var created []string
	for i := range parts {
		p := strings.Join(parts[:i+1], `\`)
		k, existed, err := registry.CreateKey(registry.LOCAL_MACHINE, p, access)
		if err != nil {
			return created, err
		}
		k.Close()
		if !existed {
			created = append(created, p)
		}
	}
	return created, nil
}

func setValue(v RegistryValue) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, v.Key, access)
	if err != nil {
		return err
	}
	defer k.Close()
	if v.Multi {
		return k.SetStringsValue(v.Name, v.Data)
	}
	return k.SetStringValue(v.Name, strings.Join(v.Data, " "))
}

// deleteIfEmpty deletes key when it has neither values nor subkeys.
func deleteIfEmpty(key string) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE|registry.ENUMERATE_SUB_KEYS|registry.WOW64_64KEY)
	if err != nil {
		return
	}
	st, err := k.Stat()
	k.Close()
	if err == nil && st.SubKeyCount == 0 && st.ValueCount == 0 {
		_ = registry.DeleteKey(registry.LOCAL_MACHINE, key)
	}
}

// record is what ApplyRegistry wrote: values as key, name pairs; keys it
// created.
type record struct {
	values, keys []string
}

func (r record) write() error {
	if _, err := createKey(policyRecordKey); err != nil {
		return err
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, policyRecordKey, access)
	if err != nil {
		return err
	}
	defer k.Close()
	// A REG_MULTI_SZ cannot hold an empty list item: the keys' list is
	// written only when there is one.
	for name, list := range map[string][]string{"Values": r.values, "Keys": r.keys} {
		if len(list) == 0 {
			_ = k.DeleteValue(name)
			continue
		}
		if err := k.SetStringsValue(name, list); err != nil {
			return err
		}
	}
	return nil
}

func readRecord() (record, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, policyRecordKey, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return record{}, err
	}
	defer k.Close()
	var r record
	r.values, _, err = k.GetStringsValue("Values")
	if err != nil && !errors.Is(err, registry.ErrNotExist) {
		return record{}, err
	}
	r.keys, _, err = k.GetStringsValue("Keys")
	if err != nil && !errors.Is(err, registry.ErrNotExist) {
		return record{}, err
	}
	return r, nil
}
