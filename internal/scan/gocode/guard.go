package gocode

import (
	"go/token"

	"golang.org/x/tools/go/ssa"
)

// pathGuarded reports whether the path v reaching a file sink at in is
// checked to stay under a base directory on every way to in. The patterns
// recognised (v must be the very value the sink gets):
//
//   - v comes from filepath.Clean, filepath.Join (which cleans), filepath.Abs
//     or path.Clean/path.Join, and in only runs when strings.HasPrefix(v, base)
//     is true;
//   - in only runs when filepath.IsLocal(v) is true, or v is
//     filepath.Join(base, x...) and each x not constant is so checked;
//   - rel := filepath.Rel(base, v), and in only runs when
//     strings.HasPrefix(rel, "..") is false.
//
// A strings.HasPrefix check of a path that was not cleaned is not a guard
// ("/base/../etc/passwd" has the prefix "/base/"), nor is a regexp match or a
// strings.Contains(v, "..") test: those sinks are still reported.
func pathGuarded(in ssa.Instruction, v ssa.Value) bool {
	if in == nil || in.Block() == nil {
		return false
	}
	for _, x := range []ssa.Value{v, stripConv(v)} {
		if guardedValue(in, x) || joinOfLocal(in, x) {
			return true
		}
	}
	return false
}

// joinOfLocal: v is filepath.Join(base, elems...) where every element but
// the first is a constant or checked with filepath.IsLocal before in.
func joinOfLocal(in ssa.Instruction, v ssa.Value) bool {
	c, ok := v.(*ssa.Call)
	if !ok || funcKey(c.Common().StaticCallee()) != "path/filepath.Join" || len(c.Common().Args) != 1 {
		return false
	}
	elems, ok := variadicElems(c.Common().Args[0])
	if !ok || len(elems) < 2 {
		return false
	}
	for _, el := range elems[1:] {
		if el == nil {
			return false
		}
		if _, isConst := el.(*ssa.Const); isConst {
			continue
		}
		if !localChecked(in, el) {
			return false
		}
	}
	return true
}

// localChecked: in only runs when filepath.IsLocal(v) is true.
func localChecked(in ssa.Instruction, v ssa.Value) bool {
	refs := v.Referrers()
	if refs == nil {
		return false
	}
	for _, r := range *refs {
		if c, ok := r.(*ssa.Call); ok && funcKey(c.Common().StaticCallee()) == "path/filepath.IsLocal" && holds(c, true, in) {
			return true
		}
	}
	return false
}

func guardedValue(in ssa.Instruction, v ssa.Value) bool {
	refs := v.Referrers()
	if refs == nil {
		return false
	}
	cleaned := isCleanedPath(v)
	for _, r := range *refs {
		c, ok := r.(*ssa.Call)
		if !ok {
			continue
		}
		args := c.Common().Args
		switch funcKey(c.Common().StaticCallee()) {
		case "strings.HasPrefix":
			if cleaned && len(args) == 2 && args[0] == v && holds(c, true, in) {
				return true
			}
		case "path/filepath.IsLocal":
			if holds(c, true, in) {
				return true
			}
		case "path/filepath.Rel":
			if len(args) == 2 && args[1] == v && relGuard(c, in) {
				return true
			}
		}
	}
	return false
}

// relGuard: the first result of a filepath.Rel call is tested with
// strings.HasPrefix(rel, "..") and in runs only when that is false.
func relGuard(rel *ssa.Call, in ssa.Instruction) bool {
	for _, r := range *rel.Referrers() {
		ex, ok := r.(*ssa.Extract)
		if !ok || ex.Index != 0 {
			continue
		}
		for _, rr := range *ex.Referrers() {
			c, ok := rr.(*ssa.Call)
			if !ok || funcKey(c.Common().StaticCallee()) != "strings.HasPrefix" {
				continue
			}
			args := c.Common().Args
			if len(args) == 2 && args[0] == ex && constString(args[1]) == ".." && holds(c, false, in) {
				return true
			}
		}
	}
	return false
}

func isCleanedPath(v ssa.Value) bool {
	if ex, ok := v.(*ssa.Extract); ok && ex.Index == 0 {
		if c, ok := ex.Tuple.(*ssa.Call); ok && funcKey(c.Common().StaticCallee()) == "path/filepath.Abs" {
			return true
		}
	}
	c, ok := v.(*ssa.Call)
	if !ok {
		return false
	}
	switch funcKey(c.Common().StaticCallee()) {
	case "path/filepath.Clean", "path/filepath.Join", "path.Clean", "path.Join":
		return true
	}
	return false
}

// holds reports whether in only runs when the boolean cond is want: an If
// on cond (or on its negation) leads to a block that dominates in and is
// entered only from that If.
func holds(cond ssa.Value, want bool, in ssa.Instruction) bool {
	return holdsDepth(cond, want, in, 0)
}

func holdsDepth(cond ssa.Value, want bool, in ssa.Instruction, depth int) bool {
	if depth > 4 || cond.Referrers() == nil {
		return false
	}
	for _, r := range *cond.Referrers() {
		switch r := r.(type) {
		case *ssa.If:
			succ := r.Block().Succs[0]
			if !want {
				succ = r.Block().Succs[1]
			}
			if len(succ.Preds) == 1 && succ.Dominates(in.Block()) {
				return true
			}
		case *ssa.UnOp:
			if r.Op == token.NOT && holdsDepth(r, !want, in, depth+1) {
				return true
			}
		}
	}
	return false
}
