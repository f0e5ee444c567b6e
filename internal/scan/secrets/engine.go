package secrets

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"slices"
	"unicode/utf8"
)

// detector runs the rule set over a text. It is built once and read-only
// afterwards, so workers share it.
type detector struct {
	rules   []rule
	ac      *matcher
	kws     []kw
	anchors [][]int // keyword id → rules it anchors
	ctxs    [][]int // keyword id → rules it is context for
}

func newDetector() *detector {
	d := &detector{rules: ruleTable()}
	ids := map[string]int{}
	var lits []string
	add := func(k kw, r int, context bool) {
		key := k.s
		if k.exact {
			key = "\x00" + k.s
		}
		id, ok := ids[key]
		if !ok {
			id = len(d.kws)
			ids[key] = id
			d.kws = append(d.kws, k)
			lits = append(lits, string(bytes.ToLower([]byte(k.s))))
			d.anchors = append(d.anchors, nil)
			d.ctxs = append(d.ctxs, nil)
		}
		if context {
			d.ctxs[id] = append(d.ctxs[id], r)
		} else {
			d.anchors[id] = append(d.anchors[id], r)
		}
	}
	for r, ru := range d.rules {
		for _, k := range ru.keywords {
			add(k, r, false)
		}
		for _, k := range ru.context {
			add(k, r, true)
		}
	}
	d.ac = newMatcher(lits)
	return d
}

// scratch is one worker's reusable memory.
type scratch struct {
	hits  [][]int32 // per rule: keyword starts
	klen  [][]int32 // per rule: keyword lengths
	ctx   []bool
	run   []bool
	cands []cand
	hit   bool // the last find saw a keyword of a rule it ran
}

func (d *detector) newScratch() *scratch {
	n := len(d.rules)
	return &scratch{hits: make([][]int32, n), klen: make([][]int32, n), ctx: make([]bool, n), run: make([]bool, n)}
}

// match is one secret found in a text, with nothing of the secret kept but its
// hash and a redacted snippet.
type match struct {
	rule            int
	line, col       int // 1-based; col in bytes
	endLine, endCol int // endCol exclusive
	sum             [32]byte
	snippet         string
}

const (
	maxLine   = 16 << 10  // longer lines are searched in windows around each keyword
	winBefore = 1 << 10   // a window's reach before its keyword on a long line
	winAfter  = 16 << 10  // and after (a JWT, a quoted service-account key)
	maxWindow = 256 << 10 // merged windows are cut at this size
)

// find reports the secrets in text, in order of position. kind says which
// rules run (test paths and lockfiles run fewer).
func (d *detector) find(text []byte, kind pathKind, s *scratch) []match {
	for r := range d.rules {
		s.hits[r] = s.hits[r][:0]
		s.klen[r] = s.klen[r][:0]
		s.ctx[r] = false
		ru := &d.rules[r]
		s.run[r] = !((kind.test || kind.doc) && ru.Confidence != ConfidenceHigh) && !(kind.lock && ru.noLock)
	}
	hit := false
	d.ac.scan(text, func(id int32, start int) {
		k := &d.kws[id]
		if k.exact && string(text[start:start+len(k.s)]) != k.s {
			return
		}
		for _, r := range d.anchors[id] {
			if s.run[r] {
				s.hits[r] = append(s.hits[r], int32(start))
				s.klen[r] = append(s.klen[r], int32(len(k.s)))
				hit = true
			}
		}
		for _, r := range d.ctxs[id] {
			s.ctx[r] = true
		}
	})
	s.hit = hit
	if !hit {
		return nil
	}
	e := &env{content: text, kind: kind}
	s.cands = s.cands[:0]
	for r := range d.rules {
		if len(s.hits[r]) == 0 || len(d.rules[r].context) > 0 && !s.ctx[r] {
			continue
		}
		d.runRule(r, e, s)
	}
	if len(s.cands) == 0 {
		return nil
	}
	return d.resolve(text, s.cands)
}

// runRule runs rule r over the windows around its keywords: each keyword's
// line, or a bounded window of a line longer than maxLine; windows that touch
// are merged (up to maxWindow), so no byte is searched twice by one rule
// except where merged windows were cut.
func (d *detector) runRule(r int, e *env, s *scratch) {
	text := e.content
	cs, ce := -1, -1
	lineS, lineE := -1, -1 // the bounds of the last keyword's line
	for i, p32 := range s.hits[r] {
		p := int(p32)
		end := p + int(s.klen[r][i])
		if p < lineS || end > lineE {
			lineS = bytes.LastIndexByte(text[:p], '\n') + 1
			lineE = len(text)
			if j := bytes.IndexByte(text[end:], '\n'); j >= 0 {
				lineE = end + j
			}
		}
		ws, we := lineS, lineE
		if we-ws > maxLine {
			// A long line: a window around the keyword.
			ws, we = max(ws, p-winBefore), min(we, end+winAfter)
		}
		if ws >= cs && we <= ce {
			continue // covered by the current window
		}
		if cs >= 0 && ws <= ce && we-cs <= maxWindow {
			ce = max(ce, we)
			continue
		}
		if cs >= 0 {
			d.runWindow(r, e, cs, ce, s)
		}
		cs, ce = ws, we
	}
	if cs >= 0 {
		d.runWindow(r, e, cs, ce, s)
	}
}

func (d *detector) runWindow(r int, e *env, ws, we int, s *scratch) {
	ru := &d.rules[r]
	text := e.content
	for _, loc := range ru.re.FindAllSubmatchIndex(text[ws:we], -1) {
		for i := range loc {
			if loc[i] >= 0 {
				loc[i] += ws
			}
		}
		start, end := loc[0], loc[1]
		if ru.group > 0 {
			start = -1
			for g := ru.group; 2*g+1 < len(loc); g++ {
				if loc[2*g] >= 0 && loc[2*g+1] > loc[2*g] {
					start, end = loc[2*g], loc[2*g+1]
					break
				}
			}
			if start < 0 {
				continue
			}
		}
		if b := ru.boundary; b != nil && (start > 0 && b[text[start-1]] || end < len(text) && b[text[end]]) {
			continue
		}
		c := cand{rule: r, start: start, end: end, sub: loc, secret: text[start:end]}
		if ru.check != nil && !ru.check(&c, e) {
			continue
		}
		s.cands = append(s.cands, c)
	}
}

// resolve drops overlapping candidates (the earlier rule in the table wins; of
// one rule, the leftmost), then places the rest in lines and columns.
func (d *detector) resolve(text []byte, cands []cand) []match {
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.rule, b.rule), cmp.Compare(b.end, a.end))
	})
	kept := cands[:0]
	for _, c := range cands {
		if n := len(kept); n > 0 && c.start < kept[n-1].end {
			if c.rule < kept[n-1].rule {
				kept[n-1] = c
			}
			continue
		}
		kept = append(kept, c)
	}
	out := make([]match, 0, len(kept))
	line, pos, ls := 1, 0, 0 // ls: the start of pos's line
	for _, c := range kept {
		// kept is in start order (a replacement starts later than what it replaces).
		seg := text[pos:c.start]
		if j := bytes.LastIndexByte(seg, '\n'); j >= 0 {
			line += bytes.Count(seg, []byte{'\n'})
			ls = pos + j + 1
		}
		pos = c.start
		m := match{rule: c.rule, line: line, col: c.start - ls + 1}
		body := text[c.start:c.end]
		m.endLine, m.endCol = line, c.end-ls+1
		if j := bytes.LastIndexByte(body, '\n'); j >= 0 {
			m.endLine += bytes.Count(body, []byte{'\n'})
			m.endCol = c.end - (c.start + j + 1) + 1
		}
		m.sum = sha256.Sum256(c.secret)
		if sn := d.rules[c.rule].snippet; sn != nil {
			m.snippet = sn(&c)
		} else {
			m.snippet = redact(c.secret)
		}
		out = append(out, m)
	}
	return out
}

// redact keeps the first 4 characters of a secret of 16 or more, a quarter of
// a shorter one, then "…".
func redact(v []byte) string {
	k := 4
	if len(v) < 16 {
		k = len(v) / 4
	}
	for k > 0 && k < len(v) && !utf8.RuneStart(v[k]) {
		k--
	}
	return string(v[:k]) + "\u2026"
}
