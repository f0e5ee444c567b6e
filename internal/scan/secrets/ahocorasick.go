package secrets

// matcher finds every occurrence of a set of ASCII keywords in a text in one pass,
// ignoring ASCII case (an Aho-Corasick automaton compiled into a DFA). It is the
// prefilter: a file none of whose keywords occur is rejected after this one pass,
// and the positions it reports are where the rules' regular expressions run.
//
// Bytes are first mapped to classes (a keyword's letters in either case share a
// class; every byte in no keyword is class 0), so the transition table has
// states × classes entries (a few tens of kilobytes for the rule set) and the scan
// costs two table loads per byte. A table entry is the next state's row offset
// shifted left once, its low bit set when that state ends a keyword.
type matcher struct {
	class   [256]uint8
	nclass  int
	delta   []int32   // row offset of next state << 1 | has output
	out     [][]int32 // per state (by row index): keywords ending there, own and inherited
	lens    []int32   // keyword lengths by id
	rowSize int
}

// newMatcher builds the automaton of kws (lower-case ASCII; ids are indexes).
// Empty keywords are never reported.
func newMatcher(kws []string) *matcher {
	m := &matcher{lens: make([]int32, len(kws))}
	// Byte classes over the case-folded keyword alphabet.
	m.nclass = 1
	for _, k := range kws {
		for i := 0; i < len(k); i++ {
			c := lower(k[i])
			if m.class[c] == 0 {
				m.class[c] = uint8(m.nclass)
				if up := upper(c); up != c {
					m.class[up] = uint8(m.nclass)
				}
				m.nclass++
			}
		}
	}
	if m.nclass > 255 {
		panic("secrets: keyword alphabet too large") // the rule table is fixed; a test builds it
	}
	// The trie.
	type node struct {
		next map[uint8]int32
		out  []int32
	}
	nodes := []node{{next: map[uint8]int32{}}}
	for id, k := range kws {
		m.lens[id] = int32(len(k))
		if k == "" {
			continue
		}
		s := int32(0)
		for i := 0; i < len(k); i++ {
			c := m.class[lower(k[i])]
			nx, ok := nodes[s].next[c]
			if !ok {
				nx = int32(len(nodes))
				nodes[s].next[c] = nx
				nodes = append(nodes, node{next: map[uint8]int32{}})
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}
	n := len(nodes)
	fail := make([]int32, n)
	goto_ := make([]int32, n*m.nclass) // the full transition function by state index
	m.out = make([][]int32, n)
	queue := make([]int32, 0, n)
	for c := 0; c < m.nclass; c++ {
		if nx, ok := nodes[0].next[uint8(c)]; ok {
			goto_[c] = nx
			queue = append(queue, nx)
		}
	}
	m.out[0] = nodes[0].out
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		// Output: own keywords, then the failure state's (already complete: BFS).
		m.out[s] = append(append([]int32(nil), nodes[s].out...), m.out[fail[s]]...)
		for c := 0; c < m.nclass; c++ {
			if nx, ok := nodes[s].next[uint8(c)]; ok {
				fail[nx] = goto_[int(fail[s])*m.nclass+c]
				goto_[int(s)*m.nclass+c] = nx
				queue = append(queue, nx)
			} else {
				goto_[int(s)*m.nclass+c] = goto_[int(fail[s])*m.nclass+c]
			}
		}
	}
	m.rowSize = m.nclass
	m.delta = make([]int32, len(goto_))
	for i, t := range goto_ {
		v := t * int32(m.nclass) << 1
		if len(m.out[t]) > 0 {
			v |= 1
		}
		m.delta[i] = v
	}
	return m
}

// scan calls fn(keyword id, start) for every occurrence in text, in order of
// the occurrences' ends.
func (m *matcher) scan(text []byte, fn func(id int32, start int)) {
	delta, class := m.delta, &m.class
	s := int32(0)
	for i, b := range text {
		v := delta[int(s)+int(class[b])]
		s = v >> 1
		if v&1 != 0 {
			for _, id := range m.out[int(s)/m.rowSize] {
				fn(id, i+1-int(m.lens[id]))
			}
		}
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
