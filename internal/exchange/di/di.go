// Package di reads and writes the 公文 document instance (DI): the XML 函
// of the 文書及檔案管理電腦化作業規範 (the 104 DTD's 函 layout, and the
// 99 Big5 one it replaced), with its attachments named as unparsed
// entities in the DOCTYPE's internal subset.
//
// It does no I/O: bytes in, bytes out. It never loads a DTD (the 104 DTDs
// are not fetched, from the network or anywhere): the structure is checked
// by Validate, whose problems name the element, and the only entities it
// knows are XML's five and the attachment declarations
// <!ENTITY ATTCH1 SYSTEM "附件一.pdf" NDATA DI>. A document that uses any
// other entity is refused with its name, which also rules out entity
// expansion attacks. Input is capped in size, depth and element count.
package di

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/traditionalchinese"
)

// Limits on a DI: real ones are a few kilobytes with a handful of levels.
const (
	// MaxSize is the largest DI read (attachments are separate files).
	MaxSize = 4 << 20
	// MaxDepth bounds element nesting (條列 within 條列 …).
	MaxDepth = 32
	// MaxElements bounds the number of elements.
	MaxElements = 20000
	// MaxAttachments bounds the attachment entities declared.
	MaxAttachments = 200
)

// ErrMalformed reports a DI that is not well-formed XML, uses what a DI
// may not (an undeclared entity, a DTD to load), or exceeds a limit.
var ErrMalformed = errors.New("malformed DI")

// Encoding is a DI's character encoding.
type Encoding string

const (
	// UTF8 is the 104 DTDs' encoding (the default).
	UTF8 Encoding = "UTF-8"
	// Big5 is the 99 and older DTDs' (Windows code page 950).
	Big5 Encoding = "Big5"
)

// Letter is a 函 (or 書函): the parts a clerk and an exchange need. Text
// is kept as written, surrounding space trimmed.
type Letter struct {
	// DocType is the root element, "函".
	DocType string
	// DTD is the DOCTYPE's system identifier, e.g. "104_2_utf8.dtd"; it is
	// recorded, never loaded.
	DTD string
	// Encoding is what the file was (or will be) written in.
	Encoding Encoding

	Sender    Party    // 發文機關: 全銜, 機關代碼
	Kind      string   // 函類別 代碼: 函 or 書函
	Address   string   // 地址
	Contacts  []string // 聯絡方式, one per line
	Recipient Recipient
	Date      string // 發文日期/年月日, e.g. 中華民國115年10月2日
	Number    DocNumber
	Speed     string // 速別 代碼: 普通件, 速件, 最速件
	Secrecy   string // 密等: empty, 密, 機密, 極機密, 絕對機密
	// SecrecyTerms is 解密條件或保密期限.
	SecrecyTerms string
	Attachment   Attachments
	Subject      string // 主旨/文字
	Paragraphs   []Paragraph
	Originals    []Party // 正本
	Copies       []Party // 副本
	Signature    string  // 署名

	// Unknown lists the paths of elements this model does not keep
	// (蓋章戳記, 擬辦方式 …); writing the letter leaves them out.
	Unknown []string
	// Repeated lists the paths (as Validate names them) of elements that
	// may appear once but appeared again; the first is kept, and Validate
	// reports each, since another reader may show another one.
	Repeated []string
}

// Party is an agency: its full name (全銜) and 機關代碼, and for 正本/副本
// whether it gets the attachments (含附件).
type Party struct {
	Name            string
	Code            string
	WithAttachments bool
}

// Recipient is 受文者: an agency, or the exchange roster (交換表) that
// lists them in a separate SW file, named by the entity in Roster.
type Recipient struct {
	Party
	// Roster is the 交換表單 attribute: the entity of the SW file.
	Roster string
	// RosterText is the 交換表 element's text, e.g. 如正副本行文單位.
	RosterText string
	// RosterFile is the SW file the Roster entity declares.
	RosterFile File
}

// DocNumber is 發文字號: 字 and 文號 (年度, 流水號, 支號).
type DocNumber struct {
	Word   string // 字, e.g. 東區民字
	Year   string // 年度
	Serial string // 流水號
	Branch string // 支號
}

// String is the number as printed: 東區民字第1150004321號.
func (n DocNumber) String() string {
	s := n.Word + "第" + n.Year + n.Serial + "號"
	if n.Branch != "" {
		s = n.Word + "第" + n.Year + n.Serial + "-" + n.Branch + "號"
	}
	return s
}

// Attachments is 附件: its text (如文) and the attachment files.
type Attachments struct {
	Text  string
	Files []File
}

// File is an attachment: the entity that names it in 附件檔名 附件名, the
// file name its declaration gives, and its notation (DI, _X …).
type File struct {
	Entity   string
	Name     string
	Notation string
}

// Paragraph is a 段落 (說明, 辦法 …): its 段名, text and numbered items.
type Paragraph struct {
	Title string
	Text  string
	Items []Item
}

// Item is a 條列: its 序號 (一、 (一) 1.), text and the items under it.
type Item struct {
	Number string
	Text   string
	Items  []Item
}

// Parse reads a DI. The encoding comes from a byte order mark or the XML
// declaration (UTF-8, Big5 or CP950); the structure is not checked here
// (Validate does) beyond well-formedness and the limits.
func Parse(data []byte) (*Letter, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("DI of %d bytes, more than %d: %w", len(data), MaxSize, ErrMalformed)
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	l := &Letter{Encoding: UTF8}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = nil // only XML's own five: an undeclared entity is an error
	dec.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8":
			return in, nil
		case "big5", "cp950", "big5-hkscs", "x-big5", "ms950", "windows-950":
			l.Encoding = Big5
			return traditionalchinese.Big5.NewDecoder().Reader(in), nil
		}
		return nil, fmt.Errorf("encoding %q: %w", charset, ErrMalformed)
	}
	p := &parser{dec: dec, l: l}
	if err := p.run(); err != nil {
		return nil, err
	}
	return l, nil
}

// parser walks the tokens into a Letter.
type parser struct {
	dec      *xml.Decoder
	l        *Letter
	elements int
	tokens   int
	entities map[string]File // attachment entities from the internal subset
}

func (p *parser) token() (xml.Token, error) {
	t, err := p.dec.Token()
	if err == io.EOF {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("line %d: %w: %w", p.line(), ErrMalformed, err)
	}
	// The XML declaration is the first thing or nothing: encoding/xml
	// also takes one further on, and switches the rest of the file to
	// the encoding it names, which other XML processors refuse.
	if pi, ok := t.(xml.ProcInst); ok && strings.EqualFold(pi.Target, "xml") && p.tokens > 0 {
		return nil, fmt.Errorf("line %d: an XML declaration after the start: %w", p.line(), ErrMalformed)
	}
	p.tokens++
	return t, nil
}

func (p *parser) line() int {
	line, _ := p.dec.InputPos()
	return line
}

func (p *parser) run() error {
	for {
		t, err := p.token()
		if err == io.EOF {
			return fmt.Errorf("no root element: %w", ErrMalformed)
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.Directive:
			if err := p.doctype(string(t)); err != nil {
				return err
			}
		case xml.StartElement:
			p.l.DocType = t.Name.Local
			root, err := p.tree(t, 1)
			if err != nil {
				return err
			}
			if err := p.fill(root); err != nil {
				return err
			}
			return p.trailing()
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("text before the root element: %w", ErrMalformed)
			}
		}
	}
}

// trailing accepts only comments, processing instructions and space after
// the root element.
func (p *parser) trailing() error {
	for {
		t, err := p.token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return fmt.Errorf("a second root element <%s>: %w", t.Name.Local, ErrMalformed)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("text after the root element: %w", ErrMalformed)
			}
		}
	}
}

// node is an element with its attributes, text and children.
type node struct {
	name     string
	attrs    map[string]string
	text     strings.Builder
	children []*node
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *node) all(name string) []*node {
	var out []*node
	for _, c := range n.children {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// textOf is the trimmed text of the child name, "" when absent.
func (n *node) textOf(name string) string {
	if c := n.child(name); c != nil {
		return strings.TrimSpace(c.text.String())
	}
	return ""
}

// xmlNamespace is the namespace of the xml: prefix.
const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

// tree reads the element start opened, to its end.
func (p *parser) tree(start xml.StartElement, depth int) (*node, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("line %d: elements nested deeper than %d: %w", p.line(), MaxDepth, ErrMalformed)
	}
	if p.elements++; p.elements > MaxElements {
		return nil, fmt.Errorf("more than %d elements: %w", MaxElements, ErrMalformed)
	}
	// A DI has no namespaces: encoding/xml drops a prefix (x:主旨 would
	// count as the 主旨) and keeps the last of two equal attributes, where
	// other XML processors see another element or refuse the file.
	if start.Name.Space != "" {
		return nil, fmt.Errorf("line %d: element <%s> in namespace %q: %w", p.line(), start.Name.Local, start.Name.Space, ErrMalformed)
	}
	n := &node{name: start.Name.Local, attrs: map[string]string{}}
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "xmlns", a.Name.Space == "" && a.Name.Local == "xmlns", a.Name.Space == xmlNamespace:
			continue // a namespace declaration, xml:space or xml:lang: nothing a DI reads
		case a.Name.Space != "":
			return nil, fmt.Errorf("line %d: <%s>: attribute %s in namespace %q: %w", p.line(), n.name, a.Name.Local, a.Name.Space, ErrMalformed)
		}
		if _, dup := n.attrs[a.Name.Local]; dup {
			return nil, fmt.Errorf("line %d: <%s>: attribute %s twice: %w", p.line(), n.name, a.Name.Local, ErrMalformed)
		}
		n.attrs[a.Name.Local] = a.Value
	}
	for {
		t, err := p.token()
		if err == io.EOF {
			return nil, fmt.Errorf("<%s> not closed: %w", n.name, ErrMalformed)
		}
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			c, err := p.tree(t, depth+1)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, c)
		case xml.EndElement:
			return n, nil
		case xml.CharData:
			if n.text.Len()+len(t) > MaxSize {
				return nil, fmt.Errorf("<%s>: text too long: %w", n.name, ErrMalformed)
			}
			n.text.Write(t)
		case xml.Directive:
			return nil, fmt.Errorf("line %d: a declaration inside <%s>: %w", p.line(), n.name, ErrMalformed)
		}
	}
}
