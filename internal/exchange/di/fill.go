package di

import (
	"strings"
)

// fill copies the element tree into the Letter; elements it does not
// model are listed in Unknown.
func (p *parser) fill(root *node) error {
	l := p.l
	seen := map[string]bool{}
	for _, c := range root.children {
		if singletons[c.name] {
			if seen[c.name] {
				l.Repeated = append(l.Repeated, c.name)
				continue // the first one counts, as inside a group
			}
			seen[c.name] = true
			l.Repeated = append(l.Repeated, repeats(c, c.name)...)
		}
		switch c.name {
		case "發文機關":
			l.Sender = Party{Name: c.textOf("全銜"), Code: c.textOf("機關代碼")}
		case "函類別":
			l.Kind = c.attrs["代碼"]
		case "地址":
			l.Address = trim(c)
		case "聯絡方式":
			l.Contacts = append(l.Contacts, trim(c))
		case "受文者":
			l.Recipient.Party = Party{Name: c.textOf("全銜"), Code: c.textOf("機關代碼")}
			if r := c.child("交換表"); r != nil {
				l.Recipient.Roster = r.attrs["交換表單"]
				l.Recipient.RosterText = trim(r)
				if f, ok := p.entities[l.Recipient.Roster]; ok {
					l.Recipient.RosterFile = f
				}
			}
		case "發文日期":
			l.Date = c.textOf("年月日")
		case "發文字號":
			l.Number.Word = c.textOf("字")
			if n := c.child("文號"); n != nil {
				l.Number.Year, l.Number.Serial, l.Number.Branch = n.textOf("年度"), n.textOf("流水號"), n.textOf("支號")
			}
		case "速別":
			l.Speed = c.attrs["代碼"]
		case "密等及解密條件或保密期限":
			l.Secrecy, l.SecrecyTerms = c.textOf("密等"), c.textOf("解密條件或保密期限")
		case "附件":
			l.Attachment.Text = c.textOf("文字")
			for _, f := range c.all("附件檔名") {
				for _, name := range strings.Fields(f.attrs["附件名"]) {
					file, ok := p.entities[name]
					if !ok {
						file = File{Entity: name} // Validate names it
					}
					l.Attachment.Files = append(l.Attachment.Files, file)
				}
			}
		case "主旨":
			l.Subject = c.textOf("文字")
		case "段落":
			l.Paragraphs = append(l.Paragraphs, Paragraph{Title: c.attrs["段名"], Text: c.textOf("文字"), Items: items(c)})
		case "正本":
			l.Originals = append(l.Originals, parties(c)...)
		case "副本":
			l.Copies = append(l.Copies, parties(c)...)
		case "署名":
			l.Signature = trim(c)
		default:
			l.Unknown = append(l.Unknown, root.name+"/"+c.name)
		}
	}
	return nil
}

// singletons are the elements of a 函 that the DTD allows once, and
// onceInside the children of those that it allows once in their parent.
var (
	singletons = map[string]bool{"發文機關": true, "函類別": true, "地址": true, "受文者": true, "發文日期": true, "發文字號": true,
		"速別": true, "密等及解密條件或保密期限": true, "附件": true, "主旨": true, "署名": true}
	onceInside = map[string]bool{"全銜": true, "機關代碼": true, "交換表": true, "年月日": true, "字": true, "文號": true, "年度": true,
		"流水號": true, "支號": true, "密等": true, "解密條件或保密期限": true, "文字": true}
)

// repeats lists the children of n (at path) that appear more than once
// but may appear once, and theirs.
func repeats(n *node, path string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range n.children {
		if !onceInside[c.name] {
			continue
		}
		if seen[c.name] {
			out = append(out, path+"/"+c.name)
			continue
		}
		seen[c.name] = true
		out = append(out, repeats(c, path+"/"+c.name)...)
	}
	return out
}

func trim(n *node) string { return strings.TrimSpace(n.text.String()) }

// items reads the 條列 under n.
func items(n *node) []Item {
	var out []Item
	for _, c := range n.all("條列") {
		out = append(out, Item{Number: c.attrs["序號"], Text: c.textOf("文字"), Items: items(c)})
	}
	return out
}

// parties reads a 正本 or 副本: one party per 全銜, paired with the
// 機關代碼 in the same position; 含附件 applies to them all.
func parties(n *node) []Party {
	names, codes := n.all("全銜"), n.all("機關代碼")
	with := n.child("含附件") != nil
	var out []Party
	for i, nm := range names {
		p := Party{Name: trim(nm), WithAttachments: with}
		if i < len(codes) {
			p.Code = trim(codes[i])
		}
		out = append(out, p)
	}
	if len(names) == 0 && len(codes) > 0 {
		for _, c := range codes {
			out = append(out, Party{Code: trim(c), WithAttachments: with})
		}
	}
	return out
}
