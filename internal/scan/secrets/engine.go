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
	ctx   []bool
	run   []bool
	cands []cand
	hit   bool // the last find saw a keyword of a rule it ran
}

func (d *detector) newScratch() *scratch {
	n := len(d.rules)
	return &scratch{hits: make([][]int32, n), ctx: make([]bool, n), run: make([]bool, n)}
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

// find reports the secrets in text (at most 1 GiB), in order of position.
// kind says which rules run: only high-confidence ones on test and
// documentation paths, not the generic and JWT rules on lockfiles.
func (d *detector) find(text []byte, kind pathKind, s *scratch) []match {
	for r := range d.rules {
		s.hits[r] = s.hits[r][:0]
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

// runRule tries rule r at each of its keywords: the match starts at the
// keyword, or, for rules whose keyword is inside a key (PASSWORD in
// DB_PASSWORD, :// after a scheme), at the start of the run of the rule's lead
// characters before it (at most leadMax of them); the anchored expression then
// runs on at most span bytes of the keyword's line from there. The work per
// keyword is bounded, whatever the length of the line.
func (d *detector) runRule(r int, e *env, s *scratch) {
	ru := &d.rules[r]
	text := e.content
	lastStart, lastEnd := -1, -1
	for _, p32 := range s.hits[r] {
		p := int(p32)
		if p < lastEnd {
			continue // inside the last match
		}
		start := p
		if ru.lead != nil {
			lo := max(0, p-ru.leadMax)
			for start > lo && ru.lead[text[start-1]] {
				start--
			}
			if start == lo && lo > 0 && ru.lead[text[lo-1]] {
				continue // a longer run than any key
			}
		}
		if start == lastStart {
			continue
		}
		if ru.group == 0 && ru.boundary != nil && start > 0 && ru.boundary[text[start-1]] {
			continue // the token would not start here (eyJ inside a longer base64 run)
		}
		lastStart = start
		limit := min(len(text), start+ru.span)
		if j := bytes.IndexByte(text[p:limit], '\n'); j >= 0 {
			limit = p + j
		}
		var loc []int
		if ru.locate != nil {
			if loc = ru.locate(text, start, p, limit); loc == nil {
				continue
			}
		} else {
			if loc = ru.re.FindSubmatchIndex(text[start:limit]); loc == nil {
				continue
			}
			for i := range loc {
				if loc[i] >= 0 {
					loc[i] += start
				}
			}
		}
		// Keywords inside a match, kept or not, start no other match: the
		// match is a token, or a value up to its delimiter.
		lastEnd = loc[1]
		d.candidate(r, e, loc, s)
	}
}

// candidate checks a match (absolute submatch indexes) and keeps it.
func (d *detector) candidate(r int, e *env, loc []int, s *scratch) {
	ru := &d.rules[r]
	text := e.content
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
			return
		}
	}
	if b := ru.boundary; b != nil && (start > 0 && b[text[start-1]] || end < len(text) && b[text[end]]) {
		return
	}
	c := cand{rule: r, start: start, end: end, sub: loc, secret: text[start:end]}
	if ru.check != nil && !ru.check(&c, e) {
		return
	}
	s.cands = append(s.cands, c)
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
