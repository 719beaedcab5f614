package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// HostName is the native-messaging host name extensions pass to
// connectNative; the manifest file is HostName + ".json".
const HostName = "tw.cardbridge.host"

// ManifestFile is the file name of the manifest in every browser directory.
const ManifestFile = HostName + ".json"

// Description is the manifest's description field.
const Description = "CardBridge 憑證 IC 卡"

// FirefoxAddonID is the Firefox add-on ID (browser_specific_settings.gecko.id)
// the Firefox manifest allows.
const FirefoxAddonID = "cardbridge@cardbridge.tw"

// DevExtensionKey is the "key" of the development Chrome extension's
// manifest: a base64 DER SubjectPublicKeyInfo that fixes its ID.
const DevExtensionKey = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3eJS/4fC8eiW5Zb10lKxoIEQwr0xiVVygqb2RZOQQmDTX+thtIGMoibeJxiROiMTfqIsLRTNKuKxFCroEKNimtBSE2gpZWGGD5WVdHeGDNL7fzlguaprjQRZXMQiS4Q4+Hl0lBHBsN0av4nttT8BN1h6cArDvGnuiynRfgwHpZh2OMdpIRU2kGa+UEmYaoYW+zXGDd7zzx1qe3KFSazuTD65YxahFvYpywt1eta/goInLH9xmMFF9GUG2xbR2s1jkZdImial+QKuYpiy/bXUS3UaHSOmllM93pp04m1lDnLspQzSWrrS0LvPXB8pz15JaDmQuIEAOGc/ypACcuUaUwIDAQAB"

// DevExtensionID is the ID of the development Chrome extension,
// ExtensionID of DevExtensionKey. Every Chrome-family manifest allows it.
const DevExtensionID = "fnelgdaolebahileglgckdchfgcenipo"

var (
	// ErrExtensionID reports an extension ID that is not 32 letters a–p
	// (Chrome family) or not an add-on ID (Firefox).
	ErrExtensionID = errors.New("install: invalid extension ID")
	// ErrNoExtensionID reports a Chrome-family install with no extension
	// to allow: a development build without --dev or store IDs.
	ErrNoExtensionID = errors.New("install: no extension ID to allow")
	// ErrBinary reports a host binary path that is not absolute or not an
	// executable regular file.
	ErrBinary = errors.New("install: the host binary must be an absolute path to an executable file")
)

// ExtensionID returns the Chrome extension ID of the public key spkiDER
// (DER SubjectPublicKeyInfo): the first 32 hex digits of its SHA-256 with
// 0–f written as a–p.
func ExtensionID(spkiDER []byte) string {
	sum := sha256.Sum256(spkiDER)
	id := make([]byte, 0, 32)
	for _, b := range sum[:16] {
		id = append(id, 'a'+b>>4, 'a'+b&0x0f)
	}
	return string(id)
}

// ValidChromeID reports whether id is a Chrome extension ID: exactly 32
// lowercase letters a–p.
func ValidChromeID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 'a' || id[i] > 'p' {
			return false
		}
	}
	return true
}

// ValidFirefoxID reports whether id is a Firefox add-on ID: a GUID in
// braces or an email-like name@domain. (Checked by hand, not with a
// regular expression compiled at start-up: the browser waits for the
// host's first message.)
func ValidFirefoxID(id string) bool {
	if len(id) == 38 && id[0] == '{' && id[37] == '}' {
		for i := 1; i < 37; i++ {
			c := id[i]
			switch i {
			case 9, 14, 19, 24:
				if c != '-' {
					return false
				}
			default:
				if !isHex(c) {
					return false
				}
			}
		}
		return true
	}
	name, domain, ok := strings.Cut(id, "@")
	return ok && domain != "" && allIDChars(name) && allIDChars(domain)
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// allIDChars reports whether s holds only [a-zA-Z0-9._-].
func allIDChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// manifest is the native-messaging host manifest. Field order is the
// order written.
type manifest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Path        string `json:"path"`
	Type        string `json:"type"`
	// AllowedOrigins is for Chromium, Chrome and Edge.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// AllowedExtensions is for Firefox, which rejects allowed_origins in
	// older versions, hence one manifest per family.
	AllowedExtensions []string `json:"allowed_extensions,omitempty"`
}

// WindowsManifest returns the manifest the MSI installs beside the host:
// its path is the file name alone, which Chrome, Edge and Firefox resolve
// against the manifest's own folder on Windows (Chrome's native messaging
// guide; MDN "Native manifests"), so the manifest needs no editing at
// install time and a moved install folder still works.
func WindowsManifest(firefox bool, ids []string) ([]byte, error) {
	return manifestJSON(Target{Browser: "windows", Firefox: firefox}, "cardbridge.exe", ids)
}

// ManifestFor returns the manifest for t that points at binary and allows
// ids: Chrome extension IDs (written as "chrome-extension://<id>/") for the
// Chrome family, add-on IDs for Firefox. binary must be absolute and ids
// must not be empty. The output is stable (the same input gives the same
// bytes), which is what makes Install idempotent.
func ManifestFor(t Target, binary string, ids []string) ([]byte, error) {
	if !filepath.IsAbs(binary) {
		return nil, fmt.Errorf("%w: %q", ErrBinary, binary)
	}
	return manifestJSON(t, binary, ids)
}

// manifestJSON is the manifest's text for t, binary and ids.
func manifestJSON(t Target, binary string, ids []string) ([]byte, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: none given for %s", ErrExtensionID, t.Browser)
	}
	m := manifest{Name: HostName, Description: Description, Path: binary, Type: "stdio"}
	for _, id := range ids {
		if t.Firefox {
			if !ValidFirefoxID(id) {
				return nil, fmt.Errorf("%w: %q is not a Firefox add-on ID", ErrExtensionID, id)
			}
			m.AllowedExtensions = append(m.AllowedExtensions, id)
			continue
		}
		if !ValidChromeID(id) {
			return nil, fmt.Errorf("%w: %q is not 32 letters a–p", ErrExtensionID, id)
		}
		m.AllowedOrigins = append(m.AllowedOrigins, "chrome-extension://"+id+"/")
	}
	return IndentedJSON(m)
}

// IndentedJSON is v as the files CardBridge installs write JSON: indented
// by two spaces, "<" and "&" as they are (an administrator reads them).
func IndentedJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
