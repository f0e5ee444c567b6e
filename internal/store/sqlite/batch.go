package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// batchInsert is one multi-row INSERT prepared for 1, 2, 4, ... up to max rows.
// Large batches go through the biggest statement and the remainder through a few
// smaller ones, so a batch of any size uses statements prepared at Open: nothing
// is prepared inside a transaction, which on the single writer connection would
// wait for itself. Fewer, larger statements cut the per-statement cost of
// database/sql and the driver, which dominates single-row inserts.
type batchInsert struct {
	sizes []int // descending powers of two
	stmts []*sql.Stmt
}

// prepareBatchInsert prepares "<insert> VALUES (?, ...), ... <suffix>" for each
// size. cols*max must stay below SQLite's limit of 32766 parameters.
func prepareBatchInsert(ctx context.Context, db *sql.DB, insert string, cols, max int, suffix string) (*batchInsert, error) {
	b := &batchInsert{}
	for n := max; n >= 1; n /= 2 {
		st, err := db.PrepareContext(ctx, valuesSQL(insert, cols, n, suffix))
		if err != nil {
			_ = b.close() // the prepare error is the one worth reporting
			return nil, fmt.Errorf("preparing %q for %d rows: %w", insert, n, err)
		}
		b.sizes = append(b.sizes, n)
		b.stmts = append(b.stmts, st)
	}
	return b, nil
}

// each splits rows 0..n into consecutive pieces [lo, hi) whose sizes have a
// prepared statement, and calls fn for each.
func (b *batchInsert) each(n int, fn func(st *sql.Stmt, lo, hi int) error) error {
	lo := 0
	for i, size := range b.sizes {
		for n-lo >= size {
			if err := fn(b.stmts[i], lo, lo+size); err != nil {
				return err
			}
			lo += size
		}
	}
	return nil
}

func (b *batchInsert) close() error {
	if b == nil {
		return nil
	}
	var first error
	for _, st := range b.stmts {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// valuesSQL returns "<insert> VALUES (?, ...), ... <suffix>" for rows rows of
// cols columns.
func valuesSQL(insert string, cols, rows int, suffix string) string {
	var b strings.Builder
	tuple := "(" + strings.Repeat("?, ", cols-1) + "?)"
	b.Grow(len(insert) + 8 + rows*(len(tuple)+2) + len(suffix))
	b.WriteString(insert)
	b.WriteString(" VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
	}
	b.WriteString(suffix)
	return b.String()
}
