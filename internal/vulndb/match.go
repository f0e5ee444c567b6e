package vulndb

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/google/osv-scalibr/semantic"
)

// queryVersion is the version a query asks about, parsed once in its
// ecosystem's ordering (v is nil where osv-scalibr has no ordering for the
// ecosystem: only explicit version lists match there).
type queryVersion struct {
	base string
	raw  string
	v    semantic.Version
}

func newQueryVersion(eco, version string) (*queryVersion, error) {
	q := &queryVersion{base: baseEcosystem(eco), raw: version}
	v, err := q.parse(version)
	switch {
	case errors.Is(err, semantic.ErrUnsupportedEcosystem):
	case err != nil:
		return nil, fmt.Errorf("version %q of %s: %w", clip(version), q.base, err)
	default:
		q.v = v
	}
	return q, nil
}

// parse reads a version in the query's ecosystem; it never panics (a
// parser's panic on a hostile string is an error).
func (q *queryVersion) parse(s string) (v semantic.Version, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%w: %v", semantic.ErrInvalidVersion, r)
		}
	}()
	return semantic.Parse(s, q.base)
}

// preparedAffect is an affected entry with its range events parsed and
// sorted, ready to evaluate against many versions.
type preparedAffect struct {
	a      *affect
	ranges []preparedRange

	symOnce sync.Once
	syms    []string
}

// symbols decodes the entry's symbols on first use.
func (p *preparedAffect) symbols() []string {
	p.symOnce.Do(func() { p.syms = p.a.Symbols.strings() })
	return p.syms
}

type preparedRange struct {
	events []preparedEvent // introduced/fixed/last_affected, sorted by version
	limits []preparedEvent
}

type preparedEvent struct {
	kind string
	raw  string
	v    semantic.Version // nil for introduced "0" (before everything)
}

// eventOrder sorts events at one version: introduced first, so that a range
// introduced and fixed at the same version is empty.
var eventOrder = map[string]int{evIntroduced: 0, evLastAffected: 1, evFixed: 2, evLimit: 3}

func prepareAffect(a *affect) *preparedAffect {
	p := &preparedAffect{a: a}
	q := &queryVersion{base: baseEcosystem(a.Ecosystem)}
	for _, r := range a.Ranges {
		var pr preparedRange
		usable := true
		for _, e := range r.Events {
			pe := preparedEvent{kind: e.Kind, raw: e.V}
			if !(e.Kind == evIntroduced && e.V == "0") {
				if e.Kind == evLimit && e.V == "*" {
					continue // no limit
				}
				v, err := q.parse(e.V)
				if err != nil {
					usable = false // no ordering for this ecosystem (or a bad version): skip the range
					break
				}
				pe.v = v
			}
			if e.Kind == evLimit {
				pr.limits = append(pr.limits, pe)
			} else {
				pr.events = append(pr.events, pe)
			}
		}
		if !usable {
			continue
		}
		slices.SortStableFunc(pr.events, func(x, y preparedEvent) int {
			switch {
			case x.v == nil && y.v == nil:
			case x.v == nil:
				return -1
			case y.v == nil:
				return 1
			default:
				if c, err := x.v.Compare(y.v); err == nil && c != 0 {
					return c
				}
			}
			return cmp.Compare(eventOrder[x.kind], eventOrder[y.kind])
		})
		p.ranges = append(p.ranges, pr)
	}
	return p
}

// compareTo compares the query's version with an event's (-1, 0, +1);
// introduced "0" is below every version.
func compareTo(q *queryVersion, e preparedEvent) int {
	if e.v == nil {
		return 1
	}
	c, err := q.v.Compare(e.v)
	if err != nil {
		return 0
	}
	return c
}

// affects evaluates the entry for the query's version, as the OSV schema
// says: in the explicit versions list, or inside a SEMVER/ECOSYSTEM range
// (events in version order: introduced opens, fixed closes at its version,
// last_affected just after its version; below one of the range's limits
// when it has any). fixes are, for each range that affects the version, the
// first fix above it.
func (p *preparedAffect) affects(q *queryVersion) (bool, []preparedEvent) {
	hit := false
	for _, v := range p.a.Versions {
		if v == q.raw {
			hit = true
			break
		}
	}
	if !hit && q.v != nil && len(p.a.Versions) <= 10_000 {
		for _, v := range p.a.Versions {
			if pv, err := q.parse(v); err == nil {
				if c, err := q.v.Compare(pv); err == nil && c == 0 {
					hit = true
					break
				}
			}
		}
	}
	if q.v == nil {
		return hit, nil
	}
	var fixes []preparedEvent
	for _, r := range p.ranges {
		if ok, fix := r.affects(q); ok {
			hit = true
			if fix.raw != "" {
				fixes = append(fixes, fix)
			}
		}
	}
	return hit, fixes
}

func (r preparedRange) affects(q *queryVersion) (bool, preparedEvent) {
	var none preparedEvent
	if len(r.limits) > 0 {
		below := false
		for _, l := range r.limits {
			if compareTo(q, l) < 0 {
				below = true
				break
			}
		}
		if !below {
			return false, none
		}
	}
	affected := false
	next := len(r.events)
	for i, e := range r.events {
		c := compareTo(q, e)
		if c < 0 || (c == 0 && e.kind == evLastAffected) {
			next = i // events from here on are at or above the version
			break
		}
		switch e.kind {
		case evIntroduced:
			affected = true
		case evFixed:
			affected = false
		case evLastAffected: // the version is above it
			affected = false
		}
	}
	if !affected {
		return false, none
	}
	for _, e := range r.events[next:] {
		switch e.kind {
		case evFixed:
			return true, e
		case evLastAffected:
			return true, none
		}
	}
	return true, none
}
