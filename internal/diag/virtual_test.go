package diag

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/softcard"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// The check end to end: the Manager's Virtual backend dials a softcard
// served on a loopback listener, as on a computer configured with
// virtualReader.

// virtualState is a TEST card issued at testNow, once per test binary (RSA
// keys are slow to make); each test gets a deep copy.
var virtualState = sync.OnceValues(func() ([]byte, error) {
	ca, err := testCA()
	if err != nil {
		return nil, err
	}
	st, err := softcard.Issue(ca, softcard.IssueOptions{Org: testca.Org{Name: "測試幼兒園", UBN: "12345675", CardSerial: "TEST000000000001"}, Now: testNow})
	if err != nil {
		return nil, err
	}
	return json.Marshal(st)
})

// serveVirtual serves a copy of the TEST card, changed by edit, on
// 127.0.0.1:0 until the test ends.
func serveVirtual(t *testing.T, edit func(*softcard.State)) (*softcard.Server, *softcard.State, cards.Backend) {
	t.Helper()
	b, err := virtualState()
	require.NoError(t, err)
	var st softcard.State
	require.NoError(t, json.Unmarshal(b, &st))
	if edit != nil {
		edit(&st)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := softcard.NewServer(softcard.NewCard(&st, softcard.Options{}), "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Listen(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, &st, cards.NewVirtual(ln.Addr().String())
}

// runAt checks with m at testNow.
func runAt(t *testing.T, m *cards.Manager, o Options) Report {
	t.Helper()
	o.Now = func() time.Time { return testNow }
	return Run(t.Context(), m, o)
}

// A usable TEST card passes every item but the issuer, which warns that it
// is a TEST card; the check spends no PIN try.
func TestRunVirtualCard(t *testing.T) {
	srv, st, backend := serveVirtual(t, nil)
	rep := runAt(t, cards.New(cards.Options{Backends: []cards.Backend{backend}}), Options{})

	assert.Equal(t, all(Pass, map[string]Result{IDIssuer: Warn}), results(rep))
	assert.Equal(t, Warn, rep.Overall)
	checkTexts(t, rep)
	assert.Equal(t, cards.VirtualReaderName, rep.Reader)
	assert.Equal(t, strings.ToUpper(hex.EncodeToString(st.ATR)), rep.ATR)
	assert.Contains(t, item(t, rep, IDReaders).Detail.EN, cards.VirtualReaderName)
	assert.Contains(t, item(t, rep, IDIssuer).Detail.EN, "TEST card")
	assert.Equal(t, 3, rep.PINTriesLeft)
	require.Len(t, rep.Certificates, 2)
	assert.Equal(t, certinfo.UsageSignature, rep.Certificates[0].Usage)
	assert.Equal(t, certinfo.UsageEncryption, rep.Certificates[1].Usage)
	assert.Equal(t, "TEST000000000001", rep.Certificates[0].CardSerial)
	assert.True(t, rep.Certificates[0].Test)
	pin, _ := srv.Card().Tries()
	assert.Equal(t, softcard.MaxTries, pin, "the check used a PIN try")
}

// A TEST card as it arrives, PIN blocked until activated with the PUK.
func TestRunVirtualCardNotActivated(t *testing.T) {
	_, _, backend := serveVirtual(t, func(st *softcard.State) { st.PINTries = 0 })
	rep := runAt(t, cards.New(cards.Options{Backends: []cards.Backend{backend}}), Options{})
	assert.Equal(t, Fail, item(t, rep, IDPIN).Result)
	assert.Contains(t, item(t, rep, IDPIN).Fix.EN, "PUK")
	assert.Equal(t, 0, rep.PINTriesLeft)
	assert.Equal(t, Fail, rep.Overall)
}

// The reader named is the one checked: an empty reader fails the card item
// although the virtual reader beside it holds a card.
func TestRunVirtualNamedReaderWithoutCard(t *testing.T) {
	_, _, backend := serveVirtual(t, nil)
	other := &cardstest.Backend{Attached: []cardstest.Reader{{Name: "ACS ACR39U 00 00"}}}
	m := cards.New(cards.Options{Backends: []cards.Backend{other, backend}})

	rep := runAt(t, m, Options{Reader: "ACS ACR39U 00 00"})
	assert.Equal(t, Fail, item(t, rep, IDCard).Result)
	assert.Equal(t, Skip, item(t, rep, IDConnect).Result)
	assert.Empty(t, rep.Reader)

	// Unnamed, the check finds the card in the virtual reader.
	rep = runAt(t, m, Options{})
	assert.Equal(t, Pass, item(t, rep, IDCard).Result)
	assert.Equal(t, cards.VirtualReaderName, rep.Reader)
	assert.Equal(t, Pass, item(t, rep, IDApplication).Result)
}

// A PC/SC service that is not running does not fail the check of a
// computer that uses the virtual card: the service item is about reaching
// cards, and the virtual reader answered.
func TestRunVirtualWithoutService(t *testing.T) {
	_, _, backend := serveVirtual(t, nil)
	noService := &cardstest.Backend{ReadersErr: fmt.Errorf("establish context: %w", pcsc.ErrNoService)}
	rep := runAt(t, cards.New(cards.Options{Backends: []cards.Backend{noService, backend}}), Options{})
	assert.Equal(t, Pass, item(t, rep, IDService).Result)
	assert.Equal(t, Pass, item(t, rep, IDApplication).Result)
}

// A card pulled out while its certificates are read is reported at the
// connection item as removed during the check, not as a broken card.
func TestRunVirtualCardRemoved(t *testing.T) {
	srv, _, backend := serveVirtual(t, nil)
	srv.RemoveOn(0xCB) // GET DATA
	rep := runAt(t, cards.New(cards.Options{Backends: []cards.Backend{backend}}), Options{})
	assert.Equal(t, Fail, item(t, rep, IDConnect).Result)
	assert.Contains(t, item(t, rep, IDConnect).Detail.EN, "removed")
	assert.Equal(t, Skip, item(t, rep, IDApplication).Result)
	assert.Equal(t, Skip, item(t, rep, IDCertificates).Result)
}

// With nothing listening at the virtual reader's address the reader is
// there without a card.
func TestRunVirtualNothingListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	rep := runAt(t, cards.New(cards.Options{Backends: []cards.Backend{cards.NewVirtual(addr)}}), Options{})
	assert.Equal(t, Pass, item(t, rep, IDReaders).Result)
	assert.Equal(t, Fail, item(t, rep, IDCard).Result)
}
