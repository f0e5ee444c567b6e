package assets

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// Store holds the inventory in force. Readers call Inventory (or Lookup) without
// locks; Reload swaps in a new inventory atomically, and only when the new file
// could be used. The zero Store is empty and ready.
type Store struct {
	cur    atomic.Pointer[Inventory]
	status atomic.Pointer[ReloadStatus]
}

// NewStore returns a store holding inv (nil for empty).
func NewStore(inv *Inventory) *Store {
	s := &Store{}
	if inv != nil {
		s.cur.Store(inv)
	}
	return s
}

// Inventory returns the inventory in force (nil before the first load; nil
// inventories answer every lookup with no match).
func (s *Store) Inventory() *Inventory { return s.cur.Load() }

// Lookup resolves a name against the inventory in force (see Inventory.Lookup).
func (s *Store) Lookup(name string) Match { return s.cur.Load().Lookup(name) }

// ErrNoAssets is returned by Reload for a file from which no asset loaded: an
// empty or half-written file, a wrong delimiter or a truncated export should not
// empty the inventory. (Set(nil) empties it on purpose.)
var ErrNoAssets = errors.New("no asset loaded")

// ReloadStatus describes the last Reload, for monitoring.
type ReloadStatus struct {
	Path      string
	Assets    int   // assets in the file (when it parsed)
	Rejected  int   // rows rejected
	Ambiguous int   // short names shared by several assets
	Err       error // nil when the file is in force
}

// Reload reads path (see Load) and, when it can be used, makes it the inventory
// in force. It returns the rejected rows either way. On error (the file cannot
// be read or parsed, or no asset loaded from it) the previous inventory stays in
// force.
func (s *Store) Reload(path string) ([]RowError, error) {
	inv, rej, err := Load(path)
	if err == nil && inv.Len() == 0 {
		err = fmt.Errorf("reading asset inventory %s: %w (%d rows rejected)", path, ErrNoAssets, len(rej))
	}
	st := &ReloadStatus{Path: path, Assets: inv.Len(), Rejected: len(rej), Ambiguous: len(inv.Ambiguous())}
	if err != nil {
		st.Err = fmt.Errorf("reloading assets: %w", err)
		s.status.Store(st)
		return rej, st.Err
	}
	s.cur.Store(inv)
	s.status.Store(st)
	return rej, nil
}

// Set makes inv (nil for none) the inventory in force.
func (s *Store) Set(inv *Inventory) { s.cur.Store(inv) }

// Status returns the outcome of the last Reload (zero before the first).
func (s *Store) Status() ReloadStatus {
	if st := s.status.Load(); st != nil {
		return *st
	}
	return ReloadStatus{}
}

// Resolver joins the static inventory and the learned bindings. Static inventory
// addresses take precedence over learned ones.
type Resolver struct {
	Store    *Store
	Bindings *Bindings
}

// Observe learns a binding from an event naming both an address and a host.
func (r *Resolver) Observe(t time.Time, ip netip.Addr, host string) {
	if r.Bindings != nil {
		r.Bindings.Observe(t, ip, host)
	}
}

// HostAt resolves the asset holding ip at event time t: the inventory's static
// address first, then a learned binding, whose host is then looked up in the
// inventory (Match.Host carries the bound name even when no asset has it).
func (r *Resolver) HostAt(ip netip.Addr, t time.Time) Match {
	var inv *Inventory
	if r.Store != nil {
		inv = r.Store.Inventory()
	}
	if m := inv.LookupIP(ip); m.Found() {
		return m
	}
	if r.Bindings == nil {
		return Match{}
	}
	host, ok := r.Bindings.HostAt(ip, t)
	if !ok {
		return Match{}
	}
	m := inv.LookupHost(event.CanonicalHost(host))
	m.Host = host
	if m.By != MatchAmbiguous {
		m.By = MatchDynamic // Asset is nil when the inventory does not list the host
	}
	return m
}

// Lookup resolves a name at event time t: an IP literal through HostAt, a host
// name through the inventory.
func (r *Resolver) Lookup(name string, t time.Time) Match {
	if a := event.ParseIP(name); a.IsValid() {
		return r.HostAt(a, t)
	}
	var inv *Inventory
	if r.Store != nil {
		inv = r.Store.Inventory()
	}
	return inv.Lookup(name)
}
