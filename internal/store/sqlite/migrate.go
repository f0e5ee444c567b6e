package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"

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

// migrate brings the database to the newest schema, one transaction per migration.
// It refuses a database whose schema is newer than the binary's.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].Version
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	for {
		applied, ok, err := applyNext(ctx, db, ms, latest)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		log.InfoContext(ctx, "applied schema migration", "version", applied.Version, "name", applied.Name)
	}
}

// applyNext applies the first migration the database lacks and returns it; ok is
// false when the schema is already current. The version is read inside the write transaction, so
// two processes opening the same directory do not both apply a migration.
func applyNext(ctx context.Context, db *sql.DB, ms []migration, latest int) (applied migration, ok bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return migration{}, false, fmt.Errorf("beginning migration: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return migration{}, false, fmt.Errorf("reading schema version: %w", err)
	}
	if cur > latest {
		return migration{}, false, fmt.Errorf("database schema version %d, this binary knows versions up to %d: %w (upgrade vigil)", cur, latest, ErrSchemaTooNew)
	}
	if cur == latest {
		return migration{}, false, nil
	}
	m := ms[cur] // versions are 1..latest, so ms[cur] is version cur+1
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return migration{}, false, fmt.Errorf("applying migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.Version, m.Name); err != nil {
		return migration{}, false, fmt.Errorf("recording migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return migration{}, false, fmt.Errorf("committing migration %s: %w", m.Name, err)
	}
	return m, true, nil
}
