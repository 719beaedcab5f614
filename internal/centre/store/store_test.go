package store_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/cardbridge/cardbridge/internal/centre/store"
)

// backend opens a fresh store; the same suite runs on each.
type backend struct {
	name string
	open func(t *testing.T, key ed25519.PrivateKey) *store.Store
}

func sqliteBackend() backend {
	return backend{"sqlite", func(t *testing.T, key ed25519.PrivateKey) *store.Store {
		db, err := sql.Open("sqlite", store.SQLiteDSN(filepath.Join(t.TempDir(), "centre.db")))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s, err := store.Open(context.Background(), db, store.SQLite, key)
		require.NoError(t, err)
		return s
	}}
}

const (
	bureau       = "XC10458570"
	kindergarten = "XC04595252"
	other        = "XC22099131"
)

func fresh(t *testing.T, b backend) (*store.Store, ed25519.PublicKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s := b.open(t, key)
	ctx := context.Background()
	for _, c := range []string{bureau, kindergarten, other} {
		require.NoError(t, s.AddAgency(ctx, store.Agency{Code: c, Name: "測試 " + c, EncCert: []byte("cert2 of " + c)}))
	}
	return s, pub
}

func TestStore(t *testing.T) {
	backends := []backend{sqliteBackend()}
	if b, ok := pgBackend(t); ok {
		backends = append(backends, b)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { suite(t, b) })
	}
}

func suite(t *testing.T, b backend) {
	ctx := context.Background()
	env := bytes.Repeat([]byte{0x30, 0x82}, 1000)

	t.Run("directory", func(t *testing.T) {
		s, _ := fresh(t, b)
		as, err := s.Agencies(ctx)
		require.NoError(t, err)
		require.Len(t, as, 3)
		require.NoError(t, s.AddAgency(ctx, store.Agency{Code: bureau, Name: "改名", EncCert: []byte("renewed")}))
		a, err := s.AgencyByCode(ctx, bureau)
		require.NoError(t, err)
		assert.Equal(t, "改名", a.Name)
		assert.Equal(t, []byte("renewed"), a.EncCert)
		require.NoError(t, s.SetSuspended(ctx, other, true))
		a, _ = s.AgencyByCode(ctx, other)
		assert.True(t, a.Suspended)
		assert.ErrorIs(t, s.SetSuspended(ctx, "XC00000000", true), store.ErrUnknownAgent)
		_, err = s.AgencyByCode(ctx, "XC00000000")
		assert.ErrorIs(t, err, store.ErrUnknownAgent)
	})

	t.Run("a delivery through every state", func(t *testing.T) {
		s, pub := fresh(t, b)
		p, err := s.Accept(ctx, bureau, "send-1", env, []string{kindergarten, other}, 30*24*time.Hour)
		require.NoError(t, err)
		assert.Equal(t, bureau+"/send-1", p.ID)
		require.Len(t, p.Recipients, 2)
		assert.Equal(t, store.Arrived, p.Recipients[0].State)

		// The recipient sees only itself; a stranger nothing.
		pk, err := s.Package(ctx, p.ID, kindergarten)
		require.NoError(t, err)
		require.Len(t, pk.Recipients, 1)
		_, err = s.Package(ctx, p.ID, "XC99999999")
		assert.ErrorIs(t, err, store.ErrForbidden)

		got, err := s.Fetch(ctx, p.ID, kindergarten)
		require.NoError(t, err)
		assert.Equal(t, env, got)
		_, err = s.Fetch(ctx, p.ID, bureau)
		assert.ErrorIs(t, err, store.ErrForbidden, "the sender fetches its own copy from its own archive")

		require.NoError(t, s.Report(ctx, p.ID, kindergarten, store.Completed, "", []byte("signed receipt")))
		require.NoError(t, s.Report(ctx, p.ID, kindergarten, store.Completed, "", []byte("signed receipt")), "a retried acknowledgement")
		require.NoError(t, s.Report(ctx, p.ID, other, store.Failed, "cannot decrypt", nil))
		assert.ErrorIs(t, s.Report(ctx, p.ID, other, store.Completed, "", []byte("r")), store.ErrState, "completed after failed")
		require.NoError(t, s.Report(ctx, p.ID, kindergarten, store.Returned, "not our school", nil))

		sent, err := s.Package(ctx, p.ID, bureau)
		require.NoError(t, err)
		states := map[string]string{}
		for _, d := range sent.Recipients {
			states[d.Recipient] = store.SenderView(d.State)
		}
		assert.Equal(t, map[string]string{kindergarten: "user-returned", other: "user-returned"}, states)

		// Events: the recipient's cursor and the sender's.
		evs, err := s.Events(ctx, kindergarten, 0, 0)
		require.NoError(t, err)
		var seen []string
		for _, e := range evs {
			seen = append(seen, e.State)
		}
		assert.Equal(t, []string{store.Arrived, store.Downloading, store.Completed, store.Returned}, seen)
		last := evs[1].Seq
		later, err := s.Events(ctx, kindergarten, last, 0)
		require.NoError(t, err)
		assert.Len(t, later, 2, "after the cursor")
		senderEvents, err := s.Events(ctx, bureau, 0, 0)
		require.NoError(t, err)
		assert.Len(t, senderEvents, 6, "every recipient's changes")
		otherEvents, _ := s.Events(ctx, other, 0, 0)
		for _, e := range otherEvents {
			assert.Equal(t, other, e.Recipient, "an agency learns nothing of another's delivery")
		}

		// The evidence log holds, and changing one byte breaks it.
		recs, err := s.Evidence(ctx, "")
		require.NoError(t, err)
		require.NoError(t, store.VerifyRecords(recs, pub, true))
		mine, err := s.Evidence(ctx, p.ID)
		require.NoError(t, err)
		require.NoError(t, store.VerifyRecords(mine, pub, false))
		var kinds []string
		for _, r := range mine {
			var e store.Evidence
			require.NoError(t, json.Unmarshal([]byte(r.Entry), &e))
			kinds = append(kinds, e.Kind)
		}
		assert.Contains(t, kinds, "package-accepted")
		assert.Contains(t, kinds, "receipt")
		tampered := append([]store.Record(nil), recs...)
		tampered[3].Entry = tampered[3].Entry[:len(tampered[3].Entry)-1] + " }"
		assert.ErrorIs(t, store.VerifyRecords(tampered, pub, true), store.ErrEvidence)
		dropped := append(append([]store.Record(nil), recs[:2]...), recs[3:]...)
		assert.ErrorIs(t, store.VerifyRecords(dropped, pub, true), store.ErrEvidence)
		otherKey, _, _ := ed25519.GenerateKey(rand.Reader)
		assert.ErrorIs(t, store.VerifyRecords(recs, otherKey, true), store.ErrEvidence)
	})

	t.Run("the same package twice is stored once", func(t *testing.T) {
		s, _ := fresh(t, b)
		p1, err := s.Accept(ctx, bureau, "send-2", env, []string{kindergarten}, time.Hour)
		require.NoError(t, err)
		p2, err := s.Accept(ctx, bureau, "send-2", env, []string{kindergarten}, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, p1, p2)
		_, err = s.Accept(ctx, bureau, "send-2", append(bytes.Clone(env), 1), []string{kindergarten}, time.Hour)
		assert.ErrorIs(t, err, store.ErrExists)
		evs, _ := s.Events(ctx, kindergarten, 0, 0)
		assert.Len(t, evs, 1)
	})

	t.Run("refusals", func(t *testing.T) {
		s, _ := fresh(t, b)
		_, err := s.Accept(ctx, bureau, "x", env, []string{"XC00000000"}, time.Hour)
		assert.ErrorIs(t, err, store.ErrUnknownAgent)
		require.NoError(t, s.SetSuspended(ctx, kindergarten, true))
		_, err = s.Accept(ctx, bureau, "y", env, []string{kindergarten}, time.Hour)
		assert.ErrorIs(t, err, store.ErrSuspended)
		_, err = s.Accept(ctx, kindergarten, "z", env, []string{bureau}, time.Hour)
		assert.ErrorIs(t, err, store.ErrSuspended, "a suspended agency does not send")
		_, err = s.Accept(ctx, bureau, "", env, []string{other}, time.Hour)
		assert.ErrorIs(t, err, store.ErrState)
		_, err = s.Accept(ctx, bureau, "e", nil, []string{other}, time.Hour)
		assert.ErrorIs(t, err, store.ErrState)
		_, err = s.Fetch(ctx, "nobody/none", other)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.ErrorIs(t, s.Report(ctx, "nobody/none", other, store.Failed, "x", nil), store.ErrNotFound)
		p, err := s.Accept(ctx, bureau, "w", env, []string{other}, time.Hour)
		require.NoError(t, err)
		assert.ErrorIs(t, s.Report(ctx, p.ID, other, store.Completed, "", nil), store.ErrState, "completed needs a receipt")
		assert.ErrorIs(t, s.Report(ctx, p.ID, other, "deleted", "", nil), store.ErrState)
		assert.ErrorIs(t, s.Report(ctx, p.ID, bureau, store.Failed, "x", nil), store.ErrForbidden, "a sender cannot report for its recipient")
	})

	t.Run("retention drops envelopes, keeps the record", func(t *testing.T) {
		s, pub := fresh(t, b)
		p, err := s.Accept(ctx, bureau, "old", env, []string{kindergarten}, time.Hour)
		require.NoError(t, err)
		s.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
		n, err := s.Purge(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		_, err = s.Fetch(ctx, p.ID, kindergarten)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.Package(ctx, p.ID, bureau)
		require.NoError(t, err)
		recs, _ := s.Evidence(ctx, "")
		require.NoError(t, store.VerifyRecords(recs, pub, true))
	})

	t.Run("concurrent senders keep one chain", func(t *testing.T) {
		s, pub := fresh(t, b)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := s.Accept(ctx, bureau, "c"+string(rune('a'+i)), env, []string{kindergarten, other}, time.Hour)
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		recs, err := s.Evidence(ctx, "")
		require.NoError(t, err)
		require.NoError(t, store.VerifyRecords(recs, pub, true))
		assert.Len(t, recs, 3+20*3)
	})

	t.Run("announcements", func(t *testing.T) {
		s, _ := fresh(t, b)
		require.NoError(t, s.Announce(ctx, "12月31日系統維護"))
		require.NoError(t, s.Announce(ctx, "新版上線"))
		as, err := s.Announcements(ctx, 0)
		require.NoError(t, err)
		require.Len(t, as, 2)
		later, _ := s.Announcements(ctx, as[0].Seq)
		assert.Equal(t, "新版上線", later[0].Text)
	})
}
