package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// UpsertIncident implements store.Store. The version check is one conditional
// upsert (ON CONFLICT ... WHERE excluded.version > incidents.version); when it
// changes nothing, the stored row decides between a redelivery and a conflict.
func (s *Store) UpsertIncident(ctx context.Context, inc correlate.Incident) error {
	op := "upserting incident " + inc.ID
	if err := s.check(op); err != nil {
		return err
	}
	if err := store.ValidateIncident(&inc); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	inc = store.CanonicalIncident(inc)
	err := s.write(ctx, func(tx *sql.Tx) error { return s.upsertIncidentTx(ctx, tx, inc) })
	return s.wrap(op, err)
}

// UpsertIncidents writes incidents as UpsertIncident does, all in one
// transaction (a stream writes many at once); an incident the store already
// has at the same or a newer version is left as it is and counted in skipped
// rather than failing the batch.
func (s *Store) UpsertIncidents(ctx context.Context, incs []correlate.Incident) (skipped int, err error) {
	op := fmt.Sprintf("upserting %d incidents", len(incs))
	if err := s.check(op); err != nil {
		return 0, err
	}
	canon := make([]correlate.Incident, len(incs))
	for i := range incs {
		if err := store.ValidateIncident(&incs[i]); err != nil {
			return 0, fmt.Errorf("%s: incident %s: %w", op, incs[i].ID, err)
		}
		canon[i] = store.CanonicalIncident(incs[i])
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		skipped = 0
		for i := range canon {
			err := s.upsertIncidentTx(ctx, tx, canon[i])
			switch {
			case errors.Is(err, store.ErrConflict):
				skipped++
			case err != nil:
				return fmt.Errorf("incident %s: %w", canon[i].ID, err)
			}
		}
		return nil
	})
	return skipped, s.wrap(op, err)
}

// upsertIncidentTx is UpsertIncident's work inside tx.
func (s *Store) upsertIncidentTx(ctx context.Context, tx *sql.Tx, inc correlate.Incident) error {
	get := tx.StmtContext(ctx, s.ws.getIncidentForUpdate)
	if inc.Status == "" || inc.Status == correlate.StatusOpen {
		// An analyst's triage survives the correlator's writes.
		var (
			stored    int64
			storedDoc []byte
			old       correlate.Incident
		)
		switch err := get.QueryRowContext(ctx, inc.ID).Scan(&stored, &storedDoc); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("reading stored incident: %w", err)
		default:
			if err := json.Unmarshal(storedDoc, &old); err != nil {
				return fmt.Errorf("decoding stored incident: %w", err)
			}
			store.KeepTriage(old, &inc)
		}
	}
	doc, err := json.Marshal(&inc)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	res, err := tx.StmtContext(ctx, s.ws.upsIncident).ExecContext(ctx, inc.ID, inc.Version, string(inc.Status),
		int64(inc.Severity), inc.Risk, inc.FirstSeen.UnixNano(), inc.LastSeen.UnixNano(), doc)
	if err != nil {
		return fmt.Errorf("writing row: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("writing row: %w", err)
	}
	if n == 0 {
		return sameOrConflict(ctx, get, &inc, doc)
	}
	return replaceIncidentEntities(ctx, tx, s, &inc)
}

// sameOrConflict decides an upsert that changed nothing: writing back the stored
// incident unchanged is a redelivery and succeeds; anything else is a conflict.
func sameOrConflict(ctx context.Context, get *sql.Stmt, inc *correlate.Incident, doc []byte) error {
	var (
		stored    int64
		storedDoc []byte
	)
	if err := get.QueryRowContext(ctx, inc.ID).Scan(&stored, &storedDoc); err != nil {
		return fmt.Errorf("reading stored version: %w", err)
	}
	if stored == inc.Version && bytes.Equal(storedDoc, doc) {
		return nil
	}
	return fmt.Errorf("stored version %d, writing version %d: %w", stored, inc.Version, store.ErrConflict)
}

// UpdateIncidentTriage implements store.Store: it rewrites the stored row's
// status and document in one transaction, leaving its version alone.
func (s *Store) UpdateIncidentTriage(ctx context.Context, id string, u store.TriageUpdate) (correlate.Incident, error) {
	op := "updating triage of incident " + id
	if err := s.check(op); err != nil {
		return correlate.Incident{}, err
	}
	if err := u.Validate(); err != nil {
		return correlate.Incident{}, fmt.Errorf("%s: %w", op, err)
	}
	var inc correlate.Incident
	err := s.write(ctx, func(tx *sql.Tx) error {
		var (
			version int64
			doc     []byte
		)
		err := tx.StmtContext(ctx, s.ws.getIncidentForUpdate).QueryRowContext(ctx, id).Scan(&version, &doc)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("reading stored incident: %w", err)
		}
		if err := json.Unmarshal(doc, &inc); err != nil {
			return fmt.Errorf("decoding stored incident: %w", err)
		}
		u.Apply(&inc)
		if doc, err = json.Marshal(&inc); err != nil {
			return fmt.Errorf("encoding: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET status = ?, doc = ? WHERE id = ?`, string(inc.Status), doc, id); err != nil {
			return fmt.Errorf("writing row: %w", err)
		}
		return nil
	})
	if err != nil {
		return correlate.Incident{}, s.wrap(op, err)
	}
	return store.CanonicalIncident(inc), nil
}

func replaceIncidentEntities(ctx context.Context, tx *sql.Tx, s *Store, inc *correlate.Incident) error {
	if _, err := tx.StmtContext(ctx, s.ws.delIncidentEntities).ExecContext(ctx, inc.ID); err != nil {
		return fmt.Errorf("clearing entities: %w", err)
	}
	ins := tx.StmtContext(ctx, s.ws.insIncidentEntity)
	for _, e := range inc.Entities {
		if _, err := ins.ExecContext(ctx, string(e.Kind), e.Value, inc.ID); err != nil {
			return fmt.Errorf("inserting entity: %w", err)
		}
	}
	return nil
}

// GetIncident implements store.Store.
func (s *Store) GetIncident(ctx context.Context, id string) (correlate.Incident, error) {
	op := "getting incident " + id
	if err := s.check(op); err != nil {
		return correlate.Incident{}, err
	}
	row, err := s.queryRow(ctx, `SELECT risk, first_seen_ns, last_seen_ns, doc FROM incidents WHERE id = ?`, id)
	if err != nil {
		return correlate.Incident{}, s.wrap(op, err)
	}
	var inc correlate.Incident
	if _, err := scanIncident(row, &inc); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return correlate.Incident{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		return correlate.Incident{}, s.wrap(op, err)
	}
	return inc, nil
}

// scanIncident reads (risk, first_seen_ns, last_seen_ns, doc) into inc and returns
// the keyset position.
func scanIncident(sc scanner, inc *correlate.Incident) (store.Cursor, error) {
	var (
		risk          float64
		first, lastNs int64
		doc           []byte
	)
	if err := sc.Scan(&risk, &first, &lastNs, &doc); err != nil {
		return store.Cursor{}, err
	}
	if err := json.Unmarshal(doc, inc); err != nil {
		return store.Cursor{}, fmt.Errorf("decoding stored incident: %w", err)
	}
	inc.FirstSeen = store.FromUnixNano(first)
	inc.LastSeen = store.FromUnixNano(lastNs)
	return store.Cursor{Kind: store.CursorIncidents, Risk: risk, Time: lastNs, ID: inc.ID}, nil
}

// ListIncidents implements store.Store.
func (s *Store) ListIncidents(ctx context.Context, q store.IncidentQuery) (store.Page[correlate.Incident], error) {
	const op = "listing incidents"
	if err := s.check(op); err != nil {
		return store.Page[correlate.Incident]{}, err
	}
	if err := q.Validate(); err != nil {
		return store.Page[correlate.Incident]{}, fmt.Errorf("%s: %w", op, err)
	}
	cur, hasCur, err := store.DecodeCursor(store.CursorIncidents, q.Cursor)
	if err != nil {
		return store.Page[correlate.Incident]{}, fmt.Errorf("%s: %w", op, err)
	}
	since, until, _ := q.Bounds() // checked by Validate

	var b queryBuilder
	b.WriteString(`SELECT i.risk, i.first_seen_ns, i.last_seen_ns, i.doc FROM incidents i`)
	if q.Entity.Kind != "" {
		b.WriteString(` JOIN incident_entities e ON e.incident_id = i.id`)
		b.where("e.kind = ?", string(q.Entity.Kind))
		b.where("e.value = ?", q.Entity.Value)
	}
	if since != math.MinInt64 {
		b.where("i.last_seen_ns >= ?", since)
	}
	if until != math.MaxInt64 {
		b.where("i.first_seen_ns < ?", until)
	}
	if q.MinSeverity > detect.SeverityInfo {
		b.where("i.severity >= ?", int64(q.MinSeverity))
	}
	if q.Status != "" {
		b.where("i.status = ?", string(q.Status))
	}
	if q.MinRisk != 0 {
		b.where("i.risk >= ?", q.MinRisk)
	}
	if q.Text != "" {
		// The document is a BLOB; as TEXT, json_extract reads it as JSON.
		pat := store.LikePattern(q.Text)
		b.where(`(json_extract(CAST(i.doc AS TEXT), '$.title') LIKE ? ESCAPE '\'
			OR json_extract(CAST(i.doc AS TEXT), '$.summary') LIKE ? ESCAPE '\'
			OR EXISTS (SELECT 1 FROM incident_entities t WHERE t.incident_id = i.id AND t.value LIKE ? ESCAPE '\'))`, pat, pat, pat)
	}
	switch q.Sort {
	case store.SortLastSeen:
		if hasCur {
			b.where("(i.last_seen_ns, i.id) < (?, ?)", cur.Time, cur.ID)
		}
		b.WriteString(" ORDER BY i.last_seen_ns DESC, i.id DESC")
	default:
		if hasCur {
			b.where("(i.risk, i.last_seen_ns, i.id) < (?, ?, ?)", cur.Risk, cur.Time, cur.ID)
		}
		b.WriteString(" ORDER BY i.risk DESC, i.last_seen_ns DESC, i.id DESC")
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " LIMIT %d", limit+1)

	return queryPage(ctx, s, op, b.String(), b.args, limit, func(rows *sql.Rows) (correlate.Incident, store.Cursor, error) {
		var inc correlate.Incident
		cur, err := scanIncident(rows, &inc)
		return inc, cur, err
	})
}
