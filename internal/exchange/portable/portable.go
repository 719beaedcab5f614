// Package portable writes the 可攜式公文: a received 公文 as a PDF a clerk
// saves and prints, as eClient's 「可攜式公文預覽」 does. The letter is laid
// out as the paper 函 looks (header, 受文者, date, number, 主旨, 說明 with its
// numbered items, 正本/副本, 署名), in real text (a subset of a Traditional
// Chinese TrueType font is embedded, so the words can be searched and copied,
// not a picture of them), with the 電子交換章 drawn as vector on the first
// page (the exchange centre, the date and time received, the document
// number), page numbers, and the 騎縫 marks across every page joint that
// printed copies of exchanged documents carry.
//
// No I/O: the caller gives the letter, the seal's facts and the font.
package portable

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/cardbridge/cardbridge/internal/exchange/di"
)

// Seal is what the 電子交換章 says.
type Seal struct {
	// Centre names the exchange centre that delivered the document.
	Centre string
	// Received is when the agency received it (收文完成).
	Received time.Time
	// Package is the exchange's id of the document.
	Package string
}

// ErrRender reports a letter the PDF could not be made of.
var ErrRender = errors.New("the portable document could not be made")

// Page geometry, in millimetres (A4).
const (
	pageW, pageH = 210.0, 297.0
	left, right  = 25.0, 20.0
	top, bottom  = 20.0, 25.0
	textW        = pageW - left - right
)

var sealRed = [3]int{200, 30, 30}

// Render lays the letter out as a PDF, with the seal on its first page.
// font is a TrueType font (TrueType returns one from a collection).
func Render(l *di.Letter, s Seal, font []byte) ([]byte, error) {
	p := fpdf.New("P", "mm", "A4", "")
	p.SetMargins(left, top, right)
	p.SetAutoPageBreak(true, bottom)
	p.SetTitle(l.Sender.Name+" "+kindOf(l)+" "+l.Number.String(), true)
	p.SetCreator("CardBridge", true)
	p.SetCreationDate(s.Received)
	p.SetModificationDate(s.Received)
	p.AddUTF8FontFromBytes("doc", "", font)
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("%w: the font: %v", ErrRender, err)
	}
	number := l.Number.String()
	p.AliasNbPages("{nb}")
	p.SetFooterFunc(func() { footer(p, number) })
	p.AddPage()
	exchangeSeal(p, s, number)

	p.SetTextColor(0, 0, 0)
	p.SetFont("doc", "", 10)
	p.SetXY(left, top)
	p.CellFormat(0, 5, "檔　　號：", "", 2, "L", false, 0, "")
	p.CellFormat(0, 5, "保存年限：", "", 2, "L", false, 0, "")

	// The title: 發文機關 and 函.
	p.SetY(top + 22)
	p.SetFont("doc", "", 20)
	p.CellFormat(0, 11, l.Sender.Name+"　"+kindOf(l), "", 1, "C", false, 0, "")
	p.Ln(2)

	// Address and contacts, at the right.
	p.SetFont("doc", "", 10)
	for _, line := range append([]string{labelled("地址", l.Address)}, l.Contacts...) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		p.SetX(left + textW*0.55)
		p.MultiCell(textW*0.45, 5, line, "", "L", false)
	}
	p.Ln(3)

	p.SetFont("doc", "", 14)
	field(p, "受文者：", l.Recipient.Name, 7)
	p.Ln(1)
	p.SetFont("doc", "", 11)
	field(p, "發文日期：", l.Date, 5.5)
	field(p, "發文字號：", number, 5.5)
	field(p, "速別：", l.Speed, 5.5)
	field(p, "密等及解密條件或保密期限：", strings.TrimSpace(l.Secrecy+" "+l.SecrecyTerms), 5.5)
	var names []string
	for _, f := range l.Attachment.Files {
		names = append(names, f.Name)
	}
	att := l.Attachment.Text
	if len(names) > 0 {
		att = strings.TrimSpace(att + "（" + strings.Join(names, "、") + "）")
	}
	field(p, "附件：", att, 5.5)
	p.Ln(4)

	p.SetFont("doc", "", 14)
	field(p, "主旨：", l.Subject, 7.5)
	for _, para := range l.Paragraphs {
		p.Ln(1)
		field(p, para.Title, para.Text, 7.5)
		items(p, para.Items, left+p.GetStringWidth(para.Title), 7.5)
	}
	p.Ln(5)
	p.SetFont("doc", "", 11)
	field(p, "正本：", parties(l.Originals), 5.5)
	field(p, "副本：", parties(l.Copies), 5.5)
	if l.Signature != "" {
		p.Ln(8)
		p.SetFont("doc", "", 16)
		p.SetX(left + textW*0.45)
		p.MultiCell(textW*0.55, 8, l.Signature, "", "L", false)
	}

	var out bytes.Buffer
	if err := p.Output(&out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRender, err)
	}
	return out.Bytes(), nil
}

func kindOf(l *di.Letter) string {
	if l.Kind != "" {
		return l.Kind
	}
	return "函"
}

func labelled(label, s string) string {
	if s == "" {
		return ""
	}
	return label + "：" + s
}

func parties(ps []di.Party) string {
	var names []string
	for _, p := range ps {
		n := p.Name
		if p.WithAttachments {
			n += "（含附件）"
		}
		names = append(names, n)
	}
	return strings.Join(names, "、")
}

// field writes "label text" with the text's lines hanging under its first
// character, as 主旨 and 說明 are set.
func field(p *fpdf.Fpdf, label, text string, lineH float64) {
	if label == "" && text == "" {
		return
	}
	w := p.GetStringWidth(label)
	p.SetX(left)
	p.CellFormat(w, lineH, label, "", 0, "L", false, 0, "")
	if text == "" {
		p.Ln(lineH)
		return
	}
	p.SetLeftMargin(left + w)
	p.MultiCell(textW-w, lineH, text, "", "L", false)
	p.SetLeftMargin(left)
}

// items writes numbered items, each level indented under its parent's
// text, the item's text hanging under its own first character.
func items(p *fpdf.Fpdf, list []di.Item, indent, lineH float64) {
	for _, it := range list {
		w := p.GetStringWidth(it.Number)
		p.SetX(indent)
		p.CellFormat(w, lineH, it.Number, "", 0, "L", false, 0, "")
		p.SetLeftMargin(indent + w)
		p.MultiCell(pageW-right-indent-w, lineH, it.Text, "", "L", false)
		p.SetLeftMargin(left)
		items(p, it.Items, indent+w, lineH)
	}
}

// exchangeSeal draws the 電子交換章 at the top right of the first page: a
// red double frame with the centre, the time received and the number.
func exchangeSeal(p *fpdf.Fpdf, s Seal, number string) {
	const x, y, w, h = pageW - right - 72.0, 12.0, 72.0, 30.0
	p.SetDrawColor(sealRed[0], sealRed[1], sealRed[2])
	p.SetTextColor(sealRed[0], sealRed[1], sealRed[2])
	p.SetLineWidth(0.8)
	p.RoundedRect(x, y, w, h, 2.5, "1234", "D")
	p.SetLineWidth(0.25)
	p.RoundedRect(x+1.2, y+1.2, w-2.4, h-2.4, 1.8, "1234", "D")
	p.Line(x+1.2, y+8.5, x+w-1.2, y+8.5)
	p.SetFont("doc", "", 11)
	p.SetXY(x, y+2)
	p.CellFormat(w, 6, "電子交換章", "", 2, "C", false, 0, "")
	p.SetFont("doc", "", 8.5)
	p.SetXY(x+3, y+10)
	centre := s.Centre
	if centre == "" {
		centre = "交換中心"
	}
	for _, line := range []string{
		"交換中心：" + centre,
		"收文時間：" + s.Received.Format("2006/01/02 15:04:05"),
		"文　　號：" + number,
	} {
		p.SetX(x + 3)
		p.CellFormat(w-6, 5.5, fit(p, line, w-6), "", 2, "L", false, 0, "")
	}
	p.SetLineWidth(0.2)
	p.SetDrawColor(0, 0, 0)
}

// fit shortens s with an ellipsis to width.
func fit(p *fpdf.Fpdf, s string, width float64) string {
	if p.GetStringWidth(s) <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 1 && p.GetStringWidth(string(r)+"…") > width {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// footer writes the page number, and the 騎縫 marks: half a seal on each
// joint between two pages (the lower half at the foot of a page, the upper
// half at the head of the next, which meet when the pages are laid end to
// end) and the number along the binding edge, so that a page taken out or
// put in shows.
func footer(p *fpdf.Fpdf, number string) {
	n := p.PageNo()
	p.SetTextColor(0, 0, 0)
	p.SetFont("doc", "", 9)
	p.SetXY(left, pageH-bottom+8)
	p.CellFormat(textW, 5, fmt.Sprintf("第 %d 頁，共 {nb} 頁", n), "", 0, "C", false, 0, "")

	p.SetDrawColor(sealRed[0], sealRed[1], sealRed[2])
	p.SetTextColor(sealRed[0], sealRed[1], sealRed[2])
	p.SetLineWidth(0.4)
	const cx, r = pageW - 14.0, 9.0
	// The upper half of the joint above this page (not on the first), the
	// lower half of the joint below it (every page: the last one's says
	// where the document ends).
	if n > 1 {
		p.Arc(cx, 0, r, r, 0, 180, 360, "D")
		p.SetFont("doc", "", 6)
		p.SetXY(cx-r, 1.2)
		p.CellFormat(2*r, 3, "騎縫", "", 0, "C", false, 0, "")
	}
	p.Arc(cx, pageH, r, r, 0, 0, 180, "D")
	p.SetFont("doc", "", 6)
	p.SetXY(cx-r, pageH-4.2)
	p.CellFormat(2*r, 3, "騎縫", "", 0, "C", false, 0, "")
	// Along the binding edge: the number and the page, turned.
	p.SetFont("doc", "", 7)
	p.TransformBegin()
	p.TransformRotate(90, 9, pageH/2)
	label := fmt.Sprintf("騎縫　%s　第 %d 頁", number, n)
	// Text, not a cell: the label starts left of the page before it is
	// turned, where a cell's negative x would count from the right edge.
	p.Text(9-p.GetStringWidth(label)/2, pageH/2+1, label)
	p.TransformEnd()
	p.SetDashPattern([]float64{1.2, 1}, 0)
	p.SetLineWidth(0.2)
	p.Line(12, top, 12, pageH-bottom)
	p.SetDashPattern(nil, 0)
	p.SetDrawColor(0, 0, 0)
	p.SetTextColor(0, 0, 0)
}
