package authtoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ChallengeTTL is the recommended lifetime of a challenge, as in Web eID:
// long enough to find the card and type a PIN, short enough that an
// unused challenge does not linger.
const ChallengeTTL = 5 * time.Minute

// MaxChallenges is the default bound on the challenges a Challenges store
// holds at once, over all clients: about 30 MB of memory when each
// belongs to a different client with a short key, about 15 MB when
// clients hold DefaultPerClient each.
const MaxChallenges = 100000

// DefaultPerClient is the default number of challenges one client may
// hold at once: a few tabs or retries of one browser, or a few people
// logging in at once behind one address.
const DefaultPerClient = 8

// maxClientKey is the longest client key stored as it is; longer keys are
// replaced by their SHA-256, so a key never costs more than this.
const maxClientKey = 64

// Challenges issues single-use login challenges and remembers them until
// they expire. It is safe for concurrent use.
//
// Challenges are issued per client: the site names the client asking
// (Issue's argument, typically ClientFromAddr(r.RemoteAddr) or the
// session id). A client holds at most PerClient challenges; its newest
// evicts its oldest, so one client asking again and again only ever
// displaces its own challenges. All clients together hold at most Limit
// challenges; beyond that Issue evicts the clients that asked least
// recently. Issue never refuses because of load, so the challenge
// endpoint, which strangers can call, cannot be made to refuse the
// logins of others, and memory stays bounded.
//
// An evicted challenge is forgotten: Consume treats it as never issued
// (ErrChallenge) and the user starts the login again. Evicting a
// stranger's challenges takes more distinct client keys than
// Limit/PerClient, each asking within one TTL; with client keys from
// ClientFromAddr that means as many addresses (or IPv6 /64 prefixes).
//
// A challenge proves only freshness: Consume does not ask which client
// presents it. The site must keep the issued challenge in the user's
// server-side session and pass that value, not one from the login
// request, to Consume and Verify; otherwise a token obtained for one
// session could complete the login of another.
//
// The zero value is ready to use with ChallengeTTL, MaxChallenges and
// DefaultPerClient.
type Challenges struct {
	// Now returns the current time; nil means time.Now. Tests set it.
	// Set it, Limit and PerClient before the first call.
	Now func() time.Time
	// Limit bounds the challenges held at once by all clients together,
	// issued or consumed but not yet expired; zero or less means
	// MaxChallenges. At the bound Issue evicts the least recently active
	// clients (those whose last Issue is oldest) with all their
	// challenges; it never refuses.
	Limit int
	// PerClient bounds the challenges one client holds; zero or less
	// means DefaultPerClient, and more than Limit means Limit. A client's
	// newest challenge evicts its oldest. Raise it when many users share
	// one client key (for example one office behind NAT, keyed by
	// address) and may start logins within one TTL of each other.
	PerClient int

	ttl time.Duration

	mu sync.Mutex
	// held maps each challenge still remembered to its state. Every entry
	// is also in the ring of exactly one client, and nothing else is.
	held map[string]*heldChallenge
	// clients maps client keys to their state.
	clients map[string]*challengeClient
	// newest and oldest are the ends of the list of clients ordered by
	// their last Issue, most recent first. Expiry and eviction take
	// clients from the oldest end, so neither ever scans the map.
	newest, oldest *challengeClient
}

// heldChallenge is the state of one issued challenge.
type heldChallenge struct {
	value   string
	expires time.Time
	used    bool
}

// challengeClient is one client's challenges and its place in the list.
type challengeClient struct {
	key string
	// ring holds the client's challenges, oldest first; at most PerClient.
	ring []*heldChallenge
	// last is when the client last asked for a challenge; its newest
	// challenge expires a TTL later, its others no later than that.
	last         time.Time
	newer, older *challengeClient
}

// NewChallenges returns a store whose challenges expire ttl after they
// are issued; ttl <= 0 means ChallengeTTL, which is the recommended value.
func NewChallenges(ttl time.Duration) *Challenges {
	return &Challenges{ttl: ttl}
}

// now returns the store's current time.
func (c *Challenges) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// limits returns the effective Limit, PerClient and TTL.
func (c *Challenges) limits() (limit, perClient int, ttl time.Duration) {
	limit, perClient, ttl = c.Limit, c.PerClient, c.ttl
	if limit <= 0 {
		limit = MaxChallenges
	}
	if perClient <= 0 {
		perClient = DefaultPerClient
	}
	perClient = min(perClient, limit)
	if ttl <= 0 {
		ttl = ChallengeTTL
	}
	return limit, perClient, ttl
}

// Issue returns a new challenge for client: the standard base64 of 32
// bytes from crypto/rand. The site sends it to the page, which passes it
// to the extension, and keeps it in the user's session for Consume and
// Verify.
//
// client names who asks; it only decides which challenges a new one may
// evict, and is not checked by Consume. Pass something a stranger cannot
// mint in bulk: ClientFromAddr of the remote address is the usual
// choice (behind a reverse proxy, of the address the proxy reports); a
// session id is only as good as the site's limits on creating sessions.
// Keys longer than 64 bytes are stored as their SHA-256.
//
// Issue does not fail under load: when client already holds PerClient
// challenges its oldest is forgotten, and when the store holds Limit the
// least recently active other clients are. It returns an error wrapping
// ErrClient only if client is empty, which would put every visitor in
// one bucket.
func (c *Challenges) Issue(client string) (string, error) {
	if client == "" {
		return "", fmt.Errorf("%w: Challenges.Issue needs the client's address or session id", ErrClient)
	}
	key := client
	if len(key) > maxClientKey {
		sum := sha256.Sum256([]byte(key))
		key = string(sum[:])
	}
	var b [minChallengeBytes]byte
	rand.Read(b[:]) // never fails
	s := base64.StdEncoding.EncodeToString(b[:])

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	limit, perClient, ttl := c.limits()
	if c.held == nil {
		c.held = make(map[string]*heldChallenge)
		c.clients = make(map[string]*challengeClient)
	}
	c.expire(now, ttl)
	if _, dup := c.held[s]; dup {
		return "", errors.New("authtoken: crypto/rand repeated a challenge") // p = 2^-256
	}
	cl := c.clients[key]
	if cl == nil {
		cl = &challengeClient{key: key}
		c.clients[key] = cl
	} else {
		c.unlink(cl)
	}
	c.pushNewest(cl)
	cl.last = now
	// The client's own oldest first, then whole clients from the least
	// recently active end; cl is the newest, so it is reached only when
	// it is the only client, and then it holds fewer than perClient <=
	// limit.
	if n := len(cl.ring) - perClient + 1; n > 0 {
		for _, h := range cl.ring[:n] {
			delete(c.held, h.value)
		}
		// Shift in place: PerClient is small, and the slice keeps its
		// array instead of creeping along a new one.
		m := copy(cl.ring, cl.ring[n:])
		clear(cl.ring[m:])
		cl.ring = cl.ring[:m]
	}
	for len(c.held) >= limit && c.oldest != cl {
		c.evict(c.oldest)
	}
	h := &heldChallenge{value: s, expires: now.Add(ttl)}
	cl.ring = append(cl.ring, h)
	c.held[s] = h
	return s, nil
}

// Consume marks challenge as used. It returns nil only the first time it
// is given a challenge this store issued, before the challenge expires.
// Afterwards it returns an error wrapping ErrReplay until the challenge
// expires or is evicted; a challenge that is malformed, was never issued
// here, has expired or was evicted returns an error wrapping
// ErrChallenge. No challenge is ever accepted twice: a forgotten one is
// never issued again.
//
// Call Consume before Verify, so that a challenge is spent even by a
// login that fails.
func (c *Challenges) Consume(challenge string) error {
	if err := checkChallenge(challenge); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	h, ok := c.held[challenge]
	switch {
	case !ok:
		return fmt.Errorf("%w: not issued by this store, or expired or evicted", ErrChallenge)
	case !now.Before(h.expires):
		// Left in place: its client's ring forgets it in due course.
		return fmt.Errorf("%w: expired at %s", ErrChallenge, h.expires.UTC().Format(time.RFC3339))
	case h.used:
		return ErrReplay
	}
	h.used = true
	return nil
}

// expire forgets the clients whose newest challenge has expired by now,
// least recently active first. It stops at the first client with a live
// challenge: if Now ever runs backwards a few expired challenges are kept
// longer, which Consume tolerates.
func (c *Challenges) expire(now time.Time, ttl time.Duration) {
	for c.oldest != nil && !now.Before(c.oldest.last.Add(ttl)) {
		c.evict(c.oldest)
	}
}

// evict forgets cl and all its challenges.
func (c *Challenges) evict(cl *challengeClient) {
	for _, h := range cl.ring {
		delete(c.held, h.value)
	}
	cl.ring = nil
	c.unlink(cl)
	delete(c.clients, cl.key)
}

// pushNewest puts cl, which is not in the list, at its newest end.
func (c *Challenges) pushNewest(cl *challengeClient) {
	cl.older = c.newest
	if c.newest != nil {
		c.newest.newer = cl
	}
	c.newest = cl
	if c.oldest == nil {
		c.oldest = cl
	}
}

// unlink takes cl out of the list.
func (c *Challenges) unlink(cl *challengeClient) {
	if cl.newer != nil {
		cl.newer.older = cl.older
	} else {
		c.newest = cl.older
	}
	if cl.older != nil {
		cl.older.newer = cl.newer
	} else {
		c.oldest = cl.newer
	}
	cl.newer, cl.older = nil, nil
}

// ClientFromAddr returns the client key for Challenges.Issue of a remote
// address, as http.Request.RemoteAddr gives it ("192.0.2.1:1234",
// "[2001:db8::1]:1234") or as a bare IP address: the IPv4 address, or
// the /64 prefix of an IPv6 address, because one subscriber usually has a
// whole /64 and could otherwise mint keys at will. An IPv4-mapped IPv6
// address counts as IPv4, and a zone is dropped. Anything that is not an
// IP address, with or without a port, is returned unchanged.
//
// Behind a reverse proxy RemoteAddr is the proxy's address: pass the
// client address the proxy reports instead, and only from a proxy the
// site trusts to set it.
func ClientFromAddr(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return addr
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64) // cannot fail for an IPv6 address
	return p.String()
}
