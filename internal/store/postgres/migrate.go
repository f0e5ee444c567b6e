package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/vigilsec/vigil/internal/store"
)

// ErrSchemaTooNew means the database schema was migrated by a newer Vigil than
// this one.
var ErrSchemaTooNew = store.ErrSchemaTooNew

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change, migrations/NNNN_name.sql.
type migration = store.Migration

// loadMigrations reads the embedded migrations.
func loadMigrations() ([]migration, error) { return store.LoadMigrations(migrationFiles, "migrations") }

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// lockKey is the key of a transaction-level advisory lock that serializes one
// kind of work (purpose) on one schema: every Vigil process using the schema
// computes the same key, and processes using other schemas of the database do
// not wait for each other. The key's text must never change, or an old and a
// new binary would not exclude each other.
func lockKey(purpose, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("vigil/store/postgres " + purpose + "\x00"))
	h.Write([]byte(schema))
	return int64(h.Sum64()) // a hash reinterpreted as a signed lock key: wrapping is intended
}

// migrate brings the schema to the newest version, one transaction per
// migration. Each transaction first takes the schema's transaction-level
// advisory lock, so of several processes opening the database at once one
// applies a migration while the others wait, then find it applied; a process
// that dies mid-migration releases the lock with its connection. create makes
// the schema when it does not exist.
func migrate(ctx context.Context, conn *pgx.Conn, schema string, create bool, log *slog.Logger) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].Version
	}
	for {
		applied, ok, err := applyNext(ctx, conn, ms, latest, schema, create)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		log.InfoContext(ctx, "applied schema migration", "schema", schema, "version", applied.Version, "name", applied.Name)
	}
}

// applyNext applies the first migration the schema lacks and returns it; ok is
// false when the schema is already current.
func applyNext(ctx context.Context, conn *pgx.Conn, ms []migration, latest int, schema string, create bool) (applied migration, ok bool, err error) {
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("migrations", schema)); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if create {
			// Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE
			// privilege on the database even when the schema exists.
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
				return fmt.Errorf("looking up schema %s: %w", schema, err)
			}
			if !exists {
				if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
					return fmt.Errorf("creating schema %s: %w", schema, err)
				}
			}
		}
		// Whatever the connection's search_path, the migration's unqualified
		// names are created in the schema.
		if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("setting search_path: %w", err)
		}
		var hasTable bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&hasTable); err != nil {
			return fmt.Errorf("looking up schema_migrations: %w", err)
		}
		if !hasTable {
			if _, err := tx.Exec(ctx, `CREATE TABLE schema_migrations (
				version    integer     PRIMARY KEY,
				name       text        NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now()
			)`); err != nil {
				return fmt.Errorf("creating schema_migrations: %w", err)
			}
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		if cur > latest {
			return fmt.Errorf("schema %s is at version %d, this binary knows versions up to %d: %w (upgrade vigil)", schema, cur, latest, ErrSchemaTooNew)
		}
		if cur == latest {
			return nil
		}
		m := ms[cur] // versions are 1..latest, so ms[cur] is version cur+1
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("recording migration %s: %w", m.Name, err)
		}
		applied, ok = m, true
		return nil
	})
	if err != nil {
		return migration{}, false, err
	}
	return applied, ok, nil
}
