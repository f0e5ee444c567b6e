package listfile

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CSVSpec is what a CSV file of some kind may hold.
type CSVSpec struct {
	Columns  []string // the columns it knows, lower case; any other is an error
	Required []string // at least one of these columns must be present
	MaxRows  int      // rows after the header; more is an error
}

// CSV reads the rows of a CSV file whose header has been checked.
type CSV struct {
	cr   *csv.Reader
	file string
	col  map[string]int
	max  int
}

// OpenCSV reads and checks the header row of r: column names are matched
// without case, surrounding space or a byte-order mark, and may come in any
// order. A repeated column, none of spec.Required, or a column not in
// spec.Columns is an error. file labels the places of rejected rows.
func OpenCSV(r io.Reader, file string, spec CSVSpec) (*CSV, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	col := make(map[string]int, len(head))
	names := make([]string, 0, len(head))
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("header: column %q repeated", h)
		}
		col[h] = i
		names = append(names, h)
	}
	if len(spec.Required) > 0 {
		found := false
		for _, c := range spec.Required {
			if _, ok := col[c]; ok {
				found = true
				break
			}
		}
		if !found {
			q := make([]string, len(spec.Required))
			for i, c := range spec.Required {
				q[i] = fmt.Sprintf("%q", c)
			}
			return nil, fmt.Errorf("header: no %s column", strings.Join(q, " or "))
		}
	}
	for _, h := range names {
		if !known(spec.Columns, h) {
			return nil, fmt.Errorf("header: unknown column %q (known: %s)", h, strings.Join(spec.Columns, ", "))
		}
	}
	return &CSV{cr: cr, file: file, col: col, max: spec.MaxRows}, nil
}

// Row is one CSV row, valid only during the call it is passed to.
type Row struct {
	Line int // of the row's first field
	rec  []string
	col  map[string]int
}

// Get returns the named column's field, "" when the header or the row lacks it.
func (r Row) Get(name string) string {
	if i, ok := r.col[name]; ok && i < len(r.rec) {
		return r.rec[i]
	}
	return ""
}

// List splits the named column's field on ";"; an empty or blank field is nil.
func (r Row) List(name string) []string {
	v := strings.TrimSpace(r.Get(name))
	if v == "" {
		return nil
	}
	return strings.Split(v, ";")
}

// Blank reports whether the row is a single blank field (a line of spaces).
func (r Row) Blank() bool { return len(r.rec) == 1 && strings.TrimSpace(r.rec[0]) == "" }

// Each calls fn for every row in order. A row that is not valid CSV, or for
// which fn returns an error, is rejected with its place and the rest read on.
// The error is for a file that cannot be read further: a failing reader, or
// more than MaxRows rows; the rows rejected before it come back with it.
func (c *CSV) Each(fn func(Row) error) ([]RowError, error) {
	var rejected []RowError
	for rows := 0; ; rows++ {
		rec, err := c.cr.Read()
		if errors.Is(err, io.EOF) {
			return rejected, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rejected = append(rejected, RowError{File: c.file, Line: pe.Line, Reason: pe.Err.Error()})
				continue
			}
			return rejected, fmt.Errorf("reading row %d: %w", rows+2, err)
		}
		line, _ := c.cr.FieldPos(0)
		if rows >= c.max {
			return rejected, fmt.Errorf("more than %d rows", c.max)
		}
		if err := fn(Row{Line: line, rec: rec, col: c.col}); err != nil {
			rejected = append(rejected, RowError{File: c.file, Line: line, Reason: err.Error()})
		}
	}
}
