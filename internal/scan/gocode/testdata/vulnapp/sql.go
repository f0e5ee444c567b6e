package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

func (s *server) sqlConcat(w http.ResponseWriter, r *http.Request) {
	q := "SELECT * FROM users WHERE name = '" + r.FormValue("name") + "'"
	rows, _ := s.db.Query(q) // want VGL-GO-001
	closeRows(rows)
	rows, _ = s.db.Query("SELECT * FROM users WHERE name = ?", r.FormValue("name")) // safe
	closeRows(rows)
}

func (s *server) sqlSprintf(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	row := s.db.QueryRow(fmt.Sprintf("SELECT * FROM orders WHERE id = %s", id)) // want VGL-GO-001
	_ = row.Err()
	n, err := strconv.Atoi(id)
	if err != nil {
		return
	}
	row = s.db.QueryRow(fmt.Sprintf("SELECT * FROM orders WHERE id = %d", n)) // safe
	_ = row.Err()
}

// deleteUser builds the statement from its parameter: a sink for callers.
func (s *server) deleteUser(name string) {
	_, _ = s.db.Exec("DELETE FROM users WHERE name = '" + name + "'") // want VGL-GO-001
}

func (s *server) sqlHelper(w http.ResponseWriter, r *http.Request) {
	s.deleteUser(r.PostFormValue("user"))
	s.deleteUser("guest") // safe
}

// filter is query input kept in a struct: Column goes into the SQL text,
// Value is passed as an argument.
type filter struct {
	Column string
	Value  string
}

func (s *server) searchBy(f *filter) {
	rows, _ := s.db.Query("SELECT * FROM items WHERE "+f.Column+" = ?", f.Value) // want VGL-GO-001
	closeRows(rows)
}

func (s *server) sqlStruct(w http.ResponseWriter, r *http.Request) {
	s.searchBy(&filter{Column: r.FormValue("col"), Value: "x"})
	s.searchBy(&filter{Column: "name", Value: r.FormValue("v")}) // safe
	f := filter{Column: "sku", Value: r.FormValue("sku")}
	rows, _ := s.db.Query("SELECT * FROM items WHERE "+f.Column+" = ?", f.Value) // safe
	closeRows(rows)
	rows, _ = s.db.Query("SELECT * FROM items WHERE sku = '" + f.Value + "'") // want VGL-GO-001
	closeRows(rows)
}

func (s *server) sqlBuilder(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	b.WriteString("SELECT * FROM audit WHERE actor = '")
	b.WriteString(r.Header.Get("X-User"))
	b.WriteString("'")
	rows, _ := s.db.Query(b.String()) // want VGL-GO-001
	closeRows(rows)
	var c strings.Builder
	c.WriteString("SELECT count(*) FROM audit")
	rows, _ = s.db.Query(c.String()) // safe
	closeRows(rows)
}

func (s *server) sqlJSON(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string
		Age  int
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return
	}
	_, _ = s.db.ExecContext(r.Context(), "INSERT INTO people(name) VALUES ('"+req.Name+"')") // want VGL-GO-001
	_, _ = s.db.ExecContext(r.Context(), fmt.Sprintf("UPDATE people SET age = %d", req.Age)) // safe
}

// querier hides the database behind an interface.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *server) sqlInterface(w http.ResponseWriter, r *http.Request) {
	var q querier = s.db
	rows, _ := q.QueryContext(r.Context(), "SELECT * FROM t WHERE k = "+r.URL.Query().Get("k")) // want VGL-GO-001
	closeRows(rows)
	rows, _ = q.QueryContext(r.Context(), "SELECT * FROM t WHERE k = $1", r.URL.Query().Get("k")) // safe
	closeRows(rows)
}

func (s *server) sqlClosure(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue("n")
	run := func() {
		_, _ = s.db.Exec("UPDATE users SET seen = 1 WHERE name = '" + name + "'") // want VGL-GO-001
	}
	run()
	fixed := "admin"
	runSafe := func() {
		_, _ = s.db.Exec("UPDATE users SET seen = 1 WHERE name = '" + fixed + "'") // safe
	}
	runSafe()
}

func (s *server) sqlStore(w http.ResponseWriter, r *http.Request) {
	rows, _ := s.store.Lookup(r.FormValue("who"))
	closeRows(rows)
	rows, _ = s.store.Lookup("root") // safe
	closeRows(rows)
	rows, _ = s.store.LookupSafe(r.FormValue("who")) // safe
	closeRows(rows)
}

func closeRows(rows *sql.Rows) {
	if rows != nil {
		_ = rows.Close()
	}
}
