package agent_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/portable"
)

// A received document's 可攜式公文 carries its text and the seal with the
// centre and the time received; one not yet 收文完成 has none.
func TestPortable(t *testing.T) {
	ctx := context.Background()
	_, font, err := portable.FindFont("", portable.FontCandidates(runtime.GOOS, os.Getenv))
	require.NoError(t, err, "scripts/deps.sh installs fonts-cwtex-kai")
	c := startCentre(t)
	_, homeK, _, _ := bureauSent(t, c)
	// Archived, not yet acknowledged (the agent killed there): nothing to
	// print yet.
	killAt(t, kindergarten, homeK, "sync", "receive:archived", agent.Draft{})
	ak := open(t, homeK)
	_, err = ak.Portable(ctx, "XC10458570/nothing", font)
	assert.ErrorIs(t, err, agent.ErrNoDocument)
	day := time.Now()
	in, err := ak.Inbox(ctx, day.Add(-time.Hour), day.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, in, 1)
	_, err = ak.Portable(ctx, in[0].PackageID, font)
	assert.ErrorIs(t, err, agent.ErrNotCompleted)

	_, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	pdf, err := ak.Portable(ctx, in[0].PackageID, font)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "portable.pdf")
	require.NoError(t, os.WriteFile(path, pdf, 0o644))
	out, err := exec.Command("pdftotext", path, "-").CombinedOutput()
	require.NoError(t, err, "%s (poppler-utils)", out)
	for _, want := range []string{"電子交換章", "127.0.0.1", "研習計畫"} {
		assert.Contains(t, string(out), want)
	}
}

// The preview's letter and the attachments (附件檔一覽表) of a received
// document: only names its DI declares are read, never a path.
func TestLetterAndFiles(t *testing.T) {
	ctx := context.Background()
	ak := printAgent(t, &spooled{}, false, false, "")
	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	require.Len(t, rep.Received, 1)
	id := rep.Received[0]
	l, err := ak.Letter(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, bureau.Code, l.Sender.Code)
	b, err := ak.File(ctx, id, "附件一.pdf")
	require.NoError(t, err)
	assert.Equal(t, "%PDF", string(b[:4]))
	for _, name := range []string{"../agent.db", "1150012345.di", "nothing.pdf", "/etc/passwd", ""} {
		_, err := ak.File(ctx, id, name)
		assert.ErrorIs(t, err, agent.ErrNoFile, name)
	}
	_, err = ak.Letter(ctx, "XC10458570/none")
	assert.ErrorIs(t, err, agent.ErrNoDocument)
}
