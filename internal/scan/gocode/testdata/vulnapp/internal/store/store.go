// Package store is a fixture: a sink in another package of the module.
package store

import "database/sql"

// Store wraps a database.
type Store struct{ db *sql.DB }

// New returns a store.
func New(db *sql.DB) *Store { return &Store{db: db} }

// Lookup finds a user by building the query from its argument.
func (s *Store) Lookup(name string) (*sql.Rows, error) {
	return s.db.Query("SELECT id FROM users WHERE name = '" + name + "'") // want VGL-GO-001
}

// LookupSafe passes the name as an argument.
func (s *Store) LookupSafe(name string) (*sql.Rows, error) {
	return s.db.Query("SELECT id FROM users WHERE name = ?", name)
}
