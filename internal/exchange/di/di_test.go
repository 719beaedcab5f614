package di_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/cardbridge/cardbridge/internal/exchange/di"
)

func sample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/letter-104.di")
	require.NoError(t, err)
	return b
}

func TestParseSample(t *testing.T) {
	l, err := di.Parse(sample(t))
	require.NoError(t, err)
	assert.Equal(t, "函", l.DocType)
	assert.Equal(t, "104_2_utf8.dtd", l.DTD)
	assert.Equal(t, di.UTF8, l.Encoding)
	assert.Equal(t, di.Party{Name: "測試市政府教育局", Code: "379000000A"}, l.Sender)
	assert.Equal(t, "函", l.Kind)
	assert.Equal(t, []string{"承辦人：王○○", "電話：(02)2345-6789"}, l.Contacts)
	assert.Equal(t, "XC04595252", l.Recipient.Code)
	assert.Equal(t, "中華民國115年12月6日", l.Date)
	assert.Equal(t, di.DocNumber{Word: "測教幼字", Year: "115", Serial: "0012345"}, l.Number)
	assert.Equal(t, "測教幼字第1150012345號", l.Number.String())
	assert.Equal(t, "速件", l.Speed)
	assert.Equal(t, []di.File{{Entity: "ATTCH1", Name: "研習計畫.pdf", Notation: "DI"}, {Entity: "ATTCH2", Name: "報名表.odt", Notation: "DI"}}, l.Attachment.Files)
	assert.Equal(t, "檢送本局116年度幼兒園教保人員研習計畫1份，請　查照。", l.Subject)
	require.Len(t, l.Paragraphs, 1)
	p := l.Paragraphs[0]
	assert.Equal(t, "說明：", p.Title)
	require.Len(t, p.Items, 2)
	assert.Equal(t, "(一)", p.Items[0].Items[0].Number)
	assert.Equal(t, "請於115年12月20日前<報名>。", p.Items[1].Text)
	assert.Equal(t, []di.Party{{Name: "測試幼兒園", Code: "XC04595252", WithAttachments: true}}, l.Originals)
	assert.Equal(t, []di.Party{{Name: "本局幼兒教育科"}}, l.Copies)
	assert.Equal(t, "局長　林○○", l.Signature)
	assert.Equal(t, []string{"函/擬辦方式"}, l.Unknown)
	assert.Empty(t, di.Validate(l))
}

func TestRoundTripUTF8AndBig5(t *testing.T) {
	l, err := di.Parse(sample(t))
	require.NoError(t, err)
	l.Unknown = nil
	for _, enc := range []di.Encoding{di.UTF8, di.Big5} {
		t.Run(string(enc), func(t *testing.T) {
			c := *l
			c.Encoding, c.DTD = enc, ""
			out, err := di.Marshal(&c)
			require.NoError(t, err)
			if enc == di.Big5 {
				assert.Contains(t, string(out[:60]), `encoding="Big5"`)
				assert.False(t, bytes.Contains(out, []byte("測試")), "written in Big5, not UTF-8")
				u, err := traditionalchinese.Big5.NewDecoder().Bytes(out)
				require.NoError(t, err)
				assert.Contains(t, string(u), `<!DOCTYPE 函 SYSTEM "99_2_big5.dtd"`)
			} else {
				assert.Contains(t, string(out), `<!DOCTYPE 函 SYSTEM "104_2_utf8.dtd" [`)
				assert.Contains(t, string(out), `<!ENTITY ATTCH1 SYSTEM "研習計畫.pdf" NDATA DI>`)
			}
			back, err := di.Parse(out)
			require.NoError(t, err)
			want := c
			want.DTD = back.DTD
			assert.Equal(t, &want, back)
			assert.Empty(t, di.Validate(back))
		})
	}
}

func TestBig5CharactersOutsideBig5(t *testing.T) {
	l, err := di.Parse(sample(t))
	require.NoError(t, err)
	l.Encoding = di.Big5
	l.Signature = "局長　林𪜶" // a character added in Unicode Extension B, not in Big5
	_, err = di.Marshal(l)
	assert.ErrorIs(t, err, di.ErrNotBig5)
	l.Encoding = di.UTF8
	out, err := di.Marshal(l)
	require.NoError(t, err)
	back, err := di.Parse(out)
	require.NoError(t, err)
	assert.Equal(t, "局長　林𪜶", back.Signature)
}

func TestParseRefuses(t *testing.T) {
	head := `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	body := `<函><主旨><文字>x</文字></主旨></函>`
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"an undeclared entity", head + `<函><主旨><文字>&lol;</文字></主旨></函>`, "lol"},
		{"a parsed internal entity", head + `<!DOCTYPE 函 [<!ENTITY lol "lolol">]>` + body, "lol"},
		{"a parameter entity", head + `<!DOCTYPE 函 [<!ENTITY % p SYSTEM "http://evil.example/x.dtd"> %p;]>` + body, "parameter entity"},
		{"an external parsed entity", head + `<!DOCTYPE 函 [<!ENTITY x SYSTEM "/etc/passwd">]>` + body, "no NDATA"},
		{"an attachment declared twice", head + `<!DOCTYPE 函 [<!ENTITY A SYSTEM "a.pdf" NDATA DI><!ENTITY A SYSTEM "b.pdf" NDATA DI>]>` + body, "declared twice"},
		{"an unknown encoding", `<?xml version="1.0" encoding="KOI8-R"?>` + body, "KOI8-R"},
		{"not closed", head + `<函><主旨>`, "EOF"},
		{"two roots", head + body + body, "second root"},
		{"text outside", head + body + "junk", "after the root"},
		{"empty", "", "no root"},
		{"nested too deep", head + strings.Repeat("<段落>", 40) + strings.Repeat("</段落>", 40), "deeper"},
		{"too large", head + "<函>" + strings.Repeat("a", di.MaxSize) + "</函>", "more than"},
		{"too many elements", head + "<函>" + strings.Repeat("<聯絡方式/>", di.MaxElements+1) + "</函>", "elements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := di.Parse([]byte(tc.doc))
			require.Error(t, err)
			assert.ErrorIs(t, err, di.ErrMalformed)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// The DTD is never loaded: a DOCTYPE naming one on the network parses the
// same as one naming a local file, without any network access (there is
// no code that could make one).
func TestDTDNotLoaded(t *testing.T) {
	doc := strings.Replace(string(sample(t)), `SYSTEM "104_2_utf8.dtd"`, `SYSTEM "http://127.0.0.1:1/104_2_utf8.dtd"`, 1)
	l, err := di.Parse([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:1/104_2_utf8.dtd", l.DTD)
}

func TestValidateNamesTheElement(t *testing.T) {
	base, err := di.Parse(sample(t))
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		change  func(l *di.Letter)
		element string
	}{
		{"no sender name", func(l *di.Letter) { l.Sender.Name = "" }, "發文機關/全銜"},
		{"sender code check digit", func(l *di.Letter) { l.Sender.Code = "XC04595251" }, "發文機關/機關代碼"},
		{"sender code too short", func(l *di.Letter) { l.Sender.Code = "A1506" }, "發文機關/機關代碼"},
		{"sender code lower case", func(l *di.Letter) { l.Sender.Code = "a15060000h" }, "發文機關/機關代碼"},
		{"kind", func(l *di.Letter) { l.Kind = "令" }, "函類別"},
		{"no addressee", func(l *di.Letter) { l.Recipient = di.Recipient{} }, "受文者/全銜"},
		{"roster not declared", func(l *di.Letter) { l.Recipient = di.Recipient{Roster: "表單"} }, "受文者/交換表"},
		{"no date", func(l *di.Letter) { l.Date = "" }, "發文日期/年月日"},
		{"no serial", func(l *di.Letter) { l.Number.Serial = "" }, "發文字號/文號/流水號"},
		{"speed", func(l *di.Letter) { l.Speed = "特急件" }, "速別"},
		{"secrecy", func(l *di.Letter) { l.Secrecy = "普通" }, "密等及解密條件或保密期限/密等"},
		{"no subject", func(l *di.Letter) { l.Subject = " " }, "主旨/文字"},
		{"attachment not declared", func(l *di.Letter) { l.Attachment.Files[0].Name = "" }, "附件/附件檔名[ATTCH1]"},
		{"attachment with a folder", func(l *di.Letter) { l.Attachment.Files[0].Name = "../../etc/passwd" }, "附件/附件檔名[ATTCH1]"},
		{"attachment with a Windows folder", func(l *di.Letter) { l.Attachment.Files[0].Name = `..\..\boot.ini` }, "附件/附件檔名[ATTCH1]"},
		{"attachment named after a device", func(l *di.Letter) { l.Attachment.Files[1].Name = "con.txt" }, "附件/附件檔名[ATTCH2]"},
		{"attachment named after a device, two dots", func(l *di.Letter) { l.Attachment.Files[1].Name = "LPT1.tar.gz" }, "附件/附件檔名[ATTCH2]"},
		{"attachment ending in a dot", func(l *di.Letter) { l.Attachment.Files[1].Name = "報名表." }, "附件/附件檔名[ATTCH2]"},
		{"attachment with a control character", func(l *di.Letter) { l.Attachment.Files[1].Name = "報名\x07表.odt" }, "附件/附件檔名[ATTCH2]"},
		{"attachment names twice", func(l *di.Letter) { l.Attachment.Files[1].Name = "研習計畫.PDF" }, "附件/附件檔名[ATTCH2]"},
		{"no 正本", func(l *di.Letter) { l.Originals = nil }, "正本"},
		{"副本 code", func(l *di.Letter) { l.Copies[0].Code = "XC1234567" }, "副本/機關代碼"},
		{"not a 函", func(l *di.Letter) { l.DocType = "簽" }, "簽"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *base
			c.Attachment.Files = append([]di.File(nil), base.Attachment.Files...)
			c.Copies = append([]di.Party(nil), base.Copies...)
			tc.change(&c)
			ps := di.Validate(&c)
			require.NotEmpty(t, ps)
			assert.Equal(t, tc.element, ps[0].Element, "%v", ps)
			assert.NotEmpty(t, ps[0].ZH)
			assert.NotEmpty(t, ps[0].EN)
			assert.True(t, errors.Is(ps[0], di.ErrInvalid))
		})
	}
}

func TestAgencyCodes(t *testing.T) {
	for _, tc := range []struct {
		code string
		ok   bool
	}{
		{"A15060000H", true},
		{"379000000A", true},
		{"379000000A1234567", true}, // with a 單位代碼
		{"XC04595252", true},        // valid only under the 2023 ÷5 rule
		{"XC10458574", true},        // 7th digit 7
		{"XC22099131", true},
		{"XC04595251", false},
		{"XC0459525", false},
		{"A1506", false},
		{"379000000A12345678", false},
		{"37900000-A", false},
		{"", false},
	} {
		err := di.CheckAgencyCode(tc.code)
		assert.Equal(t, tc.ok, err == nil, "%s: %v", tc.code, err)
	}
	assert.Equal(t, "XC04595252", di.AgencyCodeOf("04595252"))
	assert.Equal(t, "", di.AgencyCodeOf("04595251"))
}

func TestCheckFileName(t *testing.T) {
	for _, ok := range []string{"研習計畫.pdf", "報名表 (1).odt", "a", "附件一.PDF", "console.txt", "com10.txt"} {
		assert.Nil(t, di.CheckFileName(ok), ok)
	}
	for _, bad := range []string{"", ".", "..", "../x", `a\b`, "c:evil", "aux", "Aux.doc", "nul.tar.gz", "x.", " x", "x ", "a\x00b", "a\nb", "a*b", strings.Repeat("長", 70), "\xff\xfe"} {
		assert.NotNil(t, di.CheckFileName(bad), "%q", bad)
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("testdata/letter-104.di")
	f.Add(b)
	f.Add([]byte(`<?xml version="1.0" encoding="Big5"?><函><主旨><文字>x</文字></主旨></函>`))
	f.Add([]byte(`<!DOCTYPE 函 [<!ENTITY A SYSTEM "a" NDATA DI><!-- c -->]><函><附件><附件檔名 附件名="A B"/></附件></函>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := di.Parse(data)
		if err != nil {
			if !errors.Is(err, di.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		_ = di.Validate(l)
		out, err := di.Marshal(l)
		if err != nil {
			return // a letter whose names cannot be declared again
		}
		back, err := di.Parse(out)
		if err != nil {
			t.Fatalf("Marshal wrote what Parse refuses: %v\n%s", err, out)
		}
		if back.Subject != l.Subject || back.Sender != l.Sender || len(back.Attachment.Files) != len(l.Attachment.Files) {
			t.Fatalf("round trip changed the letter:\n%+v\n%+v", l, back)
		}
	})
}
