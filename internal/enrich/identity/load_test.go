package identity

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestSniff(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Format
		err  string
	}{
		{in: "user,aliases\na,b\n", want: FormatCSV},
		{in: "\ufeff\"User\",Role\n", want: FormatCSV},
		{in: "user\n", want: FormatCSV},
		{in: "- user: a\n", want: FormatYAML},
		{in: "# people\n\nidentities:\n  - user: a\n", want: FormatYAML},
		{in: "---\n- user: a\n", want: FormatYAML},
		{in: "[{user: a}]\n", want: FormatYAML},
		{in: "version: 1\n\ndn: uid=a\n", want: FormatLDIF},
		{in: "# export\r\nDN: CN=a,DC=b\r\n", want: FormatLDIF},
		{in: "", err: "the file is empty"},
		{in: "\n \n", err: "the file is empty"},
		{in: "# only\n# comments\n", err: "the file holds only comments"},
		{in: "name,role\nalice,staff\n", err: "line 1, the first that is not blank or a comment, is not a CSV header with a user column"},
		{in: "# c\n\nuser,role\n", err: "line 3, the first"},
		{in: "{\"user\": \"a\"}\n", err: "is not a CSV header"},
	} {
		got, err := Sniff([]byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Sniff(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Sniff(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestLoadDispatch(t *testing.T) {
	dir := t.TempDir()
	yamlBody := "- user: a@x\n  aliases: [X\\a]\n"
	ldifBody := "dn: uid=a,dc=x\nobjectClass: person\nuid: a\nmail: a@x\n"
	for _, tt := range []struct {
		file, body, err string
		people          int
	}{
		{file: "d.csv", body: "user\na@x\n", people: 1},
		{file: "d.CSV", body: "user\na@x\n", people: 1},
		{file: "d.yaml", body: yamlBody, people: 1},
		{file: "d.yml", body: "\ufeff" + yamlBody, people: 1},
		{file: "d.ldif", body: ldifBody, people: 1},
		{file: "export.ldf", body: "\ufeff" + ldifBody, people: 1}, // ldifde's usual name; UTF-8 BOM
		{file: "export", body: ldifBody, people: 1},
		{file: "d.txt", body: yamlBody, people: 1},
		{file: "d.dat", body: "user,role\na@x,r\n", people: 1},
		{file: "d.csv", body: yamlBody, err: `(csv): header: no "user" column`},
		{file: "d.yaml", body: ldifBody, err: "(yaml): line 1: top-level key \"dn\" is not identities"},
		{file: "empty.csv", body: "", err: "file is empty"},
		{file: "blank.ldif", body: "\n\n  \n", err: "file is empty"},
		{file: "d.json", body: `[{"user": "a"}]`, people: 1}, // JSON is YAML
		{file: "d.json", body: `{"user": "a"}`, err: `extension ".json" is not .csv, .yaml, .yml, .ldif or .ldf, and line 1, the first`},
		{file: "comments.txt", body: "# nothing\n", err: "the file holds only comments"},
		{file: "missing.csv", err: "opening identity directory"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			p := filepath.Join(dir, tt.file)
			if tt.file != "missing.csv" {
				if err := os.WriteFile(p, []byte(tt.body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			d, _, err := Load(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || d.Len() != tt.people {
				t.Fatalf("people %d, error %v", d.Len(), err)
			}
		})
	}
}

func TestLoadSniffsPastTheFirstBlock(t *testing.T) {
	// A file larger than the sniffed block is read whole, not cut at the block.
	var b strings.Builder
	b.WriteString("user,role\n")
	for i := range 20_000 {
		fmt.Fprintf(&b, "user-%d,r\n", i)
	}
	p := filepath.Join(t.TempDir(), "big.dat")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	d, rej, err := Load(p)
	if err != nil || len(rej) != 0 || d.Len() != 20_000 {
		t.Fatalf("people %d, rejected %d, error %v", d.Len(), len(rej), err)
	}
	if _, ok := d.Lookup("user-19999"); !ok {
		t.Error("last row missing")
	}
}

func utf16File(s string, big bool) []byte {
	out := []byte{0xFF, 0xFE}
	if big {
		out = []byte{0xFE, 0xFF}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if big {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

func TestLoadUTF16(t *testing.T) {
	dir := t.TempDir()
	ldif := "dn: CN=Zoë 🦊 Brown,OU=Staff,DC=corp,DC=example\r\nobjectClass: user\r\nsAMAccountName: zoe\r\n" +
		"displayName: Zoë 🦊 Brown\r\ntitle: Directrice\r\n"
	for _, tt := range []struct {
		file string
		body []byte
		err  string
	}{
		{file: "le.ldf", body: utf16File(ldif, false)},
		{file: "be.ldif", body: utf16File(ldif, true)},
		{file: "le.txt", body: utf16File(ldif, false)},
		{file: "le.csv", body: utf16File("user,aliases,role\r\nzoe@corp.example,CORP\\zoe;zoë 🦊 brown,Directrice\r\n", false)},
		{file: "odd.ldif", body: append(utf16File(ldif, false), 'x'), err: "utf-16: odd byte at offset"},
		{file: "bom-only.csv", body: utf16File("", false), err: "file is empty"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			p := filepath.Join(dir, tt.file)
			if err := os.WriteFile(p, tt.body, 0o600); err != nil {
				t.Fatal(err)
			}
			d, rej, err := Load(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(rej) != 0 {
				t.Fatal(rej, err)
			}
			checkLookups(t, d, []want{{name: "zoë 🦊 brown", user: "zoe@corp.example", group: "/Directrice"}})
		})
	}
}

// FuzzLoadReader covers what Load adds to the readers: UTF-16 transcoding,
// the empty check and sniffing.
func FuzzLoadReader(f *testing.F) {
	f.Add([]byte("user,role\na,b\n"), "")
	f.Add([]byte("- user: a\n"), ".txt")
	f.Add(mustRead(f, filepath.Join("testdata", "openldap.ldif")), "")
	f.Add(utf16File("dn: uid=a,dc=x\r\nuid: a\r\n", false), ".ldf")
	f.Add(utf16File("user\na\U0001F98A\n", true), "")
	f.Add([]byte{0xFF, 0xFE, 0x00, 0xD8, 0x41, 0x00}, "") // unpaired surrogate
	f.Fuzz(func(t *testing.T, in []byte, ext string) {
		d, _, err := LoadReader(bytes.NewReader(in), "f"+ext)
		if err != nil {
			return
		}
		checkDirectory(t, d)
	})
}
