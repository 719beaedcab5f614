// Package printer hands documents to the operating system's print spooler,
// with no dialog: CUPS's lp on Linux and macOS, the Windows spooler's RAW
// path on Windows. It is how the exchange prints a document as it arrives
// (「啟用收文列印」) and reprints what the printer missed (「補列印」).
package printer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
)

// ErrNoSpooler reports a computer without a print service.
var ErrNoSpooler = errors.New("找不到列印服務（Linux、macOS 請安裝 CUPS）/ no print service on this computer (Linux, macOS: install CUPS)")

// ErrPrint reports a job the spooler refused; the error says why in the
// spooler's words (no such printer, no default printer, stopped …).
var ErrPrint = errors.New("列印失敗，請確認印表機已設定並開啟，再按「補列印」/ printing failed: check the printer is set up and on, then reprint")

// Spooler prints one file as one job.
type Spooler interface {
	Print(ctx context.Context, title, name string, data []byte) (job string, err error)
}

// System is the operating system's spooler; Printer names the printer, or
// is empty for the default one.
type System struct {
	Printer string
}

// Printable reports whether a file of this name can go to the spooler
// as it is: PDF, plain text and pictures, which every CUPS and most office
// printers take. Others (.odt, .docx …) are opened and printed from their
// own program.
func Printable(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".pdf", ".txt", ".jpg", ".jpeg", ".png", ".tif", ".tiff":
		return true
	}
	return false
}

// cleanTitle keeps a job title printable and short: it is the sender's
// text, shown in the printer's queue.
func cleanTitle(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80])
	}
	return strings.TrimSpace(s)
}
