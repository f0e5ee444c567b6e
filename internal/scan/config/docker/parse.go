// Package docker parses Dockerfiles (and Containerfiles) and finds
// misconfigurations in them: a final stage running as root, ADD where COPY
// would do or of a remote URL, secrets in ENV and ARG, unpinned base images
// and remote scripts piped into a shell.
//
// The parser is Vigil's own and follows BuildKit's grammar where it matters
// for the checks: parser directives (# escape=`), line continuations with
// the escape character (comment and empty lines inside a continuation are
// skipped), comments, JSON (exec) and shell forms, flags (--from=,
// --platform=, --chown=, --checksum=), multi-stage FROM ... AS name, ARG
// before the first FROM (substituted into FROM), and heredocs (<<EOF,
// <<-EOF, <<"EOF") whose bodies are kept with their instruction. It never
// fails: text it does not understand becomes an instruction it does not
// know.
package docker

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"unicode"
)

// Dockerfile is a parsed Dockerfile.
type Dockerfile struct {
	// Directives are the parser directives at the top (syntax, escape,
	// check), keys lower-cased.
	Directives map[string]string
	// Escape is the escape character: '\\' or '`'.
	Escape byte
	// Args are the ARG instructions before the first FROM (global build
	// arguments, usable in FROM).
	Args []Instruction
	// Stages are the build stages, in order; the last one is the image.
	Stages []Stage
}

// Stage is one FROM and the instructions after it.
type Stage struct {
	Index int
	// From is the FROM instruction; Image its image with global ARG defaults
	// substituted (as written when a variable has no default), Name the
	// stage's AS name (lower-cased), Platform the --platform flag.
	From     Instruction
	Image    string
	Name     string
	Platform string
	// Resolved is false when Image still holds a variable.
	Resolved     bool
	Instructions []Instruction
}

// Instruction is one instruction.
type Instruction struct {
	// Cmd is the keyword, upper-cased (RUN, COPY, ...).
	Cmd string
	// Flags are the leading --name=value flags (names without dashes; a flag
	// without a value maps to "").
	Flags map[string]string
	// Args are the arguments: for JSON (exec) form the array's strings; for
	// the shell form of RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK one
	// string, the command; otherwise the words (quotes removed).
	Args []string
	// JSON is true for the exec form.
	JSON bool
	// Raw is the instruction's text after the keyword, continuations joined
	// (flags included, heredoc bodies not).
	Raw string
	// Heredocs are the bodies of the instruction's heredocs, in order.
	Heredocs []Heredoc
	// Line and EndLine are the instruction's first and last lines (1-based;
	// EndLine includes continuation lines and heredoc bodies).
	Line, EndLine int
}

// Heredoc is one heredoc of an instruction.
type Heredoc struct {
	Name string
	Body string
}

// commandForm are the instructions whose shell form is one command string.
var commandForm = map[string]bool{"RUN": true, "CMD": true, "ENTRYPOINT": true, "SHELL": true, "HEALTHCHECK": true}

// jsonForm are the instructions that take the exec (JSON array) form.
var jsonForm = map[string]bool{"RUN": true, "CMD": true, "ENTRYPOINT": true, "SHELL": true, "COPY": true, "ADD": true, "VOLUME": true}

// heredocCmds are the instructions BuildKit reads heredocs for.
var heredocCmds = map[string]bool{"RUN": true, "COPY": true, "ADD": true}

var (
	directiveRe = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$`)
	// a word starting with << (not <<<): <<EOF, <<-EOF, <<"EOF", <<'EOF'
	heredocRe = regexp.MustCompile(`(?:^|[^<])<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_.-]*)(["']?)`)
)

// Parse reads a Dockerfile. It accepts anything: a line it cannot make sense
// of is an instruction with an unknown keyword.
func Parse(data []byte) *Dockerfile {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	df := &Dockerfile{Directives: map[string]string{}, Escape: '\\'}

	i := 0
	// parser directives: only at the very top, each once
	for ; i < len(lines); i++ {
		m := directiveRe.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			break
		}
		k := strings.ToLower(m[1])
		if _, dup := df.Directives[k]; dup {
			break
		}
		df.Directives[k] = m[2]
		if k == "escape" && m[2] == "`" {
			df.Escape = '`'
		}
	}

	var cur *Stage
	for i < len(lines) {
		l := lines[i]
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			i++
			continue
		}
		start := i
		// join continuation lines
		var b strings.Builder
		text, cont := trimContinuation(l, df.Escape)
		b.WriteString(text)
		i++
		for cont && i < len(lines) {
			nl := lines[i]
			nt := strings.TrimSpace(nl)
			if nt == "" || nt[0] == '#' {
				i++ // comments and empty lines inside a continuation are skipped
				continue
			}
			text, cont = trimContinuation(nl, df.Escape)
			b.WriteString(text)
			i++
		}
		in := parseInstruction(b.String(), df.Escape)
		in.Line = start + 1
		if heredocCmds[in.Cmd] {
			i = readHeredocs(&in, lines, i)
		}
		in.EndLine = i
		if in.EndLine < in.Line {
			in.EndLine = in.Line
		}

		switch {
		case in.Cmd == "FROM":
			df.Stages = append(df.Stages, newStage(in, len(df.Stages), df))
			cur = &df.Stages[len(df.Stages)-1]
		case cur == nil && in.Cmd == "ARG":
			df.Args = append(df.Args, in)
		case cur == nil:
			// an instruction before FROM is an error for BuildKit; keep it in
			// a stage without a base so checks still see it
			df.Stages = append(df.Stages, Stage{Index: 0, Resolved: false})
			cur = &df.Stages[0]
			cur.Instructions = append(cur.Instructions, in)
		default:
			cur.Instructions = append(cur.Instructions, in)
		}
	}
	return df
}

// trimContinuation removes a trailing escape character (and the whitespace
// after it) and reports whether the line continues.
func trimContinuation(l string, escape byte) (string, bool) {
	t := strings.TrimRightFunc(l, unicode.IsSpace)
	if len(t) > 0 && t[len(t)-1] == escape {
		return t[:len(t)-1], true
	}
	return l, false
}

// readHeredocs reads the bodies of the heredocs the instruction names,
// starting at lines[i], and returns the index of the line after them. An
// unterminated heredoc runs to the end of the file.
func readHeredocs(in *Instruction, lines []string, i int) int {
	for _, m := range heredocRe.FindAllStringSubmatch(in.Raw, -1) {
		if m[2] != m[4] {
			continue // mismatched quotes: not a heredoc
		}
		strip, name := m[1] == "-", m[3]
		var body strings.Builder
		for i < len(lines) {
			l := lines[i]
			i++
			cmp := l
			if strip {
				cmp = strings.TrimLeft(l, "\t")
			}
			if strings.TrimRight(cmp, "\r") == name {
				break
			}
			if strip {
				l = strings.TrimLeft(l, "\t")
			}
			body.WriteString(l)
			body.WriteByte('\n')
		}
		in.Heredocs = append(in.Heredocs, Heredoc{Name: name, Body: body.String()})
	}
	return i
}

// parseInstruction parses one logical line (continuations joined).
func parseInstruction(s string, escape byte) Instruction {
	s = strings.TrimSpace(s)
	kw, rest := s, ""
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		kw, rest = s[:i], strings.TrimSpace(s[i:])
	}
	in := Instruction{Cmd: strings.ToUpper(kw), Raw: rest}
	if in.Cmd == "ONBUILD" {
		// ONBUILD <instruction>: keep the inner instruction's words
		in.Args = []string{rest}
		return in
	}
	rest = in.parseFlags(rest, escape)
	if jsonForm[in.Cmd] && strings.HasPrefix(rest, "[") {
		var arr []string
		if err := json.Unmarshal([]byte(rest), &arr); err == nil {
			in.JSON, in.Args = true, arr
			return in
		}
	}
	if commandForm[in.Cmd] {
		if rest != "" {
			in.Args = []string{rest}
		}
		return in
	}
	in.Args = words(rest, escape)
	return in
}

// parseFlags takes the leading --name[=value] words off rest.
func (in *Instruction) parseFlags(rest string, escape byte) string {
	for strings.HasPrefix(rest, "--") {
		end := strings.IndexFunc(rest, unicode.IsSpace)
		word := rest
		if end >= 0 {
			word = rest[:end]
		}
		// a quoted value may hold spaces: --mount=type=secret,id="a b"
		if strings.Count(word, `"`)%2 == 1 {
			if j := strings.IndexByte(rest[len(word):], '"'); j >= 0 {
				word = rest[:len(word)+j+1]
				if k := strings.IndexFunc(rest[len(word):], unicode.IsSpace); k >= 0 {
					word = rest[:len(word)+k]
				} else {
					word = rest
				}
			}
		}
		name, val, _ := strings.Cut(word[2:], "=")
		if in.Flags == nil {
			in.Flags = map[string]string{}
		}
		in.Flags[strings.ToLower(name)] = unquote(val, escape)
		rest = strings.TrimSpace(rest[len(word):])
	}
	return rest
}

// words splits s into words at unquoted whitespace, removing quotes; the
// escape character escapes the next character outside single quotes.
func words(s string, escape byte) []string {
	var out []string
	var b strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			if inWord {
				out = append(out, b.String())
				b.Reset()
				inWord = false
			}
		case c == escape && quote != '\'' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
			inWord = true
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
			inWord = true
		case quote != 0 && c == quote:
			quote = 0
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, b.String())
	}
	return out
}

func unquote(s string, escape byte) string {
	w := words(s, escape)
	return strings.Join(w, " ")
}

// newStage builds a stage from its FROM: FROM [--platform=p] image [AS name].
func newStage(from Instruction, index int, df *Dockerfile) Stage {
	st := Stage{Index: index, From: from, Platform: from.Flags["platform"]}
	args := from.Args
	if len(args) >= 3 && strings.EqualFold(args[len(args)-2], "AS") {
		st.Name = strings.ToLower(args[len(args)-1])
		args = args[:len(args)-2]
	}
	if len(args) > 0 {
		st.Image, st.Resolved = Expand(args[0], df.globalArgs())
	}
	return st
}

// globalArgs returns the defaults of the ARGs before the first FROM.
func (df *Dockerfile) globalArgs() map[string]string {
	m := map[string]string{}
	for _, a := range df.Args {
		for _, w := range a.Args {
			k, v, ok := strings.Cut(w, "=")
			if ok {
				m[k] = v
			} else if _, seen := m[k]; !seen {
				m[k] = "\x00" // declared without a default
			}
		}
	}
	return m
}

// Expand substitutes $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:+alt} and ${VAR+alt} from vars (a value of "\x00" is declared
// without a default). ok is false when a variable stays unknown.
func Expand(s string, vars map[string]string) (out string, ok bool) {
	if !strings.Contains(s, "$") {
		return s, true
	}
	ok = true
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		var name, op, word string
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String(), false
			}
			expr := s[i+2 : i+2+end]
			i += 2 + end
			name = expr
			for _, o := range []string{":-", ":+", "-", "+"} {
				if j := strings.Index(expr, o); j > 0 {
					name, op, word = expr[:j], o, expr[j+len(o):]
					break
				}
			}
		} else {
			j := i + 1
			for j < len(s) && (s[j] == '_' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			if j == i+1 {
				b.WriteByte(c)
				continue
			}
			name = s[i+1 : j]
			i = j - 1
		}
		val, declared := vars[name]
		has := declared && val != "\x00"
		v, set := val, has
		switch op {
		case ":-": // the default when unset or empty (and when only declared)
			if !has || val == "" {
				v, set = word, true
			}
		case "-":
			if !has {
				v, set = word, true
			}
		case ":+":
			if has && val != "" {
				v = word
			} else if has {
				v = ""
			}
		case "+":
			if has {
				v = word
			}
		}
		if !set {
			ok = false
			b.WriteString("${" + name + "}")
			continue
		}
		b.WriteString(v)
	}
	return b.String(), ok
}

// Final returns the last stage (the image), or nil when there is none.
func (df *Dockerfile) Final() *Stage {
	if len(df.Stages) == 0 {
		return nil
	}
	return &df.Stages[len(df.Stages)-1]
}

// StageByName returns the earlier stage a FROM or COPY --from names (by AS
// name or index), or nil.
func (df *Dockerfile) StageByName(name string, before int) *Stage {
	name = strings.ToLower(name)
	for i := range df.Stages[:min(before, len(df.Stages))] {
		st := &df.Stages[i]
		if st.Name != "" && st.Name == name {
			return st
		}
	}
	return nil
}
