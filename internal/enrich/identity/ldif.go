package identity

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PrivilegedGroups are the groups whose members are privileged: Active
// Directory's built-in and well-known administrative groups. A group matches on
// the CN of its DN, case-insensitively.
var PrivilegedGroups = []string{
	"Domain Admins", "Enterprise Admins", "Schema Admins", "Administrators",
	"Account Operators", "Backup Operators", "Server Operators", "Print Operators",
	"DnsAdmins", "Group Policy Creator Owners", "Key Admins", "Enterprise Key Admins",
}

// Limits on LDIF input.
const (
	MaxLDIFLine   = 4 << 20 // bytes in one line, unfolded (a thumbnailPhoto fits)
	MaxLDIFValues = 1 << 20 // values of the read attributes in one record
)

// ldifAttrs are the attributes read from a record (lower-case, options
// stripped); the values of others are only checked (base64, URL).
var ldifAttrs = map[string]bool{
	"objectclass": true, "userprincipalname": true, "mail": true, "uid": true, "samaccountname": true,
	"cn": true, "displayname": true, "proxyaddresses": true, "department": true, "title": true,
	"manager": true, "physicaldeliveryofficename": true, "l": true, "memberof": true, "admincount": true,
	"useraccountcontrol": true, "member": true, "uniquemember": true,
}

// ldifNames interns the attribute names the reader acts on: those of ldifAttrs
// and the structural ones.
var ldifNames = func() map[string]string {
	m := map[string]string{"dn": "dn", "version": "version", "control": "control", "changetype": "changetype"}
	for a := range ldifAttrs {
		m[a] = a
	}
	return m
}()

func appendLower(dst, s []byte) []byte {
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// ldifValue is one attribute value and the line it starts on.
type ldifValue struct {
	v    string
	line int
}

type ldifRecord struct {
	line   int // of the dn: line
	dn     distName
	attrs  map[string][]ldifValue
	nvals  int
	header bool // control: and changetype: may still come
	err    *RowError
}

// ldifPerson is a record that is a person, before the directory is built.
type ldifPerson struct {
	line    int
	dnKey   string
	p       Person
	weak    []string
	manager string // DN as written
}

type ldifParser struct {
	rec        *ldifRecord
	people     []ldifPerson
	rejected   []RowError
	skipped    int
	records    int
	sawLine    bool            // a line other than a comment was read
	privMember map[string]bool // DN keys of the members of privileged groups
	fatal      error
	scratch    []byte // base64 decoding
	desc       []byte // the lower-cased attribute description
	lineBuf    []byte // readLine's buffer
}

// ReadLDIF parses an LDIF file (RFC 2849): records of "attr: value" lines
// starting with "dn:", separated by blank lines; an optional "version: 1"
// first; "#" comments; lines folded by starting the continuation with one space;
// "attr:: base64" values (decoded; invalid base64 rejects the record);
// attribute options ("member;range=0-1499") ignored. A record with an "attr:<
// URL" value is rejected (URLs are never fetched), as is a change record other
// than changetype: add.
//
// A record is a person when its objectClass names user, person,
// organizationalPerson, inetOrgPerson or posixAccount, but neither computer (AD
// computers are users too) nor contact without user, and its sAMAccountName does
// not end in "$" (machine and trust accounts); a record without objectClass
// (ldapsearch asked for a few attributes) is a person when it has an account
// name. Other records (groups, computers, OUs) are skipped and counted.
//
// A person's primary name is the first of userPrincipalName, mail, uid and
// sAMAccountName (as sam@domain, the domain from the DN's DC= parts); all of
// these, every mail, DOMAIN\sam (DOMAIN the first DC label) and proxyAddresses
// smtp: addresses are names that belong to the person alone (a second claim
// rejects the later record); cn and displayName are names only when they hold a
// space ("Alice Smith", not "Administrator") and no one else has or shares
// them. department, title (as role), physicalDeliveryOfficeName or l (office)
// are copied; manager is a DN, resolved to that person's primary name once
// every record is read (when no record read has that DN, the DN's CN, else uid,
// and that resolves when it is a name of a person read). A person is privileged
// when memberOf names a group in PrivilegedGroups, when a privileged group read
// from the file lists them as member or uniqueMember (direct membership only),
// or when adminCount is 1; disabled when userAccountControl has bit 0x2.
func ReadLDIF(r io.Reader) (*Directory, []RowError, error) {
	p := &ldifParser{privMember: map[string]bool{}}
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(len(bom)); bytes.Equal(head, bom) {
		_, _ = br.Discard(len(bom))
	}
	var (
		cur      []byte // the logical line being assembled
		curLine  int
		have     bool
		comment  bool
		tooLong  bool
		physLine int
	)
	flush := func() {
		if have && !comment {
			p.line(cur, curLine, tooLong)
		}
		have = false
	}
	for p.fatal == nil {
		phys, long, err := readLine(br, p.lineBuf, MaxLDIFLine)
		p.lineBuf = phys
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("reading line %d: %w", physLine+1, err)
		}
		if errors.Is(err, io.EOF) && phys == nil {
			break
		}
		physLine++
		switch {
		case len(phys) > 0 && phys[0] == ' ':
			if !have {
				if len(bytes.TrimSpace(phys)) > 0 {
					p.fail(physLine, "continuation line with no line to continue")
				}
				continue
			}
			if comment {
				continue
			}
			if len(cur)+len(phys)-1 > MaxLDIFLine || long {
				tooLong = true
				continue
			}
			cur = append(cur, phys[1:]...)
		case len(phys) == 0:
			flush()
			p.endRecord()
		default:
			flush()
			cur = append(cur[:0], phys...)
			curLine, have, comment, tooLong = physLine, true, phys[0] == '#', long
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if p.fatal != nil {
		return nil, p.rejected, p.fatal
	}
	flush()
	p.endRecord()
	if p.fatal != nil {
		return nil, p.rejected, p.fatal
	}
	return p.build()
}

// readLine returns the next line without its end (LF or CRLF), nil with io.EOF
// at the end. A line longer than max is cut to max and long is set (the rest is
// read and dropped).
func readLine(br *bufio.Reader, buf []byte, maxLen int) (line []byte, long bool, err error) {
	buf = buf[:0]
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > maxLen+2 {
			long = true
			if room := maxLen - len(buf); room > 0 {
				buf = append(buf, frag[:room]...)
			}
		} else {
			buf = append(buf, frag...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return nil, false, err
		}
		if len(buf) == 0 && errors.Is(err, io.EOF) {
			return nil, false, io.EOF
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if buf == nil {
			buf = []byte{}
		}
		return buf, long, err
	}
}

// fail rejects the current record (starting one if between records).
func (p *ldifParser) fail(line int, reason string) {
	if p.rec == nil {
		p.rec = &ldifRecord{line: line}
	}
	if p.rec.err == nil {
		p.rec.err = &RowError{Line: line, Reason: reason}
	}
}

// line handles one logical line.
func (p *ldifParser) line(text []byte, line int, tooLong bool) {
	if tooLong {
		p.fail(line, fmt.Sprintf("line longer than %d bytes", MaxLDIFLine))
		return
	}
	colon := bytes.IndexByte(text, ':')
	if colon <= 0 {
		p.fail(line, "line is not \"attribute: value\"")
		return
	}
	p.desc = appendLower(p.desc[:0], text[:colon])
	nameB, _, _ := bytes.Cut(p.desc, []byte(";"))
	if !validAttrType(nameB) || !validOptions(p.desc[len(nameB):]) {
		p.fail(line, fmt.Sprintf("attribute description %q is not valid", text[:colon]))
		return
	}
	name := ldifNames[string(nameB)] // "" for an attribute not read
	if p.rec == nil {
		if !p.sawLine && name == "version" {
			p.sawLine = true
			if v := strings.TrimSpace(string(text[colon+1:])); v != "1" {
				p.fatal = fmt.Errorf("line %d: LDIF version %q is not 1", line, v)
			}
			return
		}
		p.sawLine = true
		if name != "dn" {
			p.fail(line, fmt.Sprintf("record starts with %q, not dn:", name))
			return
		}
		p.rec = &ldifRecord{line: line, attrs: map[string][]ldifValue{}, header: true}
		v, err := p.value(text[colon+1:])
		if err != nil {
			p.fail(line, "dn: "+err.Error())
			return
		}
		dn, err := parseDN(v)
		if err != nil {
			p.fail(line, fmt.Sprintf("dn %q: %v", truncate(v), err))
			return
		}
		p.rec.dn = dn
		return
	}
	rec := p.rec
	if rec.err != nil {
		return
	}
	if name == "dn" {
		p.fail(line, "dn: inside a record (blank line missing before it?)")
		return
	}
	if rec.header {
		switch name {
		case "control":
			return
		case "changetype":
			rec.header = false
			v, err := p.value(text[colon+1:])
			if err != nil {
				p.fail(line, "changetype: "+err.Error())
				return
			}
			if ct := strings.ToLower(strings.TrimSpace(v)); ct != "add" {
				p.fail(line, fmt.Sprintf("changetype %q: only entries and add records are read", truncate(ct)))
			}
			return
		}
		rec.header = false
	}
	keep := name != "" && ldifAttrs[name]
	v, err := p.valueKeep(text[colon+1:], keep)
	if err != nil {
		p.fail(line, fmt.Sprintf("%s: %v", text[:colon], err))
		return
	}
	if !keep {
		return
	}
	if !utf8.ValidString(v) {
		p.fail(line, fmt.Sprintf("%s: value is not UTF-8", text[:colon]))
		return
	}
	if rec.nvals++; rec.nvals > MaxLDIFValues {
		p.fail(line, fmt.Sprintf("more than %d values", MaxLDIFValues))
		return
	}
	rec.attrs[name] = append(rec.attrs[name], ldifValue{v: v, line: line})
}

// validOptions accepts attribute options as written after the type (lower-cased):
// ";lang-en", ";binary", ";range=0-1499".
func validOptions(opts []byte) bool {
	if len(opts) == 0 {
		return true
	}
	if opts[0] != ';' {
		return false
	}
	for o := range bytes.SplitSeq(opts[1:], []byte(";")) {
		if len(o) == 0 {
			return false
		}
		for _, c := range o {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '=' || c == '.' || c == '*') {
				return false
			}
		}
	}
	return true
}

func (p *ldifParser) value(spec []byte) (string, error) { return p.valueKeep(spec, true) }

// valueKeep decodes the value after "attr:": a string, ":: base64" or ":< URL"
// (refused). When keep is false the value is only checked and "" returned.
func (p *ldifParser) valueKeep(spec []byte, keep bool) (string, error) {
	if len(spec) > 0 && spec[0] == '<' {
		return "", errors.New("URL values (:<) are not fetched")
	}
	if len(spec) > 0 && spec[0] == ':' {
		enc := bytes.TrimSpace(spec[1:])
		n := base64.RawStdEncoding.DecodedLen(len(enc)) // ≥ the padded length's
		p.scratch = slices.Grow(p.scratch[:0], n)[:n]
		m, err := base64.StdEncoding.Decode(p.scratch, enc)
		if err != nil {
			// Some tools drop the padding.
			m, err = base64.RawStdEncoding.Decode(p.scratch, enc)
			if err != nil {
				return "", fmt.Errorf("invalid base64: %w", err)
			}
		}
		if !keep {
			return "", nil
		}
		return string(p.scratch[:m]), nil
	}
	if !keep {
		return "", nil
	}
	return string(bytes.TrimLeft(spec, " ")), nil
}

// endRecord closes the current record: rejected, skipped or a person.
func (p *ldifParser) endRecord() {
	rec := p.rec
	p.rec = nil
	if rec == nil {
		return
	}
	if p.records++; p.records > MaxRows {
		p.fatal = fmt.Errorf("more than %d records", MaxRows)
		return
	}
	if rec.err != nil {
		p.rejected = append(p.rejected, *rec.err)
		return
	}
	lp, isPerson, err := p.person(rec)
	switch {
	case err != nil:
		var re RowError
		if !errors.As(err, &re) {
			re = RowError{Line: rec.line, Reason: err.Error()}
		}
		p.rejected = append(p.rejected, re)
	case isPerson:
		p.people = append(p.people, lp)
	default:
		p.skipped++
		p.groupMembers(rec)
	}
}

// groupMembers notes the members of a privileged group.
func (p *ldifParser) groupMembers(rec *ldifRecord) {
	if !privilegedGroup(rec.dn.leaf("cn")) {
		return
	}
	for _, attr := range []string{"member", "uniquemember"} {
		for _, m := range rec.attrs[attr] {
			if dn, err := parseDN(m.v); err == nil && len(dn) > 0 {
				p.privMember[dn.key()] = true
			}
		}
	}
}

func privilegedGroup(cn string) bool {
	if cn == "" {
		return false
	}
	for _, g := range PrivilegedGroups {
		if strings.EqualFold(g, cn) {
			return true
		}
	}
	return false
}

func (rec *ldifRecord) first(attr string) (ldifValue, bool) {
	for _, v := range rec.attrs[attr] {
		if s := strings.TrimSpace(v.v); s != "" {
			return ldifValue{v: s, line: v.line}, true
		}
	}
	return ldifValue{}, false
}

func (rec *ldifRecord) get(attr string) string {
	v, _ := rec.first(attr)
	return v.v
}

// person maps a record; isPerson is false for records that are not people.
func (p *ldifParser) person(rec *ldifRecord) (lp ldifPerson, isPerson bool, err error) {
	classes := map[string]bool{}
	for _, v := range rec.attrs["objectclass"] {
		classes[strings.ToLower(strings.TrimSpace(v.v))] = true
	}
	upn, mail, uid, sam := rec.get("userprincipalname"), rec.get("mail"), rec.get("uid"), rec.get("samaccountname")
	switch {
	case classes["computer"] || strings.HasSuffix(sam, "$"): // machine and trust accounts
		return lp, false, nil
	case len(classes) == 0:
		if upn == "" && mail == "" && uid == "" && sam == "" {
			return lp, false, nil
		}
	case classes["contact"] && !classes["user"]:
		return lp, false, nil
	case !classes["user"] && !classes["person"] && !classes["organizationalperson"] && !classes["inetorgperson"] && !classes["posixaccount"]:
		return lp, false, nil
	}
	dns, netbios := rec.dn.domain()
	var names []string
	add := func(s string) {
		if c := canonical(s); c != "" {
			names = append(names, c)
		}
	}
	add(upn)
	for _, v := range rec.attrs["mail"] {
		add(v.v)
	}
	for _, v := range rec.attrs["uid"] {
		add(v.v)
	}
	if sam != "" {
		if dns != "" {
			add(sam + "@" + dns)
			add(netbios + `\` + sam)
		} else {
			add(sam)
		}
	}
	for _, v := range rec.attrs["proxyaddresses"] {
		if s := strings.TrimSpace(v.v); len(s) > 5 && strings.EqualFold(s[:5], "smtp:") {
			add(s[5:])
		}
	}
	if len(names) == 0 {
		return lp, true, RowError{Line: rec.line, Reason: "person has no userPrincipalName, mail, uid or sAMAccountName"}
	}
	lp = ldifPerson{line: rec.line, dnKey: rec.dn.key(), manager: rec.get("manager")}
	lp.p = Person{
		User: names[0], Aliases: names[1:], Email: mail, Department: rec.get("department"), Role: rec.get("title"),
		Office: cmp.Or(rec.get("physicaldeliveryofficename"), rec.get("l")),
	}
	for _, attr := range []string{"cn", "displayname"} {
		for _, v := range rec.attrs[attr] {
			if c := canonical(v.v); c != "" {
				lp.weak = append(lp.weak, c)
			}
		}
	}
	for _, v := range rec.attrs["memberof"] {
		dn, err := parseLeaf(v.v)
		if err != nil {
			return lp, true, RowError{Line: v.line, Reason: fmt.Sprintf("memberOf %q: %v", truncate(v.v), err)}
		}
		if privilegedGroup(dn.leaf("cn")) {
			lp.p.Privileged = true
		}
	}
	if v, ok := rec.first("admincount"); ok {
		n, err := strconv.ParseInt(v.v, 10, 64)
		if err != nil {
			return lp, true, RowError{Line: v.line, Reason: fmt.Sprintf("adminCount %q is not a number", truncate(v.v))}
		}
		if n > 0 {
			lp.p.Privileged = true
		}
	}
	if v, ok := rec.first("useraccountcontrol"); ok {
		n, err := strconv.ParseInt(v.v, 10, 64)
		if err != nil {
			return lp, true, RowError{Line: v.line, Reason: fmt.Sprintf("userAccountControl %q is not a number", truncate(v.v))}
		}
		lp.p.Disabled = n&0x2 != 0
	}
	return lp, true, nil
}

// build makes the directory once every record is read: people in file order,
// then managers and privileged-group members resolved by DN.
func (p *ldifParser) build() (*Directory, []RowError, error) {
	b := newBuilder()
	b.d.skipped = p.skipped
	byDN := map[string]int{}
	managers := make([]string, 0, len(p.people))
	for _, lp := range p.people {
		idx, reason := b.add(lp.p, lp.weak)
		if reason != "" {
			p.rejected = append(p.rejected, RowError{Line: lp.line, Reason: reason})
			continue
		}
		if _, dup := byDN[lp.dnKey]; !dup {
			byDN[lp.dnKey] = idx
		}
		managers = append(managers, lp.manager)
		if p.privMember[lp.dnKey] {
			b.d.people[idx].Privileged = true
		}
	}
	d := b.finish()
	for i, m := range managers {
		if m == "" {
			continue
		}
		dn, err := parseDN(m)
		switch {
		case err != nil || len(dn) == 0:
			d.people[i].Manager = strings.ToLower(m)
		case hasIdx(byDN, dn.key()):
			d.people[i].Manager = d.people[byDN[dn.key()]].User
		case dn.leaf("cn") != "":
			d.people[i].Manager = canonical(dn.leaf("cn"))
		case dn.leaf("uid") != "":
			d.people[i].Manager = canonical(dn.leaf("uid"))
		default:
			d.people[i].Manager = strings.ToLower(m)
		}
	}
	d.resolveManagers() // a manager outside the export may still be known by cn
	slices.SortStableFunc(p.rejected, func(a, b RowError) int { return cmp.Compare(a.Line, b.Line) })
	return d, p.rejected, nil
}

func hasIdx(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
