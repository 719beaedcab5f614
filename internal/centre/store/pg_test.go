package store_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/centre/pgtest"
	"github.com/cardbridge/cardbridge/internal/centre/store"
)

// pg is the test binary's throwaway PostgreSQL server (pgtest), started
// by TestMain and stopped after the tests; why says why there is none.
var pg struct {
	srv *pgtest.Server
	why string
}

func TestMain(m *testing.M) {
	var err error
	if pg.srv, err = pgtest.Start(); err != nil {
		pg.why = err.Error()
	}
	code := m.Run()
	if pg.srv != nil {
		pg.srv.Stop()
	}
	os.Exit(code)
}

// pgBackend opens a fresh database on the test server for each store.
func pgBackend(t *testing.T) (backend, bool) {
	if pg.why != "" {
		if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") == "1" {
			t.Fatalf("PostgreSQL required: %s", pg.why)
		}
		t.Logf("PostgreSQL suite skipped: %s", pg.why)
		return backend{}, false
	}
	return backend{"postgres", func(t *testing.T, key ed25519.PrivateKey) *store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dsn, err := pg.srv.NewDatabase(ctx)
		require.NoError(t, err)
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s, err := store.Open(ctx, db, store.Postgres, key)
		require.NoError(t, err)
		return s
	}}, true
}
