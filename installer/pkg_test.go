package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/install"
)

// The installed paths the tests expect, written out rather than taken
// from internal/install, so that a changed layout fails here.
const (
	macProgramDir = "/Library/Application Support/CardBridge"
	macHost       = macProgramDir + "/cardbridge"
)

var macManifests = map[string]string{
	"chromium": "/Library/Application Support/Chromium/NativeMessagingHosts/tw.cardbridge.host.json",
	"chrome":   "/Library/Google/Chrome/NativeMessagingHosts/tw.cardbridge.host.json",
	"edge":     "/Library/Microsoft/Edge/NativeMessagingHosts/tw.cardbridge.host.json",
	"firefox":  "/Library/Application Support/Mozilla/NativeMessagingHosts/tw.cardbridge.host.json",
}

// buildTestPkg builds the package from stand-in programs into a new
// folder.
func buildTestPkg(t *testing.T, o pkgOptions) string {
	t.Helper()
	o.Host, o.Exchange = fakeBinaries(t)
	o.Out = t.TempDir()
	if o.Version == "" {
		o.Version = "v1.4.2"
	}
	dir, err := buildPkg(o)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(o.Out, "macos"), dir)
	return dir
}

// odcMember is one member of a cpio archive as read back.
type odcMember struct {
	name                  string
	mode, uid, gid, mtime uint64
	data                  []byte
}

// readODC reads a gzip'd odc cpio archive up to its trailer, field by
// field as POSIX describes the format (not with writeODC's code).
func readODC(t *testing.T, file string) []odcMember {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	z, err := gzip.NewReader(f)
	require.NoError(t, err)
	raw, err := io.ReadAll(z)
	require.NoError(t, err)
	var members []odcMember
	for {
		require.GreaterOrEqual(t, len(raw), 76, "a header")
		h := string(raw[:76])
		require.Equal(t, "070707", h[:6], "odc magic")
		field := func(off, n int) uint64 {
			v, err := strconv.ParseUint(h[off:off+n], 8, 64)
			require.NoError(t, err, "octal field at %d in %q", off, h)
			return v
		}
		m := odcMember{mode: field(18, 6), uid: field(24, 6), gid: field(30, 6), mtime: field(48, 11)}
		namesize, size := int(field(59, 6)), int(field(65, 11))
		raw = raw[76:]
		require.GreaterOrEqual(t, len(raw), namesize+size)
		require.Equal(t, byte(0), raw[namesize-1], "name ends in NUL")
		m.name, m.data = string(raw[:namesize-1]), raw[namesize:namesize+size]
		raw = raw[namesize+size:]
		if m.name == "TRAILER!!!" {
			assert.Empty(t, raw, "nothing after the trailer")
			return members
		}
		members = append(members, m)
	}
}

// member is the archive member named name, or nil.
func member(members []odcMember, name string) *odcMember {
	for i := range members {
		if members[i].name == name {
			return &members[i]
		}
	}
	return nil
}

// The payload lists exactly the programs (0755), the uninstaller (0755),
// the four manifests (0644) and the folders above them (0755), "./"
// paths, all root:wheel, dated SOURCE_DATE_EPOCH when set (the same
// input, the same bytes); root/, which pkgbuild takes, holds the same.
func TestPkgPayload(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := buildTestPkg(t, pkgOptions{StoreIDs: []string{storeID}})
	const d, x, r = 0o040755, 0o100755, 0o100644
	want := []struct {
		name string
		mode uint64
	}{
		{".", d}, {"./Library", d}, {"./Library/Application Support", d},
		{"./Library/Application Support/CardBridge", d},
		{"./Library/Application Support/CardBridge/cardbridge", x},
		{"./Library/Application Support/CardBridge/cardbridge-exchange", x},
		{"./Library/Application Support/CardBridge/uninstall.sh", x},
		{"./Library/Application Support/Chromium", d}, {"./Library/Application Support/Chromium/NativeMessagingHosts", d},
		{"./Library/Application Support/Chromium/NativeMessagingHosts/tw.cardbridge.host.json", r},
		{"./Library/Application Support/Mozilla", d}, {"./Library/Application Support/Mozilla/NativeMessagingHosts", d},
		{"./Library/Application Support/Mozilla/NativeMessagingHosts/tw.cardbridge.host.json", r},
		{"./Library/Google", d}, {"./Library/Google/Chrome", d}, {"./Library/Google/Chrome/NativeMessagingHosts", d},
		{"./Library/Google/Chrome/NativeMessagingHosts/tw.cardbridge.host.json", r},
		{"./Library/Microsoft", d}, {"./Library/Microsoft/Edge", d}, {"./Library/Microsoft/Edge/NativeMessagingHosts", d},
		{"./Library/Microsoft/Edge/NativeMessagingHosts/tw.cardbridge.host.json", r},
	}
	members := readODC(t, filepath.Join(dir, "component", "Payload"))
	require.Len(t, members, len(want), "%v", members)
	for i, w := range want {
		m := members[i]
		assert.Equal(t, w.name, m.name)
		assert.Equal(t, strconv.FormatUint(w.mode, 8), strconv.FormatUint(m.mode, 8), m.name)
		assert.Zero(t, m.uid, "%s owned by root", m.name)
		assert.Zero(t, m.gid, "%s in wheel", m.name)
		assert.Equal(t, uint64(1700000000), m.mtime, m.name)
	}
	again := buildTestPkg(t, pkgOptions{StoreIDs: []string{storeID}})
	for _, f := range []string{"component/Payload", "component/PackageInfo", "Distribution.xml", "build-pkg.sh"} {
		a, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(again, f))
		require.NoError(t, err)
		assert.Equal(t, a, b, "%s is reproducible", f)
	}
	host := member(members, "."+macHost)
	require.NotNil(t, host)
	assert.Equal(t, "#!/bin/sh\necho cardbridge\n", string(host.data), "the --host program, as it is")
	assert.Contains(t, string(member(members, "."+macProgramDir+"/cardbridge-exchange").data), "echo exchange")

	var onDisk []string
	root := filepath.Join(dir, "root")
	require.NoError(t, filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		require.NoError(t, err)
		fi, err := e.Info()
		require.NoError(t, err)
		rel, err := filepath.Rel(root, p)
		require.NoError(t, err)
		name := "./" + filepath.ToSlash(rel)
		if rel == "." {
			name = "."
		}
		onDisk = append(onDisk, name+" "+fi.Mode().String())
		return nil
	}))
	var inPayload []string
	for _, m := range members {
		mode := fs.FileMode(m.mode & 0o777)
		if m.mode&0o040000 != 0 {
			mode |= fs.ModeDir
		}
		inPayload = append(inPayload, m.name+" "+mode.String())
	}
	assert.Equal(t, inPayload, onDisk, "root/ is the payload")

	if _, err := exec.LookPath("cpio"); err == nil { // GNU cpio reads it too
		out, err := exec.Command("sh", "-c", `gzip -dc "$1" | cpio -it --quiet`, "sh", filepath.Join(dir, "component", "Payload")).CombinedOutput()
		require.NoError(t, err, "%s", out)
		var names []string
		for _, m := range members {
			names = append(names, m.name)
		}
		assert.Equal(t, strings.Join(names, "\n")+"\n", string(out))
	}
}

// Each browser's manifest points at the installed host and allows the
// store ID, the development ID only with --dev; without either there is
// no Chrome-family manifest at all, as in the .deb.
func TestPkgManifests(t *testing.T) {
	for _, c := range []struct {
		name   string
		store  []string
		dev    bool
		chrome []string // allowed_origins; nil: no Chrome-family manifests
	}{
		{"release", []string{storeID}, false, []string{"chrome-extension://" + storeID + "/"}},
		{"development", []string{storeID}, true, []string{"chrome-extension://" + storeID + "/", "chrome-extension://" + install.DevExtensionID + "/"}},
		{"development only", nil, true, []string{"chrome-extension://" + install.DevExtensionID + "/"}},
		{"no store IDs", nil, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := buildTestPkg(t, pkgOptions{StoreIDs: c.store, Dev: c.dev})
			members := readODC(t, filepath.Join(dir, "component", "Payload"))
			for browser, p := range macManifests {
				m := member(members, "."+p)
				if browser != "firefox" && c.chrome == nil {
					assert.Nil(t, m, "%s: no manifest without a store ID", browser)
					_, err := os.Stat(filepath.Join(dir, "root", p))
					assert.ErrorIs(t, err, fs.ErrNotExist, "nor in root/")
					continue
				}
				require.NotNil(t, m, browser)
				var got struct {
					Name              string   `json:"name"`
					Path              string   `json:"path"`
					Type              string   `json:"type"`
					AllowedOrigins    []string `json:"allowed_origins"`
					AllowedExtensions []string `json:"allowed_extensions"`
				}
				require.NoError(t, json.Unmarshal(m.data, &got), browser)
				assert.Equal(t, install.HostName, got.Name)
				assert.Equal(t, macHost, got.Path, "%s: the installed host", browser)
				assert.Equal(t, "stdio", got.Type)
				if browser == "firefox" {
					assert.Equal(t, []string{install.FirefoxAddonID}, got.AllowedExtensions)
					assert.Empty(t, got.AllowedOrigins)
				} else {
					assert.Equal(t, c.chrome, got.AllowedOrigins, browser)
				}
				if !c.dev {
					assert.NotContains(t, string(m.data), install.DevExtensionID, "%s: a release never allows the development ID", browser)
				}
			}
		})
	}
}

// stubs are the commands the package's scripts run, each logging its
// arguments (tab-separated, a line a call) instead of acting; id -u says
// uid. PATH holds nothing else, so any other command fails the script.
func stubs(t *testing.T, uid string) (path, log string) {
	t.Helper()
	path = t.TempDir()
	log = filepath.Join(t.TempDir(), "calls")
	for _, name := range []string{"rm", "rmdir", "pkgutil"} {
		s := "#!/bin/sh\n{ printf '%s' " + name + "; for a; do printf '\\t%s' \"$a\"; done; printf '\\n'; } >>\"$STUBLOG\"\n"
		require.NoError(t, os.WriteFile(filepath.Join(path, name), []byte(s), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(path, "id"), []byte("#!/bin/sh\necho "+uid+"\n"), 0o755))
	return path, log
}

// runScript runs script with sh under stubs and returns its calls.
func runScript(t *testing.T, script, uid string, args ...string) ([][]string, error) {
	t.Helper()
	path, log := stubs(t, uid)
	cmd := exec.Command("/bin/sh", append([]string{script}, args...)...)
	cmd.Env = []string{"PATH=" + path, "STUBLOG=" + log}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("%s: %v\n%s", script, err, out)
	}
	b, rerr := os.ReadFile(log)
	if rerr != nil && !os.IsNotExist(rerr) {
		require.NoError(t, rerr)
	}
	var calls [][]string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l != "" {
			calls = append(calls, strings.Split(l, "\t"))
		}
	}
	return calls, err
}

// payloadFiles are the payload's regular files as installed paths.
func payloadFiles(members []odcMember) []string {
	var files []string
	for _, m := range members {
		if m.mode&0o100000 != 0 {
			files = append(files, strings.TrimPrefix(m.name, "."))
		}
	}
	slices.Sort(files)
	return files
}

// uninstall.sh, run by sh itself, removes exactly the payload's files and
// nothing else, forgets the receipt, and removes only the programs' own
// folder; it refuses to run as anyone but root. The copy beside
// build-pkg.sh is the one the payload installs.
func TestPkgUninstall(t *testing.T) {
	for _, store := range [][]string{{storeID}, nil} {
		dir := buildTestPkg(t, pkgOptions{StoreIDs: store})
		members := readODC(t, filepath.Join(dir, "component", "Payload"))
		script := filepath.Join(dir, "uninstall.sh")
		b, err := os.ReadFile(script)
		require.NoError(t, err)
		assert.Equal(t, string(member(members, "."+macProgramDir+"/uninstall.sh").data), string(b))

		calls, err := runScript(t, script, "0")
		require.NoError(t, err)
		var removed []string
		var other [][]string
		for _, c := range calls {
			if c[0] == "rm" {
				require.Equal(t, []string{"-f", "--"}, c[1:3], "%v", c)
				removed = append(removed, c[3:]...)
				continue
			}
			other = append(other, c)
		}
		slices.Sort(removed)
		assert.Equal(t, payloadFiles(members), removed, "exactly the payload's files")
		assert.Equal(t, [][]string{
			{"pkgutil", "--pkg-info", "tw.cardbridge.host"},
			{"pkgutil", "--forget", "tw.cardbridge.host"},
			{"rmdir", "--", macProgramDir},
		}, other)

		calls, err = runScript(t, script, "501")
		assert.Error(t, err, "not root")
		assert.Empty(t, calls)
	}
}

// A package that ships every browser's manifest has no scripts; one that
// ships Firefox's only has a preinstall removing the Chrome-family
// manifests an earlier release left (on the target volume, $3), which
// Installer would not.
func TestPkgPreinstall(t *testing.T) {
	full := buildTestPkg(t, pkgOptions{StoreIDs: []string{storeID}})
	for _, name := range []string{"scripts", "component/Scripts"} {
		_, err := os.Stat(filepath.Join(full, name))
		assert.ErrorIs(t, err, fs.ErrNotExist, name)
	}
	info, err := os.ReadFile(filepath.Join(full, "component", "PackageInfo"))
	require.NoError(t, err)
	assert.NotContains(t, string(info), "<scripts>")
	build, err := os.ReadFile(filepath.Join(full, "build-pkg.sh"))
	require.NoError(t, err)
	assert.NotContains(t, string(build), "--scripts")

	firefox := buildTestPkg(t, pkgOptions{})
	pre := filepath.Join(firefox, "scripts", "preinstall")
	fi, err := os.Stat(pre)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o755), fi.Mode().Perm())
	b, err := os.ReadFile(pre)
	require.NoError(t, err)
	scripts := readODC(t, filepath.Join(firefox, "component", "Scripts"))
	require.Len(t, scripts, 2)
	assert.Equal(t, ".", scripts[0].name)
	assert.Equal(t, "./preinstall", scripts[1].name)
	assert.Equal(t, "100755", strconv.FormatUint(scripts[1].mode, 8))
	assert.Equal(t, string(b), string(scripts[1].data), "Scripts is scripts/")
	info, err = os.ReadFile(filepath.Join(firefox, "component", "PackageInfo"))
	require.NoError(t, err)
	assert.Contains(t, string(info), `<preinstall file="./preinstall"/>`)
	build, err = os.ReadFile(filepath.Join(firefox, "build-pkg.sh"))
	require.NoError(t, err)
	assert.Contains(t, string(build), "--root root --scripts scripts ")

	for vol, prefix := range map[string]string{"/": "", "/Volumes/Macintosh HD": "/Volumes/Macintosh HD"} {
		// Installer passes the package, the install location, the target volume and /.
		calls, err := runScript(t, pre, "0", "CardBridge.pkg", "/", vol, "/")
		require.NoError(t, err)
		var removed []string
		for _, c := range calls {
			require.Equal(t, []string{"rm", "-f", "--"}, c[:3], "only rm: %v", c)
			removed = append(removed, c[3:]...)
		}
		slices.Sort(removed)
		assert.Equal(t, []string{prefix + macManifests["chromium"], prefix + macManifests["chrome"], prefix + macManifests["edge"]}, removed, vol)
	}
}

// xmlDoc decodes a whole XML file: it must be well-formed to the end.
func xmlDoc(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "%s is not well-formed", file)
	}
	require.NoError(t, xml.Unmarshal(b, v))
}

// Distribution.xml and PackageInfo are well-formed and carry the version,
// the identifier, both architectures, the oldest macOS and the payload's
// count.
func TestPkgXML(t *testing.T) {
	dir := buildTestPkg(t, pkgOptions{StoreIDs: []string{storeID}, Version: "v1.4.2-3-gabcdef0"})
	var dist struct {
		XMLName xml.Name `xml:"installer-gui-script"`
		Title   string   `xml:"title"`
		Options struct {
			Arch string `xml:"hostArchitectures,attr"`
		} `xml:"options"`
		Domains struct {
			Anywhere string `xml:"enable_anywhere,attr"`
			Home     string `xml:"enable_currentUserHome,attr"`
			System   string `xml:"enable_localSystem,attr"`
		} `xml:"domains"`
		OSVersion struct {
			Min string `xml:"min,attr"`
		} `xml:"volume-check>allowed-os-versions>os-version"`
		Choice []struct {
			ID     string `xml:"id,attr"`
			PkgRef []struct {
				ID string `xml:"id,attr"`
			} `xml:"pkg-ref"`
		} `xml:"choice"`
		PkgRef []struct {
			ID      string `xml:"id,attr"`
			Version string `xml:"version,attr"`
			File    string `xml:",chardata"`
		} `xml:"pkg-ref"`
	}
	xmlDoc(t, filepath.Join(dir, "Distribution.xml"), &dist)
	assert.Equal(t, "CardBridge", dist.Title)
	assert.Equal(t, "x86_64,arm64", dist.Options.Arch)
	assert.Equal(t, []string{"false", "false", "true"}, []string{dist.Domains.Anywhere, dist.Domains.Home, dist.Domains.System})
	assert.Equal(t, "12.0", dist.OSVersion.Min)
	require.Len(t, dist.PkgRef, 1)
	assert.Equal(t, "tw.cardbridge.host", dist.PkgRef[0].ID)
	assert.Equal(t, "1.4.2", dist.PkgRef[0].Version)
	assert.Equal(t, "component.pkg", dist.PkgRef[0].File)
	for _, c := range dist.Choice {
		for _, r := range c.PkgRef {
			assert.Equal(t, "tw.cardbridge.host", r.ID, "the one package")
		}
	}

	var info struct {
		XMLName         xml.Name `xml:"pkg-info"`
		Identifier      string   `xml:"identifier,attr"`
		Version         string   `xml:"version,attr"`
		InstallLocation string   `xml:"install-location,attr"`
		Auth            string   `xml:"auth,attr"`
		Payload         struct {
			Files  int `xml:"numberOfFiles,attr"`
			KBytes int `xml:"installKBytes,attr"`
		} `xml:"payload"`
	}
	xmlDoc(t, filepath.Join(dir, "component", "PackageInfo"), &info)
	assert.Equal(t, "tw.cardbridge.host", info.Identifier)
	assert.Equal(t, "1.4.2", info.Version)
	assert.Equal(t, "/", info.InstallLocation)
	assert.Equal(t, "root", info.Auth)
	members := readODC(t, filepath.Join(dir, "component", "Payload"))
	assert.Equal(t, len(members), info.Payload.Files, "numberOfFiles counts the payload's members")
	size := 0
	for _, m := range members {
		size += len(m.data)
	}
	assert.Equal(t, (size+1023)/1024, info.Payload.KBytes)
}

// Every script parses (sh -n), and build-pkg.sh runs Apple's tools in
// order on this package's files with its version.
func TestPkgScripts(t *testing.T) {
	for _, o := range []pkgOptions{{StoreIDs: []string{storeID}}, {}} {
		dir := buildTestPkg(t, o)
		scripts := []string{"uninstall.sh", "build-pkg.sh"}
		if o.StoreIDs == nil {
			scripts = append(scripts, "scripts/preinstall")
		}
		for _, s := range scripts {
			out, err := exec.Command("sh", "-n", filepath.Join(dir, s)).CombinedOutput()
			assert.NoError(t, err, "%s: %s", s, out)
			b, err := os.ReadFile(filepath.Join(dir, s))
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(b), "#!/bin/sh\n"), s)
			assert.Contains(t, string(b), "\nset -e\n", s)
		}
		b, err := os.ReadFile(filepath.Join(dir, "build-pkg.sh"))
		require.NoError(t, err)
		var steps []string
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			switch {
			case len(f) == 0 || strings.HasPrefix(f[0], "#"):
			case f[0] == "xcrun" && len(f) > 1:
				steps = append(steps, f[0]+" "+f[1])
			default:
				steps = append(steps, f[0])
			}
		}
		assert.Equal(t, []string{"set", "cd", ":", ":", ":", "lipo", "codesign", "lipo", "codesign",
			"pkgbuild", "productbuild", "productsign", "xcrun notarytool", "xcrun stapler", "pkgutil", "spctl"}, steps)
		for _, want := range []string{
			"--identifier tw.cardbridge.host --version 1.4.2 --install-location / ",
			"productbuild --distribution Distribution.xml --package-path . CardBridge-1.4.2-unsigned.pkg",
			`productsign --timestamp --sign "$DEVELOPER_ID_INSTALLER" CardBridge-1.4.2-unsigned.pkg CardBridge-1.4.2.pkg`,
			"xcrun notarytool submit CardBridge-1.4.2.pkg",
			"xcrun stapler staple CardBridge-1.4.2.pkg",
			`codesign --force --timestamp --options runtime --sign "$DEVELOPER_ID_APPLICATION" root'` + macHost + "'",
		} {
			assert.Contains(t, string(b), want)
		}
	}
}

// Wrong input fails before anything is written: a store ID that is not
// one, a missing program.
func TestPkgErrors(t *testing.T) {
	host, exchange := fakeBinaries(t)
	for name, o := range map[string]pkgOptions{
		"bad store ID": {Host: host, Exchange: exchange, StoreIDs: []string{"not-an-id"}},
		"no host":      {Host: filepath.Join(t.TempDir(), "missing"), Exchange: exchange},
		"host folder":  {Host: t.TempDir(), Exchange: exchange},
	} {
		o.Out, o.Version = t.TempDir(), "1.0.0"
		_, err := buildPkg(o)
		assert.Error(t, err, name)
		_, serr := os.Stat(filepath.Join(o.Out, "macos"))
		assert.ErrorIs(t, serr, fs.ErrNotExist, name)
	}
	assert.Equal(t, "0.0.0", pkgVersion("7f90fe7"), "a tagless build sorts before every release")
}
