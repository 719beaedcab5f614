package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/cardbridge/cardbridge/internal/install"
)

// policy applies or removes the machine policy (install.MachinePolicy):
// the system packages run it as an administrator, the MSI with
// APPROVEDORIGINS and cardbridge-policy's maintainer scripts with what the
// release was built with. It is the one writer of those settings, so that
// the origins are checked by the host's own rule and taken out again
// exactly.
//
//	cardbridge policy apply [--approved "ORIGIN …"]… [--firefox-url URL] [--firefox-policies FILE]…
//	cardbridge policy remove [--firefox-policies FILE]…
func (c *cli) policy(args []string) error {
	if len(args) == 0 || (args[0] != "apply" && args[0] != "remove") {
		return fmt.Errorf("policy: apply 或 remove / apply or remove: %w", errUsage)
	}
	var approved, files listFlag
	var firefoxURL, root string
	fs := c.flags("policy "+args[0], nil)
	fs.StringVar(&root, "root", "", "the system's root folder (a maintainer script's $DPKG_ROOT) / 系統根目錄")
	fs.Var(&files, "firefox-policies", "Firefox policies.json to merge into (Linux; repeatable; default /etc/firefox/policies and /etc/firefox-esr/policies) / Firefox 原則檔")
	if args[0] == "apply" {
		fs.Var(&approved, "approved", "https origins every user approves, separated by spaces (repeatable) / 預先核准的網站")
		fs.StringVar(&firefoxURL, "firefox-url", "", "force-install the Firefox add-on from this https URL (Linux) / 強制安裝 Firefox 附加元件的網址")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	origins, err := install.SplitOrigins(strings.Join(approved, " "))
	if err != nil {
		return fmt.Errorf("policy: 核准網站須為 https 網址，例如 https://edoc.example.gov.tw / %w: %w", err, errUsage)
	}
	ids := slices.Clone(c.opts.StoreExtensionIDs)
	if c.opts.Development {
		ids = install.ShippedExtensionIDs(ids, true)
	}
	p := install.MachinePolicy{Approved: origins, ChromeIDs: ids, FirefoxInstallURL: firefoxURL}
	if err := p.Check(); err != nil {
		return fmt.Errorf("policy: %w: %w", err, errUsage)
	}
	if runtime.GOOS == "windows" {
		if args[0] == "remove" {
			return install.RemoveRegistry()
		}
		return install.ApplyRegistry(p.RegistryValues())
	}
	if len(files) == 0 {
		files = firefoxPolicyFiles(root)
	}
	for _, f := range files {
		if args[0] == "apply" {
			err = applyFirefoxPolicy(f, p)
		} else {
			err = removeFirefoxPolicy(f)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s: %s\n", args[0], f)
	}
	return nil
}

// firefoxPolicyFiles are the policies.json files to merge into: Mozilla's
// system location always, Debian's firefox-esr one when that browser is
// installed (its folder exists).
func firefoxPolicyFiles(root string) []string {
	var out []string
	for _, f := range install.FirefoxPolicyFiles {
		f = filepath.Join("/", root, f)
		if strings.Contains(f, "firefox-esr") {
			if _, err := os.Stat(filepath.Dir(filepath.Dir(f))); err != nil {
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

// createdMarker names, in a folder policy apply wrote to, what CardBridge
// created there: "." (the folder itself) and/or the policies.json file.
// policy remove takes out exactly those, so an administrator's own
// folder or file (even one left empty) stays.
const createdMarker = ".cardbridge-created"

// policyFile is a policies.json as policy apply found it.
type policyFile struct {
	data     []byte
	exists   bool
	mode     fs.FileMode
	uid, gid int
}

// readPolicyFile reads an existing policies.json: a regular file (never
// through a link, never a FIFO), owned by this user (root, in a
// maintainer script) and writable by nobody else, capped. Its folder has
// passed safeFolder, so nobody else can swap it between the checks.
func readPolicyFile(path string) (policyFile, error) {
	f, err := openNoFollow(path)
	if errors.Is(err, fs.ErrNotExist) {
		return policyFile{mode: 0o644, uid: -1, gid: -1}, nil
	}
	if err != nil {
		return policyFile{}, fmt.Errorf("policy: %s: %w: left as it is", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return policyFile{}, err
	}
	uid, gid, owned := fileOwner(fi)
	if !fi.Mode().IsRegular() || !owned || fi.Mode().Perm()&0o022 != 0 {
		return policyFile{}, fmt.Errorf("policy: %s is not a regular file of the administrator's that only they may write: left as it is", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	return policyFile{data: data, exists: true, mode: fi.Mode().Perm(), uid: uid, gid: gid}, err
}

// writePolicyFile replaces path through a temporary file in its folder,
// so that Firefox never reads half a file; the new file keeps the old
// one's mode and owner (an administrator's 0640 stays 0640).
func writePolicyFile(path string, data []byte, old policyFile) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".policies-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(old.mode)
	}
	if err == nil && old.uid >= 0 {
		err = tmp.Chown(old.uid, old.gid)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readMarker returns the names dir's marker lists.
func readMarker(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, createdMarker))
	if err != nil || len(b) > 4096 {
		return nil
	}
	return strings.Fields(string(b))
}

// addMarker adds name to dir's marker.
func addMarker(dir, name string) error {
	names := readMarker(dir)
	if slices.Contains(names, name) {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, createdMarker), []byte(strings.Join(append(names, name), "\n")+"\n"), 0o644)
}

// makeFolders creates dir and the folders above it that are missing,
// each marked as CardBridge's, after checking that what exists above is
// the administrator's alone.
func makeFolders(dir string) error {
	var missing []string
	d := dir
	for {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if err := safeFolder(d); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return err
		}
		if err := addMarker(missing[i], "."); err != nil {
			return err
		}
	}
	return safeFolder(dir)
}

func applyFirefoxPolicy(path string, p install.MachinePolicy) error {
	if p.FirefoxInstallURL == "" && len(p.Approved) == 0 {
		return nil
	}
	dir := filepath.Dir(path)
	if err := makeFolders(dir); err != nil {
		return fmt.Errorf("policy: %s: %w", path, err)
	}
	old, err := readPolicyFile(path)
	if err != nil {
		return err
	}
	out, err := install.MergeFirefoxPolicies(old.data, p)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !old.exists {
		if err := addMarker(dir, filepath.Base(path)); err != nil {
			return err
		}
	}
	return writePolicyFile(path, out, old)
}

// removeFirefoxPolicy takes CardBridge's entries out of path; the file
// goes when CardBridge created it and nothing else is left in it, and so
// do the folders CardBridge created when they are empty.
func removeFirefoxPolicy(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := safeFolder(dir); err != nil {
		return fmt.Errorf("policy: %s: %w", path, err)
	}
	old, err := readPolicyFile(path)
	if err != nil {
		return err
	}
	created := readMarker(dir)
	if old.exists {
		out, empty, err := install.RemoveFirefoxPolicies(old.data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if empty && slices.Contains(created, filepath.Base(path)) {
			err = os.Remove(path)
		} else {
			err = writePolicyFile(path, out, old)
		}
		if err != nil {
			return err
		}
	}
	// The marker goes, then each folder CardBridge created while empty.
	for d := dir; ; d = filepath.Dir(d) {
		names := readMarker(d)
		if names == nil {
			break
		}
		if err := os.Remove(filepath.Join(d, createdMarker)); err != nil {
			return err
		}
		if !slices.Contains(names, ".") || os.Remove(d) != nil {
			break
		}
	}
	return nil
}
