package di

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/encoding/traditionalchinese"
)

// The DTDs a written DI names (never loaded by anyone who reads it right).
const (
	DTD104 = "104_2_utf8.dtd"
	DTD99  = "99_2_big5.dtd"
)

// ErrNotBig5 reports text that Big5 cannot encode (characters added in
// Unicode, rare 人名用字): write the DI in UTF-8 instead.
var ErrNotBig5 = errors.New("not encodable in Big5")

// Marshal writes l as a DI in l.Encoding (UTF-8 when empty), with the
// DOCTYPE naming l.DTD (the 104 DTD for UTF-8, the 99 one for Big5 when
// empty) and the attachment and roster entities in its internal subset.
// Only the modelled elements are written, in the DTD's order; a letter
// Validate refuses may still be written (drafts), but names that cannot
// stand in a declaration are refused here.
func Marshal(l *Letter) ([]byte, error) {
	enc := l.Encoding
	if enc == "" {
		enc = UTF8
	}
	dtd := l.DTD
	if dtd == "" {
		dtd = DTD104
		if enc == Big5 {
			dtd = DTD99
		}
	}
	root := l.DocType
	if root == "" {
		root = "函"
	}
	for _, n := range []string{root} {
		if !validName(n) {
			return nil, fmt.Errorf("root element %q: %w", n, ErrMalformed)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"%s\"?>\n", enc)
	decls, err := declarations(l)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(dtd, "\"<>") {
		return nil, fmt.Errorf("DTD name %q: %w", dtd, ErrMalformed)
	}
	fmt.Fprintf(&b, "<!DOCTYPE %s SYSTEM \"%s\"", root, dtd)
	if decls != "" {
		b.WriteString(" [\n" + decls + "]")
	}
	b.WriteString(">\n")
	w := &writer{b: &b}
	w.open(root)
	w.group("發文機關", func() { w.leaf("全銜", l.Sender.Name); w.leafIf("機關代碼", l.Sender.Code) })
	w.empty("函類別", "代碼", l.Kind)
	w.leafIf("地址", l.Address)
	for _, c := range l.Contacts {
		w.leaf("聯絡方式", c)
	}
	w.group("受文者", func() {
		if l.Recipient.Roster != "" {
			w.openAttr("交換表", "交換表單", l.Recipient.Roster)
			w.text(l.Recipient.RosterText)
			w.close("交換表")
			return
		}
		w.leaf("全銜", l.Recipient.Name)
		w.leafIf("機關代碼", l.Recipient.Code)
	})
	w.group("發文日期", func() { w.leaf("年月日", l.Date) })
	w.group("發文字號", func() {
		w.leaf("字", l.Number.Word)
		w.group("文號", func() {
			w.leaf("年度", l.Number.Year)
			w.leaf("流水號", l.Number.Serial)
			w.leafIf("支號", l.Number.Branch)
		})
	})
	w.empty("速別", "代碼", l.Speed)
	w.group("密等及解密條件或保密期限", func() { w.leaf("密等", l.Secrecy); w.leaf("解密條件或保密期限", l.SecrecyTerms) })
	if l.Attachment.Text != "" || len(l.Attachment.Files) > 0 {
		w.group("附件", func() {
			w.leaf("文字", l.Attachment.Text)
			if len(l.Attachment.Files) > 0 {
				names := make([]string, len(l.Attachment.Files))
				for i, f := range l.Attachment.Files {
					names[i] = f.Entity
				}
				w.empty("附件檔名", "附件名", strings.Join(names, " "))
			}
		})
	}
	w.group("主旨", func() { w.leaf("文字", l.Subject) })
	for _, p := range l.Paragraphs {
		w.openAttr("段落", "段名", p.Title)
		w.leaf("文字", p.Text)
		w.items(p.Items)
		w.close("段落")
	}
	w.partyList("正本", l.Originals)
	w.partyList("副本", l.Copies)
	w.leafIf("署名", l.Signature)
	w.close(root)
	if enc == UTF8 {
		return b.Bytes(), nil
	}
	out, err := traditionalchinese.Big5.NewEncoder().Bytes(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("write the DI in Big5: %w: %w", ErrNotBig5, err)
	}
	return out, nil
}

// declarations is the internal subset: one ENTITY per attachment and for
// the roster, one NOTATION per notation used.
func declarations(l *Letter) (string, error) {
	files := slices.Clone(l.Attachment.Files)
	if l.Recipient.RosterFile.Entity != "" {
		files = append(files, l.Recipient.RosterFile)
	}
	var b strings.Builder
	var notations []string
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f.Entity] {
			continue
		}
		seen[f.Entity] = true
		notation := f.Notation
		if notation == "" {
			notation = "DI"
		}
		if !validName(f.Entity) || !validName(notation) {
			return "", fmt.Errorf("附件: entity %q, notation %q: %w", f.Entity, notation, ErrMalformed)
		}
		if strings.ContainsAny(f.Name, "\"<>&") || f.Name == "" {
			return "", fmt.Errorf("附件: file name %q cannot be declared: %w", f.Name, ErrMalformed)
		}
		fmt.Fprintf(&b, "<!ENTITY %s SYSTEM \"%s\" NDATA %s>\n", f.Entity, f.Name, notation)
		if !slices.Contains(notations, notation) {
			notations = append(notations, notation)
		}
	}
	for _, n := range notations {
		fmt.Fprintf(&b, "<!NOTATION %s SYSTEM \"\">\n", n)
	}
	return b.String(), nil
}

// writer writes elements, one per line at the top level.
type writer struct{ b *bytes.Buffer }

func (w *writer) text(s string) { _ = xml.EscapeText(w.b, []byte(s)) }

func (w *writer) attr(s string) {
	var e bytes.Buffer
	_ = xml.EscapeText(&e, []byte(s))
	w.b.WriteString(strings.ReplaceAll(e.String(), `"`, "&quot;"))
}

func (w *writer) open(name string)  { w.b.WriteString("<" + name + ">\n") }
func (w *writer) close(name string) { w.b.WriteString("</" + name + ">\n") }

func (w *writer) openAttr(name, attr, value string) {
	w.b.WriteString("<" + name + " " + attr + "=\"")
	w.attr(value)
	w.b.WriteString("\">")
}

func (w *writer) leaf(name, value string) {
	w.b.WriteString("<" + name + ">")
	w.text(value)
	w.b.WriteString("</" + name + ">")
}

func (w *writer) leafIf(name, value string) {
	if value != "" {
		w.leaf(name, value)
	}
}

func (w *writer) empty(name, attr, value string) {
	if value == "" {
		w.b.WriteString("<" + name + "/>")
		return
	}
	w.b.WriteString("<" + name + " " + attr + "=\"")
	w.attr(value)
	w.b.WriteString("\"/>")
}

func (w *writer) group(name string, f func()) {
	w.b.WriteString("<" + name + ">")
	f()
	w.b.WriteString("</" + name + ">\n")
}

func (w *writer) items(items []Item) {
	for _, it := range items {
		w.openAttr("條列", "序號", it.Number)
		w.leaf("文字", it.Text)
		w.items(it.Items)
		w.b.WriteString("</條列>")
	}
}

func (w *writer) partyList(name string, ps []Party) {
	for _, p := range ps {
		w.group(name, func() {
			w.leaf("全銜", p.Name)
			w.leafIf("機關代碼", p.Code)
			if p.WithAttachments {
				w.leaf("含附件", "含附件")
			}
		})
	}
}
