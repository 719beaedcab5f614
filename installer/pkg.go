package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/cardbridge/cardbridge/internal/install"
)

// The macOS package, built as far as Linux allows. A flat component
// package is a xar archive of four members: PackageInfo, Payload (gzip'd
// cpio, odc), Scripts (the same) and Bom, Apple's bill of materials. The
// first three are written here in Go; the Bom (mkbom) and the xar
// container are not: Debian 12 packages neither bomutils nor xar
// (`apt-cache policy bomutils xar` knows no such packages), so the
// package itself, and its signature and notarisation, are made on a Mac
// by build-pkg.sh with Apple's pkgbuild, productbuild, productsign,
// notarytool and stapler.
//
// Nor can the programs be built here: `GOOS=darwin GOARCH=arm64
// CGO_ENABLED=0 go build ./host` fails in github.com/ebfe/scard
// ("undefined: scardEstablishContext", …), whose darwin backend is cgo
// over the PC/SC framework (./cmd/cardbridge-exchange fails the same way),
// and with cgo on there is no C compiler for darwin ("clang" not found).
// The package therefore takes --host and --exchange built on a Mac, both
// universal (lipo, x86_64 and arm64: Distribution.xml allows both), and
// the tests use stand-ins.
//
// Everything lands in OUT/macos: root/ (the payload as installed, what
// pkgbuild --root takes), scripts/, Distribution.xml, uninstall.sh,
// build-pkg.sh and component/, which holds PackageInfo, Payload and
// Scripts as `pkgutil --expand` shows them. They are in a folder of their
// own because macOS file systems ignore case by default: "Scripts" beside
// "scripts" would be one name there.

// pkgIdentifier is the package's identifier, its receipt's name
// (pkgutil --pkgs): the host's name, so that it is plainly CardBridge's.
const pkgIdentifier = install.HostName

// pkgMinMacOS is the oldest macOS the package installs on: the oldest Go
// 1.26 supports (Go 1.27 drops macOS 12, golang/go#75836).
const pkgMinMacOS = "12.0"

// pkgComponent is the component package build-pkg.sh makes with pkgbuild,
// which Distribution.xml names.
const pkgComponent = "component.pkg"

// pkgOptions is what the macOS package is built from.
type pkgOptions struct {
	Out      string // the package's folder, macos, is made in it
	Version  string // from the git tag; the package's version is its a.b.c
	Host     string // cardbridge built for macOS (universal, on a Mac)
	Exchange string // cardbridge-exchange, the same
	// StoreIDs are the Chrome-family IDs the manifests allow; Dev adds the
	// development extension (a development package).
	StoreIDs []string
	Dev      bool
}

func runPkg(args []string) error {
	fs := flag.NewFlagSet("pkg", flag.ContinueOnError)
	var o pkgOptions
	var store list
	packageFlags(fs, &o.Out, &o.Version, &o.Host, &o.Exchange, &o.Dev, &store)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.StoreIDs = store
	dir, err := buildPkg(o)
	if err == nil {
		fmt.Println(dir)
	}
	return err
}

// pkgVersion is the version Installer compares: the a.b.c the MSI uses
// (digits and dots only, so it goes into XML and sh as it is).
func pkgVersion(v string) string { return msiVersion(v) }

// pkgUninstaller is where the payload puts uninstall.sh: beside the
// programs, so that an administrator finds it without the build folder.
func pkgUninstaller() string {
	return path.Join(install.SystemProgramDir("darwin"), "uninstall.sh")
}

// buildPkg writes OUT/macos (replacing an earlier one, which is ours) and
// returns its path.
func buildPkg(o pkgOptions) (string, error) {
	version := pkgVersion(o.Version)
	for _, b := range []string{o.Host, o.Exchange} {
		if fi, err := os.Stat(b); err != nil || !fi.Mode().IsRegular() {
			return "", fmt.Errorf("binary %q: not a regular file (%v)", b, err)
		}
	}
	files, err := pkgFiles(o)
	if err != nil {
		return "", err
	}
	scripts := map[string]treeFile{}
	if pre := preinstallScript(staleManifests(files)); pre != "" {
		scripts["preinstall"] = treeFile{[]byte(pre), 0o755}
	}
	dir := filepath.Join(o.Out, "macos")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := writeTree(filepath.Join(dir, "root"), files); err != nil {
		return "", fmt.Errorf("root: %w", err)
	}
	if len(scripts) > 0 {
		if err := writeTree(filepath.Join(dir, "scripts"), scripts); err != nil {
			return "", fmt.Errorf("scripts: %w", err)
		}
	}
	if err := writeComponent(filepath.Join(dir, "component"), version, files, scripts); err != nil {
		return "", fmt.Errorf("component: %w", err)
	}
	dist, err := render(distributionXML, map[string]string{"ID": pkgIdentifier, "Version": version, "MinOS": pkgMinMacOS, "Component": pkgComponent})
	if err != nil {
		return "", err
	}
	build, err := render(buildScript, map[string]any{"ID": pkgIdentifier, "Version": version, "Component": pkgComponent,
		"Scripts": len(scripts) > 0, "Programs": pkgPrograms()})
	if err != nil {
		return "", err
	}
	top := map[string]treeFile{
		"/Distribution.xml": {dist, 0o644},
		"/uninstall.sh":     files[pkgUninstaller()],
		"/build-pkg.sh":     {build, 0o755},
	}
	if err := writeTree(dir, top); err != nil {
		return "", err
	}
	return dir, nil
}

// pkgPrograms are the installed paths of the two programs.
func pkgPrograms() []string {
	dir := install.SystemProgramDir("darwin")
	return []string{path.Join(dir, "cardbridge"), path.Join(dir, install.ExchangeBinary)}
}

// pkgFiles is the payload, path as installed → file: the programs side by
// side, the uninstaller beside them, and each browser's per-machine
// manifest pointing at the host, with the IDs the .deb's manifests allow
// (a release without store IDs registers Firefox only).
func pkgFiles(o pkgOptions) (map[string]treeFile, error) {
	files := map[string]treeFile{}
	progs := pkgPrograms()
	for i, src := range []string{o.Host, o.Exchange} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		files[progs[i]] = treeFile{b, 0o755}
	}
	manifests, err := systemManifests("darwin", progs[0], o.StoreIDs, o.Dev)
	if err != nil {
		return nil, err
	}
	for p, m := range manifests {
		files[p] = treeFile{m, 0o644}
	}
	paths := append(sortedPaths(files), pkgUninstaller()) // it removes itself too
	slices.Sort(paths)
	files[pkgUninstaller()] = treeFile{[]byte(uninstallScript(paths)), 0o755}
	return files, nil
}

// staleManifests are the browsers' manifests this package does not ship:
// macOS Installer never removes a file an upgrade no longer contains (dpkg
// does), so preinstall removes them, or a Firefox-only release would leave
// an earlier release's Chrome manifests behind.
func staleManifests(files map[string]treeFile) []string {
	targets, _ := install.SystemTargets("darwin") // the same call pkgFiles made
	var stale []string
	for _, tg := range targets {
		if _, ok := files[tg.Path()]; !ok {
			stale = append(stale, tg.Path())
		}
	}
	return stale
}

// sortedPaths are files' paths in order.
func sortedPaths(files map[string]treeFile) []string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// shQuote is s as one sh word.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// uninstallScript removes exactly files (the payload's), forgets the
// receipt, and removes the programs' folder only if nothing else is in it.
// The manifests' folders stay: other programs' hosts may be there.
func uninstallScript(files []string) string {
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# Removes CardBridge as its macOS package installed it (generated by
# installer/pkg.go from the payload's file list): sudo sh uninstall.sh
set -e
if [ "$(id -u)" -ne 0 ]; then
	echo "uninstall.sh: run it as root (sudo sh uninstall.sh)" >&2
	exit 1
fi
`)
	for _, f := range files {
		fmt.Fprintf(&b, "rm -f -- %s\n", shQuote(f))
	}
	fmt.Fprintf(&b, "if pkgutil --pkg-info %s >/dev/null 2>&1; then\n\tpkgutil --forget %s\nfi\n", pkgIdentifier, pkgIdentifier)
	fmt.Fprintf(&b, "rmdir -- %s 2>/dev/null || true\n", shQuote(install.SystemProgramDir("darwin")))
	return b.String()
}

// preinstallScript removes stale under the target volume ($3), or is ""
// when there is nothing to remove (no script at all).
func preinstallScript(stale []string) string {
	if len(stale) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# Removes the browser manifests an earlier CardBridge installed and this
# one does not (Installer leaves them): generated by installer/pkg.go.
set -e
vol="${3%/}"
`)
	for _, f := range stale {
		fmt.Fprintf(&b, "rm -f -- \"$vol\"%s\n", shQuote(f))
	}
	return b.String()
}

// writeFile writes data with mode, past the umask.
func writeFile(name string, data []byte, mode fs.FileMode) error {
	if err := os.WriteFile(name, data, mode); err != nil {
		return err
	}
	return os.Chmod(name, mode)
}

// writeTree writes files (absolute paths) under dir, folders 0755.
func writeTree(dir string, files map[string]treeFile) error {
	for _, p := range sortedPaths(files) {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := writeFile(dst, files[p].data, files[p].mode); err != nil {
			return err
		}
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o755) // past the umask
		}
		return err
	})
}

// cpioEntry is one member of a cpio archive; mode has the file type bits.
type cpioEntry struct {
	name string
	mode uint32
	data []byte
}

// File type bits of a cpio mode (POSIX <cpio.h>).
const (
	cpioDir  = 0o040000
	cpioFile = 0o100000
)

// cpioEntries are files as a payload lists them: ".", then every folder
// and file as "./path" in order (a folder before what it holds), folders
// 0755.
func cpioEntries(files map[string]treeFile) []cpioEntry {
	dirs := map[string]bool{}
	for p := range files {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	all := []cpioEntry{{name: ".", mode: cpioDir | 0o755}}
	for d := range dirs {
		all = append(all, cpioEntry{name: "." + d, mode: cpioDir | 0o755})
	}
	for p, f := range files {
		all = append(all, cpioEntry{name: "." + p, mode: cpioFile | uint32(f.mode.Perm()), data: f.data})
	}
	slices.SortFunc(all, func(a, b cpioEntry) int { return strings.Compare(a.name, b.name) })
	return all
}

// maxODC is the largest number an odc field of 11 octal digits holds.
const maxODC = 0o77777777777

// writeODC writes entries as a cpio archive in the portable (odc) format
// pkgbuild writes, every member owned by root (0) and wheel (0), each its
// own inode, then the trailer.
func writeODC(w io.Writer, entries []cpioEntry, mtime int64) error {
	trailer := cpioEntry{name: "TRAILER!!!"}
	for i, e := range append(slices.Clone(entries), trailer) {
		ino, nlink, t := i+1, 1, mtime
		if e.mode&cpioDir != 0 {
			nlink = 2
		}
		if e.name == trailer.name {
			ino, t = 0, 0
		}
		if len(e.data) > maxODC || ino > 0o777777 || mtime > maxODC || mtime < 0 {
			return fmt.Errorf("cpio: %s does not fit the odc format", e.name)
		}
		if _, err := fmt.Fprintf(w, "070707%06o%06o%06o%06o%06o%06o%06o%011o%06o%011o%s\x00",
			0, ino, e.mode, 0, 0, nlink, 0, t, len(e.name)+1, len(e.data), e.name); err != nil {
			return err
		}
		if _, err := w.Write(e.data); err != nil {
			return err
		}
	}
	return nil
}

// gzipODC is entries as a gzip'd odc cpio archive, as Payload and Scripts
// are.
func gzipODC(entries []cpioEntry, mtime int64) ([]byte, error) {
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if err := writeODC(z, entries, mtime); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// buildTime is the archives' modification time: SOURCE_DATE_EPOCH when it
// is set (reproducible builds), else now.
func buildTime() (int64, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		t, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		return t, nil
	}
	return time.Now().Unix(), nil
}

// writeComponent writes the component package's members but the Bom:
// PackageInfo, Payload and (when there are scripts) Scripts.
func writeComponent(dir, version string, files, scripts map[string]treeFile) error {
	mtime, err := buildTime()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries := cpioEntries(files)
	payload, err := gzipODC(entries, mtime)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "Payload"), payload, 0o644); err != nil {
		return err
	}
	names := sortedPaths(scripts) // "preinstall", …: relative, as the scripts folder has them
	if len(scripts) > 0 {
		rooted := map[string]treeFile{}
		for n, f := range scripts {
			rooted["/"+n] = f
		}
		s, err := gzipODC(cpioEntries(rooted), mtime)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, "Scripts"), s, 0o644); err != nil {
			return err
		}
	}
	size := 0
	for _, f := range files {
		size += len(f.data)
	}
	info, err := render(packageInfo, map[string]any{"ID": pkgIdentifier, "Version": version,
		"Files": len(entries), "KBytes": (size + 1023) / 1024, "Scripts": names})
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "PackageInfo"), info, 0o644)
}

// render executes a template.
func render(t *template.Template, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	return b.Bytes(), nil
}

// packageInfo is the component package's PackageInfo, as pkgbuild writes
// it for a payload installed at "/" by root; numberOfFiles counts the
// payload's members (folders too).
var packageInfo = template.Must(template.New("PackageInfo").Parse(`<?xml version="1.0" encoding="utf-8"?>
<pkg-info format-version="2" identifier="{{.ID}}" version="{{.Version}}" install-location="/" auth="root" relocatable="false" postinstall-action="none">
    <payload numberOfFiles="{{.Files}}" installKBytes="{{.KBytes}}"/>
{{- if .Scripts}}
    <scripts>
{{- range .Scripts}}
        <{{.}} file="./{{.}}"/>
{{- end}}
    </scripts>
{{- end}}
</pkg-info>
`))

// distributionXML is productbuild's distribution: the shape of
// `productbuild --synthesize`, plus the title, the oldest macOS, and the
// system volume only (the payload is per machine).
var distributionXML = template.Must(template.New("Distribution.xml").Parse(`<?xml version="1.0" encoding="utf-8"?>
<installer-gui-script minSpecVersion="2">
    <title>CardBridge</title>
    <options customize="never" require-scripts="false" hostArchitectures="x86_64,arm64"/>
    <domains enable_anywhere="false" enable_currentUserHome="false" enable_localSystem="true"/>
    <volume-check>
        <allowed-os-versions>
            <os-version min="{{.MinOS}}"/>
        </allowed-os-versions>
    </volume-check>
    <choices-outline>
        <line choice="default">
            <line choice="{{.ID}}"/>
        </line>
    </choices-outline>
    <choice id="default"/>
    <choice id="{{.ID}}" visible="false">
        <pkg-ref id="{{.ID}}"/>
    </choice>
    <pkg-ref id="{{.ID}}" version="{{.Version}}" onConclusion="none">{{.Component}}</pkg-ref>
</installer-gui-script>
`))

// buildScript is build-pkg.sh: what is left to do on a Mac, in order.
var buildScript = template.Must(template.New("build-pkg.sh").Funcs(template.FuncMap{"q": shQuote}).Parse(`#!/bin/sh
# Finishes CardBridge {{.Version}}'s macOS package ON A MAC (Xcode command line
# tools), in this folder as installer/pkg.go wrote it. Linux cannot: the
# component package's Bom (mkbom) and xar container need Apple's tools
# (Debian 12 has neither bomutils nor xar), and so do signing and
# notarisation.
#
# Before: build both programs on a Mac for arm64 and amd64 with cgo
# (MACOSX_DEPLOYMENT_TARGET=12.0), join each pair with lipo -create, and
# run installer/pkg.go there with --host and --exchange set to them.
#
#   DEVELOPER_ID_APPLICATION="Developer ID Application: NAME (TEAMID)"
#   DEVELOPER_ID_INSTALLER="Developer ID Installer: NAME (TEAMID)"
#   NOTARY_PROFILE=name   # xcrun notarytool store-credentials name …
#   sh build-pkg.sh
set -e
cd "$(dirname "$0")"
: "${DEVELOPER_ID_APPLICATION:?the Developer ID Application identity}"
: "${DEVELOPER_ID_INSTALLER:?the Developer ID Installer identity}"
: "${NOTARY_PROFILE:?a notarytool keychain profile}"
# Notarisation wants every program signed, hardened runtime, timestamped.
{{- range .Programs}}
lipo root{{q .}} -verify_arch x86_64 arm64
codesign --force --timestamp --options runtime --sign "$DEVELOPER_ID_APPLICATION" root{{q .}}
{{- end}}
pkgbuild --root root{{if .Scripts}} --scripts scripts{{end}} --identifier {{.ID}} --version {{.Version}} --install-location / --ownership recommended {{.Component}}
productbuild --distribution Distribution.xml --package-path . CardBridge-{{.Version}}-unsigned.pkg
productsign --timestamp --sign "$DEVELOPER_ID_INSTALLER" CardBridge-{{.Version}}-unsigned.pkg CardBridge-{{.Version}}.pkg
xcrun notarytool submit CardBridge-{{.Version}}.pkg --keychain-profile "$NOTARY_PROFILE" --wait
xcrun stapler staple CardBridge-{{.Version}}.pkg
pkgutil --check-signature CardBridge-{{.Version}}.pkg
spctl --assess --type install -vv CardBridge-{{.Version}}.pkg
`))
