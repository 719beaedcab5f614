package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/cardbridge/cardbridge/internal/exchange/di"
	"github.com/cardbridge/cardbridge/internal/exchange/portable"
)

// ErrNotCompleted is a document that may not be printed yet: eClient
// prints, and makes the 可攜式公文 of, a document only once it is 收文完成.
var ErrNotCompleted = errors.New("這份公文尚未收文完成，還不能列印或匯出可攜式公文 / the document is not 收文完成 (completed) yet: it cannot be printed or exported")

// Portable makes the 可攜式公文 of a received document: its DI from the
// archive laid out as the paper 函, with the 電子交換章 (the centre, the time
// it was received, its number). font is a TrueType font
// (portable.FindFont).
func (a *Agent) Portable(ctx context.Context, id string, font []byte) ([]byte, error) {
	l, err := a.Letter(ctx, id)
	if err != nil {
		return nil, err
	}
	var at int64
	if err := a.st.db.QueryRowContext(ctx, `SELECT updated FROM inbox WHERE package_id = ?`, id).Scan(&at); err != nil {
		return nil, err
	}
	centre, _ := a.st.get(ctx, "centre")
	if u, err := url.Parse(centre); err == nil && u.Host != "" {
		centre = u.Hostname()
	}
	return portable.Render(l, portable.Seal{Centre: centre, Received: time.Unix(at, 0), Package: id}, font)
}

// Letter is a received document's DI, parsed, for the preview (收文內容預覽:
// the letter as the paper 函 shows it, without the seal). Only a document
// that is 收文完成 has one.
func (a *Agent) Letter(ctx context.Context, id string) (*di.Letter, error) {
	folder, diFile, err := a.completed(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(folder, diFile))
	if err != nil {
		return nil, fmt.Errorf("收文資料夾中找不到公文本文 / the DI is no longer in the archive folder: %w", err)
	}
	return di.Parse(b)
}

// MaxFile caps a file handed out whole (an attachment to open or save).
const MaxFile = 64 << 20

// ErrNoFile is a name that is not one of the document's files.
var ErrNoFile = errors.New("這份公文沒有這個附件 / the document has no such file")

// File reads one of a received document's files by its name in the DI (附件
// 檔一覽表: open, 另存新檔). Only the names the DI declares are read, never a
// path.
func (a *Agent) File(ctx context.Context, id, name string) ([]byte, error) {
	l, err := a.Letter(ctx, id)
	if err != nil {
		return nil, err
	}
	found := false
	for _, f := range l.Attachment.Files {
		found = found || f.Name == name
	}
	if !found || di.CheckFileName(name) != nil {
		return nil, fmt.Errorf("%q: %w", name, ErrNoFile)
	}
	folder, _, err := a.completed(ctx, id)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(folder, name)
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if fi.Size() > MaxFile {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", name, fi.Size(), MaxFile)
	}
	return os.ReadFile(path)
}

// completed is a 收文完成 document's folder and DI file.
func (a *Agent) completed(ctx context.Context, id string) (folder, diFile string, err error) {
	var state string
	err = a.st.db.QueryRowContext(ctx, `SELECT state, folder, di FROM inbox WHERE package_id = ?`, id).Scan(&state, &folder, &diFile)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("%s: %w", id, ErrNoDocument)
	}
	if err == nil && (state != "completed" || diFile == "") {
		err = fmt.Errorf("%s: %w", id, ErrNotCompleted)
	}
	return folder, diFile, err
}
