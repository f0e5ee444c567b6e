package main

import (
	"database/sql"
	"net/http"
)

// parseFilter returns a struct with one field from the request.
func parseFilter(r *http.Request) filter {
	return filter{Column: "name", Value: r.FormValue("v")}
}

func (s *server) flowResultStruct(w http.ResponseWriter, r *http.Request) {
	f := parseFilter(r)
	rows, _ := s.db.Query("SELECT * FROM t WHERE "+f.Column+" = ?", f.Value) // safe: Column is fixed
	closeRows(rows)
	rows, _ = s.db.Query("SELECT * FROM t WHERE name = '" + f.Value + "'") // want VGL-GO-001
	closeRows(rows)
}

func (s *server) flowContainers(w http.ResponseWriter, r *http.Request) {
	fs := []filter{{Column: r.FormValue("c"), Value: "v"}}
	for _, f := range fs {
		rows, _ := s.db.Query("SELECT * FROM t WHERE " + f.Column + " = 1") // want VGL-GO-001
		closeRows(rows)
	}
	m := map[string]string{"q": r.FormValue("q")}
	rows, _ := s.db.Query("SELECT * FROM t WHERE q = '" + m["q"] + "'") // want VGL-GO-001
	closeRows(rows)
}

// lastSearch is shared between handlers.
var lastSearch string

func flowGlobalSet(w http.ResponseWriter, r *http.Request) {
	lastSearch = r.FormValue("s")
}

func (s *server) flowGlobalUse(w http.ResponseWriter, r *http.Request) {
	rows, _ := s.db.Query("SELECT * FROM t WHERE s = '" + lastSearch + "'") // want VGL-GO-001
	closeRows(rows)
}

// finder has a vulnerable and a harmless implementation.
type finder interface{ Find(name string) }

type sqlFinder struct{ db *sql.DB }

func (f sqlFinder) Find(name string) {
	rows, _ := f.db.Query("SELECT * FROM t WHERE n = '" + name + "'") // want VGL-GO-001
	closeRows(rows)
}

type memFinder struct{ names map[string]bool }

func (f memFinder) Find(name string) { _ = f.names[name] }

func (s *server) flowInterfaces(w http.ResponseWriter, r *http.Request) {
	var a finder = sqlFinder{db: s.db}
	a.Find(r.FormValue("a"))
	var b finder = memFinder{names: map[string]bool{}}
	b.Find(r.FormValue("b")) // safe: only memFinder flows here (VTA)
}

func (s *server) flowAllowList(w http.ResponseWriter, r *http.Request) {
	order := r.FormValue("order")
	switch order {
	case "name", "created":
		rows, _ := s.db.Query("SELECT * FROM t ORDER BY " + order) // safe: an allow-listed constant
		closeRows(rows)
	}
	if dir := r.FormValue("dir"); dir != "ASC" {
		rows, _ := s.db.Query("SELECT * FROM t ORDER BY id " + dir) // want VGL-GO-001
		closeRows(rows)
	} else {
		rows, _ := s.db.Query("SELECT * FROM t ORDER BY id " + dir) // safe: dir is "ASC" here
		closeRows(rows)
	}
}

// queryParam reads a parameter of the request it is given.
func queryParam(r *http.Request, k string) string { return r.URL.Query().Get(k) }

func (s *server) flowRequestHelper(w http.ResponseWriter, r *http.Request) {
	rows, _ := s.db.Query("SELECT * FROM t WHERE k = '" + queryParam(r, "k") + "'") // want VGL-GO-001
	closeRows(rows)
	out, err := http.NewRequest(http.MethodGet, "https://api.example.com/x?y=1", nil)
	if err != nil {
		return
	}
	rows, _ = s.db.Query("SELECT * FROM t WHERE k = '" + queryParam(out, "y") + "'") // safe: a request the program builds
	closeRows(rows)
}
