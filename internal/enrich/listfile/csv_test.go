package listfile

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

var testSpec = CSVSpec{Columns: []string{"host", "fqdn", "ips", "owner"}, Required: []string{"host", "fqdn"}, MaxRows: 3}

func TestOpenCSVHeader(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		spec     CSVSpec
		err      string
	}{
		{name: "any order, any case, bom and space", in: "\ufeffOWNER, Host ,ips\n", spec: testSpec},
		{name: "second of the required", in: "fqdn\n", spec: testSpec},
		{name: "nothing required", in: "owner\n", spec: CSVSpec{Columns: []string{"owner"}}},
		{name: "empty", in: "", spec: testSpec, err: "reading header: EOF"},
		{name: "repeated", in: "host,HOST\n", spec: testSpec, err: `header: column "host" repeated`},
		{name: "none required, one", in: "name,role\n", spec: CSVSpec{Columns: []string{"user", "role"}, Required: []string{"user"}}, err: `header: no "user" column`},
		{name: "none required, two", in: "ips,owner\n", spec: testSpec, err: `header: no "host" or "fqdn" column`},
		{name: "required before unknown", in: "hots,owner\n", spec: testSpec, err: `header: no "host" or "fqdn" column`},
		{name: "unknown, first in header order", in: "host,color,size\n", spec: testSpec, err: `header: unknown column "color" (known: host, fqdn, ips, owner)`},
		{name: "bad quoting", in: "host,\"x\n", spec: testSpec, err: "reading header: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenCSV(strings.NewReader(tt.in), "f.csv", tt.spec)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Fatalf("error %v, want it to start with %q", err, tt.err)
			}
		})
	}
}

func TestCSVEach(t *testing.T) {
	type got struct {
		line           int
		host, ips, own string
		list           []string
		blank          bool
	}
	for _, tt := range []struct {
		name, file, in string
		rows           []got
		rejected       []string
		err            string
	}{{
		name: "rows with their lines, short rows and lists",
		file: "inv.csv",
		in:   "host,ips,owner\na,10.0.0.1; 10.0.0.2,bob\n\nb\n   \n",
		rows: []got{
			{line: 2, host: "a", ips: "10.0.0.1; 10.0.0.2", own: "bob", list: []string{"10.0.0.1", " 10.0.0.2"}},
			{line: 4, host: "b"},
			{line: 5, host: "   ", blank: true},
		},
	}, {
		name:     "bad rows are rejected at their place and the rest read on",
		file:     "inv.csv",
		in:       "host,owner\nreject,x\na \"b,c\nok,y\n",
		rows:     []got{{line: 2, host: "reject", own: "x"}, {line: 4, host: "ok", own: "y"}},
		rejected: []string{"inv.csv:2: rejected reject", `inv.csv:3: bare " in non-quoted-field`},
	}, {
		name:     "no file name",
		in:       "host\nreject\n",
		rows:     []got{{line: 2, host: "reject"}},
		rejected: []string{"line 2: rejected reject"},
	}, {
		name:     "too many rows keeps what was rejected",
		in:       "host\nreject\nb\nc\nd\n",
		rows:     []got{{line: 2, host: "reject"}, {line: 3, host: "b"}, {line: 4, host: "c"}},
		rejected: []string{"line 2: rejected reject"},
		err:      "more than 3 rows",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := OpenCSV(strings.NewReader(tt.in), tt.file, testSpec)
			if err != nil {
				t.Fatal(err)
			}
			var rows []got
			rej, err := c.Each(func(r Row) error {
				rows = append(rows, got{line: r.Line, host: r.Get("host"), ips: r.Get("ips"), own: r.Get("owner"), list: r.List("ips"), blank: r.Blank()})
				if r.Get("fqdn") != "" {
					t.Errorf("fqdn, not in the header, = %q", r.Get("fqdn"))
				}
				if strings.HasPrefix(r.Get("host"), "reject") {
					return fmt.Errorf("rejected %s", r.Get("host"))
				}
				return nil
			})
			if tt.err != "" || err != nil {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
			}
			if len(rows) != len(tt.rows) {
				t.Fatalf("rows %+v, want %+v", rows, tt.rows)
			}
			for i := range rows {
				g, w := rows[i], tt.rows[i]
				if g.line != w.line || g.host != w.host || g.ips != w.ips || g.own != w.own || g.blank != w.blank || !slices.Equal(g.list, w.list) {
					t.Errorf("row %d = %+v, want %+v", i, g, w)
				}
			}
			var msgs []string
			for _, r := range rej {
				msgs = append(msgs, r.Error())
			}
			if !slices.Equal(msgs, tt.rejected) {
				t.Errorf("rejected %q, want %q", msgs, tt.rejected)
			}
		})
	}
}

type failingReader struct{ r io.Reader }

var errDisk = errors.New("disk on fire")

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errDisk
	}
	return n, err
}

func TestCSVEachReaderError(t *testing.T) {
	c, err := OpenCSV(&failingReader{strings.NewReader("host\na\n")}, "", testSpec)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	_, err = c.Each(func(Row) error { n++; return nil })
	if !errors.Is(err, errDisk) || !strings.HasPrefix(err.Error(), "reading row 3: ") || n != 1 {
		t.Fatalf("error %v after %d rows, want reading row 3 wrapping %v after 1", err, n, errDisk)
	}
}

func TestPlace(t *testing.T) {
	for _, tt := range []struct {
		e    RowError
		want string
	}{
		{RowError{Line: 7, Reason: "bad"}, "line 7: bad"},
		{RowError{File: "a/b.csv", Line: 7, Reason: "bad"}, "a/b.csv:7: bad"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
}

func FuzzCSV(f *testing.F) {
	f.Add("host,ips,owner\na,10.0.0.1;10.0.0.2,bob\n\nb\n   \n")
	f.Add("\ufeffHOST,fqdn\n\"a\nb\",c\nx \"y,z\n")
	f.Add("host,host\n")
	f.Add("ips\n1\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := OpenCSV(strings.NewReader(in), "f.csv", testSpec)
		if err != nil {
			if c != nil {
				t.Fatal("a CSV with an error")
			}
			return
		}
		rows, last := 0, 0
		rej, err := c.Each(func(r Row) error {
			rows++
			if r.Line <= last {
				t.Fatalf("row at line %d after line %d", r.Line, last)
			}
			last = r.Line
			for _, col := range testSpec.Columns {
				_ = r.Get(col)
				for _, v := range r.List(col) {
					if strings.Contains(v, ";") {
						t.Fatalf("list item %q holds the separator", v)
					}
				}
			}
			if r.Blank() {
				return errors.New("blank")
			}
			return nil
		})
		if rows > testSpec.MaxRows {
			t.Fatalf("%d rows past the cap of %d (err %v)", rows, testSpec.MaxRows, err)
		}
		for _, r := range rej {
			if r.Line < 2 || r.File != "f.csv" || r.Reason == "" {
				t.Fatalf("rejected without a place or reason: %+v", r)
			}
		}
	})
}
