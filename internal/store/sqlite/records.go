package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vigilsec/vigil/internal/store"
)

// PutEvidence implements store.Store.
func (s *Store) PutEvidence(ctx context.Context, evidence []store.Evidence) error {
	const op = "putting evidence"
	if err := s.check(op); err != nil {
		return err
	}
	for i := range evidence {
		if err := evidence[i].Validate(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	if len(evidence) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		ins := tx.StmtContext(ctx, s.ws.insEvidence)
		for i := range evidence {
			ev := &evidence[i]
			if _, err := ins.ExecContext(ctx, ev.EventID, ev.Time.UnixNano(), ev.Source, ev.Format, []byte(ev.JSON)); err != nil {
				return fmt.Errorf("inserting evidence %s: %w", ev.EventID, err)
			}
		}
		return nil
	})
	return s.wrap(op, err)
}

// GetEvidence implements store.Store. The ids travel as one JSON array parameter
// (json_each), so one prepared statement serves any number of ids.
func (s *Store) GetEvidence(ctx context.Context, eventIDs []string) ([]store.Evidence, error) {
	const op = "getting evidence"
	if err := s.check(op); err != nil {
		return nil, err
	}
	if len(eventIDs) == 0 {
		return nil, nil
	}
	ids, err := json.Marshal(eventIDs)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding ids: %w", op, err)
	}
	rows, err := s.query(ctx, `SELECT event_id, time_ns, source, format, doc FROM evidence
		WHERE event_id IN (SELECT value FROM json_each(?))`, string(ids))
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	found := make(map[string]store.Evidence, len(eventIDs))
	for rows.Next() {
		var (
			ev     store.Evidence
			timeNs int64
			doc    []byte
		)
		if err := rows.Scan(&ev.EventID, &timeNs, &ev.Source, &ev.Format, &doc); err != nil {
			return nil, s.wrap(op, err)
		}
		ev.Time = store.FromUnixNano(timeNs)
		ev.JSON = doc
		found[ev.EventID] = ev
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(op, err)
	}
	return store.EvidenceInOrder(eventIDs, found), nil
}

// PutModelState implements store.Store.
func (s *Store) PutModelState(ctx context.Context, st store.ModelState) error {
	op := "putting model state " + st.ModelID + "/" + st.Key
	if err := s.check(op); err != nil {
		return err
	}
	if err := st.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	blob := st.Blob
	if blob == nil {
		blob = []byte{} // the column is NOT NULL; a nil blob would bind as NULL
	}
	var since int64
	if !st.Since.IsZero() {
		since = st.Since.UnixNano()
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, s.ws.putModelState).ExecContext(ctx, st.ModelID, st.Key, st.Version, st.Updated.UnixNano(), blob, since)
		return err
	})
	return s.wrap(op, err)
}

const modelStateCols = `model_id, key, version, updated_ns, blob, since_ns`

func scanModelState(sc scanner, st *store.ModelState) error {
	var updated, since int64
	if err := sc.Scan(&st.ModelID, &st.Key, &st.Version, &updated, &st.Blob, &since); err != nil {
		return err
	}
	st.Updated = store.FromUnixNano(updated)
	if since != 0 {
		st.Since = store.FromUnixNano(since)
	}
	if len(st.Blob) == 0 {
		st.Blob = nil
	}
	return nil
}

// GetModelState implements store.Store.
func (s *Store) GetModelState(ctx context.Context, modelID, key string) (store.ModelState, error) {
	op := "getting model state " + modelID + "/" + key
	if err := s.check(op); err != nil {
		return store.ModelState{}, err
	}
	row, err := s.queryRow(ctx, `SELECT `+modelStateCols+` FROM model_states WHERE model_id = ? AND key = ?`, modelID, key)
	if err != nil {
		return store.ModelState{}, s.wrap(op, err)
	}
	var st store.ModelState
	if err := scanModelState(row, &st); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.ModelState{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		return store.ModelState{}, s.wrap(op, err)
	}
	return st, nil
}

// ListModelStates implements store.Store.
func (s *Store) ListModelStates(ctx context.Context, modelID string) ([]store.ModelState, error) {
	op := "listing model states of " + modelID
	if err := s.check(op); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT `+modelStateCols+` FROM model_states WHERE model_id = ? ORDER BY key`, modelID)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []store.ModelState
	for rows.Next() {
		var st store.ModelState
		if err := scanModelState(rows, &st); err != nil {
			return nil, s.wrap(op, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(op, err)
	}
	return out, nil
}

// PutSetting implements store.Store. The compare-and-swap is one conditional
// statement (an insert that does nothing when the name exists, or an update of
// the row only while it holds revision prev), so it holds against writers in
// other processes too: SQLite runs one write transaction at a time.
func (s *Store) PutSetting(ctx context.Context, name string, data []byte, prev int64) (store.Setting, error) {
	op := "putting setting " + name
	if err := s.check(op); err != nil {
		return store.Setting{}, err
	}
	if err := store.ValidateSetting(name, data, prev); err != nil {
		return store.Setting{}, fmt.Errorf("%s: %w", op, err)
	}
	stored := data
	if stored == nil {
		stored = []byte{} // the column is NOT NULL; a nil slice would bind as NULL
	}
	now := time.Now().UnixNano() // wall clock: the contract's Updated
	err := s.write(ctx, func(tx *sql.Tx) error {
		var (
			res sql.Result
			err error
		)
		if prev == 0 {
			res, err = tx.StmtContext(ctx, s.ws.insSetting).ExecContext(ctx, name, stored, now)
		} else {
			res, err = tx.StmtContext(ctx, s.ws.updSetting).ExecContext(ctx, stored, now, name, prev)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return settingConflict(prev)
		}
		return nil
	})
	if err != nil {
		return store.Setting{}, s.wrap(op, err)
	}
	st := store.Setting{Name: name, Revision: prev + 1, Updated: store.FromUnixNano(now)}
	if len(data) > 0 {
		st.Data = bytes.Clone(data) // the caller keeps its slice; empty data comes back nil, as from GetSetting
	}
	return st, nil
}

// settingConflict is PutSetting's error when no row held revision prev.
func settingConflict(prev int64) error {
	if prev == 0 {
		return fmt.Errorf("already stored: %w", store.ErrConflict)
	}
	return fmt.Errorf("revision %d is not the stored one: %w", prev, store.ErrConflict)
}

// GetSetting implements store.Store. Empty data comes back nil.
func (s *Store) GetSetting(ctx context.Context, name string) (store.Setting, error) {
	op := "getting setting " + name
	if err := s.check(op); err != nil {
		return store.Setting{}, err
	}
	row, err := s.queryRow(ctx, `SELECT revision, data, updated_ns FROM settings WHERE name = ?`, name)
	if err != nil {
		return store.Setting{}, s.wrap(op, err)
	}
	st := store.Setting{Name: name}
	var updated int64
	if err := row.Scan(&st.Revision, &st.Data, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.Setting{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		return store.Setting{}, s.wrap(op, err)
	}
	st.Updated = store.FromUnixNano(updated)
	if len(st.Data) == 0 {
		st.Data = nil
	}
	return st, nil
}

// PutFeedback implements store.Store.
func (s *Store) PutFeedback(ctx context.Context, fb store.Feedback) error {
	op := "putting feedback " + fb.ID
	if err := s.check(op); err != nil {
		return err
	}
	if err := fb.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var expires sql.NullInt64
	if !fb.Expires.IsZero() {
		expires = sql.NullInt64{Int64: fb.Expires.UnixNano(), Valid: true}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, s.ws.putFeedback).ExecContext(ctx, fb.ID, string(fb.TargetKind), fb.TargetID,
			string(fb.Verdict), fb.Reason, fb.Scope, expires, fb.Author, fb.Created.UnixNano())
		return err
	})
	return s.wrap(op, err)
}

// ListFeedback implements store.Store.
func (s *Store) ListFeedback(ctx context.Context, q store.FeedbackQuery) (store.Page[store.Feedback], error) {
	const op = "listing feedback"
	if err := s.check(op); err != nil {
		return store.Page[store.Feedback]{}, err
	}
	if err := q.Validate(); err != nil {
		return store.Page[store.Feedback]{}, fmt.Errorf("%s: %w", op, err)
	}
	cur, hasCur, err := store.DecodeCursor(store.CursorFeedback, q.Cursor)
	if err != nil {
		return store.Page[store.Feedback]{}, fmt.Errorf("%s: %w", op, err)
	}
	var b queryBuilder
	b.WriteString(`SELECT id, target_kind, target_id, verdict, reason, scope, expires_ns, author, created_ns FROM feedback`)
	if q.TargetKind != "" {
		b.where("target_kind = ?", string(q.TargetKind))
	}
	if q.TargetID != "" {
		b.where("target_id = ?", q.TargetID)
	}
	if q.Verdict != "" {
		b.where("verdict = ?", string(q.Verdict))
	}
	if !q.ActiveAt.IsZero() {
		at := q.ActiveAt.UnixNano()
		b.where("created_ns <= ? AND (expires_ns IS NULL OR expires_ns > ?)", at, at)
	}
	dir, cmp := orderSQL(q.Order)
	if hasCur {
		b.where("(created_ns, id) "+cmp+" (?, ?)", cur.Time, cur.ID)
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " ORDER BY created_ns %s, id %s LIMIT %d", dir, dir, limit+1)

	return queryPage(ctx, s, op, b.String(), b.args, limit, func(rows *sql.Rows) (store.Feedback, store.Cursor, error) {
		var (
			fb            store.Feedback
			kind, verdict string
			expires       sql.NullInt64
			created       int64
		)
		if err := rows.Scan(&fb.ID, &kind, &fb.TargetID, &verdict, &fb.Reason, &fb.Scope, &expires, &fb.Author, &created); err != nil {
			return fb, store.Cursor{}, err
		}
		fb.TargetKind, fb.Verdict = store.TargetKind(kind), store.Verdict(verdict)
		fb.Created = store.FromUnixNano(created)
		if expires.Valid {
			fb.Expires = store.FromUnixNano(expires.Int64)
		}
		return fb, store.Cursor{Kind: store.CursorFeedback, Time: created, ID: fb.ID}, nil
	})
}

// AppendAudit implements store.Store.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	const op = "appending audit entry"
	if err := s.check(op); err != nil {
		return 0, err
	}
	if err := e.Validate(); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var details []byte // nil binds as NULL
	if len(e.Details) > 0 {
		details = e.Details
	}
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.ws.appendAudit).ExecContext(ctx, e.Time.UnixNano(), e.Actor, e.Action, e.Target, details)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return id, nil
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) (store.Page[store.AuditEntry], error) {
	const op = "listing audit log"
	if err := s.check(op); err != nil {
		return store.Page[store.AuditEntry]{}, err
	}
	if err := q.Validate(); err != nil {
		return store.Page[store.AuditEntry]{}, fmt.Errorf("%s: %w", op, err)
	}
	cur, hasCur, err := store.DecodeCursor(store.CursorAudit, q.Cursor)
	if err != nil {
		return store.Page[store.AuditEntry]{}, fmt.Errorf("%s: %w", op, err)
	}
	since, until, _ := q.Bounds() // checked by Validate

	var b queryBuilder
	b.WriteString(`SELECT id, time_ns, actor, action, target, details FROM audit_log`)
	if since != math.MinInt64 {
		b.where("time_ns >= ?", since)
	}
	if until != math.MaxInt64 {
		b.where("time_ns < ?", until)
	}
	if q.Actor != "" {
		b.where("actor = ?", q.Actor)
	}
	if q.Action != "" {
		b.where("action = ?", q.Action)
	}
	if q.Target != "" {
		b.where("target = ?", q.Target)
	}
	dir, cmp := orderSQL(q.Order)
	if hasCur {
		b.where("id "+cmp+" ?", cur.Seq)
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " ORDER BY id %s LIMIT %d", dir, limit+1)

	return queryPage(ctx, s, op, b.String(), b.args, limit, func(rows *sql.Rows) (store.AuditEntry, store.Cursor, error) {
		var (
			e      store.AuditEntry
			timeNs int64
			det    []byte
		)
		if err := rows.Scan(&e.ID, &timeNs, &e.Actor, &e.Action, &e.Target, &det); err != nil {
			return e, store.Cursor{}, err
		}
		e.Time = store.FromUnixNano(timeNs)
		if len(det) > 0 {
			e.Details = det
		}
		return e, store.Cursor{Kind: store.CursorAudit, Seq: e.ID}, nil
	})
}
