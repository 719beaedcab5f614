package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/origin"
)

// The machine policy: what a system package sets for every user beyond the
// host's registration, written by the installed cardbridge itself
// (`cardbridge policy apply`, run by the MSI and by cardbridge-policy's
// maintainer scripts) so that the origins an administrator gives are
// checked by the host's own rule and land in the same places on every
// system. On Windows these are registry values under HKLM, where the
// browsers and the host read policy; on Linux, Firefox's policies.json
// (the Chrome family reads a folder of files and gets its own file from
// the package).

// MaxPolicyOrigins caps the approved origins one install may set: a
// district's document-exchange and CA sites are a handful.
const MaxPolicyOrigins = 64

// HostPolicyKey is the HKLM key whose ApprovedOrigins value (REG_MULTI_SZ)
// the host reads on Windows as part of its system configuration: an
// administrator's key (HKLM\SOFTWARE is writable by administrators only,
// unlike %ProgramData%), which Group Policy can also set.
const (
	HostPolicyKey       = `SOFTWARE\Policies\CardBridge`
	HostPolicyValueName = "ApprovedOrigins"
)

// policyRecordKey is where `policy apply` records what it wrote, so that
// `policy remove` removes exactly that: the values, and the keys it had
// to create (an administrator's own keys and values stay).
const policyRecordKey = `SOFTWARE\CardBridge\MachinePolicy`

// MachinePolicy is what `cardbridge policy apply` sets.
type MachinePolicy struct {
	// Approved are origins every user's extension treats as approved
	// (approvedOrigins): written to the host's system configuration and
	// to the extension's managed storage in each browser.
	Approved []string
	// ChromeIDs are the Chrome-family extension IDs whose managed storage
	// gets Approved: the store IDs the build trusts.
	ChromeIDs []string
	// FirefoxInstallURL, when set, force-installs the Firefox add-on from
	// this https URL (Linux; the MSI writes its own rows on Windows).
	FirefoxInstallURL string
}

// installURLRE is an https URL of the characters RFC 3986 allows, less
// the quote and the backslash: the URL goes through a maintainer script's
// single quotes and an MSI's formatted string unchanged.
// "$" and "!" are left out too: wixl's preprocessor expands $(env.…)
// and !(bind.…) in the MSI's source (a build machine's variable would
// ship in the MSI).
var installURLRE = regexp.MustCompile(`^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~:/?#@&()*+,;=%-]*)?$`)

// ErrPolicy reports a machine policy that cannot be applied as given.
var ErrPolicy = errors.New("install: machine policy")

// SplitOrigins splits an installer property such as APPROVEDORIGINS
// ("https://a.gov.tw https://b.edu.tw", commas and semicolons also
// separate) into origins, each checked by the host's rule and https only;
// duplicates are dropped.
func SplitOrigins(s string) ([]string, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '\t' || r == '\n' || r == '\r' })
	var out []string
	for _, o := range fields {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, CheckApproved(out)
}

// CheckApproved checks origins an installer pre-approves: https origins
// the host accepts, at most MaxPolicyOrigins.
func CheckApproved(origins []string) error {
	if len(origins) > MaxPolicyOrigins {
		return fmt.Errorf("%w: %d approved origins, at most %d", ErrPolicy, len(origins), MaxPolicyOrigins)
	}
	for _, o := range origins {
		if err := origin.Check(o); err != nil || !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("%w: approved origin %q: an https origin such as https://edoc.example.gov.tw (%v)", ErrPolicy, o, err)
		}
	}
	return nil
}

// Check validates p.
func (p MachinePolicy) Check() error {
	if err := CheckApproved(p.Approved); err != nil {
		return err
	}
	for _, id := range p.ChromeIDs {
		if !ValidChromeID(id) {
			return fmt.Errorf("%w: %q is not 32 letters a–p", ErrExtensionID, id)
		}
	}
	if p.FirefoxInstallURL != "" && !installURLRE.MatchString(p.FirefoxInstallURL) {
		return fmt.Errorf("%w: the Firefox install URL must be an https URL of plain characters, not %q", ErrPolicy, p.FirefoxInstallURL)
	}
	return nil
}

// RegistryValue is one HKLM value `policy apply` writes on Windows: Data
// as one string (REG_SZ), or as a list when Multi (REG_MULTI_SZ).
type RegistryValue struct {
	Key, Name string
	Data      []string
	Multi     bool
}

// chromePolicyRoots are the Chrome family's policy keys on Windows; an
// extension's managed storage is read from
// <root>\3rdparty\extensions\<id>\policy (Chrome's "Configuring Apps and
// Extensions by Policy" documentation), a list as a subkey whose values
// are named 1, 2, ….
var chromePolicyRoots = []string{`SOFTWARE\Policies\Google\Chrome`, `SOFTWARE\Policies\Microsoft\Edge`}

// firefoxPolicyRoot is Firefox's policy key on Windows; an add-on's
// managed storage is under 3rdparty\Extensions\<add-on ID>, a list as a
// subkey whose first value is named 1 (Mozilla's policy-templates
// documentation, "3rdparty").
const firefoxPolicyRoot = `SOFTWARE\Policies\Mozilla\Firefox`

// RegistryValues returns what p writes on Windows: the host's
// ApprovedOrigins and each extension's managed approvedOrigins. Nothing
// when p approves nothing.
func (p MachinePolicy) RegistryValues() []RegistryValue {
	if len(p.Approved) == 0 {
		return nil
	}
	out := []RegistryValue{{Key: HostPolicyKey, Name: HostPolicyValueName, Data: p.Approved, Multi: true}}
	list := func(key string) {
		for i, o := range p.Approved {
			out = append(out, RegistryValue{Key: key, Name: strconv.Itoa(i + 1), Data: []string{o}})
		}
	}
	for _, root := range chromePolicyRoots {
		for _, id := range p.ChromeIDs {
			list(root + `\3rdparty\extensions\` + id + `\policy\approvedOrigins`)
		}
	}
	list(firefoxPolicyRoot + `\3rdparty\Extensions\` + FirefoxAddonID + `\approvedOrigins`)
	return out
}

// FirefoxPolicyFiles are the policies.json files Firefox reads on Linux:
// Mozilla's builds (and Ubuntu's) from /etc/firefox/policies, Debian's
// firefox-esr from /etc/firefox-esr/policies (its system configuration
// folder). Each belongs to the administrator: CardBridge merges its
// entries in and takes only them out again.
var FirefoxPolicyFiles = []string{"/etc/firefox/policies/policies.json", "/etc/firefox-esr/policies/policies.json"}

// maxPolicyFile caps a policies.json read for merging.
const maxPolicyFile = 1 << 20

// MergeFirefoxPolicies returns doc (a policies.json, or empty for none)
// with CardBridge's entries set: ExtensionSettings[add-on] force-installs
// it from p.FirefoxInstallURL, 3rdparty.Extensions[add-on].approvedOrigins
// is p.Approved. Every other entry is kept as it was. A doc that is not a
// JSON object with an object "policies" is refused: better no policy than
// an administrator's file destroyed.
func MergeFirefoxPolicies(doc []byte, p MachinePolicy) ([]byte, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	root, policies, err := decodePolicies(doc)
	if err != nil {
		return nil, err
	}
	if p.FirefoxInstallURL != "" {
		settings, err := child(policies, "ExtensionSettings")
		if err != nil {
			return nil, err
		}
		if e, ok := settings[FirefoxAddonID]; ok && !ourSetting(e) {
			return nil, fmt.Errorf("%w: policies.json has an ExtensionSettings entry of its own for %s: left as it is", ErrPolicy, FirefoxAddonID)
		}
		settings[FirefoxAddonID] = map[string]any{"installation_mode": "force_installed", "install_url": p.FirefoxInstallURL}
	}
	if len(p.Approved) > 0 {
		third, err := child(policies, "3rdparty")
		if err != nil {
			return nil, err
		}
		exts, err := child(third, "Extensions")
		if err != nil {
			return nil, err
		}
		if e, ok := exts[FirefoxAddonID]; ok && !ourStorage(e) {
			return nil, fmt.Errorf("%w: policies.json has a 3rdparty entry of its own for %s: left as it is", ErrPolicy, FirefoxAddonID)
		}
		exts[FirefoxAddonID] = map[string]any{"approvedOrigins": p.Approved}
	}
	return IndentedJSON(root)
}

// ourSetting reports whether an ExtensionSettings entry has the shape
// MergeFirefoxPolicies writes: an administrator's own entry for the add-on
// (a block, a message) is neither replaced nor removed.
func ourSetting(e any) bool {
	m, ok := e.(map[string]any)
	if !ok || len(m) != 2 || m["installation_mode"] != "force_installed" {
		return false
	}
	u, ok := m["install_url"].(string)
	return ok && installURLRE.MatchString(u)
}

// ourStorage reports whether a 3rdparty entry has the shape
// MergeFirefoxPolicies writes: approvedOrigins alone, each an https origin.
func ourStorage(e any) bool {
	m, ok := e.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	list, ok := m["approvedOrigins"].([]any)
	if !ok {
		return false
	}
	var origins []string
	for _, v := range list {
		o, ok := v.(string)
		if !ok {
			return false
		}
		origins = append(origins, o)
	}
	return CheckApproved(origins) == nil
}

// RemoveFirefoxPolicies takes CardBridge's entries out of doc and drops
// the containers that only they filled. empty reports that nothing is left
// (the file can go).
func RemoveFirefoxPolicies(doc []byte) (out []byte, empty bool, err error) {
	root, policies, err := decodePolicies(doc)
	if err != nil {
		return nil, false, err
	}
	if settings, ok := policies["ExtensionSettings"].(map[string]any); ok && ourSetting(settings[FirefoxAddonID]) {
		delete(settings, FirefoxAddonID)
		if len(settings) == 0 {
			delete(policies, "ExtensionSettings")
		}
	}
	if third, ok := policies["3rdparty"].(map[string]any); ok {
		if exts, ok := third["Extensions"].(map[string]any); ok && ourStorage(exts[FirefoxAddonID]) {
			delete(exts, FirefoxAddonID)
			if len(exts) == 0 {
				delete(third, "Extensions")
			}
		}
		if len(third) == 0 {
			delete(policies, "3rdparty")
		}
	}
	if len(policies) == 0 && len(root) == 1 {
		return nil, true, nil
	}
	out, err = IndentedJSON(root)
	return out, false, err
}

// decodePolicies reads a policies.json: {"policies": {...}} (created when
// doc is empty).
func decodePolicies(doc []byte) (root, policies map[string]any, err error) {
	if len(doc) > maxPolicyFile {
		return nil, nil, fmt.Errorf("%w: policies.json larger than %d bytes", ErrPolicy, maxPolicyFile)
	}
	if !utf8.Valid(doc) {
		return nil, nil, fmt.Errorf("%w: policies.json is not UTF-8: left as it is", ErrPolicy)
	}
	root = map[string]any{}
	if len(bytes.TrimSpace(doc)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber() // an administrator's numbers stay as written
		err := dec.Decode(&root)
		if err == nil && len(bytes.TrimSpace(doc[dec.InputOffset():])) > 0 {
			err = errors.New("more after the object")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: policies.json is not one JSON object (%v): left as it is", ErrPolicy, err)
		}
		if root == nil {
			return nil, nil, fmt.Errorf("%w: policies.json is null: left as it is", ErrPolicy)
		}
	}
	policies, err = child(root, "policies")
	return root, policies, err
}

// child returns m[name] as an object, creating it when absent; anything
// else there is refused.
func child(m map[string]any, name string) (map[string]any, error) {
	v, ok := m[name]
	if !ok || v == nil {
		c := map[string]any{}
		m[name] = c
		return c, nil
	}
	c, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %q in policies.json is not an object: left as it is", ErrPolicy, name)
	}
	return c, nil
}
