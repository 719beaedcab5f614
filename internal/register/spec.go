//go:build !windows && !darwin

package register

import "strings"

// entry is one module of an NSS database.
type entry struct {
	Name    string
	Library string // "" for NSS's internal module
}

// parseRawlist reads the output of modutil -rawlist: one module per line,
// written as NSS module specs (name="…" library="…" …). Lines that are
// not module specs are ignored.
//
// We read this instead of modutil -list because -rawlist does not load
// the modules (-list calls every module's C_Initialize, which for a card
// module means talking to pcscd, and fails or hangs with a broken one),
// and instead of pkcs11.txt itself so that NSS stays the only reader of
// its own file format.
func parseRawlist(out []byte) []entry {
	var es []entry
	for _, line := range strings.Split(string(out), "\n") {
		kv := parseSpec(line)
		name, ok := kv["name"]
		if !ok {
			continue
		}
		es = append(es, entry{Name: name, Library: kv["library"]})
	}
	return es
}

// parseSpec splits an NSS module spec into its tag=value pairs, with the
// quoting rules of NSS's own parser (lib/util/utilpars.c,
// NSSUTIL_ArgFetchValue): a value is either bare up to the next blank, or
// opens with one of " ' < { ( [ and runs to the matching close; a
// backslash takes the next character literally.
func parseSpec(s string) map[string]string {
	kv := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return kv
		}
		eq := strings.IndexAny(s, "= \t")
		if eq < 0 || s[eq] != '=' {
			// A tag without a value: NSS skips it.
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				return kv
			}
			s = s[end:]
			continue
		}
		tag := s[:eq]
		val, rest := fetchValue(s[eq+1:])
		kv[tag] = val
		s = rest
	}
}

// specPairs are NSS's opening quote characters and their closes.
var specPairs = map[byte]byte{'"': '"', '\'': '\'', '<': '>', '{': '}', '(': ')', '[': ']'}

// fetchValue returns the value at the start of s, unquoted and
// unescaped, and what follows it.
func fetchValue(s string) (string, string) {
	end := byte(0) // 0: a bare value, ended by a blank
	if c, ok := specPairs[firstByte(s)]; ok {
		end = c
		s = s[1:]
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case end == 0 && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			return b.String(), s[i:]
		case end != 0 && c == end:
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}
