package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cardbridge/cardbridge/internal/centre/api"
)

// Watch syncs, then keeps syncing until ctx is done: at once when the
// centre pushes an event, and every poll interval besides, which sends the
// retries that fell due and stands in for the push channel while it is
// down (it is connected again with back-off). report gets the result of
// every sync.
//
// A sync that fails because the centre cannot be reached, or the archive
// folder cannot be written, is tried again at the next wake-up; any other
// failure ends the watch and is returned: the card removed or the PIN
// refused (the session is over: no PIN is tried twice), the login refused,
// the agency suspended. Watch returns nil when ctx ends it.
func (a *Agent) Watch(ctx context.Context, card Card, poll time.Duration, report func(Report, error)) error {
	if poll <= 0 {
		poll = time.Minute
	}
	kick := make(chan struct{}, 1)
	wake := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pushing := false
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		rep, err := a.Sync(ctx, card)
		if ctx.Err() != nil {
			return nil
		}
		report(rep, err)
		if err != nil && !Temporary(err) && !errors.Is(err, ErrArchive) {
			return fmt.Errorf("exchange watch: %w", err)
		}
		a.mu.Lock()
		c := a.client
		a.mu.Unlock()
		if !pushing && c != nil {
			pushing = true
			go a.pushLoop(ctx, c, poll, wake)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-tick.C:
		}
	}
}

// pushLoop keeps the push channel connected, waking the watch on every
// message; it reconnects after a loss with back-off from 2 s to poll.
func (a *Agent) pushLoop(ctx context.Context, c Transport, poll time.Duration, wake func()) {
	wait := 2 * time.Second
	for ctx.Err() == nil {
		start := time.Now()
		// From the cursor stored now: the sync the message triggers reads
		// the events itself, so the message only needs to arrive.
		cur, _ := a.st.get(ctx, "cursor")
		var after int64
		fmt.Sscan(cur, &after)
		_ = c.Push(ctx, after, func(evs []api.EventView) {
			if len(evs) > 0 {
				wake()
			}
		})
		if time.Since(start) > time.Minute {
			wait = 2 * time.Second // it was up for a while: a fresh loss
		}
		wake() // whatever came in while it was down
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, poll)
	}
}
