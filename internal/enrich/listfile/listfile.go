// Package listfile reads the records of enrichment list files: CSV files with a
// header row naming their columns in any order, and YAML lists of mappings. It
// owns what the identity directory and the asset inventory read alike: header
// and key checks against a known set of columns, size caps, refusal of YAML
// anchors and aliases, null handling, and the place (file:line) of every
// rejected record. What a record means stays with its package.
package listfile

import "fmt"

// RowError is one rejected row, YAML item or record, at its place.
type RowError struct {
	File   string // "" when read from a reader without a name
	Line   int
	Reason string
}

func (e RowError) Error() string { return Place(e.File, e.Line) + ": " + e.Reason }

// Place names a line of a file for messages: "file:line", or "line N" when
// the file has no name.
func Place(file string, line int) string {
	if file == "" {
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("%s:%d", file, line)
}

func known(columns []string, s string) bool {
	for _, c := range columns {
		if c == s {
			return true
		}
	}
	return false
}
