// Package identity is the identity directory: who a user is across the names
// systems give them (CORP\alice, alice@corp.example, alice), and the attributes that
// put them in a peer group (department, role) or make them sensitive (privileged).
//
// It reads a CSV file with a header row naming its columns, in any order:
//
//	user,aliases,email,department,role,manager,office,privileged
//	alice@corp.example,CORP\alice;alice,alice@corp.example,Finance,staff,bob@corp.example,London,false
//
// Only "user" is required. Aliases are separated by ";". Names are canonicalized
// like the decoders do (event.ParseUser), so "CORP\Alice" and "corp\alice" are one.
// Bad rows are rejected with their line and reason; the good rows still load.
package identity

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// Person is one identity.
type Person struct {
	User       string // canonical key ("alice@corp.example")
	Aliases    []string
	Email      string
	Department string
	Role       string
	Manager    string
	Office     string
	Privileged bool
}

// PeerGroup is the identity-attribute peer group: "department/role" (either part
// may be empty), "" when neither is known.
func (p *Person) PeerGroup() string {
	if p.Department == "" && p.Role == "" {
		return ""
	}
	return p.Department + "/" + p.Role
}

// Directory resolves names to people.
type Directory struct {
	people []Person
	byName map[string]int // canonical key of the user and of every alias → index
}

// RowError is one rejected row.
type RowError struct {
	Line   int
	Reason string
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// MaxRows bounds the rows one file may hold.
const MaxRows = 5_000_000

// Load reads a directory CSV file. See Read.
func Load(path string) (*Directory, []RowError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening identity directory: %w", err)
	}
	defer f.Close()
	d, rej, err := Read(f)
	if err != nil {
		return nil, rej, fmt.Errorf("reading identity directory %s: %w", path, err)
	}
	return d, rej, nil
}

var columns = []string{"user", "aliases", "email", "department", "role", "manager", "office", "privileged"}

// Read parses a directory CSV. It fails on a missing or unusable header; bad rows
// are returned as RowErrors and skipped. A name claimed by two people is rejected
// on the second row.
func Read(r io.Reader) (*Directory, []RowError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("reading header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup {
			return nil, nil, fmt.Errorf("header: column %q repeated", h)
		}
		col[h] = i
	}
	if _, ok := col["user"]; !ok {
		return nil, nil, errors.New(`header: no "user" column`)
	}
	for h := range col {
		if !known(h) {
			return nil, nil, fmt.Errorf("header: unknown column %q (known: %s)", h, strings.Join(columns, ", "))
		}
	}
	d := &Directory{byName: map[string]int{}}
	var rejected []RowError
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rejected = append(rejected, RowError{Line: pe.Line, Reason: pe.Err.Error()})
				continue
			}
			return d, rejected, fmt.Errorf("reading row %d: %w", line, err)
		}
		if len(d.people) >= MaxRows {
			return d, rejected, fmt.Errorf("more than %d rows", MaxRows)
		}
		p := Person{
			User: canonical(get(rec, "user")), Email: get(rec, "email"), Department: get(rec, "department"),
			Role: get(rec, "role"), Manager: canonical(get(rec, "manager")), Office: get(rec, "office"),
		}
		if p.User == "" {
			rejected = append(rejected, RowError{Line: line, Reason: "empty user"})
			continue
		}
		if v := get(rec, "privileged"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				rejected = append(rejected, RowError{Line: line, Reason: fmt.Sprintf("privileged %q is not true or false", v)})
				continue
			}
			p.Privileged = b
		}
		names := []string{p.User}
		if p.Email != "" {
			names = append(names, canonical(p.Email))
		}
		for a := range strings.SplitSeq(get(rec, "aliases"), ";") {
			if c := canonical(a); c != "" {
				p.Aliases = append(p.Aliases, c)
				names = append(names, c)
			}
		}
		clash := ""
		for _, n := range names {
			if _, taken := d.byName[n]; taken {
				clash = n
				break
			}
		}
		if clash != "" {
			rejected = append(rejected, RowError{Line: line, Reason: fmt.Sprintf("name %q already belongs to another person", clash)})
			continue
		}
		idx := len(d.people)
		d.people = append(d.people, p)
		for _, n := range names {
			d.byName[n] = idx
		}
	}
	return d, rejected, nil
}

func known(h string) bool {
	for _, c := range columns {
		if c == h {
			return true
		}
	}
	return false
}

func canonical(s string) string { return event.ParseUser(strings.TrimSpace(s)).Key() }

// Len returns the number of people.
func (d *Directory) Len() int { return len(d.people) }

// Lookup returns the person a name (any alias, any case) belongs to.
func (d *Directory) Lookup(name string) (*Person, bool) {
	if d == nil {
		return nil, false
	}
	i, ok := d.byName[name] // already a key (canonical forms are not always idempotent)
	if !ok {
		if i, ok = d.byName[canonical(name)]; !ok {
			return nil, false
		}
	}
	return &d.people[i], true
}

// Canonical returns the person's primary key for a name, or the name's own
// canonical form when the directory does not know it.
func (d *Directory) Canonical(name string) string {
	if p, ok := d.Lookup(name); ok {
		return p.User
	}
	return canonical(name)
}

// PeerGroup returns the peer group of a name's person, "" when unknown.
func (d *Directory) PeerGroup(name string) string {
	if p, ok := d.Lookup(name); ok {
		return p.PeerGroup()
	}
	return ""
}
