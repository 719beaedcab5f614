//go:build cgo

package p11

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// Options configures a Backend.
type Options struct {
	// Log receives why a certificate or slot was skipped; nil discards.
	Log *slog.Logger
	// Timeout bounds each module call; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Backend offers the tokens of one PKCS#11 module as readers and cards:
// one reader per slot, named "<token label> (PKCS#11: <module file>)", or
// "<slot description> (PKCS#11: <module file>)" for a slot without a
// token or with a blank (uninitialised) one, which is listed as an empty
// reader.
type Backend struct {
	mod     *module
	log     *slog.Logger
	timeout time.Duration

	mu    sync.Mutex
	slots map[string]uint   // reader name → slot ID, from the last Readers
	descs map[string]string // slot description → reader name, for slots with a token
}

var _ cards.Backend = (*Backend)(nil)

// New loads the module at path (an absolute path; refused with
// ErrUnsafeModule when the file or its folder is writable by others) and
// initialises it, once per process whatever the number of backends.
func New(path string, o Options) (*Backend, error) {
	real, err := CheckPath(path)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	m, err := loadModule(real, o.Timeout)
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Backend{mod: m, log: o.Log, timeout: o.Timeout, slots: map[string]uint{}}, nil
}

// Module is the real path of the backend's module.
func (b *Backend) Module() string { return b.mod.path }

// Source implements cards.Sourced.
func (b *Backend) Source() cards.Source { return cards.Source{Kind: "pkcs11", Module: b.mod.path} }

// call runs one module call with the backend's bound.
func (b *Backend) call(op string, f func() error) error { return b.mod.call(b.timeout, op, f) }

// Readers implements cards.Backend.
func (b *Backend) Readers() ([]pcsc.ReaderState, error) {
	var ids []uint
	err := b.call("C_GetSlotList", func() (err error) {
		ids, err = b.mod.ctx.GetSlotList(false)
		return err
	})
	if err != nil {
		return nil, mapCKR("list slots", err)
	}
	file := filepath.Base(b.mod.path)
	slots := map[string]uint{}
	descs := map[string]string{}
	out := []pcsc.ReaderState{}
	for _, id := range ids {
		var si pkcs11.SlotInfo
		if err := b.call("C_GetSlotInfo", func() (err error) { si, err = b.mod.ctx.GetSlotInfo(id); return err }); err != nil {
			b.log.Info("PKCS#11 slot skipped", "module", file, "slot", id, "err", mapCKR("slot info", err))
			continue
		}
		st := pcsc.ReaderState{}
		label := strings.TrimSpace(si.SlotDescription)
		if si.Flags&pkcs11.CKF_TOKEN_PRESENT != 0 {
			var ti pkcs11.TokenInfo
			err := b.call("C_GetTokenInfo", func() (err error) { ti, err = b.mod.ctx.GetTokenInfo(id); return err })
			switch {
			case err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0:
				// A blank token (SoftHSM2's spare slot) holds nothing yet.
			case err == nil:
				st.Flags = pcsc.FlagPresent
				if l := strings.TrimSpace(ti.Label); l != "" {
					label = l
				}
			case isCKR(err, pkcs11.CKR_TOKEN_NOT_PRESENT):
			default:
				b.log.Info("PKCS#11 token skipped", "module", file, "slot", id, "err", mapCKR("token info", err))
			}
		}
		if label == "" {
			label = fmt.Sprintf("slot %d", id)
		}
		name := fmt.Sprintf("%s (PKCS#11: %s)", label, file)
		if _, dup := slots[name]; dup {
			name = fmt.Sprintf("%s (PKCS#11: %s, slot %d)", label, file, id)
		}
		slots[name] = id
		if st.Present() {
			descs[strings.TrimSpace(si.SlotDescription)] = name
		}
		st.Reader = name
		out = append(out, st)
	}
	b.mu.Lock()
	b.slots, b.descs = slots, descs
	b.mu.Unlock()
	return out, nil
}

// ReaderFor implements cards.FallbackReader: the reader of the slot whose
// description is pcscReader (modules that sit on PC/SC, OpenSC's among
// them, describe each slot by its reader's name), when it has a token.
func (b *Backend) ReaderFor(pcscReader string) (string, bool) {
	if _, err := b.Readers(); err != nil {
		return "", false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.descs[pcscReader]
	return r, ok
}

// slotOf returns the slot of reader, listing the slots again when it is
// not known.
func (b *Backend) slotOf(reader string) (uint, error) {
	b.mu.Lock()
	id, ok := b.slots[reader]
	b.mu.Unlock()
	if ok {
		return id, nil
	}
	if _, err := b.Readers(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	id, ok = b.slots[reader]
	b.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("reader %q: %w", reader, pcsc.ErrUnknownReader)
	}
	return id, nil
}

// Open implements cards.Backend. It opens a session on the reader's slot
// (read-write when the token allows, for PIN changes) and reads the
// certificates; close ends the session. The cache is not used: the
// module keeps its own.
func (b *Backend) Open(reader string, _ *card.Cache) (cards.Token, func(), error) {
	slot, err := b.slotOf(reader)
	if err != nil {
		return nil, nil, err
	}
	t := &Token{b: b, slot: slot, reader: reader}
	if err := t.openSession(); err != nil {
		return nil, nil, err
	}
	return t, t.close, nil
}

// ErrNoSOLogin reports a token that does not let CardBridge log in as its
// security officer with the PUK, so its PIN cannot be unblocked here (the
// issuer's own tool or an online service does it).
//
// It wraps cards.ErrUnblockElsewhere, which the edge reports as
// ERR_UNBLOCK_ELSEWHERE with the issuers' online services.
var ErrNoSOLogin = fmt.Errorf("this token does not allow unblocking the PIN with the PUK here: %w", cards.ErrUnblockElsewhere)

// Backends makes a backend for each module path; a module that cannot be
// used is left out with a warning in log naming the path and why, so the
// other backends keep working.
func Backends(paths []string, log *slog.Logger) []cards.Backend {
	var out []cards.Backend
	for _, p := range paths {
		b, err := New(p, Options{Log: log})
		if err != nil {
			if log != nil {
				log.Warn("PKCS#11 module not used", "module", p, "err", err)
			}
			continue
		}
		out = append(out, b)
	}
	return out
}
