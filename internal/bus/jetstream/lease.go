package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/bus"
)

// maxLeaseAttempts bounds how many compare-and-set races one lease call runs.
const maxLeaseAttempts = 5

// Acquire creates the lease key for owner when nobody holds it, or renews it
// (compare-and-set on its revision) when owner does.
func (b *Bus) Acquire(ctx context.Context, key, owner string) (bool, error) {
	if err := bus.ValidateLease(key, owner); err != nil {
		return false, err
	}
	if b.isClosed() {
		return false, bus.ErrClosed
	}
	k := encodeKey(key)
	for range maxLeaseAttempts {
		e, err := b.leasesKV.Get(ctx, k)
		switch {
		case errors.Is(err, natsjs.ErrKeyNotFound): // never held, released, or lapsed
			_, err := b.leasesKV.Create(ctx, k, []byte(owner))
			if err == nil {
				return true, nil
			}
			if !errors.Is(err, natsjs.ErrKeyExists) {
				return false, b.fail(err, "acquiring lease %s", key)
			}
			// Another acquirer was first: look again.
		case err != nil:
			return false, b.fail(err, "acquiring lease %s", key)
		case string(e.Value()) != owner:
			return false, nil
		default:
			_, err := b.leasesKV.Update(ctx, k, []byte(owner), e.Revision())
			if err == nil {
				return true, nil
			}
			if !errors.Is(err, natsjs.ErrKeyRevisionMismatch) && !errors.Is(err, natsjs.ErrKeyExists) {
				return false, b.fail(err, "renewing lease %s", key)
			}
			// Changed meanwhile (a concurrent renewal, or a lapse and a
			// takeover): look again.
		}
	}
	return false, nil
}

// Release deletes the lease key when owner holds it (compare-and-set).
func (b *Bus) Release(ctx context.Context, key, owner string) error {
	if err := bus.ValidateLease(key, owner); err != nil {
		return err
	}
	if b.isClosed() {
		return bus.ErrClosed
	}
	k := encodeKey(key)
	for range maxLeaseAttempts {
		e, err := b.leasesKV.Get(ctx, k)
		if errors.Is(err, natsjs.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return b.fail(err, "releasing lease %s", key)
		}
		if string(e.Value()) != owner {
			return nil
		}
		err = b.leasesKV.Delete(ctx, k, natsjs.LastRevision(e.Revision()))
		if err == nil {
			return nil
		}
		if !errors.Is(err, natsjs.ErrKeyRevisionMismatch) {
			return b.fail(err, "releasing lease %s", key)
		}
	}
	return fmt.Errorf("releasing lease %s: it kept changing", key)
}

// Leases lists the live leases with a key starting with prefix: the latest
// entry of every key of the bucket, less deleted ones.
func (b *Bus) Leases(ctx context.Context, prefix string) (map[string]string, error) {
	if b.isClosed() {
		return nil, bus.ErrClosed
	}
	w, err := b.leasesKV.WatchAll(ctx, natsjs.IgnoreDeletes())
	if err != nil {
		return nil, b.fail(err, "listing leases")
	}
	defer func() {
		if err := w.Stop(); err != nil {
			b.log.DebugContext(ctx, "stopping a lease watcher", "err", err)
		}
	}()
	out := make(map[string]string)
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, b.fail(errors.New("watcher stopped"), "listing leases")
			}
			if e == nil { // all current entries delivered
				return out, nil
			}
			key, err := decodeKey(e.Key())
			if err != nil {
				b.log.WarnContext(ctx, "a lease key the bus did not write", "key", e.Key(), "err", err)
				continue
			}
			if strings.HasPrefix(key, prefix) {
				out[key] = string(e.Value())
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("listing leases: %w", ctx.Err())
		case <-b.done:
			return nil, fmt.Errorf("listing leases: %w", bus.ErrClosed)
		}
	}
}
