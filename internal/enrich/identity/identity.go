// Package identity is the identity directory: who a user is across the names
// systems give them (CORP\alice, alice@corp.example, an Okta login alice.smith),
// and the attributes that put them in a peer group (an explicit peer group, else
// department and role) or make them sensitive (privileged).
//
// Three file formats are read (Load picks one by extension, else by content;
// UTF-8, or UTF-16 with a byte-order mark):
//
// CSV (.csv), a header row naming its columns in any order:
//
//	user,aliases,email,department,role,manager,office,privileged,peer_group,disabled
//	alice@corp.example,CORP\alice;alice.smith,alice@corp.example,Finance,staff,bob@corp.example,London,false,,
//
// Only "user" is required. Aliases are separated by ";".
//
// YAML (.yaml, .yml), a list of people, or a mapping whose only key,
// "identities", holds that list; the keys are the CSV columns, aliases a list or
// a ";"-separated string, privileged and disabled booleans (see ReadYAML).
//
// LDIF (.ldif, .ldf; RFC 2849) as Active Directory (ldifde) and OpenLDAP
// (slapcat, ldapsearch -LLL) export it: userPrincipalName, mail, uid,
// sAMAccountName (as DOMAIN\sam and sam@domain from the DN's DC= parts),
// proxyAddresses (smtp:), cn and displayName are a person's names; department,
// title (role), manager (a DN, resolved to that person's primary name),
// physicalDeliveryOfficeName or l (office); membership of a privileged group
// (PrivilegedGroups, through memberOf or the group's member list) or adminCount 1
// makes a person privileged, and userAccountControl bit 0x2 marks them disabled.
// Groups, computers and other entries that are not people are skipped and
// counted (see ReadLDIF).
//
// Names are canonicalized like the decoders do (event.ParseUser), so "CORP\Alice"
// and "corp\alice" are one. Bad rows, items and records are rejected with their
// line and reason; the good ones still load. Store holds a directory that can be
// reloaded while lookups run.
package identity

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigilsec/vigil/internal/enrich/listfile"
	"github.com/vigilsec/vigil/internal/event"
)

// Person is one identity.
type Person struct {
	User          string // canonical key ("alice@corp.example")
	Aliases       []string
	Email         string
	Department    string
	Role          string
	Manager       string // the manager's primary name when the directory knows them, else their canonical name
	Office        string
	PeerGroupName string // explicit peer group (peer_group); overrides department/role
	Privileged    bool
	Disabled      bool // the account is disabled (it still resolves)
}

// PeerGroup is the person's peer group: the explicit one when set, else the
// identity-attribute group "department/role" (either part may be empty), ""
// when neither is known.
func (p *Person) PeerGroup() string {
	if p.PeerGroupName != "" {
		return p.PeerGroupName
	}
	if p.Department == "" && p.Role == "" {
		return ""
	}
	return p.Department + "/" + p.Role
}

// Directory resolves names to people.
type Directory struct {
	people  []Person
	byName  map[string]int // canonical key of the user and of every alias → index
	skipped int            // records that are not people (LDIF groups, computers, ...)
}

// RowError is one rejected row, YAML item or LDIF record. Its File is empty:
// the directory's readers take no name ("line N: reason").
type RowError = listfile.RowError

// MaxRows bounds the rows (items, records) one file may hold.
const MaxRows = 5_000_000

// Format is a directory file format.
type Format string

// The formats Load reads.
const (
	FormatCSV  Format = "csv"
	FormatYAML Format = "yaml"
	FormatLDIF Format = "ldif"
)

// sniffBytes is how much of a file is looked at to tell its format.
const sniffBytes = 64 << 10

// Load reads a directory file: CSV (.csv), YAML (.yaml, .yml) or LDIF (.ldif,
// .ldf) by its extension; with any other extension the format is told from the
// content (see Sniff). A file starting with a UTF-16 byte-order mark (ldifde -u,
// PowerShell Out-File) is transcoded. The error is for a file that cannot be
// used at all (missing, empty, of no known format, unreadable header); rejected
// rows come back with the directory.
func Load(path string) (*Directory, []RowError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening identity directory: %w", err)
	}
	defer f.Close()
	return LoadReader(f, path)
}

// LoadReader is Load on content already open; name (a path or file name) gives
// the extension and labels errors.
func LoadReader(r io.Reader, name string) (*Directory, []RowError, error) {
	br := bufio.NewReaderSize(r, sniffBytes)
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("reading identity directory %s: %w", name, err)
	}
	if ok, big := utf16BOM(head); ok {
		br = bufio.NewReaderSize(newUTF16Reader(br, big), sniffBytes)
		if head, err = br.Peek(sniffBytes); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("reading identity directory %s: %w", name, err)
		}
	}
	if len(bytes.TrimSpace(bytes.TrimPrefix(head, bom))) == 0 && len(head) < sniffBytes {
		return nil, nil, fmt.Errorf("reading identity directory %s: file is empty", name)
	}
	var format Format
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".csv":
		format = FormatCSV
	case ".yaml", ".yml":
		format = FormatYAML
	case ".ldif", ".ldf":
		format = FormatLDIF
	default:
		if format, err = Sniff(head); err != nil {
			return nil, nil, fmt.Errorf("reading identity directory %s: extension %q is not .csv, .yaml, .yml, .ldif or .ldf, and %w", name, ext, err)
		}
	}
	d, rej, err := ReadFormat(br, format)
	if err != nil {
		return nil, rej, fmt.Errorf("reading identity directory %s (%s): %w", name, format, err)
	}
	return d, rej, nil
}

// ReadFormat reads a directory in the given format (see Read, ReadYAML, ReadLDIF).
func ReadFormat(r io.Reader, f Format) (*Directory, []RowError, error) {
	switch f {
	case FormatCSV:
		return Read(r)
	case FormatYAML:
		return ReadYAML(r)
	case FormatLDIF:
		return ReadLDIF(r)
	}
	return nil, nil, fmt.Errorf("unknown format %q", f)
}

var bom = []byte("\ufeff")

// Sniff tells a directory's format from the start of its content: LDIF when the
// first line that is not blank or a comment is "dn:" or "version:", YAML when it
// starts a list ("-", "[", "---") or is "identities:", CSV when it is a header
// with a "user" column. The error says why none fits; it names the line but does
// not quote it (errors are logged, and a directory's content is personal data).
func Sniff(head []byte) (Format, error) {
	head = bytes.TrimPrefix(head, bom)
	comments := false
	for n := 1; len(head) > 0; n++ {
		var line []byte
		line, head, _ = bytes.Cut(head, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			comments = true
			continue
		}
		low := strings.ToLower(string(line))
		switch {
		case strings.HasPrefix(low, "dn:") || strings.HasPrefix(low, "version:"):
			return FormatLDIF, nil
		case low == "-" || low == "---" || strings.HasPrefix(low, "- ") || strings.HasPrefix(low, "--- ") ||
			strings.HasPrefix(low, "[") || strings.HasPrefix(low, "identities:") || strings.HasPrefix(low, "%yaml"):
			return FormatYAML, nil
		case !comments && csvHeaderHasUser(low):
			return FormatCSV, nil
		}
		return "", fmt.Errorf("line %d, the first that is not blank or a comment, is not a CSV header with a user column, YAML (a list, or identities:) or LDIF (dn: or version:)", n)
	}
	if comments {
		return "", errors.New("the file holds only comments")
	}
	return "", errors.New("the file is empty")
}

func csvHeaderHasUser(line string) bool {
	for f := range strings.SplitSeq(line, ",") {
		if strings.Trim(strings.TrimSpace(f), `"`) == "user" {
			return true
		}
	}
	return false
}

func canonical(s string) string { return event.ParseUser(strings.TrimSpace(s)).Key() }

// Len returns the number of people.
func (d *Directory) Len() int {
	if d == nil {
		return 0
	}
	return len(d.people)
}

// Skipped returns the number of records read that were not people (LDIF groups,
// computers, organizational units).
func (d *Directory) Skipped() int {
	if d == nil {
		return 0
	}
	return d.skipped
}

// People returns the people in file order. The slice is the directory's own:
// do not modify it.
func (d *Directory) People() []Person {
	if d == nil {
		return nil
	}
	return d.people
}

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

// builder assembles a directory. Strong names (the user, email, explicit
// aliases, account names) belong to one person: a second claim rejects the
// second person. Weak names (LDIF cn and displayName) are only indexed at finish,
// only when they hold a space (a one-word cn such as "Administrator" would claim
// every host's local account of that name) and only when no one else holds or
// claims them: two John Smiths are both kept, and neither answers to "john
// smith".
type builder struct {
	d    *Directory
	weak map[string]int // weak name → person index; -1 when claimed by several
}

func newBuilder() *builder {
	return &builder{d: &Directory{byName: map[string]int{}}, weak: map[string]int{}}
}

// add adds p under its user, canonical email and aliases (all canonical), and
// the weak names; it returns the index, or the reason it was rejected.
func (b *builder) add(p Person, weak []string) (int, string) {
	names := make([]string, 0, 2+len(p.Aliases))
	names = append(names, p.User)
	if p.Email != "" {
		if c := canonical(p.Email); c != "" {
			names = append(names, c)
		}
	}
	names = append(names, p.Aliases...)
	for _, n := range names {
		if _, taken := b.d.byName[n]; taken {
			return -1, fmt.Sprintf("name %q already belongs to another person", n)
		}
	}
	idx := len(b.d.people)
	p.Aliases = dedupe(p.Aliases, p.User)
	b.d.people = append(b.d.people, p)
	for _, n := range names {
		b.d.byName[n] = idx
	}
	for _, w := range weak {
		if !strings.Contains(w, " ") {
			continue
		}
		if j, seen := b.weak[w]; seen && j != idx {
			b.weak[w] = -1
		} else if !seen {
			b.weak[w] = idx
		}
	}
	return idx, ""
}

func (b *builder) finish() *Directory {
	for w, idx := range b.weak {
		if idx < 0 {
			continue
		}
		if _, taken := b.d.byName[w]; taken {
			continue
		}
		b.d.byName[w] = idx
		p := &b.d.people[idx]
		if w != p.User && !contains(p.Aliases, w) {
			p.Aliases = append(p.Aliases, w)
		}
	}
	b.weak = nil
	return b.d
}

// resolveManagers replaces each manager name the directory knows (any alias)
// with that person's primary name.
func (d *Directory) resolveManagers() {
	for i := range d.people {
		if m := d.people[i].Manager; m != "" {
			if j, ok := d.byName[m]; ok {
				d.people[i].Manager = d.people[j].User
			}
		}
	}
}

// dedupe drops empty names, repeats and the user itself, in place.
func dedupe(names []string, user string) []string {
	out := names[:0]
	seen := make(map[string]struct{}, len(names))
	for _, n := range names {
		if _, dup := seen[n]; n != "" && n != user && !dup {
			seen[n] = struct{}{}
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
