package behavior

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"time"
)

// Behavioral peer groups: users who use much the same hosts, applications and
// programs. Identity attributes (department, role) make peer groups when a
// directory is given; behavior makes them always, so "uncommon among peers" also
// works without one, and catches peers the organisation chart does not know.
//
// Once per event-time day, each user's set of (space, value) pairs in the user
// spaces of first-seen (up to peerMaxValues most used per space, leaving out values
// more than peerMaxShare of the organisation uses) is summarised by
// a MinHash signature of peerHashes values; locality-sensitive hashing in
// peerBands bands finds candidate pairs, pairs whose estimated Jaccard similarity
// is at least peerSimilarity are joined, and the connected components of at least
// MinPeers+1 users are the groups. Deterministic: users are processed in name
// order and the hashes are fixed. Cost per day: users x values x peerHashes hashes.
const (
	peerHashes     = 32
	peerBands      = 16 // of peerHashes/peerBands rows each: pairs at J = 0.5 become candidates with p > 0.99
	peerSimilarity = 0.5
	peerMaxValues  = 64
	peerMinValues  = 3
	peerMaxShare   = 0.2 // values used by more of the organisation are left out
)

// learnedPeers maps users to their behavioral peer group (a sorted member list).
type learnedPeers struct {
	day    int64 // event-time day the groups were built for
	member map[Sym][]Sym
}

// groupOf returns u's learned peers (u included), nil when u has none.
func (lp *learnedPeers) groupOf(u Sym) []Sym { return lp.member[u] }

// rebuild recomputes the groups from what the user spaces hold.
func (m *FirstSeen) rebuildPeers(day int64) {
	m.learned.day = day
	m.learned.member = map[Sym][]Sym{}
	sets := map[Sym][]uint64{}
	for i, sp := range m.spaces {
		if !sp.peers {
			continue
		}
		st := m.state[i]
		for key, e := range st.entities {
			vals := make([]Sym, 0, len(e.vals))
			for v := range e.vals {
				// Values most of the organisation uses (the mail service,
				// the browser) say nothing about who works with whom.
				if ov := st.org[v]; ov != nil && float64(ov.entities) > peerMaxShare*float64(max(st.Seen, 1)) {
					continue
				}
				vals = append(vals, v)
			}
			slices.SortFunc(vals, func(a, b Sym) int {
				if c := cmp.Compare(e.vals[b], e.vals[a]); c != 0 {
					return c
				}
				return cmp.Compare(str(a), str(b))
			})
			for _, v := range vals[:min(len(vals), peerMaxValues)] {
				sets[key] = append(sets[key], valueHash(sp.id, str(v)))
			}
		}
	}
	users := make([]Sym, 0, len(sets))
	for u, s := range sets {
		if len(s) >= peerMinValues {
			users = append(users, u)
		}
	}
	slices.SortFunc(users, func(a, b Sym) int { return cmp.Compare(str(a), str(b)) })
	sigs := make([][peerHashes]uint64, len(users))
	for i, u := range users {
		sigs[i] = minHash(sets[u])
	}
	parent := make([]int, len(users))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	const rows = peerHashes / peerBands
	for b := range peerBands {
		buckets := map[[rows]uint64][]int{}
		for i := range users {
			var k [rows]uint64
			copy(k[:], sigs[i][b*rows:(b+1)*rows])
			buckets[k] = append(buckets[k], i)
		}
		for _, idx := range buckets {
			for x := 1; x < len(idx); x++ {
				for y := range x {
					i, j := idx[y], idx[x]
					if ri, rj := find(i), find(j); ri != rj && similarity(&sigs[i], &sigs[j]) >= peerSimilarity {
						parent[max(ri, rj)] = min(ri, rj)
					}
				}
			}
		}
	}
	groups := map[int][]Sym{}
	for i, u := range users {
		r := find(i)
		groups[r] = append(groups[r], u)
	}
	for _, g := range groups {
		if len(g) < m.cfg.MinPeers+1 {
			continue
		}
		for _, u := range g {
			m.learned.member[u] = g
		}
	}
}

func valueHash(space, v string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(space))
	h.Write([]byte{0})
	h.Write([]byte(v))
	return h.Sum64()
}

// minHash is the MinHash signature of a set of hashed values: for each of
// peerHashes fixed mixings, the smallest mixed value.
func minHash(set []uint64) [peerHashes]uint64 {
	var sig [peerHashes]uint64
	for k := range sig {
		sig[k] = ^uint64(0)
	}
	for _, v := range set {
		for k := range sig {
			x := v ^ (uint64(k+1) * 0x9e3779b97f4a7c15)
			x ^= x >> 30
			x *= 0xbf58476d1ce4e5b9
			x ^= x >> 27
			x *= 0x94d049bb133111eb
			x ^= x >> 31
			if x < sig[k] {
				sig[k] = x
			}
		}
	}
	return sig
}

func similarity(a, b *[peerHashes]uint64) float64 {
	n := 0
	for k := range a {
		if a[k] == b[k] {
			n++
		}
	}
	return float64(n) / peerHashes
}

// learnedPeerShare counts how many of e's learned peers (e excluded) use val in
// space st.
func (m *FirstSeen) learnedPeerShare(st *spaceState, e *entState, val Sym) (peers, with uint32) {
	for _, u := range m.learned.groupOf(e.key) {
		if u == e.key {
			continue
		}
		peers++
		if p := st.entities[u]; p != nil && p.vals[val] > 0 {
			with++
		}
	}
	return peers, with
}

// maybeRebuildPeers rebuilds the learned groups on the first observation of each
// event-time day.
func (m *FirstSeen) maybeRebuildPeers(now int64) {
	if day := now / int64(24*time.Hour); day != m.learned.day {
		m.rebuildPeers(day)
	}
}

// groups returns the learned groups for a snapshot: each group's members in name
// order, groups ordered by their first member.
func (lp *learnedPeers) groups() [][]string {
	var out [][]string
	seen := map[Sym]bool{}
	for _, g := range lp.member {
		if seen[g[0]] {
			continue
		}
		seen[g[0]] = true
		names := make([]string, len(g))
		for i, u := range g {
			names[i] = str(u)
		}
		out = append(out, names)
	}
	slices.SortFunc(out, func(a, b []string) int { return cmp.Compare(a[0], b[0]) })
	return out
}

// loadLearned rebuilds learned groups from a snapshot.
func loadLearned(day int64, groups [][]string) (learnedPeers, error) {
	lp := learnedPeers{day: day, member: map[Sym][]Sym{}}
	for _, g := range groups {
		members := make([]Sym, 0, len(g))
		for _, name := range g {
			u := intern(name)
			if u == (Sym{}) || lp.member[u] != nil || slices.Contains(members, u) {
				return learnedPeers{}, fmt.Errorf("learned peer group member %q empty or in two groups", name)
			}
			members = append(members, u)
		}
		for _, u := range members {
			lp.member[u] = members
		}
	}
	return lp, nil
}
