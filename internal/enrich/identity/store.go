package identity

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Store holds the directory in force. Readers call Directory, Lookup, Canonical
// or PeerGroup without locks; Reload swaps in a new directory atomically, and
// only when the new file could be used. The zero Store is empty and ready.
type Store struct {
	cur    atomic.Pointer[Directory]
	status atomic.Pointer[ReloadStatus]
	mu     sync.Mutex       // serializes Reload, so status and directory agree
	now    func() time.Time // for tests; nil is time.Now
}

// NewStore returns a store holding d (nil for empty).
func NewStore(d *Directory) *Store {
	s := &Store{}
	if d != nil {
		s.cur.Store(d)
	}
	return s
}

// Directory returns the directory in force (nil before the first load; a nil
// directory answers every lookup with no match).
func (s *Store) Directory() *Directory { return s.cur.Load() }

// Lookup resolves a name against the directory in force (see Directory.Lookup).
// The person stays valid after a reload (directories are never modified).
func (s *Store) Lookup(name string) (*Person, bool) { return s.cur.Load().Lookup(name) }

// Canonical is Directory.Canonical on the directory in force.
func (s *Store) Canonical(name string) string { return s.cur.Load().Canonical(name) }

// PeerGroup is Directory.PeerGroup on the directory in force.
func (s *Store) PeerGroup(name string) string { return s.cur.Load().PeerGroup(name) }

// ErrNoPeople is returned by Reload for a file from which no person loaded: an
// empty or half-written file, a wrong delimiter or a truncated export should not
// empty the directory. (Set(nil) empties it on purpose.)
var ErrNoPeople = errors.New("no person loaded")

// ReloadStatus describes the directory in force and the last Reload, for
// monitoring.
type ReloadStatus struct {
	Path     string    // file of the last Reload
	Tried    time.Time // when the last Reload ran
	Loaded   time.Time // when the directory in force was loaded by Reload (zero: not by Reload)
	People   int       // people in the directory in force
	Rejected int       // rows or records the last Reload rejected
	Skipped  int       // records the last Reload skipped as not people (LDIF)
	Err      error     // the last Reload's error; nil when its file is in force
}

// Reload reads path (see Load) and, when it can be used, makes it the directory
// in force. It returns the rejected rows either way. On error (the file cannot
// be read or parsed, or no person loaded from it) the previous directory stays
// in force. Reloads are serialized; lookups are never blocked.
func (s *Store) Reload(path string) ([]RowError, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	d, rej, err := Load(path)
	if err == nil && d.Len() == 0 {
		err = fmt.Errorf("reading identity directory %s: %w (%d rejected, %d skipped)", path, ErrNoPeople, len(rej), d.Skipped())
	}
	st := &ReloadStatus{Path: path, Tried: now(), Rejected: len(rej), Skipped: d.Skipped()}
	if prev := s.status.Load(); prev != nil {
		st.Loaded = prev.Loaded
	}
	if err != nil {
		st.Err = fmt.Errorf("reloading identities: %w", err)
		s.status.Store(st)
		return rej, st.Err
	}
	st.Loaded = st.Tried
	s.cur.Store(d)
	s.status.Store(st)
	return rej, nil
}

// Set makes d (nil for none) the directory in force.
func (s *Store) Set(d *Directory) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Store(d)
	if prev := s.status.Load(); prev != nil {
		st := *prev
		st.Loaded = time.Time{}
		s.status.Store(&st)
	}
}

// Status returns the outcome of the last Reload (zero before the first) and the
// size of the directory in force.
func (s *Store) Status() ReloadStatus {
	var st ReloadStatus
	if p := s.status.Load(); p != nil {
		st = *p
	}
	st.People = s.cur.Load().Len()
	return st
}
