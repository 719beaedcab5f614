package authtoken

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ChallengeTTL is the recommended lifetime of a challenge, as in Web eID:
// long enough to find the card and type a PIN, short enough that an
// unused challenge does not linger.
const ChallengeTTL = 5 * time.Minute

// MaxChallenges is the default limit on outstanding challenges of a
// Challenges store: about 15 MB of memory when full.
const MaxChallenges = 100000

// Challenges issues single-use login challenges and remembers them until
// they expire. It is safe for concurrent use.
//
// A challenge proves only freshness: the store does not know which
// browser session it was issued to. The site must keep the issued
// challenge in the user's server-side session and pass that value, not
// one from the login request, to Consume and Verify; otherwise a token
// obtained for one session could complete the login of another.
//
// The zero value is ready to use with ChallengeTTL and MaxChallenges.
type Challenges struct {
	// Now returns the current time; nil means time.Now. Tests set it.
	// Set it, and Limit, before the first call.
	Now func() time.Time
	// Limit caps the challenges held at once, issued or consumed but not
	// yet expired; zero or less means MaxChallenges. Issue returns ErrFull at
	// the limit, so a flood of login page loads cannot exhaust memory.
	Limit int

	ttl time.Duration

	mu sync.Mutex
	// held maps each challenge not yet pruned to its state.
	held map[string]*heldChallenge
	// queue lists the challenges in the order they were issued, which is
	// also the order they expire in, so pruning never scans the map.
	queue []string
}

// heldChallenge is the state of one issued challenge.
type heldChallenge struct {
	expires time.Time
	used    bool
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

// Issue returns a new challenge: the standard base64 of 32 bytes from
// crypto/rand. The site sends it to the page, which passes it to the
// extension, and keeps it in the user's session for Consume and Verify.
// Issue returns ErrFull when Limit challenges are held.
func (c *Challenges) Issue() (string, error) {
	var b [minChallengeBytes]byte
	rand.Read(b[:]) // never fails
	s := base64.StdEncoding.EncodeToString(b[:])

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.prune(now)
	limit := c.Limit
	if limit <= 0 {
		limit = MaxChallenges
	}
	if len(c.held) >= limit {
		return "", fmt.Errorf("%w: %d held", ErrFull, len(c.held))
	}
	if c.held == nil {
		c.held = make(map[string]*heldChallenge)
	}
	if _, dup := c.held[s]; dup {
		return "", errors.New("authtoken: crypto/rand repeated a challenge") // p = 2^-256
	}
	ttl := c.ttl
	if ttl <= 0 {
		ttl = ChallengeTTL
	}
	c.held[s] = &heldChallenge{expires: now.Add(ttl)}
	c.queue = append(c.queue, s)
	return s, nil
}

// Consume marks challenge as used. It returns nil only the first time it
// is given a challenge this store issued, before the challenge expires.
// Afterwards it returns an error wrapping ErrReplay until the challenge
// expires; a challenge that is malformed, was never issued here, or has
// expired returns an error wrapping ErrChallenge.
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
		return fmt.Errorf("%w: not issued by this store, or expired", ErrChallenge)
	case !now.Before(h.expires):
		delete(c.held, challenge)
		return fmt.Errorf("%w: expired at %s", ErrChallenge, h.expires.UTC().Format(time.RFC3339))
	case h.used:
		return ErrReplay
	}
	h.used = true
	c.prune(now)
	return nil
}

// prune forgets the challenges that have expired by now, oldest first.
// It stops at the first unexpired one: if Now ever runs backwards a few
// expired challenges are kept longer, which Consume tolerates.
func (c *Challenges) prune(now time.Time) {
	for len(c.queue) > 0 {
		s := c.queue[0]
		if h, ok := c.held[s]; ok {
			if now.Before(h.expires) {
				return
			}
			delete(c.held, s)
		}
		c.queue[0] = "" // let the string go before append reallocates
		c.queue = c.queue[1:]
	}
}
