package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// ErrSchemaTooNew means the database schema was migrated by a newer Vigil than
// this one: an implementation refuses it rather than guess at a schema it does
// not know.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// Migration is one numbered schema change of an implementation, a file
// NNNN_name.sql.
type Migration struct {
	Version int
	Name    string // the file's name without .sql: "0001_init"
	SQL     string
}

// LoadMigrations reads the migrations dir/*.sql of fsys (an implementation's
// embedded files), checking they are named NNNN_name.sql and numbered 1, 2,
// 3, ... without gaps.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	ms := make([]Migration, 0, len(names)) // fs.Glob returns names sorted
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", base)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", base, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", base, err)
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(base, ".sql"), SQL: string(b)})
	}
	return ms, nil
}
