package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// maxStatementRows bounds the rows one batch statement carries: a larger
// batch goes in several statements inside one transaction, so no parameter
// array grows past a few megabytes.
const maxStatementRows = 4096

// insertSignalsSQL inserts a chunk of signals and the entity rows of those
// that were new, in one statement (so one round trip, atomic by itself): the
// signals go in from parameter arrays, ON CONFLICT DO NOTHING skips the stored
// ids, and RETURNING hands the new ones, with the seq they were given, to the
// entity insert. The entity rows need no ON CONFLICT: each new signal has a
// fresh seq, and newSignalBatch leaves out repeated entities. This measured
// fastest of three ways (doc.go).
const insertSignalsSQL = `WITH new AS (
	INSERT INTO signals (id, time_ns, severity, detector_id, rule_id, doc)
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::smallint[], $4::text[], $5::text[], $6::bytea[])
	ON CONFLICT (id) DO NOTHING
	RETURNING id, time_ns, seq
)
INSERT INTO signal_entities (kind, value, time_ns, seq)
SELECT e.kind, e.value, new.time_ns, new.seq
FROM unnest($7::text[], $8::text[], $9::text[]) AS e (signal_id, kind, value)
JOIN new ON new.id = e.signal_id COLLATE "C"`

// signalBatch is a batch of signals ready to insert: validated, canonical,
// encoded, first occurrence of each id only, in id order, as parameter arrays.
type signalBatch struct {
	ids, detectors, rules []string
	times                 []int64
	severities            []int16
	docs                  [][]byte
	// Entity rows: the signal id, kind and value of each distinct entity.
	entSignals, entKinds, entValues []string
	// entStart[i] is the first entity row of signal i; entStart[len(ids)] ends
	// the last.
	entStart []int
}

// newSignalBatch validates and encodes signals. A batch is idempotent by id and
// the first write wins, so of several signals with one id only the first is
// kept. Rows are sorted by id: two transactions inserting overlapping batches
// then take the ids' index entries in the same order and cannot deadlock.
func newSignalBatch(signals []detect.Signal) (*signalBatch, error) {
	type row struct {
		i   int
		doc []byte
		ns  int64
	}
	rows := make([]row, 0, len(signals))
	seen := make(map[string]struct{}, len(signals))
	for i := range signals {
		sig := &signals[i]
		if err := store.ValidateSignal(sig); err != nil {
			return nil, err
		}
		if err := exact("signal id", sig.ID); err != nil {
			return nil, err
		}
		if err := exact("signal "+sig.ID+" detector id", sig.DetectorID); err != nil {
			return nil, err
		}
		if err := exact("signal "+sig.ID+" rule id", sig.RuleID); err != nil {
			return nil, err
		}
		if _, dup := seen[sig.ID]; dup {
			continue
		}
		seen[sig.ID] = struct{}{}
		c := store.CanonicalSignal(*sig)
		doc, err := json.Marshal(&c)
		if err != nil {
			return nil, fmt.Errorf("encoding signal %s: %w", c.ID, err)
		}
		rows = append(rows, row{i: i, doc: doc, ns: c.Time.UnixNano()})
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(signals[a.i].ID, signals[b.i].ID) })
	n := len(rows)
	b := &signalBatch{
		ids: make([]string, n), detectors: make([]string, n), rules: make([]string, n),
		times: make([]int64, n), severities: make([]int16, n), docs: make([][]byte, n),
		entStart: make([]int, 0, n+1),
	}
	for k, r := range rows {
		sig := &signals[r.i]
		b.ids[k], b.detectors[k], b.rules[k] = sig.ID, sig.DetectorID, sig.RuleID
		b.times[k], b.severities[k], b.docs[k] = r.ns, int16(sig.Severity), r.doc
		start := len(b.entSignals)
		b.entStart = append(b.entStart, start)
	entities:
		for _, e := range sig.Entities {
			kind, value := lossy(string(e.Kind)), lossy(e.Value)
			for j := start; j < len(b.entKinds); j++ {
				if b.entKinds[j] == kind && b.entValues[j] == value {
					continue entities // a repeated entity has one row
				}
			}
			b.entSignals = append(b.entSignals, sig.ID)
			b.entKinds = append(b.entKinds, kind)
			b.entValues = append(b.entValues, value)
		}
	}
	b.entStart = append(b.entStart, len(b.entSignals))
	return b, nil
}

// args returns the parameters of insertSignalsSQL for signals lo..hi.
func (b *signalBatch) args(lo, hi int) []any {
	elo, ehi := b.entStart[lo], b.entStart[hi]
	return []any{b.ids[lo:hi], b.times[lo:hi], b.severities[lo:hi], b.detectors[lo:hi], b.rules[lo:hi],
		pgtype.FlatArray[[]byte](b.docs[lo:hi]), b.entSignals[elo:ehi], b.entKinds[elo:ehi], b.entValues[elo:ehi]}
}

// execer is what a batch insert runs on: the pool, or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// inChunks runs exec over rows 0..n in statements of at most maxStatementRows
// rows: on the pool when one statement holds them all (a statement is atomic
// by itself, and this saves the BEGIN and COMMIT round trips), else in one
// transaction.
func (s *Store) inChunks(ctx context.Context, n int, exec func(q execer, lo, hi int) error) error {
	if n <= maxStatementRows {
		return exec(s.pool, 0, n)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		for lo := 0; lo < n; lo += maxStatementRows {
			if err := exec(tx, lo, min(lo+maxStatementRows, n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutSignals implements store.Store. Signals are validated and encoded before
// any round trip; the batch then goes in one statement (insertSignalsSQL), or
// several in one transaction for batches over maxStatementRows.
func (s *Store) PutSignals(ctx context.Context, signals []detect.Signal) error {
	const op = "putting signals"
	if err := s.check(op); err != nil {
		return err
	}
	if len(signals) == 0 {
		return nil
	}
	b, err := newSignalBatch(signals)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = s.inChunks(ctx, len(b.ids), func(q execer, lo, hi int) error {
		if _, err := q.Exec(ctx, insertSignalsSQL, b.args(lo, hi)...); err != nil {
			return fmt.Errorf("inserting signals: %w", err)
		}
		return nil
	})
	return s.wrap(op, err)
}

// GetSignal implements store.Store.
func (s *Store) GetSignal(ctx context.Context, id string) (detect.Signal, error) {
	op := "getting signal " + id
	if err := s.check(op); err != nil {
		return detect.Signal{}, err
	}
	if !storable(id) {
		return detect.Signal{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var sig detect.Signal
	row := s.pool.QueryRow(ctx, `SELECT seq, time_ns, doc FROM signals WHERE id = $1`, id)
	if _, err := scanSignal(row, &sig); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return detect.Signal{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		return detect.Signal{}, s.wrap(op, err)
	}
	return sig, nil
}

// scanSignal reads (seq, time_ns, doc) into sig and returns the keyset position.
func scanSignal(row pgx.Row, sig *detect.Signal) (store.Cursor, error) {
	var (
		seq, timeNs int64
		doc         []byte
	)
	if err := row.Scan(&seq, &timeNs, &doc); err != nil {
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
	// With an entity filter, drive the scan from signal_entities, whose primary
	// key (kind, value, time_ns, seq) is already in list order.
	tcol, scol := "s.time_ns", "s.seq"
	b.WriteString(`SELECT s.seq, s.time_ns, s.doc FROM signals s`)
	if q.Entity.Kind != "" {
		tcol, scol = "e.time_ns", "e.seq"
		b.WriteString(` JOIN signal_entities e ON e.seq = s.seq`)
		b.where("e.kind = " + b.arg(lossy(string(q.Entity.Kind))))
		b.where("e.value = " + b.arg(lossy(q.Entity.Value)))
	}
	if since != math.MinInt64 {
		b.where(tcol + " >= " + b.arg(since))
	}
	if until != math.MaxInt64 {
		b.where(tcol + " < " + b.arg(until))
	}
	if q.MinSeverity > detect.SeverityInfo {
		b.where("s.severity >= " + b.arg(int64(q.MinSeverity)))
	}
	if q.DetectorID != "" {
		b.where("s.detector_id = " + b.exactArg(q.DetectorID))
	}
	if q.RuleID != "" {
		b.where("s.rule_id = " + b.exactArg(q.RuleID))
	}
	dir, cmp := orderSQL(q.Order)
	if hasCur {
		b.where("(" + tcol + ", " + scol + ") " + cmp + " (" + b.arg(cur.Time) + ", " + b.arg(cur.Seq) + ")")
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " ORDER BY %s %s, %s %s LIMIT %d", tcol, dir, scol, dir, limit+1)

	return queryPage(ctx, s, op, &b, limit, func(rows pgx.Rows) (detect.Signal, store.Cursor, error) {
		var sig detect.Signal
		cur, err := scanSignal(rows, &sig)
		return sig, cur, err
	})
}
