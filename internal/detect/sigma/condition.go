package sigma

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Expr is a parsed condition.
type Expr interface{ String() string }

// Ident refers to one search.
type Ident struct{ Name string }

// Not negates X.
type Not struct{ X Expr }

// And holds when every X holds.
type And struct{ X []Expr }

// Or holds when any X holds.
type Or struct{ X []Expr }

// Of is "1 of pattern" or "all of pattern" ("them" is every search whose name does
// not start with '_'), with the searches it names resolved at parse time.
type Of struct {
	All     bool
	Pattern string // "them" or a name pattern with * wildcards
	Names   []string
}

func (e Ident) String() string { return e.Name }
func (e Not) String() string   { return "not " + e.X.String() }
func (e And) String() string   { return join(e.X, " and ") }
func (e Or) String() string    { return join(e.X, " or ") }
func (e Of) String() string {
	if e.All {
		return "all of " + e.Pattern
	}
	return "1 of " + e.Pattern
}

func join(xs []Expr, sep string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.String()
		if _, ok := x.(Ident); !ok {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, sep)
}

// errAggregation rejects the Sigma 1 aggregation syntax.
var errAggregation = errors.New("aggregations (| count() ...) were removed in Sigma 2: use a correlation rule")

// maxConditionDepth bounds nesting of parentheses and not, so a hostile condition
// cannot exhaust the stack.
const maxConditionDepth = 64

// ParseCondition parses a condition over the named searches. Precedence from loosest
// to tightest: or, and, not, "x of", parentheses. Operators are matched without case.
func ParseCondition(text string, searches []string) (Expr, error) {
	toks, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("empty condition")
	}
	p := &condParser{toks: toks, searches: searches}
	e, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.i])
	}
	return e, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		case '(', ')':
			toks = append(toks, s[i:i+1])
			i++
		case '|':
			return nil, errAggregation
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

type condParser struct {
	toks     []string
	i        int
	searches []string
}

func (p *condParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *condParser) is(word string) bool { return strings.EqualFold(p.peek(), word) }

func (p *condParser) or(depth int) (Expr, error) {
	x, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	xs := []Expr{x}
	for p.is("or") {
		p.i++
		y, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return Or{X: xs}, nil
}

func (p *condParser) and(depth int) (Expr, error) {
	x, err := p.not(depth)
	if err != nil {
		return nil, err
	}
	xs := []Expr{x}
	for p.is("and") {
		p.i++
		y, err := p.not(depth)
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return And{X: xs}, nil
}

func (p *condParser) not(depth int) (Expr, error) {
	if depth > maxConditionDepth {
		return nil, errors.New("condition nested too deeply")
	}
	if p.is("not") {
		p.i++
		x, err := p.not(depth + 1)
		if err != nil {
			return nil, err
		}
		return Not{X: x}, nil
	}
	return p.primary(depth)
}

func (p *condParser) primary(depth int) (Expr, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, errors.New("condition ends where a search was expected")
	case t == "(":
		p.i++
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, errors.New("missing )")
		}
		p.i++
		return x, nil
	case t == ")":
		return nil, errors.New("unexpected )")
	case strings.EqualFold(t, "and"), strings.EqualFold(t, "or"), strings.EqualFold(t, "of"):
		return nil, fmt.Errorf("unexpected %q where a search was expected", t)
	}
	if p.i+1 < len(p.toks) && strings.EqualFold(p.toks[p.i+1], "of") {
		return p.of(t)
	}
	p.i++
	for _, s := range p.searches {
		if s == t {
			return Ident{Name: t}, nil
		}
	}
	return nil, fmt.Errorf("search %q is not defined", t)
}

// of parses "1 of pattern" / "all of pattern".
func (p *condParser) of(quant string) (Expr, error) {
	var all bool
	switch strings.ToLower(quant) {
	case "1", "any":
	case "all":
		all = true
	default:
		return nil, fmt.Errorf("%q of: only 1 of and all of are defined", quant)
	}
	p.i += 2
	pat := p.peek()
	if pat == "" || pat == "(" || pat == ")" {
		return nil, fmt.Errorf("%s of needs a search pattern or them", quant)
	}
	p.i++
	e := Of{All: all, Pattern: pat}
	for _, s := range p.searches {
		if strings.EqualFold(pat, "them") {
			if !strings.HasPrefix(s, "_") {
				e.Names = append(e.Names, s)
			}
			continue
		}
		if ok, _ := path.Match(globOnlyStar(pat), s); ok {
			e.Names = append(e.Names, s)
		}
	}
	if len(e.Names) == 0 {
		return nil, fmt.Errorf("%s matches no search", e)
	}
	if strings.EqualFold(pat, "them") {
		e.Pattern = "them"
	}
	return e, nil
}

// globOnlyStar escapes the path.Match metacharacters other than *, which is the only
// wildcard of search patterns.
func globOnlyStar(p string) string { return globEscaper.Replace(p) }

var globEscaper = strings.NewReplacer(`\`, `\\`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
