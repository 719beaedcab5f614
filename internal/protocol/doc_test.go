package protocol

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docPath is the protocol reference, relative to this package.
const docPath = "../../docs/protocol.md"

// readDoc returns the text of docs/protocol.md.
func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("reading the protocol reference: %v", err)
	}
	return string(b)
}

// eventNames returns the values of the package's Event* string constants,
// read from the source so that a new event cannot be missed.
func eventNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatalf("parsing %s: %v", f, err)
		}
		for _, d := range file.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Event") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: %s is not a string literal", f, id.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					names = append(names, v)
				}
			}
		}
	}
	if !slices.Contains(names, EventHello) || !slices.Contains(names, EventCardRemoved) {
		t.Fatalf("event constants found = %v, want at least %q and %q", names, EventHello, EventCardRemoved)
	}
	return names
}

// TestDocMentionsEverything fails when an error code, command or event is
// missing from the reference, or the reference names an ERR_ code that
// does not exist (a typo, or a code that was never added).
func TestDocMentionsEverything(t *testing.T) {
	doc := readDoc(t)
	for _, c := range Codes {
		if !strings.Contains(doc, "`"+string(c)+"`") {
			t.Errorf("docs/protocol.md does not mention error code `%s`", c)
		}
	}
	for _, c := range Commands {
		if !strings.Contains(doc, "`"+c+"`") {
			t.Errorf("docs/protocol.md does not mention command `%s`", c)
		}
	}
	for _, e := range eventNames(t) {
		if !strings.Contains(doc, "`"+e+"`") {
			t.Errorf("docs/protocol.md does not mention event `%s`", e)
		}
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`ERR_[A-Z0-9_]*[A-Z0-9]`).FindAllString(doc, -1) {
		if seen[m] {
			continue
		}
		seen[m] = true
		if !slices.Contains(Codes, Code(m)) {
			t.Errorf("docs/protocol.md mentions %s, which is not in Codes", m)
		}
	}
}

// TestDocErrorTable checks the table of section 5: one row per code, in the
// order of Codes, each carrying the code's English and Chinese messages
// exactly as the host sends them.
func TestDocErrorTable(t *testing.T) {
	doc := readDoc(t)
	start := strings.Index(doc, "\n## 5. Error codes")
	if start < 0 {
		t.Fatal(`docs/protocol.md has no section "## 5. Error codes"`)
	}
	section := doc[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	rowRE := regexp.MustCompile("(?m)^\\| `(ERR_[A-Z0-9_]+)` \\|(.*)$")
	var got []Code
	rows := map[Code]string{}
	for _, m := range rowRE.FindAllStringSubmatch(section, -1) {
		got = append(got, Code(m[1]))
		rows[Code(m[1])] = m[2]
	}
	if !slices.Equal(got, Codes) {
		t.Errorf("error table rows = %v, want one row per code in the order of Codes: %v", got, Codes)
	}
	for _, c := range Codes {
		row, ok := rows[c]
		if !ok {
			continue // reported above
		}
		m := Messages[c]
		if !strings.Contains(row, m.EN) {
			t.Errorf("error table row %s lacks the English message %q", c, m.EN)
		}
		if !strings.Contains(row, m.ZH) {
			t.Errorf("error table row %s lacks the Chinese message %q", c, m.ZH)
		}
	}
}
