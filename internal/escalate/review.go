package escalate

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/store"
)

// ReviewQueue returns one page of the human review queue: the review items not
// yet resolved, oldest first. The item's Payload is the incident as it matched.
func ReviewQueue(ctx context.Context, st store.Store, limit int, cursor string) (store.Page[store.OutboxItem], error) {
	p, err := st.ListOutbox(ctx, store.OutboxQuery{State: store.OutboxReview, Order: store.OrderAsc, Limit: limit, Cursor: cursor})
	if err != nil {
		return store.Page[store.OutboxItem]{}, fmt.Errorf("listing the review queue: %w", err)
	}
	return p, nil
}

// ResolveReview takes a review item off the queue and records who did it, and
// why, in the audit log. It returns store.ErrNotFound for an unknown key and
// store.ErrConflict when the item is already resolved.
func ResolveReview(ctx context.Context, st store.Store, key, actor, note string, now time.Time) error {
	if actor == "" {
		return fmt.Errorf("resolving review %s: no actor: %w", key, store.ErrInvalid)
	}
	if err := st.MarkOutbox(ctx, store.OutboxResult{Key: key, Owner: actor, State: store.OutboxDelivered, Now: now}); err != nil {
		return fmt.Errorf("resolving review %s: %w", key, err)
	}
	details, err := json.Marshal(map[string]string{"note": note})
	if err != nil {
		return fmt.Errorf("resolving review %s: encoding audit details: %w", key, err)
	}
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Time: now, Actor: actor, Action: "escalation.review.resolve", Target: key, Details: details}); err != nil {
		return fmt.Errorf("resolving review %s: %w", key, err)
	}
	return nil
}
