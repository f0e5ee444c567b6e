package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/store"
)

const outboxCols = `key, target, kind, incident_id, incident_version, payload, state, attempts,
	next_attempt_ns, last_error, lease_owner, lease_until_ns, created_ns, updated_ns`

func scanOutbox(sc scanner, it *store.OutboxItem) error {
	var (
		state                             string
		next, leaseUntil, created, update int64
		payload                           []byte
	)
	if err := sc.Scan(&it.Key, &it.Target, &it.Kind, &it.IncidentID, &it.IncidentVersion, &payload, &state,
		&it.Attempts, &next, &it.LastError, &it.LeaseOwner, &leaseUntil, &created, &update); err != nil {
		return err
	}
	it.Payload = payload
	it.State = store.OutboxState(state)
	it.NextAttempt = store.FromUnixNano(next)
	if leaseUntil != 0 {
		it.LeaseUntil = store.FromUnixNano(leaseUntil)
	}
	it.Created = store.FromUnixNano(created)
	it.Updated = store.FromUnixNano(update)
	return nil
}

// EnqueueOutbox implements store.Store.
func (s *Store) EnqueueOutbox(ctx context.Context, items []store.OutboxItem) (int, error) {
	const op = "enqueueing outbox items"
	if err := s.check(op); err != nil {
		return 0, err
	}
	for i := range items {
		if err := items[i].Validate(); err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
	}
	if len(items) == 0 {
		return 0, nil
	}
	added := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		for i := range items {
			it := &items[i]
			state := it.State
			if state == "" {
				state = store.OutboxPending
			}
			next := it.NextAttempt
			if next.IsZero() {
				next = it.Created
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO outbox (key, target, kind, incident_id, incident_version, payload,
				state, next_attempt_ns, created_ns, updated_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (key) DO NOTHING`,
				it.Key, it.Target, it.Kind, it.IncidentID, it.IncidentVersion, []byte(it.Payload), string(state),
				next.UnixNano(), it.Created.UnixNano(), it.Created.UnixNano())
			if err != nil {
				return fmt.Errorf("inserting outbox item %s: %w", it.Key, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("inserting outbox item %s: %w", it.Key, err)
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return added, nil
}

// ClaimOutbox implements store.Store. The select and the lease happen in one
// UPDATE on the single writer connection, so two claims never overlap.
func (s *Store) ClaimOutbox(ctx context.Context, c store.OutboxClaim) ([]store.OutboxItem, error) {
	const op = "claiming outbox items"
	if err := s.check(op); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	now := c.Now.UnixNano()
	var out []store.OutboxItem
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET lease_owner = ?, lease_until_ns = ?, updated_ns = ?
			WHERE key IN (SELECT key FROM outbox WHERE state = 'pending' AND next_attempt_ns <= ? AND lease_until_ns <= ?
				ORDER BY next_attempt_ns, key LIMIT ?)
			RETURNING `+outboxCols,
			c.Owner, c.Now.Add(c.Lease).UnixNano(), now, now, now, store.PageLimit(c.Limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it store.OutboxItem
			if err := scanOutbox(rows, &it); err != nil {
				return err
			}
			out = append(out, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrap(op, err)
	}
	// RETURNING does not follow ORDER BY: sort as documented.
	sortOutboxDue(out)
	return out, nil
}

func sortOutboxDue(items []store.OutboxItem) {
	slices.SortFunc(items, func(a, b store.OutboxItem) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// MarkOutbox implements store.Store.
func (s *Store) MarkOutbox(ctx context.Context, r store.OutboxResult) error {
	op := "marking outbox item " + r.Key
	if err := s.check(op); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var state, owner string
		var leaseUntil, next int64
		err := tx.QueryRowContext(ctx, `SELECT state, lease_owner, lease_until_ns, next_attempt_ns FROM outbox WHERE key = ?`, r.Key).
			Scan(&state, &owner, &leaseUntil, &next)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
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
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET state = ?, attempts = attempts + ?, next_attempt_ns = ?,
			last_error = CASE WHEN ? THEN ? ELSE last_error END, lease_owner = '', lease_until_ns = 0, updated_ns = ?
			WHERE key = ?`, string(r.State), attempts, next, r.Attempted, r.Error, r.Now.UnixNano(), r.Key)
		return err
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
		b.where("state = ?", string(q.State))
	}
	if q.IncidentID != "" {
		b.where("incident_id = ?", q.IncidentID)
	}
	if q.Target != "" {
		b.where("target = ?", q.Target)
	}
	dir, cmp := orderSQL(q.Order)
	if hasCur {
		b.where("(created_ns, key) "+cmp+" (?, ?)", cur.Time, cur.ID)
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " ORDER BY created_ns %s, key %s LIMIT %d", dir, dir, limit+1)
	return queryPage(ctx, s, op, b.String(), b.args, limit, func(rows *sql.Rows) (store.OutboxItem, store.Cursor, error) {
		var it store.OutboxItem
		if err := scanOutbox(rows, &it); err != nil {
			return it, store.Cursor{}, err
		}
		return it, store.Cursor{Kind: store.CursorOutbox, Time: it.Created.UnixNano(), ID: it.Key}, nil
	})
}
