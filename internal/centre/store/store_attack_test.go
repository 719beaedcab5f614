package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/centre/store"
)

func attackBackends(t *testing.T) []backend {
	backends := []backend{sqliteBackend()}
	if b, ok := pgBackend(t); ok {
		backends = append(backends, b)
	}
	return backends
}

// Attack: send ids are the sender's free text, and become the package id
// (sender/send-id), URL path segments and evidence entries. Invalid UTF-8
// was stored as it came on SQLite but written into the evidence JSON as
// U+FFFD, so the package's evidence could not be found by its id (and two
// ids differing in those bytes shared one evidence name); on PostgreSQL
// it was an internal error. A "/" or ".." in it confuses the agents' URLs
// (…/x/envelope), control characters the logs. Send ids are letters,
// digits and . _ : - (a UUID is one).
func TestAttackSendIDs(t *testing.T) {
	ctx := context.Background()
	env := []byte("sealed")
	for _, b := range attackBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := fresh(t, b)
			for _, id := range []string{"\xff", "a\xfeb", "x/envelope", "..", "../../v1/logout", "a b", "a\nb", "a\x00b", "-", ".hidden", "é", "a%2Fb"} {
				_, err := s.Accept(ctx, bureau, id, env, []string{kindergarten}, time.Hour)
				assert.ErrorIs(t, err, store.ErrState, "%q", id)
			}
			for _, id := range []string{"0f6b1c1e-5c55-4c38-9a2c-3b8d2f2f7e01", "send-1", "a.b_c:d", "Z"} {
				p, err := s.Accept(ctx, bureau, id, env, []string{kindergarten}, time.Hour)
				require.NoError(t, err, "%q", id)
				recs, err := s.Evidence(ctx, p.ID)
				require.NoError(t, err)
				assert.NotEmpty(t, recs, "the evidence of %q is found by its id", id)
			}
		})
	}
}

// Regression: every kind of write at once, from many goroutines (as many
// agents, and the operator's commands, do): one chain, no gap, no fork,
// and every agency's event cursor sees its events in the order they were
// committed.
func TestAttackEvidenceUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	for _, b := range attackBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, pub := fresh(t, b)
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for i := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p, err := s.Accept(ctx, bureau, fmt.Sprintf("c-%d", i), []byte("sealed"), []string{kindergarten, other}, time.Hour)
					if err != nil {
						errs <- err
						return
					}
					if _, err := s.Fetch(ctx, p.ID, kindergarten); err != nil {
						errs <- err
					}
					errs <- s.Report(ctx, p.ID, kindergarten, store.Completed, "", []byte("receipt"))
					errs <- s.Report(ctx, p.ID, other, store.Failed, "cannot-decrypt", nil)
				}()
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- s.AddAgency(ctx, store.Agency{Code: fmt.Sprintf("XC%08d", i), Name: "x", EncCert: []byte("c")})
					errs <- s.SetSuspended(ctx, other, false) // an evidence record, no change
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			recs, err := s.Evidence(ctx, "")
			require.NoError(t, err)
			require.NoError(t, store.VerifyRecords(recs, pub, true))
			for i, r := range recs {
				require.EqualValues(t, i+1, r.Seq, "no gap")
			}
			for _, a := range []string{bureau, kindergarten, other} {
				evs, err := s.Events(ctx, a, 0, 0)
				require.NoError(t, err)
				for i := 1; i < len(evs); i++ {
					assert.Greater(t, evs[i].Seq, evs[i-1].Seq)
				}
			}
			// Every delivery state in the store is in the evidence.
			kinds := map[string]int{}
			for _, r := range recs {
				var e store.Evidence
				require.NoError(t, json.Unmarshal([]byte(r.Entry), &e))
				kinds[e.Kind]++
			}
			assert.Equal(t, 12, kinds["package-accepted"])
			assert.Equal(t, 12, kinds["receipt"])
			assert.Equal(t, 12, kinds["delivery-failed"])
		})
	}
}

// Attack: a recipient's reason (收文異常, 退文) is shown to the sender's
// clerk: in the agent's list on a terminal, in logs, in the evidence.
// Terminal escapes ("\x1b]8;;…" links, "\x1b[2J") and bidirectional
// overrides in it rewrote what the sender's clerk saw. A reason is text:
// newlines and tabs, no other control or formatting characters.
func TestAttackReasonText(t *testing.T) {
	ctx := context.Background()
	for _, b := range attackBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := fresh(t, b)
			p, err := s.Accept(ctx, bureau, "r-1", []byte("sealed"), []string{kindergarten}, time.Hour)
			require.NoError(t, err)
			for _, reason := range []string{"\x1b[2J\x1b[Hall good", "ok\x1b]8;;https://attacker.example/\x07click\x1b]8;;\x07", "退文\u202e", "a\x00b", "a\rb"} {
				assert.ErrorIs(t, s.Report(ctx, p.ID, kindergarten, store.Failed, reason, nil), store.ErrState, "%q", reason)
			}
			// SQL is never built from what agencies send: quotes and the
			// placeholder the PostgreSQL rewrite looks for are text.
			sqlish := "a?b $1 '); DROP TABLE events; --\n第二行\t附註"
			require.NoError(t, s.Report(ctx, p.ID, kindergarten, store.Failed, sqlish, nil))
			evs, err := s.Events(ctx, kindergarten, 0, 0)
			require.NoError(t, err)
			assert.Equal(t, sqlish, evs[len(evs)-1].Reason)
		})
	}
}

// Attack (by time): a package no recipient fetched within the retention
// lost its envelope silently: the sender's view stayed 系統確認 for ever,
// no event told either side, and the evidence log did not record that the
// centre destroyed it. Purging fails each undelivered delivery (an event
// for both sides) and records the purge as evidence.
func TestAttackPurgeIsRecorded(t *testing.T) {
	ctx := context.Background()
	for _, b := range attackBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, pub := fresh(t, b)
			p, err := s.Accept(ctx, bureau, "old-1", []byte("sealed"), []string{kindergarten, other}, time.Hour)
			require.NoError(t, err)
			_, err = s.Fetch(ctx, p.ID, other)
			require.NoError(t, err)
			require.NoError(t, s.Report(ctx, p.ID, other, store.Completed, "", []byte("receipt")))
			s.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
			n, err := s.Purge(ctx)
			require.NoError(t, err)
			assert.EqualValues(t, 1, n)

			sent, err := s.Package(ctx, p.ID, bureau)
			require.NoError(t, err)
			states := map[string]string{}
			for _, d := range sent.Recipients {
				states[d.Recipient] = d.State
			}
			assert.Equal(t, map[string]string{kindergarten: store.Failed, other: store.Completed}, states, "the undelivered one failed, the delivered one kept")
			evs, err := s.Events(ctx, kindergarten, 0, 0)
			require.NoError(t, err)
			assert.Equal(t, store.Failed, evs[len(evs)-1].State)
			recs, err := s.Evidence(ctx, p.ID)
			require.NoError(t, err)
			var kinds []string
			for _, r := range recs {
				var e store.Evidence
				require.NoError(t, json.Unmarshal([]byte(r.Entry), &e))
				kinds = append(kinds, e.Kind)
			}
			assert.Contains(t, kinds, "envelope-purged")
			all, err := s.Evidence(ctx, "")
			require.NoError(t, err)
			require.NoError(t, store.VerifyRecords(all, pub, true))
			n, err = s.Purge(ctx)
			require.NoError(t, err)
			assert.Zero(t, n, "purged once")
		})
	}
}
