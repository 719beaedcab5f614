// Package origin owns the one rule for what a web origin looks like, so
// the native host (which refuses requests from other origins) and the
// public token verifier (which checks a site's configured origin) cannot
// drift apart. It depends on nothing but the standard library, because the
// verifier runs on servers without PC/SC.
package origin

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// MaxLen is the longest origin accepted (as Web eID does).
const MaxLen = 255

// Check returns nil when s is a web origin serialised as browsers do
// (RFC 6454 §6.2): https://host[:port], or http:// for localhost,
// 127.0.0.1 and [::1] (development); a lower-case ASCII host (punycode for
// international names), IPv6 in canonical form, the port only when it is
// not the scheme's default, and nothing else: no user, path (not even
// "/"), query or fragment. The error says why, in English, for logs.
func Check(s string) error {
	if s == "" || len(s) > MaxLen {
		return errors.New("empty or longer than 255 bytes")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("does not parse")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return errors.New("scheme must be https")
	}
	if u.Scheme+"://"+u.Host != s || u.User != nil {
		return errors.New("want scheme://host[:port], without user, path, query, fragment or trailing slash")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("no host")
	}
	if strings.HasPrefix(u.Host, "[") {
		if ip := net.ParseIP(host); ip == nil || ip.String() != host || ip.To4() != nil {
			return errors.New("IPv6 address not in canonical form")
		}
	} else {
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
				return errors.New("host must be lower-case ASCII (punycode for international names)")
			}
		}
		// "evil.tw." is another origin than "evil.tw" to the browser, and to
		// every list of origins (consent, rawSignOrigins, verifiers); refused,
		// so that no site has two names.
		if strings.HasSuffix(host, ".") || strings.HasPrefix(host, ".") || strings.Contains(host, "..") {
			return errors.New("host with an empty label (a trailing dot)")
		}
	}
	if strings.HasSuffix(u.Host, ":") {
		return errors.New("empty port")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		switch {
		case err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p:
			return errors.New("invalid port")
		case u.Scheme == "https" && n == 443, u.Scheme == "http" && n == 80:
			return errors.New("browsers omit the default port")
		}
	}
	if u.Scheme == "http" && !Loopback(host) {
		return errors.New("http is allowed only for localhost, 127.0.0.1 and [::1]; other sites need https")
	}
	return nil
}

// LoopbackHost reports whether host names this machine: localhost or any
// loopback IP. It is the rule for addresses CardBridge listens on or dials
// (the virtual reader, test controls), which must never face a network;
// Loopback is the narrower rule for origins.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Loopback reports whether host is localhost, 127.0.0.1 or ::1: the names
// browsers treat as secure without https.
func Loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
