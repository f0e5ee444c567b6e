package identity

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/enrich/listfile"
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
	c, err := listfile.OpenCSV(r, "", listfile.CSVSpec{Columns: Columns, Required: []string{"user"}, MaxRows: MaxRows})
	if err != nil {
		return nil, nil, err
	}
	b := newBuilder()
	rejected, err := c.Each(func(row listfile.Row) error {
		raw := rawPerson{
			User: row.Get("user"), Email: row.Get("email"), Department: row.Get("department"), Role: row.Get("role"),
			Manager: row.Get("manager"), Office: row.Get("office"), PeerGroup: row.Get("peer_group"),
			Privileged: row.Get("privileged"), Disabled: row.Get("disabled"), Aliases: row.List("aliases"),
		}
		p, err := raw.person()
		if err != nil {
			return err
		}
		if _, reason := b.add(p, nil); reason != "" {
			return errors.New(reason)
		}
		return nil
	})
	if err != nil {
		return b.finish(), rejected, err
	}
	d := b.finish()
	d.resolveManagers()
	return d, rejected, nil
}
