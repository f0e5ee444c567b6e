package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// signalRow is a signal ready to insert: validated, canonical and encoded.
type signalRow struct {
	sig    *detect.Signal
	timeNs int64
	doc    []byte
}

// PutSignals implements store.Store. Signals are encoded before the transaction,
// so the writer connection is held only for the inserts, which go in multi-row
// statements. RETURNING tells which signals were new; only those get entity rows.
func (s *Store) PutSignals(ctx context.Context, signals []detect.Signal) error {
	const op = "putting signals"
	if err := s.check(op); err != nil {
		return err
	}
	if len(signals) == 0 {
		return nil
	}
	rows := make([]signalRow, len(signals))
	for i := range signals {
		if err := store.ValidateSignal(&signals[i]); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		c := store.CanonicalSignal(signals[i])
		doc, err := json.Marshal(&c)
		if err != nil {
			return fmt.Errorf("%s: encoding signal %s: %w", op, c.ID, err)
		}
		rows[i] = signalRow{sig: &signals[i], timeNs: c.Time.UnixNano(), doc: doc}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var ents []any // kind, value, time_ns, seq of each new signal's entities
		err := s.ws.insSignals.each(len(rows), func(st *sql.Stmt, lo, hi int) error {
			var err error
			ents, err = insertSignals(ctx, tx.StmtContext(ctx, st), rows[lo:hi], ents)
			return err
		})
		if err != nil {
			return err
		}
		return s.ws.insSignalEntities.each(len(ents)/4, func(st *sql.Stmt, lo, hi int) error {
			if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, ents[4*lo:4*hi]...); err != nil {
				return fmt.Errorf("inserting signal entities: %w", err)
			}
			return nil
		})
	})
	return s.wrap(op, err)
}

// insertSignals inserts one chunk of rows and appends the entity rows of the
// signals that were new to ents.
func insertSignals(ctx context.Context, st *sql.Stmt, chunk []signalRow, ents []any) ([]any, error) {
	args := make([]any, 0, 6*len(chunk))
	byID := make(map[string]*signalRow, len(chunk))
	for i := range chunk {
		r := &chunk[i]
		args = append(args, r.sig.ID, r.timeNs, int64(r.sig.Severity), r.sig.DetectorID, r.sig.RuleID, r.doc)
		if _, dup := byID[r.sig.ID]; !dup {
			byID[r.sig.ID] = r // the first of duplicates in a batch is the one stored
		}
	}
	res, err := st.QueryContext(ctx, args...)
	if err != nil {
		return ents, fmt.Errorf("inserting signals: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var (
			id  string
			seq int64
		)
		if err := res.Scan(&id, &seq); err != nil {
			return ents, fmt.Errorf("inserting signals: %w", err)
		}
		r := byID[id]
		if r == nil {
			return ents, fmt.Errorf("inserting signals: database returned unknown id %q", id)
		}
		for _, e := range r.sig.Entities {
			ents = append(ents, string(e.Kind), e.Value, r.timeNs, seq)
		}
	}
	if err := res.Err(); err != nil {
		return ents, fmt.Errorf("inserting signals: %w", err)
	}
	return ents, nil
}

// GetSignal implements store.Store.
func (s *Store) GetSignal(ctx context.Context, id string) (detect.Signal, error) {
	op := "getting signal " + id
	if err := s.check(op); err != nil {
		return detect.Signal{}, err
	}
	row, err := s.queryRow(ctx, `SELECT seq, time_ns, doc FROM signals WHERE id = ?`, id)
	if err != nil {
		return detect.Signal{}, s.wrap(op, err)
	}
	var sig detect.Signal
	if _, err := scanSignal(row, &sig); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return detect.Signal{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		return detect.Signal{}, s.wrap(op, err)
	}
	return sig, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanSignal reads (seq, time_ns, doc) into sig and returns the keyset position.
func scanSignal(sc scanner, sig *detect.Signal) (store.Cursor, error) {
	var (
		seq, timeNs int64
		doc         []byte
	)
	if err := sc.Scan(&seq, &timeNs, &doc); err != nil {
		return store.Cursor{}, err
	}
	if err := json.Unmarshal(doc, sig); err != nil {
		return store.Cursor{}, fmt.Errorf("decoding stored signal: %w", err)
	}
	sig.Time = store.FromUnixNano(timeNs)
	return store.Cursor{Kind: store.CursorSignals, Time: timeNs, Seq: seq}, nil
}

// ListSignals implements store.Store. The list order is (time, seq): seq is the
// insertion order, which breaks ties between signals of the same nanosecond.
func (s *Store) ListSignals(ctx context.Context, q store.SignalQuery) (store.Page[detect.Signal], error) {
	const op = "listing signals"
	if err := s.check(op); err != nil {
		return store.Page[detect.Signal]{}, err
	}
	if err := q.Validate(); err != nil {
		return store.Page[detect.Signal]{}, fmt.Errorf("%s: %w", op, err)
	}
	cur, hasCur, err := store.DecodeCursor(store.CursorSignals, q.Cursor)
	if err != nil {
		return store.Page[detect.Signal]{}, fmt.Errorf("%s: %w", op, err)
	}
	since, until, _ := q.Bounds() // checked by Validate

	var b queryBuilder
	// With an entity filter, drive the scan from signal_entities, whose primary key
	// (kind, value, time_ns, seq) is already in list order.
	tcol, scol := "s.time_ns", "s.seq"
	b.WriteString(`SELECT s.seq, s.time_ns, s.doc FROM signals s`)
	if q.Entity.Kind != "" {
		tcol, scol = "e.time_ns", "e.seq"
		b.WriteString(` JOIN signal_entities e ON e.seq = s.seq`)
		b.where("e.kind = ?", string(q.Entity.Kind))
		b.where("e.value = ?", q.Entity.Value)
	}
	if since != math.MinInt64 {
		b.where(tcol+" >= ?", since)
	}
	if until != math.MaxInt64 {
		b.where(tcol+" < ?", until)
	}
	if q.MinSeverity > detect.SeverityInfo {
		b.where("s.severity >= ?", int64(q.MinSeverity))
	}
	if q.DetectorID != "" {
		b.where("s.detector_id = ?", q.DetectorID)
	}
	if q.RuleID != "" {
		b.where("s.rule_id = ?", q.RuleID)
	}
	dir, cmp := orderSQL(q.Order)
	if hasCur {
		b.where("("+tcol+", "+scol+") "+cmp+" (?, ?)", cur.Time, cur.Seq)
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " ORDER BY %s %s, %s %s LIMIT %d", tcol, dir, scol, dir, limit+1)

	return queryPage(ctx, s, op, b.String(), b.args, limit, func(rows *sql.Rows) (detect.Signal, store.Cursor, error) {
		var sig detect.Signal
		cur, err := scanSignal(rows, &sig)
		return sig, cur, err
	})
}

// orderSQL returns the ORDER BY direction and the keyset comparison for o.
func orderSQL(o store.Order) (dir, cmp string) {
	if o == store.OrderAsc {
		return "ASC", ">"
	}
	return "DESC", "<"
}

// queryBuilder assembles a SELECT with AND-ed conditions and their arguments.
type queryBuilder struct {
	strings.Builder
	args   []any
	nwhere int
}

func (b *queryBuilder) where(cond string, args ...any) {
	if b.nwhere == 0 {
		b.WriteString(" WHERE ")
	} else {
		b.WriteString(" AND ")
	}
	b.nwhere++
	b.WriteString(cond)
	b.args = append(b.args, args...)
}
