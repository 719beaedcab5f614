//go:build linux

package printer

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/cardbridge/cardbridge/internal/exchange/printer/cupstest"
	"github.com/stretchr/testify/require"
)

// A PDF printed through a real CUPS with the cups-pdf printer comes out
// as a PDF whose text is the document's.
func TestPrintThroughCUPS(t *testing.T) {
	c := cupstest.Start(t)
	pdf, err := os.ReadFile("testdata/hello.pdf")
	require.NoError(t, err)
	job, err := System{Printer: cupstest.Printer}.Print(context.Background(), "測試公文\x1b[2J", "hello.pdf", pdf)
	require.NoError(t, err)
	require.Contains(t, job, cupstest.Printer+"-")
	out := c.WaitPDF(t, job)
	text, err := exec.Command("pdftotext", out, "-").CombinedOutput()
	require.NoError(t, err, "%s", text)
	require.Contains(t, string(text), "CardBridge print test")

	_, err = System{Printer: "NoSuchPrinter"}.Print(context.Background(), "x", "x.pdf", pdf)
	require.ErrorIs(t, err, ErrPrint)
	_, err = System{Printer: "-oops"}.Print(context.Background(), "x", "x.pdf", pdf)
	require.ErrorIs(t, err, ErrPrint)
}
