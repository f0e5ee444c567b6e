package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

const (
	insertIncidentSQL = `INSERT INTO incidents (id, version, status, severity, risk, first_seen_ns, last_seen_ns, title, summary, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`
	updateIncidentSQL = `UPDATE incidents SET version = $2, status = $3, severity = $4, risk = $5, first_seen_ns = $6,
		last_seen_ns = $7, title = $8, summary = $9, doc = $10 WHERE id = $1`
	insertIncidentEntitiesSQL = `INSERT INTO incident_entities (kind, value, incident_id)
		SELECT e.kind, e.value, $1 FROM unnest($2::text[], $3::text[]) AS e (kind, value) ON CONFLICT DO NOTHING`
	lockIncidentSQL = `SELECT version, doc FROM incidents WHERE id = $1 FOR UPDATE`
)

// validIncident checks inc as every implementation does, and that its id and
// status fit text columns.
func validIncident(inc *correlate.Incident) error {
	if err := store.ValidateIncident(inc); err != nil {
		return err
	}
	if err := exact("incident id", inc.ID); err != nil {
		return err
	}
	return exact("incident "+inc.ID+" status", string(inc.Status))
}

// UpsertIncident implements store.Store. It runs in one transaction that locks
// the stored row (SELECT ... FOR UPDATE) before deciding, so writers in any
// number of processes serialize on the incident and exactly one wins each
// version; KeepTriage is applied to the row as locked.
func (s *Store) UpsertIncident(ctx context.Context, inc correlate.Incident) error {
	op := "upserting incident " + inc.ID
	if err := s.check(op); err != nil {
		return err
	}
	if err := validIncident(&inc); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	inc = store.CanonicalIncident(inc)
	err := s.tx(ctx, func(tx pgx.Tx) error { return upsertIncidentTx(ctx, tx, inc) })
	return s.wrap(op, err)
}

// UpsertIncidents writes incidents as UpsertIncident does, all in one
// transaction (a stream writes many at once); an incident the store already
// has at the same or a newer version is left as it is and counted in skipped
// rather than failing the batch. Rows are locked in id order, so two
// overlapping batches from different processes cannot deadlock.
func (s *Store) UpsertIncidents(ctx context.Context, incs []correlate.Incident) (skipped int, err error) {
	op := fmt.Sprintf("upserting %d incidents", len(incs))
	if err := s.check(op); err != nil {
		return 0, err
	}
	canon := make([]correlate.Incident, len(incs))
	for i := range incs {
		if err := validIncident(&incs[i]); err != nil {
			return 0, fmt.Errorf("%s: incident %s: %w", op, incs[i].ID, err)
		}
		canon[i] = store.CanonicalIncident(incs[i])
	}
	if len(canon) == 0 {
		return 0, nil
	}
	// Stable: versions of one incident are written in the order given.
	slices.SortStableFunc(canon, func(a, b correlate.Incident) int { return strings.Compare(a.ID, b.ID) })
	err = s.tx(ctx, func(tx pgx.Tx) error {
		skipped = 0
		for i := range canon {
			err := upsertIncidentTx(ctx, tx, canon[i])
			switch {
			case errors.Is(err, store.ErrConflict):
				skipped++
			case err != nil:
				return fmt.Errorf("incident %s: %w", canon[i].ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return skipped, nil
}

// upsertIncidentTx is UpsertIncident's work inside tx.
func upsertIncidentTx(ctx context.Context, tx pgx.Tx, inc correlate.Incident) error {
	// At most two rounds: a first writer's insert either succeeds or meets a
	// row committed meanwhile, which the second round locks.
	for range 2 {
		var (
			stored    int64
			storedDoc []byte
		)
		err := tx.QueryRow(ctx, lockIncidentSQL, inc.ID).Scan(&stored, &storedDoc)
		if errors.Is(err, pgx.ErrNoRows) {
			doc, err := json.Marshal(&inc)
			if err != nil {
				return fmt.Errorf("encoding: %w", err)
			}
			tag, err := tx.Exec(ctx, insertIncidentSQL, incidentArgs(&inc, doc)...)
			if err != nil {
				return fmt.Errorf("inserting row: %w", err)
			}
			if tag.RowsAffected() == 0 {
				continue // another writer inserted it first: decide against its row
			}
			return insertIncidentEntities(ctx, tx, &inc)
		}
		if err != nil {
			return fmt.Errorf("locking stored incident: %w", err)
		}
		if inc.Status == "" || inc.Status == correlate.StatusOpen {
			// An analyst's triage survives the correlator's writes.
			var old correlate.Incident
			if err := json.Unmarshal(storedDoc, &old); err != nil {
				return fmt.Errorf("decoding stored incident: %w", err)
			}
			store.KeepTriage(old, &inc)
		}
		doc, err := json.Marshal(&inc)
		if err != nil {
			return fmt.Errorf("encoding: %w", err)
		}
		if inc.Version <= stored {
			// Writing back the stored incident unchanged is a redelivery.
			if stored == inc.Version && bytes.Equal(storedDoc, doc) {
				return nil
			}
			return fmt.Errorf("stored version %d, writing version %d: %w", stored, inc.Version, store.ErrConflict)
		}
		// The row, and its entities replaced, in one round trip.
		var batch pgx.Batch
		batch.Queue(updateIncidentSQL, incidentArgs(&inc, doc)...)
		batch.Queue(`DELETE FROM incident_entities WHERE incident_id = $1`, inc.ID)
		if len(inc.Entities) > 0 {
			batch.Queue(insertIncidentEntitiesSQL, incidentEntityArgs(&inc)...)
		}
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("updating row and entities: %w", err)
		}
		return nil
	}
	return fmt.Errorf("incident %s neither inserted nor found", inc.ID)
}

func incidentArgs(inc *correlate.Incident, doc []byte) []any {
	return []any{inc.ID, inc.Version, string(inc.Status), int16(inc.Severity), inc.Risk,
		inc.FirstSeen.UnixNano(), inc.LastSeen.UnixNano(), lossy(inc.Title), lossy(inc.Summary), doc}
}

// incidentEntityArgs returns the parameters of insertIncidentEntitiesSQL.
func incidentEntityArgs(inc *correlate.Incident) []any {
	kinds := make([]string, len(inc.Entities))
	values := make([]string, len(inc.Entities))
	for i, e := range inc.Entities {
		kinds[i], values[i] = lossy(string(e.Kind)), lossy(e.Value)
	}
	return []any{inc.ID, kinds, values}
}

func insertIncidentEntities(ctx context.Context, tx pgx.Tx, inc *correlate.Incident) error {
	if len(inc.Entities) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, insertIncidentEntitiesSQL, incidentEntityArgs(inc)...); err != nil {
		return fmt.Errorf("inserting entities: %w", err)
	}
	return nil
}

// UpdateIncidentTriage implements store.Store: it locks the stored row,
// rewrites its status and document and leaves its version alone, in one
// transaction.
func (s *Store) UpdateIncidentTriage(ctx context.Context, id string, u store.TriageUpdate) (correlate.Incident, error) {
	op := "updating triage of incident " + id
	if err := s.check(op); err != nil {
		return correlate.Incident{}, err
	}
	if err := u.Validate(); err != nil {
		return correlate.Incident{}, fmt.Errorf("%s: %w", op, err)
	}
	if !storable(id) {
		return correlate.Incident{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var inc correlate.Incident
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var (
			version int64
			doc     []byte
		)
		err := tx.QueryRow(ctx, lockIncidentSQL, id).Scan(&version, &doc)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("locking stored incident: %w", err)
		}
		if err := json.Unmarshal(doc, &inc); err != nil {
			return fmt.Errorf("decoding stored incident: %w", err)
		}
		u.Apply(&inc)
		if doc, err = json.Marshal(&inc); err != nil {
			return fmt.Errorf("encoding: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE incidents SET status = $2, doc = $3 WHERE id = $1`, id, string(inc.Status), doc); err != nil {
			return fmt.Errorf("updating row: %w", err)
		}
		return nil
	})
	if err != nil {
		return correlate.Incident{}, s.wrap(op, err)
	}
	return store.CanonicalIncident(inc), nil
}

// GetIncident implements store.Store.
func (s *Store) GetIncident(ctx context.Context, id string) (correlate.Incident, error) {
	op := "getting incident " + id
	if err := s.check(op); err != nil {
		return correlate.Incident{}, err
	}
	if !storable(id) {
		return correlate.Incident{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var inc correlate.Incident
	row := s.pool.QueryRow(ctx, `SELECT risk, first_seen_ns, last_seen_ns, doc FROM incidents WHERE id = $1`, id)
	if _, err := scanIncident(row, &inc); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return correlate.Incident{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		return correlate.Incident{}, s.wrap(op, err)
	}
	return inc, nil
}

// scanIncident reads (risk, first_seen_ns, last_seen_ns, doc) into inc and
// returns the keyset position.
func scanIncident(row pgx.Row, inc *correlate.Incident) (store.Cursor, error) {
	var (
		risk          float64
		first, lastNs int64
		doc           []byte
	)
	if err := row.Scan(&risk, &first, &lastNs, &doc); err != nil {
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
		b.where("e.kind = " + b.arg(lossy(string(q.Entity.Kind))))
		b.where("e.value = " + b.arg(lossy(q.Entity.Value)))
	}
	if since != math.MinInt64 {
		b.where("i.last_seen_ns >= " + b.arg(since))
	}
	if until != math.MaxInt64 {
		b.where("i.first_seen_ns < " + b.arg(until))
	}
	if q.MinSeverity > detect.SeverityInfo {
		b.where("i.severity >= " + b.arg(int64(q.MinSeverity)))
	}
	if q.Status != "" {
		b.where("i.status = " + b.exactArg(string(q.Status)))
	}
	if q.MinRisk != 0 {
		b.where("i.risk >= " + b.arg(q.MinRisk))
	}
	if q.Text != "" {
		// lower() under COLLATE "C" folds ASCII letters only, as the contract
		// asks; the pattern is lowered the same way.
		p := b.arg(asciiLower(store.LikePattern(lossy(q.Text))))
		b.where(`(lower(i.title) LIKE ` + p + ` ESCAPE '\' OR lower(i.summary) LIKE ` + p + ` ESCAPE '\'
			OR EXISTS (SELECT 1 FROM incident_entities t WHERE t.incident_id = i.id AND lower(t.value) LIKE ` + p + ` ESCAPE '\'))`)
	}
	switch q.Sort {
	case store.SortLastSeen:
		if hasCur {
			b.where("(i.last_seen_ns, i.id) < (" + b.arg(cur.Time) + ", " + b.arg(cur.ID) + ")")
		}
		b.WriteString(" ORDER BY i.last_seen_ns DESC, i.id DESC")
	default:
		if hasCur {
			b.where("(i.risk, i.last_seen_ns, i.id) < (" + b.arg(cur.Risk) + ", " + b.arg(cur.Time) + ", " + b.arg(cur.ID) + ")")
		}
		b.WriteString(" ORDER BY i.risk DESC, i.last_seen_ns DESC, i.id DESC")
	}
	limit := store.PageLimit(q.Limit)
	fmt.Fprintf(&b, " LIMIT %d", limit+1)

	return queryPage(ctx, s, op, &b, limit, func(rows pgx.Rows) (correlate.Incident, store.Cursor, error) {
		var inc correlate.Incident
		cur, err := scanIncident(rows, &inc)
		return inc, cur, err
	})
}
