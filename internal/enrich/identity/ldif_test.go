package identity

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// want is what a lookup should find.
type want struct {
	name       string // looked up
	user       string // "" when the name must not resolve
	manager    string
	office     string
	group      string // peer group
	privileged bool
	disabled   bool
}

func checkLookups(t *testing.T, d *Directory, tests []want) {
	t.Helper()
	for _, tt := range tests {
		p, ok := d.Lookup(tt.name)
		if tt.user == "" {
			if ok {
				t.Errorf("Lookup(%q) = %+v, want no match", tt.name, p)
			}
			continue
		}
		if !ok {
			t.Errorf("Lookup(%q): no match, want %s", tt.name, tt.user)
			continue
		}
		got := want{tt.name, p.User, p.Manager, p.Office, p.PeerGroup(), p.Privileged, p.Disabled}
		if got != tt {
			t.Errorf("Lookup(%q) =\n  %+v\nwant\n  %+v", tt.name, got, tt)
		}
	}
}

func checkRejected(t *testing.T, rej []RowError, want []string) {
	t.Helper()
	got := make([]string, len(rej))
	for i, r := range rej {
		got[i] = r.Error()
	}
	if len(got) != len(want) {
		t.Fatalf("rejected:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("rejected[%d] = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestLoadLDIFActiveDirectory(t *testing.T) {
	d, rej, err := Load(filepath.Join("testdata", "ad.ldif"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 5 || d.Skipped() != 5 {
		t.Errorf("people %d, skipped %d; want 5 and 5 (domain, OU, group, computer, contact)", d.Len(), d.Skipped())
	}
	checkRejected(t, rej, []string{
		"line 141: description: invalid base64",
		"line 147: thumbnailPhoto: URL values (:<) are not fetched",
		`line 150: changetype "modify": only entries and add records are read`,
		`line 155: name "asmith@corp.example" already belongs to another person`,
	})
	alice := want{user: "alice@corp.example", manager: "bob@corp.example", office: "London", group: "Finance/Accountant"}
	bob := want{user: "bob@corp.example", office: "London", group: "IT/Director", privileged: true}
	carol := want{user: "carol@corp.example", group: "IT/Engineer", privileged: true, disabled: true}
	dave := want{user: "dave.brown@corp.example", manager: "eve former", group: "Sales/Account Manager", privileged: true}
	frank := want{user: "frank@corp.example", group: "IT/Operator", privileged: true}
	named := func(w want, name string) want { w.name = name; return w }
	checkLookups(t, d, []want{
		named(alice, `CORP\alice`),               // Windows logon
		named(alice, "alice@corp.example"),       // UPN, Entra ID
		named(alice, "Alice.Smith@corp.example"), // mail, Okta login
		named(alice, "asmith@corp.example"),      // proxyAddresses smtp:
		named(alice, "alice@corp"),               // CORP\alice canonical form
		named(alice, "Alice Smith"),              // cn and displayName
		named(bob, `corp\BOB`),                   // memberOf Domain Admins
		named(bob, "bob jones"),                  // displayName
		named(bob, "Jones, Bob"),                 // cn with an escaped comma in the DN
		named(carol, "carol dupré"),              // base64 displayName; adminCount 1; UAC 514
		named(carol, `CORP\carol`),
		named(dave, "dave@corp.example"),   // sam@domain; no UPN, mail is primary
		named(dave, `CORP\dave`),           // memberOf Backup Operators (folded base64)
		named(frank, "frank@corp.example"), // privileged by the group's member list
		{name: "alice"},                    // bare names are not aliases
		{name: "alice@corp.example.com"},
		{name: "ws-042$@corp.example"}, // computer: skipped
		{name: `CORP\WS-042$`},
		{name: "someone@partner.example"}, // contact: skipped
		{name: "gina@corp.example"},       // rejected
		{name: "ivan@corp.example"},
		{name: "sip:alice@corp.example"},
	})
	p, _ := d.Lookup("alice@corp.example")
	wantAliases := []string{"alice.smith@corp.example", "alice@corp", "asmith@corp.example", "alice smith"}
	if !slices.Equal(p.Aliases, wantAliases) {
		t.Errorf("alice aliases %q, want %q", p.Aliases, wantAliases)
	}
	if p.Email != "alice.smith@corp.example" {
		t.Errorf("alice email %q", p.Email)
	}
}

func TestLoadLDIFOpenLDAP(t *testing.T) {
	d, rej, err := Load(filepath.Join("testdata", "openldap.ldif"))
	if err != nil || len(rej) != 0 {
		t.Fatal(rej, err)
	}
	if d.Len() != 2 || d.Skipped() != 4 {
		t.Errorf("people %d, skipped %d; want 2 and 4", d.Len(), d.Skipped())
	}
	alice := want{user: "alice@corp.example", manager: "bob", office: "London", group: "/Accountant"}
	bob := want{user: "bob", group: "/Director", privileged: true}
	checkLookups(t, d, []want{
		{name: "alice.smith", user: alice.user, manager: alice.manager, office: alice.office, group: alice.group},
		{name: "alice.smith@corp.example", user: alice.user, manager: alice.manager, office: alice.office, group: alice.group},
		{name: "BOB", user: bob.user, group: bob.group, privileged: true},
		{name: "bob jönes", user: bob.user, group: bob.group, privileged: true},
		{name: "robert jones", user: bob.user, group: bob.group, privileged: true}, // cn;lang-fr
		{name: "finance"},
	})
}

func TestReadLDIF(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		people   int
		skipped  int
		rejected []string
		fatal    string
		lookups  []want
	}{{
		name: "folded lines, comments, CRLF, no version",
		in: "# comment\r\n# folded\r\n  comment\r\ndn: CN=A,OU=Staff,DC=corp,DC=exa\r\n mple\r\nobjectClass: user\r\nsAMAcc\r\n ountName: al\r\n ice\r\ntitle: Ad\r\n" +
			" min\r\n",
		people:  1,
		lookups: []want{{name: `CORP\alice`, user: "alice@corp.example", group: "/Admin"}},
	}, {
		name:    "version then dn in one paragraph; several blank lines; no final newline",
		in:      "version: 1\ndn: uid=a,dc=x\nobjectClass: person\nuid: a\n\n\n\ndn: uid=b,dc=x\nobjectClass: person\nuid: b",
		people:  2,
		lookups: []want{{name: "a", user: "a"}, {name: "b", user: "b"}},
	}, {
		name:  "unsupported version is fatal",
		in:    "version: 2\n\ndn: uid=a,dc=x\nuid: a\n",
		fatal: `line 1: LDIF version "2" is not 1`,
	}, {
		name:    "changetype add accepted, with control",
		in:      "dn: uid=a,dc=x\ncontrol: 1.2.840.113556.1.4.805 true\nchangetype: add\nobjectClass: person\nuid: a\n",
		people:  1,
		lookups: []want{{name: "a", user: "a"}},
	}, {
		name: "other changetypes rejected",
		in: "dn: uid=a,dc=x\nchangetype: delete\n\ndn: uid=b,dc=x\nchangetype: modrdn\nnewrdn: uid=c\ndeleteoldrdn: 1\n\n" +
			"dn: uid=d,dc=x\nchangetype:: bW9kaWZ5\nadd: mail\nmail: d@x\n-\n",
		rejected: []string{`line 2: changetype "delete"`, `line 5: changetype "modrdn"`, `line 10: changetype "modify"`},
	}, {
		name:     "base64 dn and bad base64 value",
		in:       "dn:: dWlkPWEsZGM9eA==\nobjectClass: person\nuid: a\n\ndn: uid=b,dc=x\nobjectClass: person\nuid:: YQ=\n",
		people:   1,
		rejected: []string{"line 7: uid: invalid base64"},
		lookups:  []want{{name: "a", user: "a"}},
	}, {
		name:     "URL value never fetched",
		in:       "dn: uid=a,dc=x\nobjectClass: person\nuid: a\njpegPhoto:< http://127.0.0.1:1/photo.jpg\n",
		rejected: []string{"line 4: jpegPhoto: URL values (:<) are not fetched"},
	}, {
		name:     "record without dn, continuation without a line, missing blank line",
		in:       "uid: a\nmail: a@x\n\n continued\nuid: b\n\ndn: uid=c,dc=x\nuid: c\ndn: uid=d,dc=x\n\ndn: uid=e,dc=x\nuid: e\n",
		people:   1,
		rejected: []string{`line 1: record starts with "uid", not dn:`, "line 4: continuation line", "line 9: dn: inside a record"},
		lookups:  []want{{name: "e", user: "e"}},
	}, {
		name:     "malformed lines",
		in:       "dn: uid=a,dc=x\nuid a\n\ndn: uid=b,dc=x\nu id: b\n\ndn: cn=a\\q,dc=x\nuid: c\n\ndn: uid=d,dc=x\nuid:: /w==\n",
		rejected: []string{"line 2: line is not", `line 5: attribute description "u id"`, `line 7: dn "cn=a\\q,dc=x": bad escape`, "line 11: uid: value is not UTF-8"},
	}, {
		name: "sAMAccountName without DC parts; adminCount and userAccountControl",
		in: "dn: CN=a,OU=x\nobjectClass: user\nsAMAccountName: a\nadminCount: 1\nuserAccountControl: 514\n\n" +
			"dn: CN=b,OU=x\nobjectClass: user\nsAMAccountName: b\nadminCount: 0\nuserAccountControl: 512\n\n" +
			"dn: CN=c,OU=x\nobjectClass: user\nsAMAccountName: c\nadminCount: yes\n\n" +
			"dn: CN=d,OU=x\nobjectClass: user\nsAMAccountName: d\nuserAccountControl: 0x2\n",
		people:   2,
		rejected: []string{`line 16: adminCount "yes" is not a number`, `line 21: userAccountControl "0x2" is not a number`},
		lookups:  []want{{name: "a", user: "a", privileged: true, disabled: true}, {name: "b", user: "b"}},
	}, {
		name: "privileged groups by CN, any case, nested DN forms",
		in: fmtAD("a", "memberOf: cn=domain admins,cn=Users,dc=corp,dc=example") + fmtAD("b", "memberOf: CN=Enterprise Key Admins,CN=Users,DC=corp,DC=example") +
			fmtAD("c", "memberOf: CN=Not Domain Admins,CN=Users,DC=corp,DC=example") + fmtAD("d", "memberOf: OU=Domain Admins,DC=corp,DC=example") +
			fmtAD("e", "memberOf: CN=Domain Admins\\2C old,DC=corp,DC=example") + fmtAD("f", "memberOf: garbage"),
		people:   5,
		rejected: []string{`line 29: memberOf "garbage"`},
		lookups: []want{
			{name: `corp\a`, user: "a@corp.example", privileged: true}, {name: `corp\b`, user: "b@corp.example", privileged: true},
			{name: `corp\c`, user: "c@corp.example"}, {name: `corp\d`, user: "d@corp.example"}, {name: `corp\e`, user: "e@corp.example"},
		},
	}, {
		name: "not people: skipped, not rejected",
		in: "dn:\nobjectClass: top\n\ndn: cn=g,dc=x\nobjectClass: group\nmail: g@x\n\ndn: cn=h,dc=x\nobjectClass: organizationalUnit\n\n" +
			"dn: cn=w,dc=x\nobjectClass: user\nobjectClass: computer\nsAMAccountName: w$\n\ndn: cn=z,dc=x\nsAMAccountName: z$\n\n" +
			"dn: cn=q,dc=x\ncn: q\n\ndn: CN=TRUSTED$,CN=Users,DC=x\nobjectClass: user\nsAMAccountName: TRUSTED$\n\n" +
			"dn: uid=a,dc=x\nuid: a\n",
		people: 1, skipped: 7,
		lookups: []want{{name: "a", user: "a"}, {name: "g@x"}},
	}, {
		name: "one-word cn and displayName are not names",
		in: "dn: CN=Administrator,CN=Users,DC=corp,DC=example\nobjectClass: user\nsAMAccountName: Administrator\n" +
			"cn: Administrator\ndisplayName: admin\nmemberOf: CN=Administrators,CN=Builtin,DC=corp,DC=example\n",
		people: 1,
		lookups: []want{
			{name: "administrator"}, {name: "admin"},
			{name: `CORP\Administrator`, user: "administrator@corp.example", privileged: true},
		},
	}, {
		name: "manager outside the export known by display name",
		in: "dn: CN=Eve Boss,OU=Board,DC=corp,DC=example\nobjectClass: user\nsAMAccountName: eve\ndisplayName: Eve Boss\n\n" +
			"dn: CN=a,OU=Staff,DC=corp,DC=example\nobjectClass: user\nsAMAccountName: a\nmanager: CN=Eve Boss,OU=Old,DC=corp,DC=example\n",
		people:  2,
		lookups: []want{{name: `corp\a`, user: "a@corp.example", manager: "eve@corp.example"}},
	}, {
		name:     "person without an account name",
		in:       "dn: cn=Nobody,dc=x\nobjectClass: person\ncn: Nobody\n",
		rejected: []string{"line 1: person has no userPrincipalName"},
	}, {
		name: "shared display names index neither person; manager resolution",
		in: "dn: uid=a,dc=x\nobjectClass: person\nuid: a\ncn: John Smith\nmanager: UID=B, DC=X\n\n" +
			"dn: uid=b,dc=x\nobjectClass: person\nuid: b\ncn: John Smith\nmanager: uid=gone,dc=x\n\n" +
			"dn: uid=c,dc=x\nobjectClass: person\nuid: c\ncn: c\nmanager: not a dn\n\n" +
			"dn: uid=d,dc=x\nobjectClass: person\nuid: d\ncn: b\nmanager: cn=Old Boss+uid=ob,dc=x\n",
		people: 4,
		lookups: []want{
			{name: "john smith"}, {name: "a", user: "a", manager: "b"}, {name: "b", user: "b", manager: "gone"},
			{name: "c", user: "c", manager: "not a dn"}, {name: "d", user: "d", manager: "old boss"},
		},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			d, rej, err := ReadLDIF(strings.NewReader(tt.in))
			if err != nil || tt.fatal != "" {
				if err == nil || tt.fatal == "" || !strings.Contains(err.Error(), tt.fatal) {
					t.Errorf("error %v, want %q", err, tt.fatal)
				}
				return
			}
			checkRejected(t, rej, tt.rejected)
			if d.Len() != tt.people || d.Skipped() != tt.skipped {
				t.Errorf("people %d, skipped %d; want %d, %d", d.Len(), d.Skipped(), tt.people, tt.skipped)
			}
			checkLookups(t, d, tt.lookups)
		})
	}
}

func fmtAD(name, extra string) string {
	return "dn: CN=" + name + ",OU=Staff,DC=corp,DC=example\nobjectClass: user\nsAMAccountName: " + name + "\n" + extra + "\n\n"
}

func TestParseDN(t *testing.T) {
	for _, tt := range []struct {
		in, cn, dns, netbios, err string
	}{
		{in: "CN=Jones\\, Bob,OU=IT,DC=corp,DC=example", cn: "Jones, Bob", dns: "corp.example", netbios: "corp"},
		{in: " cn = a b  , dc=X ", cn: "a b", dns: "x", netbios: "x"},
		{in: `CN=\41\42\20, DC=c`, cn: "AB ", dns: "c", netbios: "c"},
		{in: `CN="Smith, J";O=x`, cn: "Smith, J"},
		{in: "CN=a+UID=b,DC=c", cn: "a", dns: "c", netbios: "c"},
		{in: "1.3.6.1.4.1.1466.0=#04024869,DC=c", dns: "c", netbios: "c"},
		{in: ""},
		{in: "cn", err: "no '='"},
		{in: "cn=a,", err: "no '='"},
		{in: `cn=a\`, err: `ends with "\"`},
		{in: `cn=a\q`, err: "bad escape"},
		{in: `cn="a`, err: "unterminated"},
		{in: "c n=a", err: "not a name or OID"},
	} {
		dn, err := parseDN(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseDN(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseDN(%q): %v", tt.in, err)
			continue
		}
		dns, nb := dn.domain()
		if dn.leaf("cn") != tt.cn || dns != tt.dns || nb != tt.netbios {
			t.Errorf("parseDN(%q): cn %q, domain %q %q", tt.in, dn.leaf("cn"), dns, nb)
		}
	}
	a, _ := parseDN("CN=Jones\\, Bob, OU=IT,DC=Corp")
	b, _ := parseDN("cn=jones\\2c bob,ou=it,dc=corp")
	c, _ := parseDN("UID=b+CN=a")
	d, _ := parseDN("cn=a+uid=b")
	if a.key() != b.key() || c.key() != d.key() || a.key() == c.key() {
		t.Errorf("keys: %q %q %q %q", a.key(), b.key(), c.key(), d.key())
	}
}

func FuzzReadLDIF(f *testing.F) {
	for _, p := range []string{"ad.ldif", "openldap.ldif"} {
		f.Add(string(mustRead(f, filepath.Join("testdata", p))))
	}
	f.Add("version: 1\ndn: uid=a,dc=x\nuid: a\n cont\n\n# c\n  more\ndn:: dWlkPWI=\nuid:: Yg==\nmanager: uid=a,dc=x\n")
	f.Add("dn: CN=a,DC=b\nchangetype: modify\nreplace: x\n-\n\ndn: cn=g\nobjectClass: group\ncn: Domain Admins\nmember: CN=a,DC=b\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, rej, err := ReadLDIF(strings.NewReader(in))
		if err != nil {
			return
		}
		checkDirectory(t, d)
		lines := strings.Count(in, "\n") + 1
		for _, r := range rej {
			if r.Line < 1 || r.Line > lines {
				t.Fatalf("rejected %v: line outside 1..%d", r, lines)
			}
		}
	})
}

// checkDirectory checks that every name of every person resolves to them.
func checkDirectory(t *testing.T, d *Directory) {
	t.Helper()
	for _, p := range d.People() {
		if p.User == "" {
			t.Fatalf("person without user: %+v", p)
		}
		for _, n := range append([]string{p.User}, p.Aliases...) {
			got, ok := d.Lookup(n)
			if !ok || got.User != p.User {
				t.Fatalf("name %q of %q resolves to %v", n, p.User, got)
			}
		}
	}
}
