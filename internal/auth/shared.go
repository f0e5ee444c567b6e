package auth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Shared is where a cluster keeps its users, tokens and session key, so that
// every node authenticates alike and a change made on one applies on all (the
// store: PostgreSQL). Documents change by compare-and-swap on a revision.
type Shared interface {
	// Get returns document name and its revision; nil, 0 and no error when
	// there is none.
	Get(ctx context.Context, name string) (data []byte, revision int64, err error)
	// Put writes document name when its revision is prev (0: none yet) and
	// returns the new revision; swapped is false when another writer came
	// first (nothing written: read again and redo the change).
	Put(ctx context.Context, name string, data []byte, prev int64) (revision int64, swapped bool, err error)
}

// Names of the documents in Shared.
const (
	SharedUsers      = "auth.users"
	SharedSessionKey = "auth.session-key"
	SharedRevoked    = "auth.revoked" // sessions logged out before their expiry
)

const (
	sharedTimeout = 5 * time.Second // one read or write of a shared document
	sharedRetries = 10              // compare-and-swap attempts of one change
)

// loadShared reads the users document: an empty one when there is none.
func (s *Service) loadShared(ctx context.Context) (usersFile, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	data, rev, err := s.opts.Shared.Get(ctx, SharedUsers)
	if err != nil {
		return usersFile{}, 0, fmt.Errorf("reading the shared users: %w", err)
	}
	if data == nil {
		return usersFile{Version: fileVersion}, rev, nil
	}
	if len(data) > maxUsersFileSize {
		return usersFile{}, 0, fmt.Errorf("reading the shared users: larger than %d bytes", maxUsersFileSize)
	}
	f, err := decodeUsersFile(data)
	if err != nil {
		return usersFile{}, 0, fmt.Errorf("reading the shared users (revision %d): %w", rev, err)
	}
	return f, rev, nil
}

// refreshShared starts a reload of the shared users and logouts on its own
// goroutine when ReloadInterval has passed: requests do not wait on the store
// (freshen covers a node that has been idle). s.mu is held.
func (s *Service) refreshShared() {
	now := s.opts.Now()
	if s.reloading || (!now.Before(s.lastStat) && now.Sub(s.lastStat) < ReloadInterval) {
		return
	}
	s.lastStat, s.reloading = now, true
	go func() {
		_ = s.reloadShared(context.Background()) // logged
		s.mu.Lock()
		s.reloading = false
		s.mu.Unlock()
	}()
}

// freshen reloads the shared users and logouts before a request is decided
// when the node has not reloaded them for 2 × ReloadInterval (no request came
// to start a reload): the first request after a quiet spell is not decided on
// old state. One caller reloads at a time, at most once per ReloadInterval
// while the store fails; s.mu is not held.
func (s *Service) freshen() {
	if s.opts.Shared == nil {
		return
	}
	now := s.opts.Now().UnixNano()
	if now-max(s.loadedAt.Load(), s.triedAt.Load()) < int64(2*ReloadInterval) || !s.syncing.CompareAndSwap(false, true) {
		return
	}
	defer s.syncing.Store(false)
	s.triedAt.Store(now)
	_ = s.reloadShared(context.Background()) // logged; the last good state stays
}

// reloadShared reads the shared users and logouts and installs them, unless
// a later read was installed first. The store is read without s.mu.
func (s *Service) reloadShared(ctx context.Context) error {
	seq := s.loadSeq.Add(1)
	s.reloadRevoked(ctx)
	f, rev, err := s.loadShared(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "reloading the shared users; keeping the previous users and tokens", "err", err)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installShared(f, rev, seq)
	return nil
}

// revokedDoc is the shared record of logouts: every node refuses the
// sessions it names until they expire.
type revokedDoc struct {
	Version  int              `json:"version"`
	Sessions map[string]int64 `json:"sessions"` // session id -> expiry, Unix seconds
}

// loadRevoked reads the shared logouts: none when there is no document.
func (s *Service) loadRevoked(ctx context.Context) (revokedDoc, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	data, rev, err := s.opts.Shared.Get(ctx, SharedRevoked)
	if err != nil {
		return revokedDoc{}, 0, fmt.Errorf("reading the shared logouts: %w", err)
	}
	doc := revokedDoc{Version: fileVersion, Sessions: map[string]int64{}}
	if data == nil {
		return doc, rev, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return revokedDoc{}, 0, fmt.Errorf("reading the shared logouts (revision %d): %w", rev, err)
	}
	if doc.Version != fileVersion {
		return revokedDoc{}, 0, fmt.Errorf("reading the shared logouts (revision %d): version %d, want %d", rev, doc.Version, fileVersion)
	}
	if doc.Sessions == nil {
		doc.Sessions = map[string]int64{}
	}
	for id, exp := range doc.Sessions {
		if id == "" || len(id) > 128 || exp <= 0 {
			return revokedDoc{}, 0, fmt.Errorf("reading the shared logouts (revision %d): a session id of %d bytes expiring at %d", rev, len(id), exp)
		}
	}
	return doc, rev, nil
}

// reloadRevoked adds the shared logouts to this node's revocations when they
// changed. Failures are logged: the logouts known so far stay.
func (s *Service) reloadRevoked(ctx context.Context) {
	doc, rev, err := s.loadRevoked(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "reloading the shared logouts; keeping those known", "err", err)
		return
	}
	if rev == s.revokedRev.Load() {
		return
	}
	now := s.opts.Now().Unix()
	for id, exp := range doc.Sessions {
		if exp > now && !s.revoked.revoked(id) {
			s.revoked.revoke(id, exp, now)
		}
	}
	s.revokedRev.Store(rev)
}

// revokeShared records a logout for every node, by compare-and-swap; expired
// sessions are dropped, and at most maxRevoked kept (those expiring soonest
// go first, as in each node's set).
func (s *Service) revokeShared(ctx context.Context, id string, exp int64) error {
	for attempt := range sharedRetries {
		backoff(attempt)
		doc, rev, err := s.loadRevoked(ctx)
		if err != nil {
			return err
		}
		now := s.opts.Now().Unix()
		maps.DeleteFunc(doc.Sessions, func(_ string, e int64) bool { return e <= now })
		doc.Sessions[id] = exp
		if over := len(doc.Sessions) - maxRevoked; over > 0 {
			ids := slices.SortedFunc(maps.Keys(doc.Sessions), func(a, b string) int {
				return cmp.Or(cmp.Compare(doc.Sessions[a], doc.Sessions[b]), strings.Compare(a, b))
			})
			for _, k := range ids[:over] {
				delete(doc.Sessions, k)
			}
		}
		data, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encoding the shared logouts: %w", err)
		}
		wctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		_, swapped, err := s.opts.Shared.Put(wctx, SharedRevoked, data, rev)
		cancel()
		if err != nil {
			return fmt.Errorf("writing the shared logouts: %w", err)
		}
		if swapped {
			return nil
		}
	}
	return fmt.Errorf("writing the shared logouts: %d attempts lost to other writers", sharedRetries)
}

// installShared installs f, read as the seq-th read, unless a later read was
// installed already (reads run on several goroutines). Any revision is
// installed, lower ones too (a restored backup). s.mu is held.
func (s *Service) installShared(f usersFile, rev int64, seq uint64) {
	if seq <= s.installedSeq {
		return
	}
	s.installedSeq = seq
	s.loadedAt.Store(s.opts.Now().UnixNano())
	if rev == s.rev && s.users != nil {
		return
	}
	s.install(f, nil)
	s.rev = rev
	s.log.Info("shared users reloaded", "revision", rev, "users", len(f.Users), "tokens", len(f.Tokens))
}

// updateShared applies change to the shared users by compare-and-swap,
// redoing it on the newest document when another node wrote first. The store
// is read and written without s.mu: requests go on meanwhile.
func (s *Service) updateShared(change func(f *usersFile) error) error {
	s.wmu.Lock() // one change at a time from this node: its writers do not race each other
	defer s.wmu.Unlock()
	for attempt := range sharedRetries {
		backoff(attempt)
		seq := s.loadSeq.Add(1)
		f, rev, err := s.loadShared(context.Background())
		if err != nil {
			return err
		}
		f.Version = fileVersion
		if err := change(&f); err != nil {
			return err
		}
		data, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("encoding the users: %w", err)
		}
		// What is written is what a reader will decode.
		if f, err = decodeUsersFile(data); err != nil {
			return fmt.Errorf("the users as changed: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		newRev, swapped, err := s.opts.Shared.Put(ctx, SharedUsers, data, rev)
		cancel()
		if err != nil {
			return fmt.Errorf("writing the shared users: %w", err)
		}
		if swapped {
			s.mu.Lock()
			s.installShared(f, newRev, seq)
			s.lastStat = s.opts.Now()
			s.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("writing the shared users: %d attempts lost to other writers", sharedRetries)
}

// backoff waits before a compare-and-swap's attempt after the first: another
// writer came first; a few jittered milliseconds, more each time, let it
// finish.
func backoff(attempt int) {
	if attempt > 0 {
		time.Sleep(time.Duration(attempt) * time.Duration(1+mrand.IntN(10)) * time.Millisecond) // #nosec G404 -- jitter, not a secret
	}
}

// sharedSessionKey returns the cluster's session key, creating it when no
// node has: the first writer's key wins.
func (s *Service) sharedSessionKey() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*sharedTimeout)
	defer cancel()
	for range 2 {
		key, _, err := s.opts.Shared.Get(ctx, SharedSessionKey)
		if err != nil {
			return nil, fmt.Errorf("reading the shared session key: %w", err)
		}
		if key != nil {
			if len(key) != sessionKeyLen {
				return nil, fmt.Errorf("the shared session key has %d bytes, want %d", len(key), sessionKeyLen)
			}
			return key, nil
		}
		key = make([]byte, sessionKeyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("reading random bytes: %w", err)
		}
		if _, swapped, err := s.opts.Shared.Put(ctx, SharedSessionKey, key, 0); err != nil {
			return nil, fmt.Errorf("writing the shared session key: %w", err)
		} else if swapped {
			return key, nil
		}
		// another node made one first: read it
	}
	return nil, errors.New("the shared session key: created and not found")
}
