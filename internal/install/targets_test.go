package install

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestTargets(t *testing.T) {
	const home = "/home/clerk"
	as := "/Users/clerk/Library/Application Support"
	for _, tc := range []struct {
		name string
		goos string
		home string
		env  map[string]string
		want []Target
	}{
		{"linux", "linux", home, nil, []Target{
			{"chromium", "/home/clerk/.config/chromium/NativeMessagingHosts", false},
			{"chrome", "/home/clerk/.config/google-chrome/NativeMessagingHosts", false},
			{"edge", "/home/clerk/.config/microsoft-edge/NativeMessagingHosts", false},
			{"firefox", "/home/clerk/.mozilla/native-messaging-hosts", true},
		}},
		{"linux XDG_CONFIG_HOME", "linux", home, map[string]string{"XDG_CONFIG_HOME": "/srv/cfg/"}, []Target{
			{"chromium", "/srv/cfg/chromium/NativeMessagingHosts", false},
			{"chrome", "/srv/cfg/google-chrome/NativeMessagingHosts", false},
			{"edge", "/srv/cfg/microsoft-edge/NativeMessagingHosts", false},
			{"firefox", "/home/clerk/.mozilla/native-messaging-hosts", true},
		}},
		{"linux relative XDG_CONFIG_HOME is ignored", "linux", home, map[string]string{"XDG_CONFIG_HOME": "cfg"}, []Target{
			{"chromium", "/home/clerk/.config/chromium/NativeMessagingHosts", false},
			{"chrome", "/home/clerk/.config/google-chrome/NativeMessagingHosts", false},
			{"edge", "/home/clerk/.config/microsoft-edge/NativeMessagingHosts", false},
			{"firefox", "/home/clerk/.mozilla/native-messaging-hosts", true},
		}},
		{"darwin", "darwin", "/Users/clerk", nil, []Target{
			{"chromium", as + "/Chromium/NativeMessagingHosts", false},
			{"chrome", as + "/Google/Chrome/NativeMessagingHosts", false},
			{"edge", as + "/Microsoft Edge/NativeMessagingHosts", false},
			{"firefox", as + "/Mozilla/NativeMessagingHosts", true},
		}},
		{"darwin ignores XDG_CONFIG_HOME", "darwin", "/Users/clerk", map[string]string{"XDG_CONFIG_HOME": "/srv/cfg"}, []Target{
			{"chromium", as + "/Chromium/NativeMessagingHosts", false},
			{"chrome", as + "/Google/Chrome/NativeMessagingHosts", false},
			{"edge", as + "/Microsoft Edge/NativeMessagingHosts", false},
			{"firefox", as + "/Mozilla/NativeMessagingHosts", true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Targets(tc.goos, tc.home, envOf(tc.env))
			if err != nil {
				t.Fatalf("Targets() = %v", err)
			}
			for i := range tc.want {
				tc.want[i].Dir = filepath.FromSlash(tc.want[i].Dir)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Targets(%s) =\n%+v\nwant\n%+v", tc.goos, got, tc.want)
			}
			for _, tg := range got {
				if want := filepath.Join(tg.Dir, "tw.cardbridge.host.json"); tg.Path() != want {
					t.Errorf("%s Path() = %q, want %q", tg.Browser, tg.Path(), want)
				}
			}
		})
	}
}

func TestTargetsErrors(t *testing.T) {
	for _, tc := range []struct {
		goos, home string
		want       error
	}{
		{"windows", `C:\Users\clerk`, ErrUnsupportedOS},
		{"freebsd", "/home/clerk", ErrUnsupportedOS},
		{"linux", "home/clerk", nil},
		{"linux", "", nil},
	} {
		_, err := Targets(tc.goos, tc.home, nil)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("Targets(%q, %q) = %v, want an error (%v)", tc.goos, tc.home, err, tc.want)
		}
	}
}

func TestBinaryPath(t *testing.T) {
	for _, tc := range []struct {
		goos, home string
		env        map[string]string
		want       string
	}{
		{"linux", "/home/clerk", nil, "/home/clerk/.local/share/cardbridge/cardbridge"},
		{"linux", "/home/clerk", map[string]string{"XDG_DATA_HOME": "/srv/data"}, "/srv/data/cardbridge/cardbridge"},
		{"linux", "/home/clerk", map[string]string{"XDG_DATA_HOME": "data"}, "/home/clerk/.local/share/cardbridge/cardbridge"},
		{"darwin", "/Users/clerk", map[string]string{"XDG_DATA_HOME": "/srv/data"}, "/Users/clerk/Library/Application Support/CardBridge/cardbridge"},
		{"windows", `C:\Users\clerk`, nil, ""},
		{"linux", "relative", nil, ""},
	} {
		if got := BinaryPath(tc.goos, tc.home, envOf(tc.env)); got != filepath.FromSlash(tc.want) {
			t.Errorf("BinaryPath(%q, %q, %v) = %q, want %q", tc.goos, tc.home, tc.env, got, tc.want)
		}
	}
}

func TestSelectTargets(t *testing.T) {
	all, err := Targets("linux", "/home/clerk", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		browsers []string
		want     []string
		wantErr  error
	}{
		{nil, []string{"chromium", "chrome", "edge", "firefox"}, nil},
		{[]string{"firefox", "chromium"}, []string{"chromium", "firefox"}, nil},
		{[]string{"edge", "edge"}, []string{"edge"}, nil},
		{[]string{"safari"}, nil, ErrBrowser},
		{[]string{"Chrome"}, nil, ErrBrowser},
	} {
		got, err := selectTargets(all, tc.browsers)
		var names []string
		for _, tg := range got {
			names = append(names, tg.Browser)
		}
		if !errors.Is(err, tc.wantErr) || !reflect.DeepEqual(names, tc.want) {
			t.Errorf("selectTargets(%q) = %q, %v; want %q, %v", tc.browsers, names, err, tc.want, tc.wantErr)
		}
	}
}
