package gocode

import (
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"strings"

	"golang.org/x/tools/go/ast/astutil"

	"github.com/vigilsec/vigil/internal/scan"
)

// positions turns token positions into target locations and the source
// text of the expression at them.
type positions struct {
	fset  *token.FileSet
	files map[*token.File]*ast.File
	root  string // the target's root (absolute)
}

func newPositions(fset *token.FileSet, root string, files []*ast.File) *positions {
	p := &positions{fset: fset, files: map[*token.File]*ast.File{}, root: root}
	for _, f := range files {
		if tf := fset.File(f.FileStart); tf != nil {
			p.files[tf] = f
		}
	}
	return p
}

// rel returns a file name relative to the target's root, slash-separated.
func (p *positions) rel(name string) string {
	if r, err := filepath.Rel(p.root, name); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return filepath.ToSlash(name)
}

// node returns the expression that pos belongs to: the call whose
// parenthesis it is, the selector whose name it is, or the innermost
// expression there.
func (p *positions) node(pos token.Pos) ast.Expr {
	tf := p.fset.File(pos)
	if tf == nil {
		return nil
	}
	f := p.files[tf]
	if f == nil {
		return nil
	}
	path, _ := astutil.PathEnclosingInterval(f, pos, pos+1)
	for i, n := range path {
		if id, ok := n.(*ast.Ident); ok && i+1 < len(path) {
			if sel, ok := path[i+1].(*ast.SelectorExpr); ok && sel.Sel == id {
				return sel
			}
		}
		switch n := n.(type) {
		case *ast.CallExpr:
			if n.Lparen == pos {
				return n
			}
		case *ast.SelectorExpr:
			if n.Sel.Pos() == pos {
				return n
			}
		case *ast.StarExpr, *ast.UnaryExpr, *ast.Ident:
			return n.(ast.Expr)
		}
	}
	for _, n := range path {
		if e, ok := n.(ast.Expr); ok {
			return e
		}
	}
	return nil
}

// location returns where pos is: the start of its expression.
func (p *positions) location(pos token.Pos) scan.Location {
	start, end := pos, token.NoPos
	text := ""
	if n := p.node(pos); n != nil {
		start, end = n.Pos(), n.End()
		text = exprText(n)
	}
	ps := p.fset.Position(start)
	l := scan.Location{Path: p.rel(ps.Filename), StartLine: ps.Line, StartCol: ps.Column, Snippet: text}
	if end.IsValid() {
		pe := p.fset.Position(end)
		l.EndLine, l.EndCol = pe.Line, pe.Column
	}
	return l
}

// exprText is a short text for an expression: a call's function
// ("db.Query"), a selector ("r.URL"), a conversion's type.
func exprText(e ast.Expr) string {
	if c, ok := e.(*ast.CallExpr); ok {
		e = c.Fun
	}
	s := types.ExprString(e)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// callArgText returns the first argument of the call at pos when it is a
// string literal (r.FormValue("name") -> "name").
func (p *positions) callArgText(pos token.Pos) string {
	n := p.node(pos)
	c, ok := n.(*ast.CallExpr)
	if !ok || len(c.Args) == 0 {
		return ""
	}
	if lit, ok := c.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING && len(lit.Value) <= 40 {
		return lit.Value
	}
	return ""
}
