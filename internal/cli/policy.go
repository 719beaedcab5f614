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

// readPolicyFile reads an existing policies.json ("" when absent),
// capped; a link is refused (the file is root's, in a folder of root's).
func readPolicyFile(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("policy: %s is not a regular file: left as it is", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20+1))
}

// writePolicyFile replaces path through a temporary file in its folder,
// so that Firefox never reads half a file.
func writePolicyFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".policies-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func applyFirefoxPolicy(path string, p install.MachinePolicy) error {
	if p.FirefoxInstallURL == "" && len(p.Approved) == 0 {
		return nil
	}
	doc, err := readPolicyFile(path)
	if err != nil {
		return err
	}
	out, err := install.MergeFirefoxPolicies(doc, p)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writePolicyFile(path, out)
}

// removeFirefoxPolicy takes CardBridge's entries out of path; a file left
// with nothing goes, and so do the folders that held only it.
func removeFirefoxPolicy(path string) error {
	doc, err := readPolicyFile(path)
	if err != nil || doc == nil {
		return err
	}
	out, empty, err := install.RemoveFirefoxPolicies(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !empty {
		return writePolicyFile(path, out)
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	// policies/ and, for /etc/firefox, the folder itself when empty (an
	// administrator's folder with anything in it stays).
	dir := filepath.Dir(path)
	if os.Remove(dir) == nil && !strings.Contains(dir, "firefox-esr") {
		_ = os.Remove(filepath.Dir(dir))
	}
	return nil
}
