//go:build windows

package printer

import (
	"context"
	"fmt"
	"syscall"
	"unsafe"
)

// The Windows spooler's RAW path (winspool.drv): the bytes go to the
// printer as they are, which PDF-capable printers (most office laser
// printers) print without a dialog and without a PDF program. Build-checked
// in every test run; not yet run on Windows.
var (
	winspool          = syscall.NewLazyDLL("winspool.drv")
	getDefaultPrinter = winspool.NewProc("GetDefaultPrinterW")
	openPrinter       = winspool.NewProc("OpenPrinterW")
	closePrinter      = winspool.NewProc("ClosePrinter")
	startDocPrinter   = winspool.NewProc("StartDocPrinterW")
	endDocPrinter     = winspool.NewProc("EndDocPrinter")
	startPagePrinter  = winspool.NewProc("StartPagePrinter")
	endPagePrinter    = winspool.NewProc("EndPagePrinter")
	writePrinter      = winspool.NewProc("WritePrinter")
)

type docInfo1 struct {
	name, output, datatype *uint16
}

// Print writes data to the printer (or the default one) as one RAW job.
func (s System) Print(_ context.Context, title, name string, data []byte) (string, error) {
	printer := s.Printer
	if printer == "" {
		var n uint32 = 256
		buf := make([]uint16, n)
		if r, _, err := getDefaultPrinter.Call(uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n))); r == 0 {
			return "", fmt.Errorf("%s: %w: no default printer: %v", name, ErrPrint, err)
		}
		printer = syscall.UTF16ToString(buf)
	}
	p16, err := syscall.UTF16PtrFromString(printer)
	if err != nil {
		return "", fmt.Errorf("%s: %w: %v", name, ErrPrint, err)
	}
	var h syscall.Handle
	if r, _, err := openPrinter.Call(uintptr(unsafe.Pointer(p16)), uintptr(unsafe.Pointer(&h)), 0); r == 0 {
		return "", fmt.Errorf("%s: %w: %s: %v", name, ErrPrint, printer, err)
	}
	defer closePrinter.Call(uintptr(h))
	t16, _ := syscall.UTF16PtrFromString(cleanTitle(title))
	raw, _ := syscall.UTF16PtrFromString("RAW")
	di := docInfo1{name: t16, datatype: raw}
	job, _, err := startDocPrinter.Call(uintptr(h), 1, uintptr(unsafe.Pointer(&di)))
	if job == 0 {
		return "", fmt.Errorf("%s: %w: %v", name, ErrPrint, err)
	}
	defer endDocPrinter.Call(uintptr(h))
	startPagePrinter.Call(uintptr(h))
	defer endPagePrinter.Call(uintptr(h))
	for len(data) > 0 {
		var written uint32
		chunk := data
		if len(chunk) > 1<<20 {
			chunk = chunk[:1<<20]
		}
		if r, _, err := writePrinter.Call(uintptr(h), uintptr(unsafe.Pointer(&chunk[0])), uintptr(len(chunk)), uintptr(unsafe.Pointer(&written))); r == 0 || written == 0 {
			return "", fmt.Errorf("%s: %w: %v", name, ErrPrint, err)
		}
		data = data[written:]
	}
	return fmt.Sprint(job), nil
}
