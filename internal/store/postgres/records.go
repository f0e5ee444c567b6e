package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vigilsec/vigil/internal/store"
)

const insertEvidenceSQL = `INSERT INTO evidence (event_id, time_ns, source, format, doc)
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bytea[])
	ON CONFLICT (event_id) DO NOTHING`

// PutEvidence implements store.Store. Like PutSignals, the batch goes in one
// statement from parameter arrays (several in one transaction past
// maxStatementRows), first occurrence of each id only, in id order.
func (s *Store) PutEvidence(ctx context.Context, evidence []store.Evidence) error {
	const op = "putting evidence"
	if err := s.check(op); err != nil {
		return err
	}
	for i := range evidence {
		if err := evidence[i].Validate(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if err := exact("evidence event id", evidence[i].EventID); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	if len(evidence) == 0 {
		return nil
	}
	idx := make([]int, 0, len(evidence))
	seen := make(map[string]struct{}, len(evidence))
	for i := range evidence {
		if _, dup := seen[evidence[i].EventID]; !dup {
			seen[evidence[i].EventID] = struct{}{}
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(evidence[a].EventID, evidence[b].EventID) })
	n := len(idx)
	ids, sources, formats := make([]string, n), make([]string, n), make([]string, n)
	times, docs := make([]int64, n), make([][]byte, n)
	for k, i := range idx {
		ev := &evidence[i]
		ids[k], times[k], sources[k], formats[k], docs[k] = ev.EventID, ev.Time.UnixNano(), lossy(ev.Source), lossy(ev.Format), ev.JSON
	}
	err := s.inChunks(ctx, n, func(q execer, lo, hi int) error {
		if _, err := q.Exec(ctx, insertEvidenceSQL, ids[lo:hi], times[lo:hi], sources[lo:hi], formats[lo:hi],
			pgtype.FlatArray[[]byte](docs[lo:hi])); err != nil {
			return fmt.Errorf("inserting evidence: %w", err)
		}
		return nil
	})
	return s.wrap(op, err)
}

// GetEvidence implements store.Store. The ids travel as one array parameter,
// so one statement serves any number of them.
func (s *Store) GetEvidence(ctx context.Context, eventIDs []string) ([]store.Evidence, error) {
	const op = "getting evidence"
	if err := s.check(op); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(eventIDs))
	for _, id := range eventIDs {
		if storable(id) { // no other id can be stored
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT event_id, time_ns, source, format, doc FROM evidence WHERE event_id = ANY($1::text[])`, ids)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	found := make(map[string]store.Evidence, len(ids))
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
	if err := exact("model id", st.ModelID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := exact("model state key", st.Key); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	blob := st.Blob
	if blob == nil {
		blob = []byte{} // the column is NOT NULL; a nil slice would be sent as NULL
	}
	var since int64
	if !st.Since.IsZero() {
		since = st.Since.UnixNano()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO model_states (model_id, key, version, updated_ns, since_ns, blob)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (model_id, key) DO UPDATE SET version = excluded.version, updated_ns = excluded.updated_ns,
			since_ns = excluded.since_ns, blob = excluded.blob`,
		st.ModelID, st.Key, st.Version, st.Updated.UnixNano(), since, blob)
	return s.wrap(op, err)
}

const modelStateCols = `model_id, key, version, updated_ns, since_ns, blob`

func scanModelState(row pgx.Row, st *store.ModelState) error {
	var updated, since int64
	if err := row.Scan(&st.ModelID, &st.Key, &st.Version, &updated, &since, &st.Blob); err != nil {
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
	if !storable(modelID) || !storable(key) {
		return store.ModelState{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var st store.ModelState
	row := s.pool.QueryRow(ctx, `SELECT `+modelStateCols+` FROM model_states WHERE model_id = $1 AND key = $2`, modelID, key)
	if err := scanModelState(row, &st); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
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
	if !storable(modelID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+modelStateCols+` FROM model_states WHERE model_id = $1 ORDER BY key`, modelID)
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
// statement decided inside PostgreSQL: an insert that does nothing when the
// name exists (a concurrent insert of the same name waits for the first to
// commit, then finds it), or an update of the row only while it holds revision
// prev (a concurrent update waits for the row lock and re-checks the revision
// on the row as committed), so of several writers of one revision, in any
// processes, exactly one succeeds.
func (s *Store) PutSetting(ctx context.Context, name string, data []byte, prev int64) (store.Setting, error) {
	op := "putting setting " + name
	if err := s.check(op); err != nil {
		return store.Setting{}, err
	}
	if err := store.ValidateSetting(name, data, prev); err != nil {
		return store.Setting{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := exact("setting name", name); err != nil {
		return store.Setting{}, fmt.Errorf("%s: %w", op, err)
	}
	stored := data
	if stored == nil {
		stored = []byte{} // the column is NOT NULL; a nil slice would be sent as NULL
	}
	now := time.Now().UnixNano() // wall clock: the contract's Updated
	var (
		tag pgconn.CommandTag
		err error
	)
	if prev == 0 {
		tag, err = s.pool.Exec(ctx, `INSERT INTO settings (name, revision, data, updated_ns) VALUES ($1, 1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, name, stored, now)
	} else {
		tag, err = s.pool.Exec(ctx, `UPDATE settings SET revision = revision + 1, data = $1, updated_ns = $2
			WHERE name = $3 AND revision = $4`, stored, now, name, prev)
	}
	if err != nil {
		return store.Setting{}, s.wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		if prev == 0 {
			return store.Setting{}, fmt.Errorf("%s: already stored: %w", op, store.ErrConflict)
		}
		return store.Setting{}, fmt.Errorf("%s: revision %d is not the stored one: %w", op, prev, store.ErrConflict)
	}
	st := store.Setting{Name: name, Revision: prev + 1, Updated: store.FromUnixNano(now)}
	if len(data) > 0 {
		st.Data = bytes.Clone(data) // the caller keeps its slice; empty data comes back nil, as from GetSetting
	}
	return st, nil
}

// GetSetting implements store.Store. Empty data comes back nil.
func (s *Store) GetSetting(ctx context.Context, name string) (store.Setting, error) {
	op := "getting setting " + name
	if err := s.check(op); err != nil {
		return store.Setting{}, err
	}
	if !storable(name) { // no such name can be stored
		return store.Setting{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	st := store.Setting{Name: name}
	var updated int64
	err := s.pool.QueryRow(ctx, `SELECT revision, data, updated_ns FROM settings WHERE name = $1`, name).
		Scan(&st.Revision, &st.Data, &updated)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
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
	if err := exact("feedback id", fb.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := exact("feedback target id", fb.TargetID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var expires *int64 // nil: never expires (NULL)
	if !fb.Expires.IsZero() {
		ns := fb.Expires.UnixNano()
		expires = &ns
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO feedback (id, target_kind, target_id, verdict, reason, scope, expires_ns, author, created_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET target_kind = excluded.target_kind, target_id = excluded.target_id,
			verdict = excluded.verdict, reason = excluded.reason, scope = excluded.scope,
			expires_ns = excluded.expires_ns, author = excluded.author, created_ns = excluded.created_ns`,
		fb.ID, string(fb.TargetKind), fb.TargetID, string(fb.Verdict), lossy(fb.Reason), lossy(fb.Scope), expires,
		lossy(fb.Author), fb.Created.UnixNano())
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
		b.where("target_kind = " + b.arg(string(q.TargetKind)))
	}
	if q.TargetID != "" {
		b.where("target_id = " + b.exactArg(q.TargetID))
	}
	if q.Verdict != "" {
		b.where("verdict = " + b.arg(string(q.Verdict)))
	}
	if !q.ActiveAt.IsZero() {
		at := b.arg(q.ActiveAt.UnixNano())
		b.where("created_ns <= " + at + " AND (expires_ns IS NULL OR expires_ns > " + at + ")")
	}
	dir, cmp := orderSQL(q.Order)
	if hasCur {
		b.where("(created_ns, id) " + cmp + " (" + b.arg(cur.Time) + ", " + b.arg(cur.ID) + ")")
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " ORDER BY created_ns %s, id %s LIMIT %d", dir, dir, limit+1)

	return queryPage(ctx, s, op, &b, limit, func(rows pgx.Rows) (store.Feedback, store.Cursor, error) {
		var (
			fb            store.Feedback
			kind, verdict string
			expires       *int64
			created       int64
		)
		if err := rows.Scan(&fb.ID, &kind, &fb.TargetID, &verdict, &fb.Reason, &fb.Scope, &expires, &fb.Author, &created); err != nil {
			return fb, store.Cursor{}, err
		}
		fb.TargetKind, fb.Verdict = store.TargetKind(kind), store.Verdict(verdict)
		fb.Created = store.FromUnixNano(created)
		if expires != nil {
			fb.Expires = store.FromUnixNano(*expires)
		}
		return fb, store.Cursor{Kind: store.CursorFeedback, Time: created, ID: fb.ID}, nil
	})
}

// AppendAudit implements store.Store. Appends are serialized by a
// transaction-level advisory lock held until commit, so ids are handed out
// in commit order too: a reader that saw entry n never later finds an entry
// below n appear (which concurrent identity allocations alone would allow).
// The lock needs no table privilege, so a deployment may grant the store's
// role only INSERT and SELECT on audit_log.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	const op = "appending audit entry"
	if err := s.check(op); err != nil {
		return 0, err
	}
	if err := e.Validate(); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var details []byte // nil is sent as NULL
	if len(e.Details) > 0 {
		details = e.Details
	}
	var id int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.auditLock); err != nil {
			return fmt.Errorf("taking the audit lock: %w", err)
		}
		return tx.QueryRow(ctx, `INSERT INTO audit_log (time_ns, actor, action, target, details) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			e.Time.UnixNano(), lossy(e.Actor), lossy(e.Action), lossy(e.Target), details).Scan(&id)
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
		b.where("time_ns >= " + b.arg(since))
	}
	if until != math.MaxInt64 {
		b.where("time_ns < " + b.arg(until))
	}
	if q.Actor != "" {
		b.where("actor = " + b.arg(lossy(q.Actor)))
	}
	if q.Action != "" {
		b.where("action = " + b.arg(lossy(q.Action)))
	}
	if q.Target != "" {
		b.where("target = " + b.arg(lossy(q.Target)))
	}
	dir, cmp := orderSQL(q.Order)
	if hasCur {
		b.where("id " + cmp + " " + b.arg(cur.Seq))
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " ORDER BY id %s LIMIT %d", dir, limit+1)

	return queryPage(ctx, s, op, &b, limit, func(rows pgx.Rows) (store.AuditEntry, store.Cursor, error) {
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
