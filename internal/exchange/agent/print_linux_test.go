package agent_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/exchange/printer/cupstest"
)

// Through a real CUPS with the cups-pdf printer: the 可攜式公文 sent holds
// the subject, the document number and the seal's words as text; what the
// printer made of it has as many pages, with its fonts embedded.
//
// The printed file's own text is not checked: CUPS turns PDF into
// PostScript for cups-pdf (a PostScript printer), and that step keeps an
// embedded CJK font's glyphs but not which characters they are (the same
// with every renderer CUPS offers: gs, pdftops, mupdf, hybrid), so
// pdftotext reads symbols there. A Latin PDF's text survives it
// (internal/exchange/printer's test checks that).
func TestPrintThroughCUPS(t *testing.T) {
	srv := cupstest.Start(t)
	ctx := context.Background()
	ak := printAgent(t, nil, true, true, cupstest.Printer)
	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	require.Len(t, rep.Received, 1)
	var printed string
	for _, p := range rep.Printed {
		if p.File == "可攜式公文" {
			require.Empty(t, p.Error)
			printed = srv.WaitPDF(t, p.Job)
		}
	}
	require.NotEmpty(t, printed, "%+v", rep.Printed)

	sent, err := ak.Portable(ctx, rep.Received[0], ak.Font())
	require.NoError(t, err)
	sentPath := filepath.Join(t.TempDir(), "sent.pdf")
	require.NoError(t, os.WriteFile(sentPath, sent, 0o644))
	text, err := exec.Command("pdftotext", sentPath, "-").CombinedOutput()
	require.NoError(t, err, "%s", text)
	for _, want := range []string{"檢送本局116年度幼兒園教保人員研習計畫1份", "測教幼字第1150012345號", "電子交換章", "收文時間"} { // the DI's subject and number
		assert.Contains(t, string(text), want)
	}
	pages := func(path string) string {
		out, err := exec.Command("pdfinfo", path).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return regexp.MustCompile(`Pages:\s+(\d+)`).FindStringSubmatch(string(out))[1]
	}
	assert.Equal(t, pages(sentPath), pages(printed), "the printer printed every page")
	fonts, err := exec.Command("pdffonts", printed).CombinedOutput()
	require.NoError(t, err, "%s", fonts)
	assert.Regexp(t, `(?m)^\S+\s+.*\byes\b`, string(fonts), "fonts embedded in the printed file")
}
