package identity

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Columns are the CSV columns and YAML keys a directory knows; only user is
// required.
var Columns = []string{"user", "aliases", "email", "department", "role", "manager", "office", "privileged", "peer_group", "disabled"}

// rawPerson is one row or item as written, before canonicalization.
type rawPerson struct {
	User, Email, Department, Role, Manager, Office, PeerGroup string
	Aliases                                                   []string
	Privileged, Disabled                                      string // "" when not given
}

// person validates and canonicalizes a row or item.
func (r rawPerson) person() (Person, error) {
	p := Person{
		User: canonical(r.User), Email: strings.TrimSpace(r.Email), Department: strings.TrimSpace(r.Department),
		Role: strings.TrimSpace(r.Role), Manager: canonical(r.Manager), Office: strings.TrimSpace(r.Office),
		PeerGroupName: strings.TrimSpace(r.PeerGroup),
	}
	if p.User == "" {
		return Person{}, errors.New("empty user")
	}
	for _, f := range []struct {
		name, v string
		dst     *bool
	}{{"privileged", r.Privileged, &p.Privileged}, {"disabled", r.Disabled, &p.Disabled}} {
		v := strings.TrimSpace(f.v)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Person{}, fmt.Errorf("%s %q is not true or false", f.name, v)
		}
		*f.dst = b
	}
	for _, a := range r.Aliases {
		if c := canonical(a); c != "" {
			p.Aliases = append(p.Aliases, c)
		}
	}
	return p, nil
}

// Read parses a directory CSV with a header row naming its columns in any order
// (see Columns). It fails on a missing or unusable header; bad rows are returned
// as RowErrors and skipped. A name claimed by two people is rejected on the
// second row.
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
		if !contains(Columns, h) {
			return nil, nil, fmt.Errorf("header: unknown column %q (known: %s)", h, strings.Join(Columns, ", "))
		}
	}
	b := newBuilder()
	var rejected []RowError
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	for rows := 0; ; rows++ {
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
			return b.finish(), rejected, fmt.Errorf("reading row %d: %w", rows+2, err)
		}
		line, _ := cr.FieldPos(0)
		if rows >= MaxRows {
			return b.finish(), rejected, fmt.Errorf("more than %d rows", MaxRows)
		}
		raw := rawPerson{
			User: get(rec, "user"), Email: get(rec, "email"), Department: get(rec, "department"), Role: get(rec, "role"),
			Manager: get(rec, "manager"), Office: get(rec, "office"), PeerGroup: get(rec, "peer_group"),
			Privileged: get(rec, "privileged"), Disabled: get(rec, "disabled"),
		}
		if a := strings.TrimSpace(get(rec, "aliases")); a != "" {
			raw.Aliases = strings.Split(a, ";")
		}
		p, err := raw.person()
		if err != nil {
			rejected = append(rejected, RowError{Line: line, Reason: err.Error()})
			continue
		}
		if _, reason := b.add(p, nil); reason != "" {
			rejected = append(rejected, RowError{Line: line, Reason: reason})
		}
	}
	d := b.finish()
	d.resolveManagers()
	return d, rejected, nil
}
