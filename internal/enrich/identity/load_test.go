package identity

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{in: "name,role\nalice,staff\n", err: `the first line "name,role" is not a CSV header with a user column`},
		{in: "# c\nuser,role\n", err: `the first line "user,role" is not`},
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
		{file: "d.yml", body: yamlBody, people: 1},
		{file: "d.ldif", body: ldifBody, people: 1},
		{file: "export", body: ldifBody, people: 1},
		{file: "d.txt", body: yamlBody, people: 1},
		{file: "d.dat", body: "user,role\na@x,r\n", people: 1},
		{file: "d.csv", body: yamlBody, err: `(csv): header: no "user" column`},
		{file: "d.yaml", body: ldifBody, err: "(yaml): line 1: top-level key \"dn\" is not identities"},
		{file: "empty.csv", body: "", err: "file is empty"},
		{file: "blank.ldif", body: "\n\n  \n", err: "file is empty"},
		{file: "d.json", body: `[{"user": "a"}]`, people: 1}, // JSON is YAML
		{file: "d.json", body: `{"user": "a"}`, err: `extension ".json" is not .csv, .yaml, .yml or .ldif, and the first line`},
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
