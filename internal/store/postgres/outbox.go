package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vigilsec/vigil/internal/store"
)

const outboxCols = `key, target, kind, incident_id, incident_version, payload, state, attempts,
	next_attempt_ns, last_error, lease_owner, lease_until_ns, created_ns, updated_ns`

// outboxColsOf returns outboxCols qualified by a table alias.
func outboxColsOf(alias string) string {
	cols := strings.Split(outboxCols, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

func scanOutbox(row pgx.Row, it *store.OutboxItem) error {
	var (
		state                             string
		attempts                          int32
		next, leaseUntil, created, update int64
		payload                           []byte
	)
	if err := row.Scan(&it.Key, &it.Target, &it.Kind, &it.IncidentID, &it.IncidentVersion, &payload, &state,
		&attempts, &next, &it.LastError, &it.LeaseOwner, &leaseUntil, &created, &update); err != nil {
		return err
	}
	it.Payload = payload
	it.State = store.OutboxState(state)
	it.Attempts = int(attempts)
	it.NextAttempt = store.FromUnixNano(next)
	if leaseUntil != 0 {
		it.LeaseUntil = store.FromUnixNano(leaseUntil)
	}
	it.Created = store.FromUnixNano(created)
	it.Updated = store.FromUnixNano(update)
	return nil
}

const enqueueOutboxSQL = `INSERT INTO outbox (key, target, kind, incident_id, incident_version, payload,
		state, next_attempt_ns, created_ns, updated_ns)
	SELECT e.key, e.target, e.kind, e.incident_id, e.incident_version, e.payload, e.state, e.next_ns, e.created_ns, e.created_ns
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bytea[], $7::text[], $8::bigint[], $9::bigint[])
		AS e (key, target, kind, incident_id, incident_version, payload, state, next_ns, created_ns)
	ON CONFLICT (key) DO NOTHING`

// EnqueueOutbox implements store.Store: one statement (atomic by itself) from
// parameter arrays, in key order so overlapping batches cannot deadlock.
func (s *Store) EnqueueOutbox(ctx context.Context, items []store.OutboxItem) (int, error) {
	const op = "enqueueing outbox items"
	if err := s.check(op); err != nil {
		return 0, err
	}
	for i := range items {
		it := &items[i]
		if err := it.Validate(); err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
		for _, f := range []struct{ what, v string }{
			{"key", it.Key}, {"target", it.Target}, {"kind", it.Kind}, {"incident id", it.IncidentID},
		} {
			if err := exact("outbox item "+f.what, f.v); err != nil {
				return 0, fmt.Errorf("%s: %w", op, err)
			}
		}
	}
	if len(items) == 0 {
		return 0, nil
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	// Stable: of two items with one key, the first is the one stored.
	slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(items[a].Key, items[b].Key) })
	n := len(items)
	keys, targets, kinds, incidents, states := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	versions, nexts, created := make([]int64, n), make([]int64, n), make([]int64, n)
	payloads := make([][]byte, n)
	for k, i := range idx {
		it := &items[i]
		state := it.State
		if state == "" {
			state = store.OutboxPending
		}
		next := it.NextAttempt
		if next.IsZero() {
			next = it.Created
		}
		keys[k], targets[k], kinds[k], incidents[k], states[k] = it.Key, it.Target, it.Kind, it.IncidentID, string(state)
		versions[k], nexts[k], created[k], payloads[k] = it.IncidentVersion, next.UnixNano(), it.Created.UnixNano(), it.Payload
	}
	added := 0
	err := s.inChunks(ctx, n, func(q execer, lo, hi int) error {
		tag, err := q.Exec(ctx, enqueueOutboxSQL, keys[lo:hi], targets[lo:hi], kinds[lo:hi], incidents[lo:hi], versions[lo:hi],
			pgtype.FlatArray[[]byte](payloads[lo:hi]), states[lo:hi], nexts[lo:hi], created[lo:hi])
		if err != nil {
			return fmt.Errorf("inserting outbox items: %w", err)
		}
		added += int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return added, nil
}

// ClaimOutbox implements store.Store. One statement selects the due items and
// leases them: FOR UPDATE SKIP LOCKED passes over rows another claim (in this
// process or another) is leasing at that moment, and a row leased by a claim
// that committed meanwhile fails the re-checked condition, so no two claims
// ever return the same item.
//
// The selection is a MATERIALIZED CTE joined to the UPDATE rather than
// "WHERE key IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)": PostgreSQL may
// rescan such a subquery, and each rescan skips the rows the UPDATE has just
// changed and locks the next ones, so a claim would lease more than n items.
func (s *Store) ClaimOutbox(ctx context.Context, c store.OutboxClaim) ([]store.OutboxItem, error) {
	const op = "claiming outbox items"
	if err := s.check(op); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := exact("outbox claim owner", c.Owner); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	now := c.Now.UnixNano()
	rows, err := s.pool.Query(ctx, `WITH due AS MATERIALIZED (
			SELECT key FROM outbox WHERE state = 'pending' AND next_attempt_ns <= $3 AND lease_until_ns <= $3
			ORDER BY next_attempt_ns, key LIMIT $4 FOR UPDATE SKIP LOCKED)
		UPDATE outbox o SET lease_owner = $1, lease_until_ns = $2, updated_ns = $3
		FROM due WHERE o.key = due.key
		RETURNING `+outboxColsOf("o"),
		c.Owner, c.Now.Add(c.Lease).UnixNano(), now, store.PageLimit(c.Limit))
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		var it store.OutboxItem
		if err := scanOutbox(rows, &it); err != nil {
			return nil, s.wrap(op, err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(op, err)
	}
	// RETURNING does not follow ORDER BY: sort as documented.
	slices.SortFunc(out, func(a, b store.OutboxItem) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
}

// MarkOutbox implements store.Store. The item's row is locked while its state
// and lease are checked and rewritten, so a mark and a claim of another
// process serialize on it.
func (s *Store) MarkOutbox(ctx context.Context, r store.OutboxResult) error {
	op := "marking outbox item " + r.Key
	if err := s.check(op); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if !storable(r.Key) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var state, owner string
		var leaseUntil, next int64
		err := tx.QueryRow(ctx, `SELECT state, lease_owner, lease_until_ns, next_attempt_ns FROM outbox WHERE key = $1 FOR UPDATE`, r.Key).
			Scan(&state, &owner, &leaseUntil, &next)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("locking item: %w", err)
		}
		switch store.OutboxState(state) {
		case store.OutboxDelivered, store.OutboxFailed:
			return fmt.Errorf("item already %s: %w", state, store.ErrConflict)
		case store.OutboxPending:
			if owner != r.Owner || leaseUntil == 0 {
				return fmt.Errorf("item not leased to %q: %w", r.Owner, store.ErrConflict)
			}
		case store.OutboxReview:
			if r.State == store.OutboxPending {
				return fmt.Errorf("review item cannot go back to pending: %w", store.ErrInvalid)
			}
		}
		if r.State == store.OutboxPending {
			next = r.NextAttempt.UnixNano()
		}
		attempts := 0
		if r.Attempted {
			attempts = 1
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET state = $2, attempts = attempts + $3, next_attempt_ns = $4,
			last_error = CASE WHEN $5::boolean THEN $6 ELSE last_error END, lease_owner = '', lease_until_ns = 0, updated_ns = $7
			WHERE key = $1`, r.Key, string(r.State), attempts, next, r.Attempted, lossy(r.Error), r.Now.UnixNano())
		if err != nil {
			return fmt.Errorf("updating item: %w", err)
		}
		return nil
	})
	return s.wrap(op, err)
}

// ListOutbox implements store.Store.
func (s *Store) ListOutbox(ctx context.Context, q store.OutboxQuery) (store.Page[store.OutboxItem], error) {
	const op = "listing outbox"
	if err := s.check(op); err != nil {
		return store.Page[store.OutboxItem]{}, err
	}
	if err := q.Validate(); err != nil {
		return store.Page[store.OutboxItem]{}, fmt.Errorf("%s: %w", op, err)
	}
	cur, hasCur, err := store.DecodeCursor(store.CursorOutbox, q.Cursor)
	if err != nil {
		return store.Page[store.OutboxItem]{}, fmt.Errorf("%s: %w", op, err)
	}
	var b queryBuilder
	b.WriteString(`SELECT ` + outboxCols + ` FROM outbox`)
	if q.State != "" {
		b.where("state = " + b.arg(string(q.State)))
	}
	if q.IncidentID != "" {
		b.where("incident_id = " + b.exactArg(q.IncidentID))
	}
	if q.Target != "" {
		b.where("target = " + b.exactArg(q.Target))
	}
	dir, cmp := orderSQL(q.Order)
	if hasCur {
		b.where("(created_ns, key) " + cmp + " (" + b.arg(cur.Time) + ", " + b.arg(cur.ID) + ")")
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " ORDER BY created_ns %s, key %s LIMIT %d", dir, dir, limit+1)
	return queryPage(ctx, s, op, &b, limit, func(rows pgx.Rows) (store.OutboxItem, store.Cursor, error) {
		var it store.OutboxItem
		if err := scanOutbox(rows, &it); err != nil {
			return it, store.Cursor{}, err
		}
		return it, store.Cursor{Kind: store.CursorOutbox, Time: it.Created.UnixNano(), ID: it.Key}, nil
	})
}
