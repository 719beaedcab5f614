package di

import (
	"fmt"
	"strings"
	"unicode"
)

// doctype reads <!DOCTYPE 函 SYSTEM "104_2_utf8.dtd" [ … ]> (encoding/xml
// hands it over as one directive, internal subset included). The system
// identifier is recorded and never loaded. In the internal subset it keeps
// the attachment declarations <!ENTITY name SYSTEM "file" NDATA notation>
// and accepts <!NOTATION …>, <!ELEMENT …>, <!ATTLIST …> and comments; any
// other entity (parameter entities, parsed entities, which a DI has no use
// for and which could expand without bound) is refused by name.
func (p *parser) doctype(d string) error {
	s := scanner{s: d}
	if w := s.word(); w != "DOCTYPE" {
		// <!doctype …>, a bare <!ENTITY …>: not XML, and never checked
		// here had it been let through.
		return fmt.Errorf("a <!%s …> declaration before the root: %w", w, ErrMalformed)
	}
	if p.entities != nil {
		return fmt.Errorf("two DOCTYPE declarations: %w", ErrMalformed)
	}
	p.entities = map[string]File{}
	s.word() // the root's name; the root element itself is what counts
	switch s.word() {
	case "SYSTEM":
		p.l.DTD, _ = s.quoted()
	case "PUBLIC":
		s.quoted()
		p.l.DTD, _ = s.quoted()
	}
	s.space()
	if !s.eat("[") {
		return nil
	}
	for {
		s.space()
		switch {
		case s.eat("]"), s.done():
			return nil
		case s.eat("<!--"):
			if !s.skipPast("-->") {
				return fmt.Errorf("DOCTYPE: comment not closed: %w", ErrMalformed)
			}
		case s.eat("<!ENTITY"):
			if err := p.entity(&s); err != nil {
				return err
			}
		case s.eat("<!NOTATION"), s.eat("<!ELEMENT"), s.eat("<!ATTLIST"):
			if !s.skipDecl() {
				return fmt.Errorf("DOCTYPE: declaration not closed: %w", ErrMalformed)
			}
		case s.eat("<?"):
			if !s.skipPast("?>") {
				return fmt.Errorf("DOCTYPE: processing instruction not closed: %w", ErrMalformed)
			}
		default:
			return fmt.Errorf("DOCTYPE: unexpected %q in the internal subset: %w", s.peek(20), ErrMalformed)
		}
	}
}

// entity reads the rest of <!ENTITY …>.
func (p *parser) entity(s *scanner) error {
	name := s.word()
	if name == "%" {
		return fmt.Errorf("DOCTYPE: parameter entity %q: a DI may declare only attachment files: %w", s.word(), ErrMalformed)
	}
	if !validName(name) {
		return fmt.Errorf("DOCTYPE: entity name %q: %w", name, ErrMalformed)
	}
	if s.word() != "SYSTEM" {
		return fmt.Errorf("DOCTYPE: entity %s is not an attachment (SYSTEM \"file\" NDATA …): %w", name, ErrMalformed)
	}
	file, ok := s.quoted()
	if !ok {
		return fmt.Errorf("DOCTYPE: entity %s: file name not quoted: %w", name, ErrMalformed)
	}
	if s.word() != "NDATA" {
		return fmt.Errorf("DOCTYPE: entity %s would be parsed as XML (no NDATA): %w", name, ErrMalformed)
	}
	notation := s.word()
	s.space()
	if !s.eat(">") {
		return fmt.Errorf("DOCTYPE: entity %s: declaration not closed: %w", name, ErrMalformed)
	}
	if _, dup := p.entities[name]; dup {
		return fmt.Errorf("DOCTYPE: entity %s declared twice: %w", name, ErrMalformed)
	}
	if len(p.entities) >= MaxAttachments {
		return fmt.Errorf("DOCTYPE: more than %d attachment entities: %w", MaxAttachments, ErrMalformed)
	}
	p.entities[name] = File{Entity: name, Name: file, Notation: notation}
	return nil
}

// validName is an XML name as DIs use them (letters, digits, _ - . and
// CJK), without colons.
func validName(n string) bool {
	if n == "" || len(n) > 256 {
		return false
	}
	for i, r := range n {
		switch {
		case unicode.IsLetter(r), r == '_':
		case i > 0 && (unicode.IsDigit(r) || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// scanner reads a declaration's words and quoted strings.
type scanner struct {
	s string
	i int
}

func (s *scanner) done() bool { return s.i >= len(s.s) }

func (s *scanner) space() {
	for s.i < len(s.s) && strings.ContainsRune(" \t\r\n", rune(s.s[s.i])) {
		s.i++
	}
}

func (s *scanner) eat(lit string) bool {
	if strings.HasPrefix(s.s[s.i:], lit) {
		s.i += len(lit)
		return true
	}
	return false
}

func (s *scanner) peek(n int) string {
	return s.s[s.i:min(len(s.s), s.i+n)]
}

// word reads up to the next space, bracket, quote or '>'.
func (s *scanner) word() string {
	s.space()
	start := s.i
	for s.i < len(s.s) && !strings.ContainsRune(" \t\r\n[]>\"'", rune(s.s[s.i])) {
		s.i++
	}
	return s.s[start:s.i]
}

// quoted reads "…" or '…'.
func (s *scanner) quoted() (string, bool) {
	s.space()
	if s.done() || (s.s[s.i] != '"' && s.s[s.i] != '\'') {
		return "", false
	}
	q := s.s[s.i]
	end := strings.IndexByte(s.s[s.i+1:], q)
	if end < 0 {
		s.i = len(s.s)
		return "", false
	}
	v := s.s[s.i+1 : s.i+1+end]
	s.i += end + 2
	return v, true
}

func (s *scanner) skipPast(lit string) bool {
	j := strings.Index(s.s[s.i:], lit)
	if j < 0 {
		s.i = len(s.s)
		return false
	}
	s.i += j + len(lit)
	return true
}

// skipDecl skips to the '>' that closes a declaration, past quoted strings.
func (s *scanner) skipDecl() bool {
	for !s.done() {
		switch s.s[s.i] {
		case '"', '\'':
			if _, ok := s.quoted(); !ok {
				return false
			}
		case '>':
			s.i++
			return true
		default:
			s.i++
		}
	}
	return false
}
