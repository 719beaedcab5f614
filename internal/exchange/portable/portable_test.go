package portable

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/exchange/di"
)

// testFont is the first embeddable font of this machine (scripts/deps.sh
// installs fonts-cwtex-kai).
func testFont(t *testing.T) []byte {
	t.Helper()
	path, ttf, err := FindFont("", FontCandidates(runtime.GOOS, os.Getenv))
	require.NoError(t, err, "scripts/deps.sh installs fonts-cwtex-kai")
	t.Logf("font: %s", path)
	return ttf
}

func sample(t *testing.T) *di.Letter {
	t.Helper()
	b, err := os.ReadFile("../di/testdata/letter-104.di")
	require.NoError(t, err)
	l, err := di.Parse(b)
	require.NoError(t, err)
	return l
}

// tool runs a poppler tool over the PDF.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed (Debian package poppler-utils; scripts/deps.sh installs it)", name)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// The portable document holds the letter as text a reader can search
// (pdftotext finds the subject, the number, the seal's words), with the
// font embedded (pdffonts), the seal on the first page, numbered pages.
func TestRender(t *testing.T) {
	l := sample(t)
	received := time.Date(2026, 12, 6, 16, 20, 5, 0, time.Local)
	pdf, err := Render(l, Seal{Centre: "centre.example.tw", Received: received, Package: "379000000A/abc"}, testFont(t))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "letter.pdf")
	require.NoError(t, os.WriteFile(path, pdf, 0o644))
	if dir := os.Getenv("CARDBRIDGE_PORTABLE_OUT"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "portable.pdf"), pdf, 0o644)
	}

	text := tool(t, "pdftotext", "-layout", path, "-")
	for _, want := range []string{"測試市政府教育局", "檢送本局116年度幼兒園教保人員研習計畫1份", "測教幼字第1150012345號", "電子交換章",
		"centre.example.tw", "2026/12/06 16:20:05", "依據教育部115年11月1日函辦理", "請於115年12月20日前<報名>", "研習計畫.pdf", "局長", "第 1 頁，共 1 頁"} {
		assert.Contains(t, text, want)
	}
	fonts := tool(t, "pdffonts", path)
	lines := strings.Split(strings.TrimSpace(fonts), "\n")
	require.Greater(t, len(lines), 2, fonts)
	for _, f := range lines[2:] {
		assert.Regexp(t, `CID TrueType\s+Identity-H\s+yes\s+\S+\s+yes`, f, "embedded, with a Unicode map")
	}
	// Only the glyphs used are embedded (the font file is megabytes).
	assert.Less(t, len(pdf), 200<<10, "a subset of the font")
}

// A long letter runs onto more pages: each is numbered, each joint has its
// 騎縫 mark, and the seal is on the first page only.
func TestRenderPages(t *testing.T) {
	l := sample(t)
	for i := range 40 {
		l.Paragraphs[0].Items = append(l.Paragraphs[0].Items, di.Item{Number: "三、", Text: strings.Repeat("長篇說明文字", 8) + string(rune('0'+i%10))})
	}
	pdf, err := Render(l, Seal{Centre: "centre.example.tw", Received: time.Now()}, testFont(t))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "long.pdf")
	require.NoError(t, os.WriteFile(path, pdf, 0o644))
	info := tool(t, "pdfinfo", path)
	assert.Regexp(t, `Pages:\s+[3-9]`, info)
	text := tool(t, "pdftotext", path, "-")
	pages := strings.Split(text, "\f")
	assert.Contains(t, pages[0], "電子交換章")
	assert.NotContains(t, pages[1], "電子交換章")
	for i, pg := range pages[:len(pages)-1] {
		if strings.TrimSpace(pg) == "" {
			continue
		}
		assert.Contains(t, pg, "騎縫", "page %d", i+1)
	}
}

func TestTrueType(t *testing.T) {
	_, err := TrueType([]byte("not a font at all"))
	assert.ErrorIs(t, err, ErrFont)
	_, err = TrueType(append([]byte("ttcf\x00\x01\x00\x00\x00\x00\x00\x01"), make([]byte, 4)...))
	assert.ErrorIs(t, err, ErrFont)
	_, _, err = FindFont("/nowhere/font.ttf", nil)
	assert.ErrorIs(t, err, ErrNoFont)
	if b, err := os.ReadFile("/usr/share/fonts/truetype/arphic/ukai.ttc"); err == nil {
		ttf, err := TrueType(b)
		require.NoError(t, err)
		assert.Equal(t, "\x00\x01\x00\x00", string(ttf[:4]), "a face of the collection, as a font of its own")
		_, err = Render(sample(t), Seal{Received: time.Now()}, ttf)
		assert.NoError(t, err)
	}
}

func FuzzTrueType(f *testing.F) {
	f.Add([]byte("ttcf\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x10\x00\x01\x00\x00\x00\x01"))
	f.Add([]byte("\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00glyf\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := TrueType(b)
		if err == nil && len(out) < 12 {
			t.Fatalf("a font of %d bytes", len(out))
		}
	})
}
