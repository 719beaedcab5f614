package agent_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/authtoken"
	cardpkg "github.com/cardbridge/cardbridge/internal/card"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/di"
	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/testca"
)

var (
	once                               sync.Once
	ca                                 *testca.Hierarchy
	bureau, kindergarten, school, evil *exchangetest.Agency
)

// startCentre starts a centre with the four TEST agencies.
func startCentre(t *testing.T) *exchangetest.Centre {
	once.Do(func() {
		var err error
		ca, err = testca.New(nil, time.Now())
		require.NoError(t, err)
		bureau = exchangetest.Valid(t, ca, "測試市教育局", "10458570")
		kindergarten = exchangetest.Valid(t, ca, "測試幼兒園", "04595252")
		school = exchangetest.Valid(t, ca, "測試國小", "22099131")
		evil = exchangetest.Valid(t, ca, "冒名機關", "10458575")
	})
	dir := map[string][]byte{}
	for _, a := range []*exchangetest.Agency{bureau, kindergarten, school, evil} {
		dir[a.Code] = a.Enc.Raw
	}
	return exchangetest.StartCentre(t, ca, dir)
}

func roots() *x509.CertPool { return exchangetest.Trust(ca).Roots }

func inter() *x509.CertPool { return exchangetest.Trust(ca).Intermediates }

// clock is a settable clock for retries.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func openAgent(t *testing.T, c *exchangetest.Centre, who *exchangetest.Agency, clk *clock) (*agent.Agent, string) {
	t.Helper()
	home := t.TempDir()
	archive := filepath.Join(home, "archive")
	a, err := agent.Open(context.Background(), agent.Options{Home: home, Trust: parcel.Trust{Roots: roots(), Intermediates: inter()}, Now: clk.now})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.Setup(context.Background(), c.URL, who.Code, archive, nil))
	return a, archive
}

// bureauAndKindergarten starts a centre and opens the bureau's and the
// kindergarten's agents on one settable clock; archive is the
// kindergarten's archive folder.
func bureauAndKindergarten(t *testing.T) (c *exchangetest.Centre, clk *clock, ab, ak *agent.Agent, archive string) {
	t.Helper()
	c = startCentre(t)
	clk = &clock{t: time.Now()}
	ab, _ = openAgent(t, c, bureau, clk)
	ak, archive = openAgent(t, c, kindergarten, clk)
	return c, clk, ab, ak, archive
}

// letter is the sample 函 as from sends it, declaring the attachments
// named (the DI and the package must agree: parcel.Opened.Letter).
func letter(t *testing.T, from *exchangetest.Agency, attachments ...string) parcel.File {
	b, err := os.ReadFile("../di/testdata/letter-104.di")
	require.NoError(t, err)
	l, err := di.Parse(b)
	require.NoError(t, err)
	l.Sender.Code = from.Code
	l.Attachment.Files = nil
	for i, name := range attachments {
		l.Attachment.Files = append(l.Attachment.Files, di.File{Entity: fmt.Sprintf("ATTCH%d", i+1), Name: name, Notation: "DI"})
	}
	l.Unknown = nil
	out, err := di.Marshal(l)
	require.NoError(t, err)
	return parcel.File{Name: "1150012345.di", Data: out}
}

func TestSendReceiveConfirmReturn(t *testing.T) {
	ctx := context.Background()
	c, clk, ab, ak, archive := bureauAndKindergarten(t)
	third, _ := openAgent(t, c, evil, clk) // a third recipient (the hostile agency of other tests, here a plain one)

	pdf := bytes.Repeat([]byte("%PDF-1.7 研習計畫 "), 3000)
	id, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code, school.Code, evil.Code}, Subject: "研習計畫", Number: "測教幼字第1150012345號",
		DI: letter(t, bureau, "研習計畫.pdf"), Files: []parcel.File{{Name: "研習計畫.pdf", Role: parcel.RoleAttachment, Data: pdf}}})
	require.NoError(t, err)
	rep, err := ab.Sync(ctx, bureau)
	require.NoError(t, err)
	assert.Equal(t, []string{id}, rep.Sent)

	// The kindergarten receives: archived byte for byte, acknowledged.
	rep, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	require.Len(t, rep.Received, 1)
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, in, 1)
	assert.Equal(t, "completed", in[0].State)
	assert.Equal(t, "研習計畫", in[0].Subject)
	assert.True(t, in[0].Unread)
	got, err := os.ReadFile(filepath.Join(in[0].Folder, "研習計畫.pdf"))
	require.NoError(t, err)
	assert.Equal(t, pdf, got)
	assert.True(t, filepath.IsAbs(in[0].Folder) && len(in[0].Folder) > len(archive) && in[0].Folder[:len(archive)] == archive, in[0].Folder)
	require.NoError(t, ak.MarkRead(ctx, in[0].PackageID))
	rep, err = third.Sync(ctx, evil)
	require.NoError(t, err)
	require.Len(t, rep.Received, 1)

	// The bureau learns: 使用者確認 from the kindergarten and the third,
	// 系統確認 from the school, whose agent never ran (unreachable).
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	out, err := ab.Outbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, out, 1)
	states := map[string]string{}
	for _, r := range out[0].Recipients {
		states[r.Code] = r.State
	}
	assert.Equal(t, map[string]string{kindergarten.Code: "user-confirmed", school.Code: "system-confirmed", evil.Code: "user-confirmed"}, states)

	// A redelivery (the events read again from the start) is stored once.
	ak2, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Empty(t, ak2.Received)

	// The kindergarten returns it with a reason; the bureau sees 使用者退文.
	require.NoError(t, ak.Return(ctx, kindergarten, in[0].PackageID, "非本園業務"))
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	out, _ = ab.Outbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	for _, r := range out[0].Recipients {
		if r.Code == kindergarten.Code {
			assert.Equal(t, "user-returned", r.State)
			assert.Equal(t, "非本園業務", r.Reason)
		}
	}
}

func TestRefusedPackagesEndIn收文異常(t *testing.T) {
	ctx := context.Background()
	c := startCentre(t)
	clk := &clock{t: time.Now()}
	ak, _ := openAgent(t, c, kindergarten, clk)
	// A hostile agency uploads an envelope that is not for the kindergarten.
	cl, err := agent.NewClient(c.URL, nil)
	require.NoError(t, err)
	_, err = cl.Login(ctx, evil.Token)
	require.NoError(t, err)
	inner, err := parcel.Build(parcel.Draft{ID: "x1", Sender: evil.Code, Recipients: []string{kindergarten.Code}, Subject: "偽造", Created: time.Now(),
		Files: []parcel.File{{Name: "a.di", Role: parcel.RoleDI, Data: []byte("<函/>")}}}, parcel.Signer{Cert: evil.Sign, Key: evil.SignKey})
	require.NoError(t, err)
	env, err := parcel.Seal(inner, []*x509.Certificate{school.Enc}) // sealed to another agency
	require.NoError(t, err)
	_, err = cl.Upload(ctx, "x1", []string{kindergarten.Code}, env)
	require.NoError(t, err)
	// And one in another agency's name.
	inner, err = parcel.Build(parcel.Draft{ID: "x2", Sender: bureau.Code, Recipients: []string{kindergarten.Code}, Subject: "冒名", Created: time.Now(),
		Files: []parcel.File{{Name: "a.di", Role: parcel.RoleDI, Data: []byte("<函/>")}}}, parcel.Signer{Cert: evil.Sign, Key: evil.SignKey})
	require.NoError(t, err)
	env, err = parcel.Seal(inner, []*x509.Certificate{kindergarten.Enc})
	require.NoError(t, err)
	_, err = cl.Upload(ctx, "x2", []string{kindergarten.Code}, env)
	require.NoError(t, err)

	// And one signed as itself whose letter names the bureau as its 發文機關.
	inner, err = parcel.Build(parcel.Draft{ID: "x3", Sender: evil.Code, Recipients: []string{kindergarten.Code}, Subject: "假冒來文", Created: time.Now(),
		Files: []parcel.File{{Name: "a.di", Role: parcel.RoleDI, Data: letter(t, bureau).Data}}}, parcel.Signer{Cert: evil.Sign, Key: evil.SignKey})
	require.NoError(t, err)
	env, err = parcel.Seal(inner, []*x509.Certificate{kindergarten.Enc})
	require.NoError(t, err)
	_, err = cl.Upload(ctx, "x3", []string{kindergarten.Code}, env)
	require.NoError(t, err)

	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Len(t, rep.Refused, 3)
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	reasons := map[string]string{}
	for _, i := range in {
		assert.Equal(t, "failed", i.State)
		reasons[i.PackageID] = i.Reason
	}
	assert.Contains(t, reasons[evil.Code+"/x1"], "not-for-us")
	assert.Contains(t, reasons[evil.Code+"/x2"], "wrong-sender")
	assert.Contains(t, reasons[evil.Code+"/x3"], "wrong-sender", "the letter's 發文機關 is not the signer")
	p, err := cl.Package(ctx, evil.Code+"/x1")
	require.NoError(t, err)
	assert.Equal(t, "user-returned", p.Recipients[0].SenderView, "the sender learns it was refused")
}

func TestCentreDownThenUp(t *testing.T) {
	ctx := context.Background()
	c := startCentre(t)
	clk := &clock{t: time.Now()}
	ab, _ := openAgent(t, c, bureau, clk)
	id, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "重送測試", DI: letter(t, bureau)})
	require.NoError(t, err)
	c.Down.Store(true)
	rep, err := ab.Sync(ctx, bureau)
	assert.True(t, agent.Temporary(err), "receiving with the centre down: %v", err)
	assert.Equal(t, []string{id}, rep.Retrying)
	// Not yet due: nothing is sent, even with the centre back.
	c.Down.Store(false)
	rep, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	assert.Empty(t, rep.Sent)
	clk.add(time.Minute)
	rep, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	assert.Equal(t, []string{id}, rep.Sent)
	out, _ := ab.Outbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	assert.Equal(t, agent.Sent, out[0].State)
	assert.Equal(t, 2, out[0].Attempts)
}

func TestOneAgentPerHome(t *testing.T) {
	home := t.TempDir()
	a, err := agent.Open(context.Background(), agent.Options{Home: home})
	require.NoError(t, err)
	defer a.Close()
	_, err = agent.Open(context.Background(), agent.Options{Home: home})
	assert.ErrorIs(t, err, agent.ErrLocked)
}

// The sender seals only to a certificate that is the recipient's: a
// directory that lists another key for it (a hostile centre, an operator's
// mistake) is refused before anything is encrypted; and a letter must be
// sent by the agency it names.
func TestQueueRefuses(t *testing.T) {
	ctx := context.Background()
	c := startCentre(t)
	clk := &clock{t: time.Now()}
	ab, _ := openAgent(t, c, bureau, clk)
	require.NoError(t, c.Store.AddAgency(ctx, store.Agency{Code: kindergarten.Code, Name: "換了金鑰", EncCert: evil.Enc.Raw}))
	_, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "x", DI: letter(t, bureau)})
	assert.ErrorIs(t, err, parcel.ErrRecipientCert)
	_, err = ab.Queue(ctx, bureau, agent.Draft{To: []string{school.Code}, Subject: "x", DI: letter(t, kindergarten)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "發文機關")
	out, _ := ab.Outbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	assert.Empty(t, out, "nothing queued")
}

// Nothing lost, nothing doubled: the centre goes away after the document
// was archived and before the acknowledgement, and the archive folder
// cannot be written for a while; each time the document stays unacknowledged,
// and the next Sync archives and acknowledges it once.
func TestReceiveFaults(t *testing.T) {
	ctx := context.Background()
	c, clk, ab, ak, archive := bureauAndKindergarten(t)
	_, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "故障測試", DI: letter(t, bureau)})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)

	// 1. The archive folder cannot be written (a file stands where it
	// should be, as a full or missing disk would fail it).
	require.NoError(t, os.MkdirAll(filepath.Dir(archive), 0o755))
	require.NoError(t, os.WriteFile(archive, []byte("not a folder"), 0o644))
	rep, err := ak.Sync(ctx, kindergarten)
	require.Error(t, err)
	assert.Empty(t, rep.Received)
	p, err := c.Store.Package(ctx, bureau.Code+"/"+mustSendID(t, ab, clk), kindergarten.Code)
	require.NoError(t, err)
	assert.Equal(t, store.Downloading, p.Recipients[0].State, "not acknowledged")
	require.NoError(t, os.Remove(archive))

	// 2. Archived, then the centre goes away before the acknowledgement.
	report := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/report") }
	c.Fail.Store(&report)
	rep, err = ak.Sync(ctx, kindergarten)
	assert.True(t, agent.Temporary(err), "%v", err)
	assert.Empty(t, rep.Received)
	c.Fail.Store(nil)

	// 3. Back: archived once, acknowledged once.
	rep, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Len(t, rep.Received, 1)
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, in, 1)
	assert.Equal(t, "completed", in[0].State)
	entries, err := os.ReadDir(in[0].Folder)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"1150012345.di"}, names, "one copy, no temporary files left")
	rep, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Empty(t, rep.Received, "not twice")
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	out, _ := ab.Outbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	assert.Equal(t, "user-confirmed", out[0].Recipients[0].State)
}

func mustSendID(t *testing.T, a *agent.Agent, clk *clock) string {
	t.Helper()
	out, err := a.Outbox(context.Background(), clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	require.NotEmpty(t, out)
	return out[0].SendID
}

// Watch takes a document in as soon as the centre pushes it (the poll
// interval is an hour, so only the push can wake it), and ends when its
// context does.
func TestWatchTakesPushedDocuments(t *testing.T) {
	_, _, ab, ak, _ := bureauAndKindergarten(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reports := make(chan agent.Report, 16)
	done := make(chan error, 1)
	go func() {
		done <- ak.Watch(ctx, kindergarten, time.Hour, func(r agent.Report, err error) {
			assert.NoError(t, err)
			reports <- r
		})
	}()
	first := <-reports
	assert.Empty(t, first.Received)
	for range 2 {
		_, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "推播測試", DI: letter(t, bureau)})
		require.NoError(t, err)
		_, err = ab.Sync(ctx, bureau)
		require.NoError(t, err)
		deadline := time.After(30 * time.Second)
		for got := false; !got; {
			select {
			case r := <-reports:
				got = len(r.Received) == 1
			case <-deadline:
				t.Fatal("the pushed document was not taken in")
			}
		}
	}
	cancel()
	require.NoError(t, <-done)
}

// refusingCard is a card whose PIN is refused.
type refusingCard struct{ *exchangetest.Agency }

func (refusingCard) Token(context.Context, string, string) (authtoken.Token, error) {
	return authtoken.Token{}, &cardpkg.AuthError{TriesLeft: 2}
}

// A refused PIN ends the watch at once: it is never tried again.
func TestWatchEndsWhenThePINIsRefused(t *testing.T) {
	c := startCentre(t)
	ak, _ := openAgent(t, c, kindergarten, &clock{t: time.Now()})
	calls := 0
	err := ak.Watch(context.Background(), refusingCard{kindergarten}, 10*time.Millisecond, func(agent.Report, error) { calls++ })
	var ae *cardpkg.AuthError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 1, calls)
}

// With 「不修改DI檔名」 off, the DI is archived under its 發文字號; the
// attachments keep the names the DI refers to.
func TestRenameDI(t *testing.T) {
	ctx := context.Background()
	_, clk, ab, ak, _ := bureauAndKindergarten(t)
	require.NoError(t, ak.KeepDINames(ctx, false))
	d := agent.Draft{To: []string{kindergarten.Code}, Subject: "改名測試", Number: "府教字第1150099999號", DI: letter(t, bureau, "附件.pdf"),
		Files: []parcel.File{{Name: "附件.pdf", Role: parcel.RoleAttachment, Data: []byte("%PDF")}}}
	_, err := ab.Queue(ctx, bureau, d)
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	_, err = ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, in, 1)
	entries, err := os.ReadDir(in[0].Folder)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"1150099999.di", "附件.pdf"}, names)
	b, err := os.ReadFile(filepath.Join(in[0].Folder, "1150099999.di"))
	require.NoError(t, err)
	assert.Equal(t, d.DI.Data, b)
}

// recording is a Transport that notes each call and passes it to the
// reference centre's client: a connector to another centre stands where it
// stands.
type recording struct {
	agent.Transport
	calls *calls
}

type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *recording) note(name string) { r.calls.mu.Lock(); r.calls.n[name]++; r.calls.mu.Unlock() }

func (r *recording) Upload(ctx context.Context, id string, to []string, env []byte) (api.PackageView, error) {
	r.note("Upload")
	return r.Transport.Upload(ctx, id, to, env)
}

func (r *recording) Fetch(ctx context.Context, id string) ([]byte, error) {
	r.note("Fetch")
	return r.Transport.Fetch(ctx, id)
}

func (r *recording) Report(ctx context.Context, id string, rep api.ReportRequest) error {
	r.note("Report")
	return r.Transport.Report(ctx, id, rep)
}

// The agent reaches the centre only through its Transport (Options.Dial).
func TestTransportIsPluggable(t *testing.T) {
	ctx := context.Background()
	c := startCentre(t)
	seen := &calls{n: map[string]int{}}
	dial := func(origin string) (agent.Transport, error) {
		cl, err := agent.NewClient(origin, nil)
		return &recording{Transport: cl, calls: seen}, err
	}
	open := func(who *exchangetest.Agency) *agent.Agent {
		home := t.TempDir()
		a, err := agent.Open(ctx, agent.Options{Home: home, Trust: parcel.Trust{Roots: roots(), Intermediates: inter()}, Dial: dial})
		require.NoError(t, err)
		t.Cleanup(a.Close)
		require.NoError(t, a.Setup(ctx, c.URL, who.Code, filepath.Join(home, "archive"), nil))
		return a
	}
	ab, ak := open(bureau), open(kindergarten)
	_, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "轉接測試", DI: letter(t, bureau)})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Len(t, rep.Received, 1)
	assert.Equal(t, map[string]int{"Upload": 1, "Fetch": 1, "Report": 1}, seen.n)
}

// A draft without a DI: the agent composes the 函 from the subject and the
// body, with the sender's name from its card, the recipient's from the
// directory, today's date and a 發文字號 of its own.
func TestSendComposed(t *testing.T) {
	ctx := context.Background()
	_, clk, ab, ak, _ := bureauAndKindergarten(t)
	_, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "請派員參加研習，請　查照。",
		Body: "研習日期：116年1月10日。\n\n地點：本局大禮堂。", Files: []parcel.File{{Name: "議程.pdf", Role: parcel.RoleAttachment, Data: []byte("%PDF")}}})
	require.NoError(t, err)
	_, err = ab.Sync(ctx, bureau)
	require.NoError(t, err)
	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	require.Len(t, rep.Received, 1)
	l, err := ak.Letter(ctx, rep.Received[0])
	require.NoError(t, err)
	assert.Equal(t, "請派員參加研習，請　查照。", l.Subject)
	assert.Equal(t, bureau.Sign.Subject.Organization[0], l.Sender.Name)
	assert.Equal(t, kindergarten.Code, l.Recipient.Code)
	assert.Equal(t, fmt.Sprintf("發字第%03d0000001號", clk.now().Year()-1911), l.Number.String())
	require.Len(t, l.Paragraphs, 1)
	assert.Equal(t, "二、", l.Paragraphs[0].Items[1].Number)
	assert.Equal(t, "議程.pdf", l.Attachment.Files[0].Name)
	_, err = ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Body: "沒有主旨"})
	assert.Error(t, err)
}
