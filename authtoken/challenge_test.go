package authtoken

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source for Challenges.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestChallenges(ttl time.Duration) (*Challenges, *clock) {
	clk := &clock{t: testNow}
	c := NewChallenges(ttl)
	c.Now = clk.Now
	return c, clk
}

// testClient is the client key the tests issue for unless they say.
const testClient = "192.0.2.1"

func issue(t testing.TB, c *Challenges) string {
	t.Helper()
	return issueFor(t, c, testClient)
}

func issueFor(t testing.TB, c *Challenges, client string) string {
	t.Helper()
	s, err := c.Issue(client)
	if err != nil {
		t.Fatalf("Issue(%.40q) error = %v", client, err)
	}
	return s
}

func TestChallengesIssue(t *testing.T) {
	c, _ := newTestChallenges(time.Minute)
	seen := make(map[string]bool)
	for range 100 {
		s := issue(t, c)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 || len(s) != 44 {
			t.Fatalf("Issue() = %q: %d bytes, %v, want standard base64 of 32 bytes", s, len(b), err)
		}
		if err := checkChallenge(s); err != nil {
			t.Fatalf("Issue() = %q, which Verify would reject: %v", s, err)
		}
		if seen[s] {
			t.Fatalf("Issue() returned %q twice", s)
		}
		seen[s] = true
	}
}

func TestChallengesConsume(t *testing.T) {
	const ttl = 5 * time.Minute
	tests := []struct {
		name  string
		steps func(t *testing.T, c *Challenges, clk *clock) error // returns the last Consume's error
		want  error
		msg   string
	}{
		{"fresh", func(t *testing.T, c *Challenges, clk *clock) error {
			return c.Consume(issue(t, c))
		}, nil, ""},
		{"just before expiry", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			clk.Advance(ttl - time.Nanosecond)
			return c.Consume(s)
		}, nil, ""},
		{"replayed", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			if err := c.Consume(s); err != nil {
				t.Fatalf("first Consume() error = %v", err)
			}
			return c.Consume(s)
		}, ErrReplay, ""},
		{"replayed a minute later", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			if err := c.Consume(s); err != nil {
				t.Fatalf("first Consume() error = %v", err)
			}
			clk.Advance(time.Minute)
			issue(t, c) // prunes; s must survive it
			return c.Consume(s)
		}, ErrReplay, ""},
		{"expired", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			clk.Advance(ttl)
			return c.Consume(s)
		}, ErrChallenge, "expired"},
		{"expired then retried", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			clk.Advance(ttl + time.Second)
			c.Consume(s)
			return c.Consume(s)
		}, ErrChallenge, ""},
		{"expired and pruned", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			clk.Advance(ttl)
			issue(t, c)
			return c.Consume(s)
		}, ErrChallenge, ""},
		{"replayed after expiry", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			if err := c.Consume(s); err != nil {
				t.Fatalf("first Consume() error = %v", err)
			}
			clk.Advance(ttl)
			return c.Consume(s)
		}, ErrChallenge, ""},
		{"never issued", func(t *testing.T, c *Challenges, clk *clock) error {
			issue(t, c)
			return c.Consume(testChallenge)
		}, ErrChallenge, "not issued"},
		{"issued by another store", func(t *testing.T, c *Challenges, clk *clock) error {
			return c.Consume(issue(t, NewChallenges(ttl)))
		}, ErrChallenge, ""},
		{"issued to another client", func(t *testing.T, c *Challenges, clk *clock) error {
			return c.Consume(issueFor(t, c, "198.51.100.7"))
		}, nil, ""},
		{"evicted by its client's newer ones", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			for range DefaultPerClient {
				issue(t, c)
			}
			return c.Consume(s)
		}, ErrChallenge, "evicted"},
		{"used, then evicted", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			if err := c.Consume(s); err != nil {
				t.Fatalf("first Consume() error = %v", err)
			}
			for range DefaultPerClient {
				issue(t, c)
			}
			return c.Consume(s) // forgotten, and still refused
		}, ErrChallenge, ""},
		{"malformed", func(t *testing.T, c *Challenges, clk *clock) error {
			return c.Consume("not a challenge")
		}, ErrChallenge, ""},
		{"empty", func(t *testing.T, c *Challenges, clk *clock) error {
			return c.Consume("")
		}, ErrChallenge, ""},
		{"re-encoded with a line break", func(t *testing.T, c *Challenges, clk *clock) error {
			s := issue(t, c)
			return c.Consume(s[:10] + "\n" + s[10:])
		}, ErrChallenge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestChallenges(ttl)
			err := tc.steps(t, c, clk)
			if !checkErr(err, tc.want) || err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Consume() error = %v, want %v (message containing %q)", err, tc.want, tc.msg)
			}
		})
	}
}

func TestChallengesDefaults(t *testing.T) {
	for _, c := range []*Challenges{NewChallenges(0), NewChallenges(-time.Second), new(Challenges)} {
		clk := &clock{t: testNow}
		c.Now = clk.Now
		s := issue(t, c)
		clk.Advance(ChallengeTTL - time.Second)
		if err := c.Consume(s); err != nil {
			t.Errorf("Consume() %v after Issue() error = %v, want nil", ChallengeTTL-time.Second, err)
		}
		s = issue(t, c)
		clk.Advance(ChallengeTTL)
		if err := c.Consume(s); !checkErr(err, ErrChallenge) {
			t.Errorf("Consume() %v after Issue() error = %v, want %v", ChallengeTTL, err, ErrChallenge)
		}
	}
	c := new(Challenges)
	c.Limit = 0
	for range 10 {
		issue(t, c) // real clock, default limits
	}
	if len(c.held) != DefaultPerClient {
		t.Errorf("after 10 challenges for one client the store holds %d, want DefaultPerClient = %d", len(c.held), DefaultPerClient)
	}
}

// TestChallengesConcurrent consumes each challenge from many goroutines
// at once: exactly one may succeed. Run with -race.
func TestChallengesConcurrent(t *testing.T) {
	c := NewChallenges(time.Minute)
	const goroutines = 16
	for range 20 {
		s := issue(t, c)
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for i := range goroutines {
			wg.Go(func() {
				// Each from its own client, so none evicts s.
				if _, err := c.Issue(fmt.Sprintf("client %d", i)); err != nil {
					errs <- err
					return
				}
				errs <- c.Consume(s)
			})
		}
		wg.Wait()
		close(errs)
		var ok int
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrReplay):
				t.Fatalf("concurrent Consume() error = %v, want nil or %v", err, ErrReplay)
			}
		}
		if ok != 1 {
			t.Fatalf("concurrent Consume() succeeded %d times, want once", ok)
		}
	}
}

// TestLoginFlow runs a whole login through Challenges and Verify, then
// replays the token.
func TestLoginFlow(t *testing.T) {
	f := fixture(t)
	c, clk := newTestChallenges(ChallengeTTL)
	v := verifier(f.h)

	login := func(tok *Token, challenge string) error {
		if err := c.Consume(challenge); err != nil {
			return err
		}
		_, err := v.Verify(tok, challenge)
		return err
	}
	s := issue(t, c)
	tok := makeToken(t, f.ecKey, f.ecCert, ES256, siteOrigin, s)
	if err := login(tok, s); err != nil {
		t.Fatalf("login() error = %v, want nil", err)
	}
	if err := login(tok, s); !checkErr(err, ErrReplay) {
		t.Errorf("login() replayed error = %v, want %v", err, ErrReplay)
	}
	// A token for a fresh challenge, presented too late.
	s = issue(t, c)
	tok = makeToken(t, f.rsaKey, f.rsaCert, PS256, siteOrigin, s)
	clk.Advance(ChallengeTTL + time.Second)
	if err := login(tok, s); !checkErr(err, ErrChallenge) {
		t.Errorf("login() after %v error = %v, want %v", ChallengeTTL, err, ErrChallenge)
	}
	// A token made for the previous, already used challenge, presented
	// with a new one.
	s2 := issue(t, c)
	if err := login(tok, s2); !checkErr(err, ErrSignature) {
		t.Errorf("login() with another session's token error = %v, want %v", err, ErrSignature)
	}
}
