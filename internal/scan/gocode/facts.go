package gocode

import (
	"go/token"
	"slices"
	"strconv"
	"strings"
)

// origin is where a taint fact comes from: a source site (src >= 0, an index
// into engine.sources) or, while summarising a function, one of its
// parameters (src == -1; param indexes Params then FreeVars) at a field path
// below it ("" for the whole value).
type origin struct {
	src   int32
	param int32
	field string
}

func (o origin) isParam() bool { return o.src < 0 }

// step is a trace: the source first, then the call sites the taint went
// through. It is a rope sharing its parts: a node adds one position (pos)
// or a whole trace (sub) after prev, so extending and joining traces is
// constant time; list flattens it for a finding.
type step struct {
	pos  token.Pos
	sub  *step
	prev *step
	n    int32     // positions in the whole trace
	last token.Pos // its last position
}

func (s *step) push(pos token.Pos, limit int) *step {
	if !pos.IsValid() {
		return s
	}
	if s == nil {
		return &step{pos: pos, n: 1, last: pos}
	}
	if s.last == pos || int(s.n) >= limit {
		return s
	}
	return &step{pos: pos, prev: s, n: s.n + 1, last: pos}
}

// concat appends t's positions after s.
func (s *step) concat(t *step, limit int) *step {
	switch {
	case t == nil:
		return s
	case s == nil:
		return t
	case int(s.n) >= limit:
		return s
	}
	return &step{sub: t, prev: s, n: s.n + t.n, last: t.last}
}

// list returns the positions oldest first, without repeats in a row, at
// most limit of them.
func (s *step) list(limit int) []token.Pos {
	var out []token.Pos
	var walk func(s *step)
	walk = func(s *step) {
		if s == nil || len(out) >= limit {
			return
		}
		walk(s.prev)
		if s.sub != nil {
			walk(s.sub)
			return
		}
		if len(out) < limit && (len(out) == 0 || out[len(out)-1] != s.pos) {
			out = append(out, s.pos)
		}
	}
	walk(s)
	return out
}

// fact: a value holds data from o, still dangerous for the classes in mask;
// tr is how it got here.
type fact struct {
	o    origin
	mask class
	tr   *step
}

// facts is a small set of facts, one per origin.
type facts []fact

// add merges f in: a new origin is appended while under the limits (concrete
// and parameter origins counted apart), a known one gains f's classes.
// It reports whether the set changed.
func (fs *facts) add(f fact, lim *Limits) bool {
	if f.mask == 0 {
		return false
	}
	nParam := 0
	for i := range *fs {
		g := &(*fs)[i]
		if g.o == f.o {
			if g.mask|f.mask == g.mask {
				return false
			}
			g.mask |= f.mask
			return true
		}
		if g.o.isParam() {
			nParam++
		}
	}
	if f.o.isParam() {
		if nParam >= lim.ParamFacts {
			return false
		}
	} else if len(*fs)-nParam >= lim.SourceFacts {
		return false
	}
	*fs = append(*fs, f)
	return true
}

func (fs *facts) addAll(gs facts, lim *Limits) bool {
	changed := false
	for _, g := range gs {
		if fs.add(g, lim) {
			changed = true
		}
	}
	return changed
}

// weight counts a set for change detection: origins and class bits.
func (fs facts) weight() int {
	n := 0
	for _, f := range fs {
		n += 1 + popcount(f.mask)
	}
	return n
}

func popcount(c class) int {
	n := 0
	for ; c != 0; c &= c - 1 {
		n++
	}
	return n
}

// tree holds the facts stored at the field paths of one root value
// ("" the value itself, "3" its field 3, "#1.0" field 0 of result 1), its
// paths kept sorted so that the paths below one are a range.
type tree struct {
	m    map[string]facts
	keys []string
	ver  int // changes counted: a call re-applies a summary only when its arguments' trees changed
}

func newTree() *tree { return &tree{m: map[string]facts{}} }

func (t *tree) size() int {
	if t == nil {
		return 0
	}
	return len(t.keys)
}

// add merges fs in at path k and reports whether the tree changed. A tree
// holds at most lim.TreeKeys paths: past that, facts for a new path go to
// its nearest ancestor present (or the root), which is coarser but sound.
func (t *tree) add(k string, fs facts, lim *Limits) bool {
	cur, ok := t.m[k]
	if !ok && len(t.keys) >= lim.TreeKeys {
		k = t.ancestor(k)
		cur, ok = t.m[k]
	}
	if !cur.addAll(fs, lim) {
		return false
	}
	if !ok {
		i, _ := slices.BinarySearch(t.keys, k)
		t.keys = slices.Insert(t.keys, i, k)
	}
	t.m[k] = cur
	t.ver++
	return true
}

// ancestor returns the longest proper prefix path of k in the tree, or "".
func (t *tree) ancestor(k string) string {
	for i := len(k) - 1; i > 0; i-- {
		if k[i] == '.' {
			if _, ok := t.m[k[:i]]; ok {
				return k[:i]
			}
		}
	}
	return ""
}

// below returns the paths strictly below fp, sorted.
func (t *tree) below(fp string) []string {
	if t == nil {
		return nil
	}
	if fp == "" {
		if len(t.keys) > 0 && t.keys[0] == "" {
			return t.keys[1:]
		}
		return t.keys
	}
	lo, _ := slices.BinarySearch(t.keys, fp+".")
	hi := lo
	for hi < len(t.keys) && strings.HasPrefix(t.keys[hi], fp+".") {
		hi++
	}
	return t.keys[lo:hi]
}

// under reports whether path k is fp or below it, and the rest of k.
func under(k, fp string) (string, bool) {
	switch {
	case fp == "":
		return k, true
	case k == fp:
		return "", true
	case strings.HasPrefix(k, fp) && k[len(fp)] == '.':
		return k[len(fp)+1:], true
	}
	return "", false
}

// prefixes calls f with "" and each proper prefix of fp, then fp.
func prefixes(fp string, f func(string)) {
	f("")
	if fp == "" {
		return
	}
	for i := range len(fp) {
		if fp[i] == '.' {
			f(fp[:i])
		}
	}
	f(fp)
}

// joinPath appends rest to fp, keeping at most depth components (deeper
// paths are cut: their facts land on the ancestor, which stays sound).
func joinPath(fp, rest string, depth int) string {
	var p string
	switch {
	case rest == "":
		p = fp
	case fp == "":
		p = rest
	default:
		p = fp + "." + rest
	}
	n := 0
	for i := range len(p) {
		if p[i] == '.' {
			n++
			if n == depth {
				return p[:i]
			}
		}
	}
	return p
}

func resultComp(i int) string { return "#" + strconv.Itoa(i) }
