package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cardbridge/cardbridge/internal/exchange/di"
	"github.com/cardbridge/cardbridge/internal/exchange/portable"
	"github.com/cardbridge/cardbridge/internal/exchange/printer"
)

// Printed is one file of a document handed to the spooler, or why not.
type Printed struct {
	PackageID string `json:"packageId"`
	File      string `json:"file"` // 可攜式公文, or the attachment's name
	Job       string `json:"job,omitempty"`
	Error     string `json:"error,omitempty"`
}

// portableName names the 可攜式公文 in a print result.
const portableName = "可攜式公文"

// Print prints received documents (「補列印勾選的公文」, and 啟用收文列印 as
// each completes): each one's 可攜式公文 with the 電子交換章 and, with
// attachments, those of its attachments the spooler takes as they are
// (PDF, text, pictures; others are opened and printed from their own
// program, and say so). Only documents 收文完成 print. Each outcome is
// recorded with the document (shown by list and show).
func (a *Agent) Print(ctx context.Context, ids []string, attachments bool) []Printed {
	var out []Printed
	set, err := a.Settings(ctx)
	spool := a.o.Spooler
	if spool == nil {
		spool = printer.System{Printer: set.Printer}
	}
	font := a.o.Font
	for _, id := range ids {
		if err != nil {
			out = append(out, Printed{PackageID: id, File: portableName, Error: err.Error()})
			continue
		}
		if font == nil {
			if _, font, err = portable.FindFont("", portable.FontCandidates(runtime.GOOS, os.Getenv)); err != nil {
				out = append(out, Printed{PackageID: id, File: portableName, Error: err.Error()})
				continue
			}
		}
		res := a.printOne(ctx, spool, id, font, attachments)
		failed := ""
		for _, r := range res {
			if r.Error != "" && failed == "" {
				failed = r.File + ": " + r.Error
			}
		}
		_, _ = a.st.db.ExecContext(ctx, `UPDATE inbox SET printed = ?, print_error = ? WHERE package_id = ?`, a.o.Now().Unix(), failed, id)
		out = append(out, res...)
	}
	return out
}

func (a *Agent) printOne(ctx context.Context, spool printer.Spooler, id string, font []byte, attachments bool) []Printed {
	fail := func(file string, err error) []Printed {
		return []Printed{{PackageID: id, File: file, Error: err.Error()}}
	}
	pdf, err := a.Portable(ctx, id, font)
	if err != nil {
		return fail(portableName, err)
	}
	var subject, folder, diFile string
	if err := a.st.db.QueryRowContext(ctx, `SELECT subject, folder, di FROM inbox WHERE package_id = ?`, id).Scan(&subject, &folder, &diFile); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			err = ErrNoDocument
		}
		return fail(portableName, err)
	}
	title := subject
	if title == "" {
		title = id
	}
	job, err := spool.Print(ctx, title, portableName+".pdf", pdf)
	out := []Printed{{PackageID: id, File: portableName, Job: job}}
	if err != nil {
		out[0].Error = err.Error()
		return out
	}
	if !attachments {
		return out
	}
	b, err := os.ReadFile(filepath.Join(folder, diFile))
	if err != nil {
		return append(out, Printed{PackageID: id, File: diFile, Error: err.Error()})
	}
	l, err := di.Parse(b)
	if err != nil {
		return append(out, Printed{PackageID: id, File: diFile, Error: err.Error()})
	}
	for _, f := range l.Attachment.Files {
		p := Printed{PackageID: id, File: f.Name}
		if !printer.Printable(f.Name) {
			p.Error = fmt.Sprintf("這種檔案請以它的程式開啟後列印 / open %s in its own program to print it", f.Name)
			out = append(out, p)
			continue
		}
		data, err := os.ReadFile(filepath.Join(folder, f.Name))
		if err == nil {
			p.Job, err = spool.Print(ctx, title+" "+f.Name, f.Name, data)
		}
		if err != nil {
			p.Error = err.Error()
		}
		out = append(out, p)
	}
	return out
}

// Font is the 可攜式公文's font: Options.Font, else the system's (nil when
// it has none).
func (a *Agent) Font() []byte {
	if a.o.Font != nil {
		return a.o.Font
	}
	_, font, _ := portable.FindFont("", portable.FontCandidates(runtime.GOOS, os.Getenv))
	return font
}
