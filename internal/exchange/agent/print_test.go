package agent_test

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/exchange/portable"
	"github.com/cardbridge/cardbridge/internal/exchange/printer"
)

// spooled is a Spooler that keeps what it is given.
type spooled struct {
	mu   sync.Mutex
	jobs []string // names
}

func (s *spooled) Print(_ context.Context, title, name string, data []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = append(s.jobs, name)
	return "job-" + name, nil
}

// printAgent opens the kindergarten's home with spool (nil: the system's)
// and the given print settings, after the bureau sent it a letter with a
// PDF and an .odt attachment.
func printAgent(t *testing.T, spool printer.Spooler, print, attachments bool, printerName string) *agent.Agent {
	t.Helper()
	ctx := context.Background()
	_, font, err := portable.FindFont("", portable.FontCandidates(runtime.GOOS, os.Getenv))
	require.NoError(t, err, "scripts/deps.sh installs fonts-cwtex-kai")
	c := startCentre(t)
	homeB, _ := setupHome(t, c.URL, bureau)
	homeK, _ := setupHome(t, c.URL, kindergarten)
	pdf, err := os.ReadFile("../printer/testdata/hello.pdf")
	require.NoError(t, err)
	ab := open(t, homeB)
	_, err = ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "列印測試", Number: "測教幼字第1150077777號",
		DI:    letter(t, bureau, "附件一.pdf", "報名表.odt"),
		Files: []parcel.File{{Name: "附件一.pdf", Role: parcel.RoleAttachment, Data: pdf}, {Name: "報名表.odt", Role: parcel.RoleAttachment, Data: []byte("PK odt")}}})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	ak, err := agent.Open(ctx, agent.Options{Home: homeK, Spooler: spool, Font: font})
	require.NoError(t, err)
	t.Cleanup(ak.Close)
	set, err := ak.Settings(ctx)
	require.NoError(t, err)
	assert.False(t, set.Print, "printing is off until the clerk turns it on, as the guide says")
	assert.True(t, set.SaveArchive)
	assert.True(t, set.KeepDINames)
	set.Print, set.PrintAttachments, set.Printer = print, attachments, printerName
	require.NoError(t, ak.SetSettings(ctx, set))
	return ak
}

func names(ps []agent.Printed) (ok, failed []string) {
	for _, p := range ps {
		if p.Error == "" {
			ok = append(ok, p.File)
		} else {
			failed = append(failed, p.File)
		}
	}
	return ok, failed
}

// With 啟用收文列印 and 同時列印附件檔 on, a document prints as it
// completes: its 可攜式公文 and the attachment the spooler takes (the .odt
// is reported, not sent); off, nothing prints; 補列印 prints again.
func TestPrintAsDocumentsComplete(t *testing.T) {
	ctx := context.Background()
	t.Run("on", func(t *testing.T) {
		spool := &spooled{}
		ak := printAgent(t, spool, true, true, "")
		rep, err := ak.Sync(ctx, kindergarten)
		require.NoError(t, err)
		require.Len(t, rep.Received, 1)
		ok, failed := names(rep.Printed)
		assert.Equal(t, []string{"可攜式公文", "附件一.pdf"}, ok)
		assert.Equal(t, []string{"報名表.odt"}, failed)
		assert.Equal(t, []string{"可攜式公文.pdf", "附件一.pdf"}, spool.jobs)
		in, err := ak.Inbox(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.NotNil(t, in[0].Printed)
		assert.Contains(t, in[0].PrintError, "報名表.odt")

		// 補列印, the body only.
		again := ak.Print(ctx, []string{in[0].PackageID}, false)
		ok, _ = names(again)
		assert.Equal(t, []string{"可攜式公文"}, ok)
	})
	t.Run("off", func(t *testing.T) {
		spool := &spooled{}
		ak := printAgent(t, spool, false, false, "")
		rep, err := ak.Sync(ctx, kindergarten)
		require.NoError(t, err)
		assert.Empty(t, rep.Printed)
		assert.Empty(t, spool.jobs)
	})
}

// Nothing prints for a document that is not 收文完成.
func TestPrintOnlyCompleted(t *testing.T) {
	ctx := context.Background()
	spool := &spooled{}
	c := startCentre(t)
	_, homeK, _, _ := bureauSent(t, c)
	killAt(t, kindergarten, homeK, "sync", "receive:archived", agent.Draft{})
	ak, err := agent.Open(ctx, agent.Options{Home: homeK, Spooler: spool})
	require.NoError(t, err)
	defer ak.Close()
	in, err := ak.Inbox(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, in, 1)
	res := ak.Print(ctx, []string{in[0].PackageID, "XC10458570/none"}, true)
	require.Len(t, res, 2)
	assert.Contains(t, res[0].Error, "收文完成")
	assert.NotEmpty(t, res[1].Error)
	assert.Empty(t, spool.jobs)
}
