package install

import (
	"fmt"
	"net/url"
	"slices"
)

// The per-machine (every user) layout the system packages install: the
// .deb, the MSI and the macOS pkg take their paths, registry keys and
// manifests from here, as `install --user` takes its own from Targets, so
// that names, paths and allowed extension IDs have one source.

// SystemTargets returns the browsers' per-machine manifest directories for
// goos ("linux" or "darwin"; Windows registers manifests in the registry,
// SystemRegistry). Sources: Chrome's native messaging guide
// (developer.chrome.com/docs/extensions/develop/concepts/native-messaging,
// "Native messaging host location"), Microsoft Edge's
// (learn.microsoft.com/microsoft-edge/extensions/developer-guide/native-messaging)
// and MDN's "Native manifests" (Firefox).
func SystemTargets(goos string) ([]Target, error) {
	switch goos {
	case "linux":
		return []Target{
			{Browser: "chromium", Dir: "/etc/chromium/native-messaging-hosts"},
			{Browser: "chrome", Dir: "/etc/opt/chrome/native-messaging-hosts"},
			{Browser: "edge", Dir: "/etc/opt/edge/native-messaging-hosts"},
			{Browser: "firefox", Dir: "/usr/lib/mozilla/native-messaging-hosts", Firefox: true},
		}, nil
	case "darwin":
		return []Target{
			{Browser: "chromium", Dir: "/Library/Application Support/Chromium/NativeMessagingHosts"},
			{Browser: "chrome", Dir: "/Library/Google/Chrome/NativeMessagingHosts"},
			{Browser: "edge", Dir: "/Library/Microsoft/Edge/NativeMessagingHosts"},
			{Browser: "firefox", Dir: "/Library/Application Support/Mozilla/NativeMessagingHosts", Firefox: true},
		}, nil
	}
	return nil, fmt.Errorf("%w: no per-machine manifest directories for %s", ErrUnsupportedOS, goos)
}

// SystemProgramDir is where the system packages put cardbridge and
// cardbridge-exchange (side by side: the host starts the exchange program
// only from beside itself). On Windows it is the MSI's
// [ProgramFiles64Folder]CardBridge, which the MSI resolves itself.
func SystemProgramDir(goos string) string {
	switch goos {
	case "linux":
		return "/usr/lib/cardbridge"
	case "darwin":
		return "/Library/Application Support/CardBridge"
	}
	return ""
}

// RegistryKey is a browser's per-machine native-messaging registration on
// Windows: under HKEY_LOCAL_MACHINE, Key's default value is the manifest's
// path.
type RegistryKey struct {
	Browser string
	Key     string
	Firefox bool
}

// SystemRegistry returns the HKLM keys of Chrome, Edge and Firefox (Chromium
// has no Windows installer to speak of; Chrome's key serves it too).
func SystemRegistry() []RegistryKey {
	return []RegistryKey{
		{Browser: "chrome", Key: `SOFTWARE\Google\Chrome\NativeMessagingHosts\` + HostName},
		{Browser: "edge", Key: `SOFTWARE\Microsoft\Edge\NativeMessagingHosts\` + HostName},
		{Browser: "firefox", Key: `SOFTWARE\Mozilla\NativeMessagingHosts\` + HostName, Firefox: true},
	}
}

// ShippedExtensionIDs are the Chrome-family IDs a system package's
// manifests allow: the store IDs the release names, and the development
// ID only in a development package (its key is public).
func ShippedExtensionIDs(storeIDs []string, dev bool) []string {
	ids := slices.Clone(storeIDs)
	if dev && !slices.Contains(ids, DevExtensionID) {
		ids = append(ids, DevExtensionID)
	}
	return ids
}

// ManifestIDs are the IDs a manifest for t lists: the Firefox add-on for
// Firefox, chromeIDs for the others.
func ManifestIDs(t Target, chromeIDs []string) []string {
	if t.Firefox {
		return []string{FirefoxAddonID}
	}
	return chromeIDs
}

// PolicyDirs are the Chrome-family managed-policy directories on Linux: a
// JSON file there is merged with the others, so CardBridge's own file
// never replaces an administrator's (Chrome's "Chrome Enterprise policy
// list" documentation; Edge reads /etc/opt/edge/policies/managed).
var PolicyDirs = map[string]string{
	"chromium": "/etc/chromium/policies/managed",
	"chrome":   "/etc/opt/chrome/policies/managed",
	"edge":     "/etc/opt/edge/policies/managed",
}

// Store update URLs for ForceInstall: the Chrome Web Store's and Edge
// Add-ons' (Chrome's ExtensionInstallForcelist policy documentation).
const (
	ChromeStoreUpdateURL = "https://clients2.google.com/service/update2/crx"
	EdgeStoreUpdateURL   = "https://edge.microsoft.com/extensionwebstorebase/v1/crx"
)

// ForceInstall is one extension that policy installs: its store ID and its
// store's update URL.
type ForceInstall struct {
	ID        string
	UpdateURL string
}

// ChromePolicy returns the managed-policy file that force-installs the
// extensions (ExtensionInstallForcelist, "<id>;<update url>") and, when
// approved is not empty, gives each of them the approvedOrigins of its
// managed storage (managed_schema.json), under "3rdparty".
func ChromePolicy(exts []ForceInstall, approved []string) ([]byte, error) {
	if len(exts) == 0 {
		return nil, fmt.Errorf("%w: a policy needs the store ID", ErrExtensionID)
	}
	var list []string
	third := map[string]any{}
	for _, e := range exts {
		if !ValidChromeID(e.ID) {
			return nil, fmt.Errorf("%w: %q is not 32 letters a–p", ErrExtensionID, e.ID)
		}
		if u, err := url.Parse(e.UpdateURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("install: the update URL of %s must be an https URL, not %q", e.ID, e.UpdateURL)
		}
		list = append(list, e.ID+";"+e.UpdateURL)
		if len(approved) > 0 {
			third[e.ID] = map[string]any{"approvedOrigins": approved}
		}
	}
	p := map[string]any{"ExtensionInstallForcelist": list}
	if len(third) > 0 {
		p["3rdparty"] = map[string]any{"extensions": third}
	}
	return IndentedJSON(p)
}
