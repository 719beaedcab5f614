package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
)

// The crash tests run an agent (and, in centre_crash_test.go, a centre) in
// a child process — this test binary started again — and kill it with
// SIGKILL at a step, then check that nothing was lost or doubled.
func TestMain(m *testing.M) {
	if spec := os.Getenv("CARDBRIDGE_AGENT_CHILD"); spec != "" {
		os.Exit(agentChild(spec))
	}
	if spec := os.Getenv("CARDBRIDGE_CENTRE_CHILD"); spec != "" {
		os.Exit(centreChild(spec))
	}
	os.Exit(m.Run())
}

// childSpec is what an agent child does.
type childSpec struct {
	Home    string
	Code    string
	Sign    []byte // cert1, DER
	SignKey []byte // PKCS#8
	Enc     []byte
	EncKey  []byte
	Op      string // "send" (Queue, then Sync) or "sync"
	Step    string // where to stop and wait for the kill
	Draft   agent.Draft
}

// agentChild runs one childSpec; at Step it prints "AT step" and waits to
// be killed.
func agentChild(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var s childSpec
	if err := json.Unmarshal(b, &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	who := &exchangetest.Agency{Code: s.Code}
	parse := func(cert, key []byte) (*x509.Certificate, *rsa.PrivateKey) {
		c, err := x509.ParseCertificate(cert)
		if err != nil {
			panic(err)
		}
		k, err := x509.ParsePKCS8PrivateKey(key)
		if err != nil {
			panic(err)
		}
		return c, k.(*rsa.PrivateKey)
	}
	who.Sign, who.SignKey = parse(s.Sign, s.SignKey)
	who.Enc, who.EncKey = parse(s.Enc, s.EncKey)
	agent.SetFaultPoint(func(step string) {
		if step == s.Step {
			fmt.Println("AT " + step)
			os.Stdout.Sync()
			select {} // until killed
		}
	})
	ctx := context.Background()
	a, err := agent.Open(ctx, agent.Options{Home: s.Home})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if s.Op == "send" {
		if _, err := a.Queue(ctx, who, s.Draft); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if _, err := a.Sync(ctx, who); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("DONE")
	return 0
}

// killAt runs an agent child for who over home and kills it (SIGKILL) when
// it reaches step; the test fails when it never does.
func killAt(t *testing.T, who *exchangetest.Agency, home, op, step string, d agent.Draft) {
	t.Helper()
	key := func(k *rsa.PrivateKey) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return b
	}
	spec, err := json.Marshal(childSpec{Home: home, Code: who.Code, Sign: who.Sign.Raw, SignKey: key(who.SignKey), Enc: who.Enc.Raw, EncKey: key(who.EncKey),
		Op: op, Step: step, Draft: d})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "spec.json")
	require.NoError(t, os.WriteFile(path, spec, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CARDBRIDGE_AGENT_CHILD="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	reached := false
	for sc.Scan() {
		if sc.Text() == "AT "+step {
			reached = true
			require.NoError(t, cmd.Process.Kill()) // SIGKILL: no deferred call, no cleanup runs
			break
		}
	}
	_ = cmd.Wait()
	require.True(t, reached, "the agent never reached %s: %s", step, stderr.String())
}

// setupHome sets an agency's home up (roots.pem included, as the command
// line does) and releases it.
func setupHome(t *testing.T, centre string, who *exchangetest.Agency) (home, archive string) {
	t.Helper()
	home = t.TempDir()
	archive = filepath.Join(home, "收文")
	a, err := agent.Open(context.Background(), agent.Options{Home: home})
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.Setup(context.Background(), centre, who.Code, archive, exchangetest.RootsPEM(ca)))
	return home, archive
}

// open opens a home in this process for the rest of a test.
func open(t *testing.T, home string) *agent.Agent {
	t.Helper()
	a, err := agent.Open(context.Background(), agent.Options{Home: home})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return a
}

// crashDraft is the bureau's letter with an attachment big enough to be
// written (and cut) in pieces.
func crashDraft(t *testing.T) (agent.Draft, []parcel.File) {
	t.Helper()
	pdf := make([]byte, 512<<10)
	_, _ = rand.Read(pdf)
	d := agent.Draft{To: []string{kindergarten.Code}, Subject: "研習計畫（當機測試）", DI: letter(t, bureau, "研習計畫.pdf"),
		Files: []parcel.File{{Name: "研習計畫.pdf", Role: parcel.RoleAttachment, Data: pdf}}}
	return d, append([]parcel.File{d.DI}, d.Files...)
}

// bureauSent sets the bureau's and the kindergarten's homes up and has the
// bureau send the crash draft: it waits at the centre for the kindergarten.
func bureauSent(t *testing.T, c *exchangetest.Centre) (ab *agent.Agent, homeK, archive string, files []parcel.File) {
	t.Helper()
	homeB, _ := setupHome(t, c.URL, bureau)
	homeK, archive = setupHome(t, c.URL, kindergarten)
	d, files := crashDraft(t)
	ab = open(t, homeB)
	_, err := ab.Queue(context.Background(), bureau, d)
	require.NoError(t, err)
	_, err = ab.Sync(context.Background(), bureau)
	require.NoError(t, err)
	return ab, homeK, archive, files
}

// deliveredOnce checks the end state every crash must reach after the
// agents ran again: the kindergarten holds the document once, whole, in
// one archive folder with no temporary file, the centre has it completed
// with a receipt, and the bureau sees 使用者確認.
func deliveredOnce(t *testing.T, centre *store.Store, sender, receiver *agent.Agent, archive string, files []parcel.File) {
	t.Helper()
	ctx := context.Background()
	rep, err := receiver.Sync(ctx, kindergarten)
	require.NoError(t, err)
	_, err = sender.Sync(ctx, bureau)
	require.NoError(t, err)
	day := time.Now()
	in, err := receiver.Inbox(ctx, day.Add(-time.Hour), day.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, in, 1, "one document in the inbox (this sync: %+v)", rep)
	assert.Equal(t, "completed", in[0].State)
	var folders []string
	require.NoError(t, filepath.WalkDir(archive, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			folders = append(folders, filepath.Dir(path))
			assert.False(t, strings.HasPrefix(d.Name(), ".receiving-"), "temporary file left: %s", path)
		}
		return err
	}))
	require.Len(t, folders, len(files), "files in the archive: %v", folders)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(in[0].Folder, f.Name))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(f.Data, b), "%s archived byte for byte", f.Name)
	}
	p, err := centre.Package(ctx, in[0].PackageID, kindergarten.Code)
	require.NoError(t, err)
	assert.Equal(t, store.Completed, p.Recipients[0].State)
	evs, err := centre.Events(ctx, kindergarten.Code, 0, 1000)
	require.NoError(t, err)
	packages := map[string]bool{}
	for _, e := range evs {
		packages[e.Package] = true
	}
	assert.Len(t, packages, 1, "the centre holds one package for the kindergarten")
	out, err := sender.Outbox(ctx, day.Add(-time.Hour), day.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, out, 1, "one document in the outbox")
	assert.Equal(t, agent.Sent, out[0].State)
	assert.Equal(t, "user-confirmed", out[0].Recipients[0].State)
	assert.Equal(t, in[0].PackageID, out[0].PackageID)
	rep, err = receiver.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Empty(t, rep.Received, "not taken twice")
}

// The receiving agent is killed at every step of taking a document in:
// after it marked it downloading, after the download, after verifying and
// decrypting, with a temporary file written and not yet renamed, with one
// of two files archived, with all archived, with the receipt signed, after
// the centre took the acknowledgement (so the same package comes again,
// a redelivery), and after the inbox recorded it (the event replayed).
// Each time the next run stores it once.
func TestReceiverKilledAtEveryStep(t *testing.T) {
	for _, step := range []string{"receive:downloading", "receive:fetched", "receive:opened", "receive:temporary-file", "receive:archiving",
		"receive:archived", "receive:receipt-signed", "receive:acknowledged", "receive:stored"} {
		t.Run(step, func(t *testing.T) {
			c := startCentre(t)
			ab, homeK, archive, files := bureauSent(t, c)
			killAt(t, kindergarten, homeK, "sync", step, agent.Draft{})
			deliveredOnce(t, c.Store, ab, open(t, homeK), archive, files)
		})
	}
}

// The sending agent is killed at every step of sending: before the queue
// committed (nothing was queued: the clerk queues again), after it did,
// when marked sending before the upload, and after the centre took the
// upload but before the outbox recorded it (the retry reuses the send id
// and the centre keeps one package).
func TestSenderKilledAtEveryStep(t *testing.T) {
	for _, step := range []string{"queue:sealed", "queue:queued", "send:sending", "send:uploaded"} {
		t.Run(step, func(t *testing.T) {
			ctx := context.Background()
			c := startCentre(t)
			homeB, _ := setupHome(t, c.URL, bureau)
			homeK, archive := setupHome(t, c.URL, kindergarten)
			d, files := crashDraft(t)

			killAt(t, bureau, homeB, "send", step, d)
			ab := open(t, homeB)
			out, err := ab.Outbox(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
			require.NoError(t, err)
			if step == "queue:sealed" {
				assert.Empty(t, out, "a queue that never committed left nothing behind")
				_, err = ab.Queue(ctx, bureau, d)
				require.NoError(t, err)
			} else {
				require.Len(t, out, 1, "queued once")
			}
			_, err = ab.Sync(ctx, bureau)
			require.NoError(t, err)
			deliveredOnce(t, c.Store, ab, open(t, homeK), archive, files)
		})
	}
}

// A document returned (使用者退文) before the event that brought it was
// replayed — the agent was killed after storing it and before moving its
// cursor, and the clerk returned it with the next run — stays returned: the
// replay neither takes it in again nor stops the sync.
func TestReturnedBeforeTheReplay(t *testing.T) {
	ctx := context.Background()
	c := startCentre(t)
	ab, homeK, _, _ := bureauSent(t, c)
	killAt(t, kindergarten, homeK, "sync", "receive:stored", agent.Draft{})

	ak := open(t, homeK)
	day := time.Now()
	in, err := ak.Inbox(ctx, day.Add(-time.Hour), day.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, in, 1)
	require.NoError(t, ak.Return(ctx, kindergarten, in[0].PackageID, "非本園業務"))
	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err, "the replayed arrival does not stop the sync")
	assert.Empty(t, rep.Received)
	in, err = ak.Inbox(ctx, day.Add(-time.Hour), day.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, "returned", in[0].State)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	out, err := ab.Outbox(ctx, day.Add(-time.Hour), day.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, "user-returned", out[0].Recipients[0].State)
	assert.Equal(t, "非本園業務", out[0].Recipients[0].Reason)
}

// The archive folder's disk is full (a 256 KiB tmpfs, for a 512 KiB
// attachment): the document is not acknowledged and no partial file stays;
// once there is room, the next sync archives it once.
func TestArchiveDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root (CI runs as root)")
	}
	ctx := context.Background()
	c := startCentre(t)
	ab, homeK, archive, files := bureauSent(t, c)
	require.NoError(t, os.Mkdir(archive, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", archive).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", archive).Run() })

	ak := open(t, homeK)
	rep, err := ak.Sync(ctx, kindergarten)
	require.ErrorIs(t, err, agent.ErrArchive)
	assert.Contains(t, err.Error(), "no space left")
	assert.Empty(t, rep.Received)
	day := time.Now()
	in, err := ak.Inbox(ctx, day.Add(-time.Hour), day.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, in, 1)
	assert.Equal(t, "downloading", in[0].State, "not acknowledged")
	p, err := c.Store.Package(ctx, in[0].PackageID, kindergarten.Code)
	require.NoError(t, err)
	assert.Equal(t, store.Downloading, p.Recipients[0].State)

	out, err := exec.Command("mount", "-o", "remount,size=8m", archive).CombinedOutput()
	require.NoError(t, err, "%s", out)
	deliveredOnce(t, c.Store, ab, ak, archive, files)
}
