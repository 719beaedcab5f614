package authtoken

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// checkInvariants checks the store's bookkeeping: every held challenge is
// in exactly one client's ring and nothing else is, the client list and
// map agree and are ordered by last Issue, and the bounds hold.
func checkInvariants(t testing.TB, c *Challenges) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	limit, perClient, _ := c.limits()
	inRing := 0
	listed := 0
	var newer *challengeClient
	for cl := c.newest; cl != nil; cl = cl.older {
		listed++
		if cl.newer != newer {
			t.Fatalf("client %q: newer link broken", cl.key)
		}
		if c.clients[cl.key] != cl {
			t.Fatalf("client %q listed but not in the map", cl.key)
		}
		if newer != nil && cl.last.After(newer.last) {
			t.Fatalf("client %q (last %v) is listed after the newer %q (last %v)", cl.key, cl.last, newer.key, newer.last)
		}
		if len(cl.ring) == 0 || len(cl.ring) > perClient {
			t.Fatalf("client %q holds %d challenges, want 1 to %d", cl.key, len(cl.ring), perClient)
		}
		if len(cl.key) > maxClientKey {
			t.Fatalf("client key of %d bytes stored", len(cl.key))
		}
		for _, h := range cl.ring {
			if c.held[h.value] != h {
				t.Fatalf("client %q: challenge %q in its ring is not held", cl.key, h.value)
			}
			inRing++
		}
		newer = cl
	}
	if newer != c.oldest {
		t.Fatalf("oldest end of the list is wrong")
	}
	if listed != len(c.clients) {
		t.Fatalf("%d clients listed, %d in the map", listed, len(c.clients))
	}
	if inRing != len(c.held) {
		t.Fatalf("%d challenges in rings, %d held", inRing, len(c.held))
	}
	if len(c.held) > limit {
		t.Fatalf("%d challenges held, more than the limit %d", len(c.held), limit)
	}
}

// TestChallengesFloodOneClient is the regression test for the challenge
// endpoint as a denial of service: 200,000 challenges, more than the old
// global limit of 100,000 outstanding, requested by one client, must not
// stop another client from logging in, nor cost memory.
func TestChallengesFloodOneClient(t *testing.T) {
	c, clk := newTestChallenges(ChallengeTTL)
	const attacker, user = "203.0.113.66", "198.51.100.7"
	before := issueFor(t, c, user) // a login started before the flood
	for i := range 200000 {
		issueFor(t, c, attacker)
		if i%1000 == 0 {
			clk.Advance(time.Millisecond) // all within one TTL
			if n := len(c.held); n > DefaultPerClient+1 {
				t.Fatalf("after %d challenges for one client the store holds %d, want at most %d", i+1, n, DefaultPerClient+1)
			}
		}
	}
	checkInvariants(t, c)
	if err := c.Consume(before); err != nil {
		t.Errorf("Consume(challenge issued before the flood) error = %v, want nil", err)
	}
	during := issueFor(t, c, user)
	if err := c.Consume(during); err != nil {
		t.Errorf("Consume(challenge issued after the flood) error = %v, want nil", err)
	}
	if n := len(c.held); n != DefaultPerClient+2 {
		t.Errorf("store holds %d challenges, want %d: the attacker's %d and the user's 2", n, DefaultPerClient+2, DefaultPerClient)
	}
}

// TestChallengesFloodManyClients floods from more distinct clients than
// the store can hold: Issue never fails, memory stays within Limit, the
// least recently active clients are the ones forgotten, and a client that
// asks after the flood logs in.
func TestChallengesFloodManyClients(t *testing.T) {
	c, clk := newTestChallenges(ChallengeTTL)
	const flood = 250000 // 2.5 × MaxChallenges
	early := issueFor(t, c, "early user")
	for i := range flood {
		s, err := c.Issue(fmt.Sprintf("flood %d", i))
		if err != nil || s == "" {
			t.Fatalf("Issue() number %d of the flood = %q, %v, want a challenge", i, s, err)
		}
		if i%10000 == 0 {
			clk.Advance(time.Millisecond)
			if len(c.held) > MaxChallenges || len(c.clients) > MaxChallenges {
				t.Fatalf("after %d clients: %d challenges of %d clients held, want at most %d", i+1, len(c.held), len(c.clients), MaxChallenges)
			}
		}
	}
	checkInvariants(t, c)
	if len(c.held) != MaxChallenges || len(c.clients) != MaxChallenges {
		t.Errorf("after the flood: %d challenges of %d clients held, want %d of %d", len(c.held), len(c.clients), MaxChallenges, MaxChallenges)
	}
	// The early user was the least recently active: evicted, and told so.
	if err := c.Consume(early); !checkErr(err, ErrChallenge) {
		t.Errorf("Consume(challenge evicted by the flood) error = %v, want %v", err, ErrChallenge)
	}
	// Asking again works at once.
	if err := c.Consume(issueFor(t, c, "early user")); err != nil {
		t.Errorf("Consume(challenge issued after the flood) error = %v, want nil", err)
	}
	checkInvariants(t, c)
}

// TestChallengesLeastRecentlyActive checks which clients the global
// bound evicts: those whose last Issue is oldest, with all their
// challenges, never the client asking.
func TestChallengesLeastRecentlyActive(t *testing.T) {
	c, clk := newTestChallenges(time.Minute)
	c.Limit, c.PerClient = 6, 2
	a1, a2 := issueFor(t, c, "a"), issueFor(t, c, "a")
	clk.Advance(time.Second)
	b1 := issueFor(t, c, "b")
	clk.Advance(time.Second)
	c1 := issueFor(t, c, "c")
	clk.Advance(time.Second)
	a3 := issueFor(t, c, "a") // a is now the most recently active; a1 goes
	clk.Advance(time.Second)
	d1, d2 := issueFor(t, c, "d"), issueFor(t, c, "d") // 6 held: a2 a3 b1 c1 d1 d2
	checkInvariants(t, c)
	if len(c.held) != 6 {
		t.Fatalf("store holds %d challenges, want 6", len(c.held))
	}
	e1 := issueFor(t, c, "e") // evicts b, the least recently active
	checkInvariants(t, c)
	for _, tc := range []struct {
		name, s string
		want    error
	}{
		{"a1 (its client's oldest)", a1, ErrChallenge},
		{"b1 (least recently active client)", b1, ErrChallenge},
		{"a2", a2, nil}, {"a3", a3, nil}, {"c1", c1, nil}, {"d1", d1, nil}, {"d2", d2, nil}, {"e1", e1, nil},
	} {
		if err := c.Consume(tc.s); !checkErr(err, tc.want) {
			t.Errorf("Consume(%s) error = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Consumed challenges still count until they expire or are evicted,
	// so that a replay says ErrReplay; consuming does not make a client
	// active.
	issueFor(t, c, "f") // evicts c
	if err := c.Consume(c1); !checkErr(err, ErrChallenge) {
		t.Errorf("Consume(c1 after its client was evicted) error = %v, want %v", err, ErrChallenge)
	}
	if err := c.Consume(d1); !checkErr(err, ErrReplay) {
		t.Errorf("Consume(d1 again) error = %v, want %v", err, ErrReplay)
	}
	checkInvariants(t, c)
}

// TestChallengesPerClientAboveLimit checks that PerClient is capped by
// Limit, so one client never pushes the store over its bound.
func TestChallengesPerClientAboveLimit(t *testing.T) {
	c, _ := newTestChallenges(time.Minute)
	c.Limit, c.PerClient = 3, 10
	var last string
	for range 20 {
		last = issue(t, c)
		checkInvariants(t, c)
	}
	if len(c.held) != 3 {
		t.Errorf("store holds %d challenges, want 3", len(c.held))
	}
	if err := c.Consume(last); err != nil {
		t.Errorf("Consume(newest) error = %v", err)
	}
}

// TestChallengesExpiry issues and expires many challenges from changing
// clients and checks that nothing accumulates.
func TestChallengesExpiry(t *testing.T) {
	const ttl = time.Minute
	c, clk := newTestChallenges(ttl)
	for i := range 10000 {
		s := issueFor(t, c, fmt.Sprintf("client %d", i%300))
		if i%2 == 0 {
			if err := c.Consume(s); err != nil {
				t.Fatalf("Consume() error = %v", err)
			}
		}
		clk.Advance(ttl / 100)
	}
	checkInvariants(t, c)
	// A challenge lives one TTL, 100 steps: at most 100 clients are live.
	if len(c.held) > 100 || len(c.clients) > 100 {
		t.Errorf("after 10000 challenges over 100 lifetimes: %d held by %d clients, want at most 100", len(c.held), len(c.clients))
	}
	clk.Advance(ttl)
	issue(t, c)
	if len(c.held) != 1 || len(c.clients) != 1 {
		t.Errorf("a TTL later: %d held by %d clients, want 1 and 1", len(c.held), len(c.clients))
	}
}

func TestChallengesClientKey(t *testing.T) {
	c, _ := newTestChallenges(time.Minute)
	if s, err := c.Issue(""); !checkErr(err, ErrClient) || s != "" {
		t.Errorf("Issue(\"\") = %q, %v, want \"\", %v", s, err, ErrClient)
	}
	if len(c.held) != 0 {
		t.Errorf("Issue(\"\") left %d challenges", len(c.held))
	}
	// Long keys are stored as their hash; distinct ones stay distinct.
	long1, long2 := strings.Repeat("x", 1<<20), strings.Repeat("x", 1<<20-1)+"y"
	s1 := issueFor(t, c, long1)
	for range DefaultPerClient {
		issueFor(t, c, long2)
	}
	checkInvariants(t, c)
	if len(c.clients) != 2 {
		t.Errorf("two long keys made %d clients, want 2", len(c.clients))
	}
	if err := c.Consume(s1); err != nil {
		t.Errorf("Consume(challenge of the first long key) error = %v, want nil", err)
	}
	// A key of exactly maxClientKey bytes is kept as it is.
	issueFor(t, c, strings.Repeat("k", maxClientKey))
	if _, ok := c.clients[strings.Repeat("k", maxClientKey)]; !ok {
		t.Errorf("key of %d bytes not stored as it is", maxClientKey)
	}
}

func TestClientFromAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"[::1]:8080", "::/64"},
		{"127.0.0.1:8080", "127.0.0.1"},
		{"", ""},
		{"not an address", "not an address"},
		{"example.com:443", "example.com:443"},
		{"@", "@"},
	} {
		if got := ClientFromAddr(tc.in); got != tc.want {
			t.Errorf("ClientFromAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Two addresses of one /64 are one client; of two /64s, two.
	if ClientFromAddr("[2001:db8::1]:1") != ClientFromAddr("[2001:db8::2]:2") {
		t.Error("two addresses in one /64 give two client keys")
	}
	if ClientFromAddr("2001:db8:0:1::1") == ClientFromAddr("2001:db8:0:2::1") {
		t.Error("two /64 prefixes give one client key")
	}
}

// BenchmarkChallengesFlood measures Issue and Consume while the store is
// under a flood: the store is first filled to MaxChallenges by distinct
// clients, then each iteration issues for one more new client (evicting
// the least recently active), issues for the attacker's single key
// (evicting its own oldest) and issues and consumes a user's challenge.
func BenchmarkChallengesFlood(b *testing.B) {
	b.Run("IssueNewClient", func(b *testing.B) {
		c := floodedStore(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := c.Issue(fmt.Sprintf("new %d", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("IssueSameClient", func(b *testing.B) {
		c := floodedStore(b)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := c.Issue("203.0.113.66"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("IssueConsume", func(b *testing.B) {
		c := floodedStore(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			s, err := c.Issue(fmt.Sprintf("user %d", i%1000))
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Consume(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("IssueConsumeParallel", func(b *testing.B) {
		c := floodedStore(b)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				s, err := c.Issue(fmt.Sprintf("flood %d", i))
				if err != nil {
					b.Error(err)
					return
				}
				if err := c.Consume(s); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// floodedStore returns a store on a fixed clock holding MaxChallenges
// challenges of as many clients.
func floodedStore(b *testing.B) *Challenges {
	b.Helper()
	c, _ := newTestChallenges(ChallengeTTL)
	for i := range MaxChallenges {
		if _, err := c.Issue(fmt.Sprintf("flood client %d", i)); err != nil {
			b.Fatal(err)
		}
	}
	return c
}
