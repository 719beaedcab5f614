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
	var state, folder, diFile string
	var at int64
	err := a.st.db.QueryRowContext(ctx, `SELECT state, folder, di, updated FROM inbox WHERE package_id = ?`, id).Scan(&state, &folder, &diFile, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", id, ErrNoDocument)
	}
	if err != nil {
		return nil, err
	}
	if state != "completed" || diFile == "" {
		return nil, fmt.Errorf("%s: %w", id, ErrNotCompleted)
	}
	b, err := os.ReadFile(filepath.Join(folder, diFile))
	if err != nil {
		return nil, fmt.Errorf("收文資料夾中找不到公文本文 / the DI is no longer in the archive folder: %w", err)
	}
	l, err := di.Parse(b)
	if err != nil {
		return nil, err
	}
	centre, _ := a.st.get(ctx, "centre")
	if u, err := url.Parse(centre); err == nil && u.Host != "" {
		centre = u.Hostname()
	}
	return portable.Render(l, portable.Seal{Centre: centre, Received: time.Unix(at, 0), Package: id}, font)
}
