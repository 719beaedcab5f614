package card

import (
	"bytes"
	"slices"
	"sync"
)

// Cache keeps the certificates of inserted cards so that listing them again
// while the same card stays in its reader costs no APDU. An entry is keyed
// by reader, event counter and ATR; a removal and re-insertion changes the
// event counter, so a new card is never served another card's certificates.
// Where the platform has no event counter (Events 0) the CHUID must match
// too. The zero value is not usable; a nil *Cache caches nothing.
type Cache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry // PIV cards, keyed also by the CHUID
	tagged  map[string]cacheEntry // other kinds (Lookup, Store), keyed also by their tag
	kinds   map[string]kindEntry
}

type kindEntry struct {
	id   Identity
	kind Kind
}

// Kind is what a card was found to be on its first opening, so later
// openings of the same inserted card skip the probe.
type Kind struct {
	// Name is "piv" or "hicos".
	Name string
	// Serial and Version are the card's number and version, where its
	// kind has them (HiCOS).
	Serial, Version string
}

// KindOf returns what the card id reaches was found to be, when known: same
// reader, event counter and ATR. Without an event counter (Events 0:
// Windows, the virtual reader) the ATR alone cannot tell one card from the
// next (every card of a batch has the same), so the kind is never known
// there and each opening probes the card.
func (c *Cache) KindOf(id Identity) (Kind, bool) {
	if c == nil || id.Events == 0 {
		return Kind{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.kinds[id.Reader]
	if !ok || e.id.Events != id.Events || !bytes.Equal(e.id.ATR, id.ATR) {
		return Kind{}, false
	}
	return e.kind, true
}

// SetKind remembers what the card id reaches is.
func (c *Cache) SetKind(id Identity, k Kind) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kinds[id.Reader] = kindEntry{id: id, kind: k}
}

// Lookup returns the certificates stored for the card id reaches, keyed
// also by tag where the platform has no event counter (a card's own
// number); for card kinds other than PIV. Its entries are kept apart from
// the PIV cards': a PIV card's CHUID, which the card itself reports, never
// matches another kind's tag.
func (c *Cache) Lookup(id Identity, tag []byte) ([]Certificate, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return lookupIn(c.tagged, id, tag)
}

// Store keeps certs for the card id reaches (see Lookup).
func (c *Cache) Store(id Identity, tag []byte, certs []Certificate) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tagged[id.Reader] = cacheEntry{id: id, chuid: bytes.Clone(tag), certs: slices.Clone(certs)}
}

type cacheEntry struct {
	id    Identity
	chuid []byte
	certs []Certificate
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{entries: map[string]cacheEntry{}, tagged: map[string]cacheEntry{}, kinds: map[string]kindEntry{}}
}

func (c *Cache) lookup(id Identity, chuid []byte) ([]Certificate, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return lookupIn(c.entries, id, chuid)
}

func lookupIn(entries map[string]cacheEntry, id Identity, chuid []byte) ([]Certificate, bool) {
	e, ok := entries[id.Reader]
	if !ok || e.id.Events != id.Events || !bytes.Equal(e.id.ATR, id.ATR) {
		return nil, false
	}
	if id.Events == 0 && (chuid == nil || !bytes.Equal(e.chuid, chuid)) {
		return nil, false
	}
	return slices.Clone(e.certs), true
}

func (c *Cache) store(id Identity, chuid []byte, certs []Certificate) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[id.Reader] = cacheEntry{id: id, chuid: bytes.Clone(chuid), certs: slices.Clone(certs)}
}

// Forget drops what is cached for reader (on a card removal event).
func (c *Cache) Forget(reader string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, reader)
	delete(c.tagged, reader)
	delete(c.kinds, reader)
}
