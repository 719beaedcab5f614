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
	entries map[string]cacheEntry
}

type cacheEntry struct {
	id    Identity
	chuid []byte
	certs []Certificate
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{entries: map[string]cacheEntry{}} }

func (c *Cache) lookup(id Identity, chuid []byte) ([]Certificate, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id.Reader]
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
}
