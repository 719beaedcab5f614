package origin

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for s, ok := range map[string]bool{
		"https://edoc.example.gov.tw":         true,
		"https://edoc.example.gov.tw:8443":    true,
		"https://xn--kpry57d.tw":              true,
		"http://localhost:3000":               true,
		"http://127.0.0.1":                    true,
		"http://[::1]:8080":                   true,
		"https://[2001:db8::1]":               true,
		"http://127.0.0.2":                    false, // browsers' secure-context list is localhost, 127.0.0.1, ::1 here
		"http://edoc.example.gov.tw":          false,
		"https://Edoc.example.gov.tw":         false,
		"https://edoc.example.gov.tw/":        false,
		"https://edoc.example.gov.tw?x":       false,
		"https://u@edoc.example.gov.tw":       false,
		"https://edoc.example.gov.tw:443":     false,
		"http://localhost:80":                 false,
		"https://edoc.example.gov.tw:08":      false,
		"https://edoc.example.gov.tw:":        false,
		"https://[2001:DB8::1]":               false,
		"https://[::ffff:1.2.3.4]":            false,
		"https://a%41.tw":                     false,
		"https://]":                           false,
		"https://公文.tw":                       false,
		"ws://localhost":                      false,
		"null":                                false,
		"":                                    false,
		"https://" + strings.Repeat("a", 248): false,
	} {
		if err := Check(s); (err == nil) != ok {
			t.Errorf("Check(%q) = %v, want ok=%v", s, err, ok)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"https://a.tw", "http://[::1]:1", "https://a.tw:8443", "http://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Check(s) != nil {
			return
		}
		if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
			t.Fatalf("accepted %q without an http(s) scheme", s)
		}
		if strings.ContainsAny(s[8:], "/?#@%") || strings.ToLower(s) != s {
			t.Fatalf("accepted %q with a path, query, fragment, user, escape or upper case", s)
		}
	})
}

func TestLoopbackHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true}, {"127.0.0.1", true}, {"127.1.2.3", true}, {"::1", true},
		{"LOCALHOST", false}, {"localhost.", false}, {"128.0.0.1", false}, {"::2", false}, {"", false}, {"example.com", false},
	} {
		if got := LoopbackHost(tc.host); got != tc.want {
			t.Errorf("LoopbackHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
