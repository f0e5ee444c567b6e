package sigma

import "sort"

// acAutomaton finds every occurrence of a set of literals in a text in one pass
// (Aho-Corasick). It is built once per field at compile time; rules' literals are
// then tested by looking up what the pass found instead of searching each literal.
//
// Transitions are stored per state as sorted byte/target pairs, except the root's,
// which are a dense table (most bytes of a text leave from near the root).
// Failure links are resolved at build time into a full transition function for
// bytes that appear in no literal (they always lead to the root), so the scan never
// chases failure links for them.
type acAutomaton struct {
	root  [256]int32
	edges []acEdges // per state
	fail  []int32
	// out[s] lists the literals ending at state s (own), dict[s] is the nearest
	// state on the failure chain with own output (-1: none).
	out  [][]int32
	dict []int32
	lens []int32 // literal lengths by local id
}

type acEdges struct {
	bytes   []byte
	targets []int32
}

func (e *acEdges) get(b byte) int32 {
	// Short lists: a linear scan beats binary search.
	for i, c := range e.bytes {
		if c == b {
			return e.targets[i]
		}
		if c > b {
			break
		}
	}
	return -1
}

// buildAC builds the automaton of lits; a literal's local id is its index.
// Empty literals are never reported.
func buildAC(lits []string) *acAutomaton {
	a := &acAutomaton{lens: make([]int32, len(lits))}
	// The trie, built in the final edge lists (kept sorted by insertion).
	type bnode struct {
		edges acEdges
		out   []int32
	}
	total := 1
	for _, l := range lits {
		total += len(l)
	}
	nodes := make([]bnode, 1, total) // a trie has at most one node per literal byte
	for id, l := range lits {
		a.lens[id] = int32(len(l))
		if l == "" {
			continue
		}
		s := int32(0)
		for i := 0; i < len(l); i++ {
			e := &nodes[s].edges
			nx := e.get(l[i])
			if nx < 0 {
				nx = int32(len(nodes))
				k := sort.Search(len(e.bytes), func(j int) bool { return e.bytes[j] > l[i] })
				e.bytes = append(e.bytes, 0)
				copy(e.bytes[k+1:], e.bytes[k:])
				e.bytes[k] = l[i]
				e.targets = append(e.targets, 0)
				copy(e.targets[k+1:], e.targets[k:])
				e.targets[k] = nx
				nodes = append(nodes, bnode{})
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}
	n := len(nodes)
	a.edges = make([]acEdges, n)
	a.fail = make([]int32, n)
	a.out = make([][]int32, n)
	a.dict = make([]int32, n)
	for i := range nodes {
		a.edges[i] = nodes[i].edges
		a.out[i] = nodes[i].out
		a.dict[i] = -1
	}
	for b := range a.root {
		a.root[b] = 0
	}
	for k, b := range a.edges[0].bytes {
		a.root[b] = a.edges[0].targets[k]
	}
	// Failure links, breadth first.
	queue := make([]int32, 0, n)
	for _, t := range a.edges[0].targets {
		a.fail[t] = 0
		queue = append(queue, t)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for k, b := range a.edges[s].bytes {
			t := a.edges[s].targets[k]
			f := a.fail[s]
			for {
				if f == 0 {
					a.fail[t] = a.root[b]
					break
				}
				if nx := a.edges[f].get(b); nx >= 0 {
					a.fail[t] = nx
					break
				}
				f = a.fail[f]
			}
			if a.fail[t] == t {
				a.fail[t] = 0
			}
			if len(a.out[a.fail[t]]) > 0 {
				a.dict[t] = a.fail[t]
			} else {
				a.dict[t] = a.dict[a.fail[t]]
			}
			queue = append(queue, t)
		}
	}
	return a
}

// scan reports every occurrence of every literal in text: fn(local id, start, end).
func (a *acAutomaton) scan(text string, fn func(id int32, start, end int)) {
	s := int32(0)
	for i := 0; i < len(text); i++ {
		b := text[i]
		for {
			if s == 0 {
				s = a.root[b]
				break
			}
			if nx := a.edges[s].get(b); nx >= 0 {
				s = nx
				break
			}
			s = a.fail[s]
		}
		if s == 0 {
			continue
		}
		for o := s; o >= 0; o = a.dict[o] {
			for _, id := range a.out[o] {
				fn(id, i+1-int(a.lens[id]), i+1)
			}
			if o == 0 {
				break
			}
		}
	}
}
