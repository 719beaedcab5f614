package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/install"
)

// debOptions is what a .deb is built from.
type debOptions struct {
	Out      string // folder the .deb files are written to
	Version  string // Debian version (from the git tag)
	Arch     string // Debian architecture, e.g. amd64
	Host     string // the cardbridge binary to ship
	Exchange string // the cardbridge-exchange binary to ship
	// StoreIDs are the Chrome Web Store / Edge Add-ons IDs the manifests
	// allow; Dev adds the development extension (a development package).
	StoreIDs []string
	Dev      bool
	// Force, when set, also builds cardbridge-policy: managed policies
	// that force-install these extensions in Chrome, Chromium and Edge.
	Force []install.ForceInstall
	// Approved are origins pre-approved in the extension's managed storage
	// (cardbridge-policy) and in the system configuration (cardbridge).
	Approved []string
	// FirefoxURL, when set, also builds cardbridge-policy, whose
	// maintainer scripts merge a force-install of the Firefox add-on from
	// this URL (and Approved) into Firefox's policies.json.
	FirefoxURL string
}

// debVersion is a version Debian accepts: it must start with a digit; a
// git describe such as v1.2.3-4-gabcdef becomes 1.2.3+4.gabcdef.
var debVersionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

// gitHashRE is a git describe without a tag: a commit, maybe dirty.
var gitHashRE = regexp.MustCompile(`^g?[0-9a-f]{7,40}(-dirty)?$`)

func debVersion(v string) (string, error) {
	if gitHashRE.MatchString(v) { // no tag yet: sorts before every release
		v = "0.0.0+" + strings.TrimPrefix(v, "g")
	}
	v = strings.TrimPrefix(v, "v")
	v = strings.ReplaceAll(v, "-", "+")
	if i := strings.Index(v, "+"); i >= 0 {
		v = v[:i+1] + strings.ReplaceAll(v[i+1:], "+", ".")
	}
	if !debVersionRE.MatchString(v) {
		return "", fmt.Errorf("version %q is not a Debian version (a digit first; letters, digits, . + ~)", v)
	}
	return v, nil
}

// buildDebs writes cardbridge_<version>_<arch>.deb (and, with Force,
// cardbridge-policy_<version>_all.deb) into o.Out with dpkg-deb, and
// returns their paths.
func buildDebs(o debOptions) ([]string, error) {
	version, err := debVersion(o.Version)
	if err != nil {
		return nil, err
	}
	o.Version = version
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	for _, b := range []string{o.Host, o.Exchange} {
		if fi, err := os.Stat(b); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("binary %q: %v", b, err)
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	main, err := mainTree(o)
	if err != nil {
		return nil, err
	}
	out := []string{}
	p, err := dpkgDeb(main, filepath.Join(o.Out, fmt.Sprintf("cardbridge_%s_%s.deb", o.Version, o.Arch)))
	if err != nil {
		return nil, err
	}
	out = append(out, p)
	if len(o.Force) > 0 || o.FirefoxURL != "" {
		policy, err := policyTree(o)
		if err != nil {
			return nil, err
		}
		p, err := dpkgDeb(policy, filepath.Join(o.Out, fmt.Sprintf("cardbridge-policy_%s_all.deb", o.Version)))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// tree is a package's files before dpkg-deb: path (absolute in the
// installed system) → content and mode; symlinks separately.
type tree struct {
	control  string
	files    map[string]treeFile
	links    map[string]string // path → target
	conffile []string
	scripts  map[string]string // DEBIAN/postinst, prerm, …
}

type treeFile struct {
	data []byte
	mode fs.FileMode
}

func newTree() *tree {
	return &tree{files: map[string]treeFile{}, links: map[string]string{}, scripts: map[string]string{}}
}

// mainTree is the cardbridge package: the two programs side by side in
// /usr/lib/cardbridge, cardbridge on the PATH, the four browsers'
// per-machine manifests (conffiles) and, with Approved, the system
// configuration.
func mainTree(o debOptions) (*tree, error) {
	t := newTree()
	dir := install.SystemProgramDir("linux")
	host := filepath.Join(dir, "cardbridge")
	for src, dst := range map[string]string{o.Host: host, o.Exchange: filepath.Join(dir, install.ExchangeBinary)} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		t.files[dst] = treeFile{b, 0o755}
	}
	t.links["/usr/bin/cardbridge"] = host
	manifests, err := systemManifests("linux", host, o.StoreIDs, o.Dev)
	if err != nil {
		return nil, err
	}
	for p, m := range manifests {
		t.files[p] = treeFile{m, 0o644}
		if strings.HasPrefix(p, "/etc/") {
			t.conffile = append(t.conffile, p)
		}
	}
	if len(o.Approved) > 0 {
		cfg, err := systemConfig(o.Approved)
		if err != nil {
			return nil, err
		}
		t.files["/etc/cardbridge/config.json"] = treeFile{cfg, 0o644}
		t.conffile = append(t.conffile, "/etc/cardbridge/config.json")
	}
	t.files["/usr/share/doc/cardbridge/copyright"] = treeFile{[]byte(copyright), 0o644}
	t.control = control("cardbridge", o.Version, o.Arch, "libc6 (>= 2.34), libpcsclite1, pcscd", t, description)
	return t, nil
}

// systemManifests are the per-machine manifests for goos ("linux" or
// "darwin"), by path, pointing at host: the store IDs (and with dev the
// development one) for the Chrome family, the add-on for Firefox; a
// release without store IDs registers Firefox only.
func systemManifests(goos, host string, storeIDs []string, dev bool) (map[string][]byte, error) {
	targets, err := install.SystemTargets(goos)
	if err != nil {
		return nil, err
	}
	ids := install.ShippedExtensionIDs(storeIDs, dev)
	out := map[string][]byte{}
	for _, tg := range targets {
		if !tg.Firefox && len(ids) == 0 {
			continue
		}
		m, err := install.ManifestFor(tg, host, install.ManifestIDs(tg, ids))
		if err != nil {
			return nil, err
		}
		out[tg.Path()] = m
	}
	return out, nil
}

// policyTree is the cardbridge-policy package: managed policies that
// force-install the extension in Chrome, Chromium and Edge, each its own
// file beside the administrator's (never one of theirs overwritten), and,
// with FirefoxURL, maintainer scripts that merge the Firefox add-on into
// Firefox's one policies.json and take it out again (cardbridge policy,
// internal/install/policy.go).
func policyTree(o debOptions) (*tree, error) {
	t := newTree()
	if len(o.Force) > 0 {
		p, err := install.ChromePolicy(o.Force, o.Approved)
		if err != nil {
			return nil, err
		}
		browsers := make([]string, 0, len(install.PolicyDirs))
		for b := range install.PolicyDirs {
			browsers = append(browsers, b)
		}
		sort.Strings(browsers)
		for _, b := range browsers {
			f := filepath.Join(install.PolicyDirs[b], "cardbridge.json")
			t.files[f] = treeFile{p, 0o644}
			t.conffile = append(t.conffile, f)
		}
	}
	if o.FirefoxURL != "" {
		p := install.MachinePolicy{Approved: o.Approved, FirefoxInstallURL: o.FirefoxURL}
		if err := p.Check(); err != nil {
			return nil, err
		}
		host := filepath.Join(install.SystemProgramDir("linux"), "cardbridge")
		// Checked above: the URL and the origins hold no quote, so they
		// pass through single quotes unchanged.
		apply := fmt.Sprintf("'%s' policy apply --root \"$DPKG_ROOT\" --firefox-url '%s'", host, o.FirefoxURL)
		if len(o.Approved) > 0 {
			apply += " --approved '" + strings.Join(o.Approved, " ") + "'"
		}
		t.scripts["postinst"] = "#!/bin/sh\n# Merges the Firefox add-on's force-install into Firefox's policies.json.\nset -e\nif [ \"$1\" = configure ]; then\n\t\"$DPKG_ROOT\"" + apply + "\nfi\n"
		t.scripts["prerm"] = "#!/bin/sh\n# Takes CardBridge's entries out of Firefox's policies.json again.\nset -e\ncase \"$1\" in\nremove|upgrade|deconfigure)\n\t\"$DPKG_ROOT\"'" + host + "' policy remove --root \"$DPKG_ROOT\" || true\n\t;;\nesac\n"
	}
	t.files["/usr/share/doc/cardbridge-policy/copyright"] = treeFile{[]byte(copyright), 0o644}
	t.control = control("cardbridge-policy", o.Version, "all", "cardbridge (= "+o.Version+")", t, policyDescription)
	return t, nil
}

// systemConfig is /etc/cardbridge/config.json with the pre-approved sites,
// checked as every installer checks them (install.CheckApproved: the
// host's origin rule, https, at most MaxPolicyOrigins).
func systemConfig(approved []string) ([]byte, error) {
	if err := install.CheckApproved(approved); err != nil {
		return nil, err
	}
	return install.IndentedJSON(config.Config{ApprovedOrigins: approved})
}

// control is the DEBIAN/control file.
func control(pkg, version, arch, depends string, t *tree, desc string) string {
	size := 0
	for _, f := range t.files {
		size += len(f.data)
	}
	return fmt.Sprintf(`Package: %s
Version: %s
Architecture: %s
Maintainer: CardBridge <cardbridge@cardbridge.tw>
Installed-Size: %d
Depends: %s
Section: utils
Priority: optional
Description: %s
`, pkg, version, arch, (size+1023)/1024, depends, desc)
}

const description = `Taiwan certificate IC cards in Chrome, Edge and Firefox
 CardBridge lets the browsers use Taiwan's certificate IC cards (XCA, GCA,
 MOICA) through its extension: check the reader, change or unblock the PIN,
 sign in to government sites, sign documents, and exchange official
 documents (公文). This package installs the native host for every user and
 registers it with Chromium, Google Chrome, Microsoft Edge and Firefox.`

const policyDescription = `force-install the CardBridge extension (managed policy)
 Managed policies for Chromium, Google Chrome, Microsoft Edge and Firefox
 that install the CardBridge extension from its store for every user, and
 pre-approve the organisation's sites. The Chrome family gets a file of its
 own in each managed policy folder; Firefox's policies.json gets CardBridge's
 entries merged in, and taken out again on removal.`

const copyright = `CardBridge
See the project's repository for its licence and sources.
`

// dpkgDeb writes t under a staging folder and builds the .deb with
// dpkg-deb, files owned by root.
func dpkgDeb(t *tree, out string) (string, error) {
	stage, err := os.MkdirTemp("", "cardbridge-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	for p, f := range t.files {
		dst := filepath.Join(stage, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, f.data, f.mode); err != nil {
			return "", err
		}
		if err := os.Chmod(dst, f.mode); err != nil { // past the umask
			return "", err
		}
	}
	for p, target := range t.links {
		dst := filepath.Join(stage, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		rel, err := filepath.Rel(filepath.Dir(p), target)
		if err != nil {
			return "", err
		}
		if err := os.Symlink(rel, dst); err != nil {
			return "", err
		}
	}
	deb := filepath.Join(stage, "DEBIAN")
	if err := os.MkdirAll(deb, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(deb, "control"), []byte(t.control), 0o644); err != nil {
		return "", err
	}
	for name, script := range t.scripts {
		if err := os.WriteFile(filepath.Join(deb, name), []byte(script), 0o755); err != nil {
			return "", err
		}
	}
	if len(t.conffile) > 0 {
		sort.Strings(t.conffile)
		if err := os.WriteFile(filepath.Join(deb, "conffiles"), []byte(strings.Join(t.conffile, "\n")+"\n"), 0o644); err != nil {
			return "", err
		}
	}
	// Folders 0755 whatever the umask.
	err = filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o755)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Zxz", "--build", stage, out)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || errb.Len() > 0 {
			return "", fmt.Errorf("dpkg-deb: %v: %s", err, strings.TrimSpace(errb.String()))
		}
		return "", err
	}
	return out, nil
}
