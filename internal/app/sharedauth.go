package app

import (
	"context"
	"errors"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/store"
)

// storeAuth keeps the users, tokens and session key in the store's settings
// (auth.Shared): with --store postgres://, every node of a cluster reads the
// same ones.
type storeAuth struct{ st store.Store }

func (s storeAuth) Get(ctx context.Context, name string) ([]byte, int64, error) {
	v, err := s.st.GetSetting(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if v.Data == nil {
		v.Data = []byte{} // stored, empty: not "none"
	}
	return v.Data, v.Revision, nil
}

func (s storeAuth) Put(ctx context.Context, name string, data []byte, prev int64) (int64, bool, error) {
	v, err := s.st.PutSetting(ctx, name, data, prev)
	if errors.Is(err, store.ErrConflict) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return v.Revision, true, nil
}

// sharedAuth is the auth.Shared of a --store URL: the store's settings when
// it is PostgreSQL (shared by the nodes), nil for the embedded store (the
// users file in --data-dir).
func sharedAuth(storeURL string, st store.Store) auth.Shared {
	if storeURL == "" {
		return nil
	}
	return storeAuth{st}
}
