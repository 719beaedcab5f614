package install

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestExtensionID(t *testing.T) {
	dev, err := base64.StdEncoding.DecodeString(DevExtensionKey)
	if err != nil {
		t.Fatalf("DevExtensionKey is not base64: %v", err)
	}
	if _, err := x509.ParsePKIXPublicKey(dev); err != nil {
		t.Fatalf("DevExtensionKey is not a SubjectPublicKeyInfo: %v", err)
	}
	for _, tc := range []struct {
		name string
		der  []byte
		want string
	}{
		{"dev key", dev, DevExtensionID},
		// sha256sum | cut -c1-32 | tr '0-9a-f' 'a-p'
		{"empty", nil, "odlameecjipmbmbejkplpemijjgpljce"},
		{"abc", []byte("abc"), "lkhibglpipabmpokebebeanofnkocccd"},
	} {
		if got := ExtensionID(tc.der); got != tc.want {
			t.Errorf("ExtensionID(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestValidChromeID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{DevExtensionID, true},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},
		{"pppppppppppppppppppppppppppppppp", true},
		{"", false},
		{DevExtensionID[:31], false},
		{DevExtensionID + "a", false},
		{"qaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"chrome-extension://" + DevExtensionID + "/", false},
	} {
		if got := ValidChromeID(tc.id); got != tc.want {
			t.Errorf("ValidChromeID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestManifestFor(t *testing.T) {
	const other = "aaaabbbbccccddddeeeeffffgggghhhh"
	chrome := Target{Browser: "chrome", Dir: "/h/.config/google-chrome/NativeMessagingHosts"}
	firefox := Target{Browser: "firefox", Dir: "/h/.mozilla/native-messaging-hosts", Firefox: true}
	for _, tc := range []struct {
		name   string
		target Target
		binary string
		ids    []string
		want   map[string]any // every key of the manifest, exactly
	}{
		{"chrome", chrome, "/h/.local/share/cardbridge/cardbridge", []string{DevExtensionID, other}, map[string]any{
			"name":        "tw.cardbridge.host",
			"description": "CardBridge 憑證 IC 卡",
			"path":        "/h/.local/share/cardbridge/cardbridge",
			"type":        "stdio",
			"allowed_origins": []any{
				"chrome-extension://fnelgdaolebahileglgckdchfgcenipo/",
				"chrome-extension://aaaabbbbccccddddeeeeffffgggghhhh/",
			},
		}},
		{"firefox", firefox, "/Users/x/Library/Application Support/CardBridge/cardbridge", []string{FirefoxAddonID}, map[string]any{
			"name":               "tw.cardbridge.host",
			"description":        "CardBridge 憑證 IC 卡",
			"path":               "/Users/x/Library/Application Support/CardBridge/cardbridge",
			"type":               "stdio",
			"allowed_extensions": []any{"cardbridge@cardbridge.tw"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ManifestFor(tc.target, tc.binary, tc.ids)
			if err != nil {
				t.Fatalf("ManifestFor() = %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("ManifestFor() is not JSON: %v\n%s", err, b)
			}
			if len(got) != len(tc.want) {
				t.Errorf("ManifestFor() has keys %v, want %v", keys(got), keys(tc.want))
			}
			for k, want := range tc.want {
				if g, _ := json.Marshal(got[k]); string(g) != mustJSON(t, want) {
					t.Errorf("ManifestFor() %s = %s, want %s", k, g, mustJSON(t, want))
				}
			}
			again, _ := ManifestFor(tc.target, tc.binary, tc.ids)
			if string(again) != string(b) {
				t.Errorf("ManifestFor() is not stable:\n%s\n%s", b, again)
			}
		})
	}
}

func TestManifestForErrors(t *testing.T) {
	chrome := Target{Browser: "chromium"}
	firefox := Target{Browser: "firefox", Firefox: true}
	for _, tc := range []struct {
		name   string
		target Target
		binary string
		ids    []string
		want   error
	}{
		{"relative binary", chrome, "cardbridge", []string{DevExtensionID}, ErrBinary},
		{"empty binary", chrome, "", []string{DevExtensionID}, ErrBinary},
		{"no ids", chrome, "/bin/cardbridge", nil, ErrExtensionID},
		{"chrome id with q", chrome, "/bin/cardbridge", []string{"qaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, ErrExtensionID},
		{"add-on id for chrome", chrome, "/bin/cardbridge", []string{FirefoxAddonID}, ErrExtensionID},
		{"bad add-on id", firefox, "/bin/cardbridge", []string{"no at sign"}, ErrExtensionID},
		{"wildcard", chrome, "/bin/cardbridge", []string{"*"}, ErrExtensionID},
	} {
		if _, err := ManifestFor(tc.target, tc.binary, tc.ids); !errors.Is(err, tc.want) {
			t.Errorf("ManifestFor(%s) = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
