package agent

import (
	"context"

	"github.com/cardbridge/cardbridge/internal/centre/api"
)

// Transport is how the agent reaches an exchange centre. Client speaks to
// CardBridge's reference centre (internal/centre/api, docs/exchange.md). The
// official 統合交換中心's protocol is not public: once its specification is
// obtained, a connector to it implements Transport and the agent around it
// (queueing, signing, sealing, receiving, archiving, receipts, states) stays
// as it is.
//
// A Transport reports a failure that may pass (the centre down, the network
// cut) wrapped in ErrUnreachable or as a CentreError with a 5xx or 429
// status, which the agent retries; and the centre's answers the agent acts
// on as CentreError codes: NOT_FOUND (past its retention), NOT_LOGGED_IN
// (the session forgotten; Client logs in again by itself).
type Transport interface {
	// Origin is the centre's origin, which a login token binds.
	Origin() string
	// Login has sign make the card's token over a challenge of the centre
	// and returns the agency the centre recognised.
	Login(ctx context.Context, sign SignFunc) (agency string, err error)
	Logout(ctx context.Context) error
	// Directory lists the agencies with their encryption certificates.
	Directory(ctx context.Context) ([]api.DirectoryEntry, error)
	// Upload hands over a sealed package under the sender's stable send id:
	// the same id and envelope again is the same package.
	Upload(ctx context.Context, sendID string, recipients []string, envelope []byte) (api.PackageView, error)
	// Package is a package's states and digest.
	Package(ctx context.Context, id string) (api.PackageView, error)
	// Fetch downloads an envelope addressed to us.
	Fetch(ctx context.Context, id string) ([]byte, error)
	// Report tells the centre the outcome for us (completed with the
	// receipt, failed or returned with a reason).
	Report(ctx context.Context, id string, r api.ReportRequest) error
	// Events are our events after the cursor, oldest first.
	Events(ctx context.Context, after int64) ([]api.EventView, error)
	// Announcements are the centre's announcements after the cursor.
	Announcements(ctx context.Context, after int64) ([]Announcement, error)
	// Push calls f with events as they happen until the connection ends;
	// a centre without push returns at once and the agent polls.
	Push(ctx context.Context, after int64, f func([]api.EventView)) error
}

var _ Transport = (*Client)(nil)

// dialClient is the default Options.Dial: the reference centre's API.
func dialClient(origin string) (Transport, error) { return NewClient(origin, nil) }
