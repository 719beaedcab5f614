package di

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Compose is what a clerk writes for a 函 without a document management
// system: who, to whom, the subject and the body; Letter lays it out as the
// 104 DTD's 函.
type Compose struct {
	Sender  Party   // 發文機關: 全銜 and 機關代碼
	To      []Party // 正本, the first also 受文者 when alone
	Copies  []Party // 副本
	Subject string  // 主旨
	// Body is 說明: one item a paragraph (lines separated by a blank line
	// or each line its own), numbered 一、二、… unless a line already begins
	// with such a number.
	Body        string
	Date        time.Time
	Number      string   // 發文字號 as written, e.g. 測教幼字第1150012345號; see ParseNumber
	Speed       string   // 速別; 普通件 when empty
	Attachments []string // 附件 file names, declared as ATTCH1, ATTCH2 …
	Signature   string   // 署名
	Contacts    []string // 聯絡方式
	Address     string   // 地址
}

// numberPattern reads a 發文字號: 字, then 第, the ROC year (3 digits) and
// the serial, then 號.
var numberPattern = regexp.MustCompile(`^(.+字)第(\d{3})(\d{1,10})(?:-(\d{1,5}))?號$`)

// ParseNumber reads a 發文字號 written as 測教幼字第1150012345號.
func ParseNumber(s string) (DocNumber, error) {
	m := numberPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return DocNumber{}, fmt.Errorf("發文字號「%s」應寫成「○○字第1150012345號」/ a document number is written as ○○字第1150012345號: %w", s, ErrMalformed)
	}
	return DocNumber{Word: m[1], Year: m[2], Serial: m[3], Branch: m[4]}, nil
}

// ROCDate writes t as the letters do: 中華民國115年12月6日.
func ROCDate(t time.Time) string {
	return fmt.Sprintf("中華民國%d年%d月%d日", t.Year()-1911, int(t.Month()), t.Day())
}

// itemNumber is a line that numbers itself: 一、 (一) 1.
var itemNumber = regexp.MustCompile(`^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）]|\d+[.、])`)

var chineseNumbers = []string{"一", "二", "三", "四", "五", "六", "七", "八", "九", "十"}

func chineseNumber(n int) string {
	switch {
	case n <= 10:
		return chineseNumbers[n-1]
	case n < 20:
		return "十" + chineseNumbers[n-11]
	case n%10 == 0:
		return chineseNumbers[n/10-1] + "十"
	}
	return chineseNumbers[n/10-1] + "十" + chineseNumbers[n%10-1]
}

// Letter lays the composition out as a 函 (UTF-8, the 104 DTD). Validate
// checks the result like any other DI.
func (c Compose) Letter() (*Letter, error) {
	num, err := ParseNumber(c.Number)
	if err != nil {
		return nil, err
	}
	l := &Letter{DocType: "函", DTD: "104_2_utf8.dtd", Encoding: UTF8, Kind: "函",
		Sender: c.Sender, Address: c.Address, Contacts: c.Contacts, Date: ROCDate(c.Date), Number: num,
		Speed: c.Speed, Subject: strings.TrimSpace(c.Subject), Originals: c.To, Copies: c.Copies, Signature: c.Signature}
	if l.Speed == "" {
		l.Speed = "普通件"
	}
	switch {
	case len(c.To) == 1 && len(c.Copies) == 0:
		l.Recipient.Party = c.To[0]
	default:
		l.Recipient.Party = Party{Name: "如正副本"}
	}
	for i, name := range c.Attachments {
		l.Attachment.Files = append(l.Attachment.Files, File{Entity: fmt.Sprintf("ATTCH%d", i+1), Name: name, Notation: "DI"})
	}
	if len(c.Attachments) > 0 {
		l.Attachment.Text = fmt.Sprintf("附件%d份", len(c.Attachments))
	}
	var items []Item
	for _, block := range paragraphs(c.Body) {
		if m := itemNumber.FindString(block); m != "" {
			items = append(items, Item{Number: m, Text: strings.TrimSpace(block[len(m):])})
			continue
		}
		items = append(items, Item{Number: chineseNumber(min(len(items)+1, 99)) + "、", Text: block})
	}
	if len(items) > 0 {
		l.Paragraphs = []Paragraph{{Title: "說明：", Items: items}}
	}
	return l, nil
}

// paragraphs splits a body at blank lines, or at every line when it has
// none; the lines of one paragraph are joined.
func paragraphs(body string) []string {
	body = strings.ReplaceAll(strings.TrimSpace(body), "\r\n", "\n")
	if body == "" {
		return nil
	}
	sep := "\n"
	if strings.Contains(body, "\n\n") {
		sep = "\n\n"
	}
	var out []string
	for _, p := range strings.Split(body, sep) {
		if p = strings.TrimSpace(strings.ReplaceAll(p, "\n", "")); p != "" {
			out = append(out, p)
		}
	}
	return out
}
