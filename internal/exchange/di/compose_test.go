package di

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A 函 composed from a subject and a plain body validates, writes and reads
// back: numbered items, the ROC date, the recipients, the attachments.
func TestCompose(t *testing.T) {
	c := Compose{
		Sender:  Party{Name: "測試幼兒園", Code: "XC04595252"},
		To:      []Party{{Name: "測試市政府教育局", Code: "379000000A"}},
		Subject: "檢送本園組織及團體憑證申請書1份，請　查照。",
		Body:    "依據組織及團體憑證管理中心申請規定辦理。\n本園負責人：王○○。\n(一)附件為申請書。",
		Date:    time.Date(2026, 12, 6, 9, 0, 0, 0, time.Local), Number: "測幼字第1150000001號",
		Attachments: []string{"憑證申請書.pdf"}, Signature: "園長　王○○",
	}
	l, err := c.Letter()
	require.NoError(t, err)
	assert.Empty(t, Validate(l))
	assert.Equal(t, "中華民國115年12月6日", l.Date)
	require.Len(t, l.Paragraphs, 1)
	items := l.Paragraphs[0].Items
	require.Len(t, items, 3)
	assert.Equal(t, "一、", items[0].Number)
	assert.Equal(t, "二、", items[1].Number)
	assert.Equal(t, "(一)", items[2].Number, "a line that numbers itself keeps its number")
	b, err := Marshal(l)
	require.NoError(t, err)
	back, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, "測幼字第1150000001號", back.Number.String())
	assert.Equal(t, "測試市政府教育局", back.Recipient.Name)
	assert.Equal(t, "憑證申請書.pdf", back.Attachment.Files[0].Name)

	_, err = Compose{Number: "第一號"}.Letter()
	assert.ErrorIs(t, err, ErrMalformed)
	assert.Equal(t, "二十一", chineseNumber(21))
	assert.Equal(t, "十五", chineseNumber(15))
	assert.Equal(t, []string{"甲乙", "丙"}, paragraphs("甲\n乙\n\n丙\n"))
}
