package docker

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

func TestParse(t *testing.T) {
	src := "# syntax=docker/dockerfile:1\n" + // 1
		"# escape=\\\n" + // 2
		"ARG BASE=golang\n" + // 3
		"ARG TAG\n" + // 4
		"FROM --platform=$BUILDPLATFORM ${BASE}:1.22 AS Build\n" + // 5
		"# a comment\n" + // 6
		"RUN apt-get update && \\\n" + // 7
		"    # comment inside a continuation\n" + // 8
		"\n" + // 9
		"    apt-get install -y curl\n" + // 10
		"COPY --from=build --chown=1000:1000 [\"a b\", \"/dst/\"]\n" + // 11
		"RUN <<EOF\n" + // 12
		"set -e\n" + // 13
		"curl -fsSL https://x.example/i.sh | sh\n" + // 14
		"EOF\n" + // 15
		"ENV A=1 B=\"two words\" \\\n" + // 16
		"    C='x y'\n" + // 17
		"FROM build\n" + // 18
		"COPY <<-EOT /etc/motd\n" + // 19
		"\thello\n" + // 20
		"\tEOT\n" + // 21
		"CMD [\"/app\", \"-v\"]\n" + // 22
		"USER app:app\n" // 23
	df := Parse([]byte(src))
	if df.Directives["syntax"] != "docker/dockerfile:1" || df.Escape != '\\' {
		t.Fatalf("directives %v escape %q", df.Directives, df.Escape)
	}
	if len(df.Args) != 2 || len(df.Stages) != 2 {
		t.Fatalf("%d args, %d stages", len(df.Args), len(df.Stages))
	}
	s0 := df.Stages[0]
	if s0.Image != "golang:1.22" || !s0.Resolved || s0.Name != "build" || s0.Platform != "$BUILDPLATFORM" || s0.From.Line != 5 {
		t.Fatalf("stage 0: %+v", s0)
	}
	type want struct {
		cmd       string
		args      []string
		json      bool
		line, end int
	}
	wants := []want{
		{"RUN", []string{"apt-get update &&     apt-get install -y curl"}, false, 7, 10},
		{"COPY", []string{"a b", "/dst/"}, true, 11, 11},
		{"RUN", []string{"<<EOF"}, false, 12, 15},
		{"ENV", []string{"A=1", "B=two words", "C=x y"}, false, 16, 17},
	}
	if len(s0.Instructions) != len(wants) {
		t.Fatalf("stage 0 instructions: %+v", s0.Instructions)
	}
	for i, w := range wants {
		in := s0.Instructions[i]
		if in.Cmd != w.cmd || !reflect.DeepEqual(in.Args, w.args) || in.JSON != w.json || in.Line != w.line || in.EndLine != w.end {
			t.Errorf("instruction %d: %+v, want %+v", i, in, w)
		}
	}
	if f := s0.Instructions[1].Flags; f["from"] != "build" || f["chown"] != "1000:1000" {
		t.Errorf("COPY flags %v", f)
	}
	if h := s0.Instructions[2].Heredocs; len(h) != 1 || h[0].Name != "EOF" || !strings.Contains(h[0].Body, "| sh") {
		t.Errorf("heredoc %+v", h)
	}
	s1 := df.Stages[1]
	if s1.Image != "build" || len(s1.Instructions) != 3 {
		t.Fatalf("stage 1: %+v", s1)
	}
	if h := s1.Instructions[0].Heredocs; len(h) != 1 || h[0].Body != "hello\n" || s1.Instructions[0].EndLine != 21 {
		t.Errorf("<<- heredoc %+v", s1.Instructions[0])
	}
	if in := s1.Instructions[1]; !in.JSON || !reflect.DeepEqual(in.Args, []string{"/app", "-v"}) || in.Line != 22 {
		t.Errorf("CMD %+v", in)
	}
	if df.BaseImage() != "golang:1.22" {
		t.Errorf("base image %q", df.BaseImage())
	}
}

func TestParseEscapeBacktick(t *testing.T) {
	df := Parse([]byte("# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir `\n  c:\\ `\n  /s\nUSER ContainerUser\n"))
	if df.Escape != '`' || len(df.Stages) != 1 {
		t.Fatalf("%+v", df)
	}
	in := df.Stages[0].Instructions[0]
	if in.Cmd != "RUN" || in.Args[0] != "dir   c:\\   /s" || in.Line != 3 || in.EndLine != 5 {
		t.Fatalf("%+v", in)
	}
}

func TestParseDirectivesOnlyAtTop(t *testing.T) {
	df := Parse([]byte("FROM alpine:3\n# escape=`\nRUN a \\\n b\n"))
	if df.Escape != '\\' || len(df.Directives) != 0 {
		t.Fatalf("directive after an instruction was read: %+v", df.Directives)
	}
	if got := df.Stages[0].Instructions[0].Args[0]; got != "a  b" {
		t.Fatalf("continuation %q", got)
	}
}

func TestParseHereStringIsNotHeredoc(t *testing.T) {
	df := Parse([]byte("FROM alpine:3\nRUN cat <<< \"x\"\nUSER 1000\n"))
	if n := len(df.Stages[0].Instructions); n != 2 {
		t.Fatalf("%d instructions, want 2 (<<< is a here-string)", n)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "E": "", "D": "\x00"}
	for in, want := range map[string]struct {
		out string
		ok  bool
	}{
		"x$A":           {"xa", true},
		"${A}:1":        {"a:1", true},
		"${E:-def}":     {"def", true},
		"${E-def}":      {"", true},
		"${D:-def}":     {"def", true},
		"${A:+alt}":     {"alt", true},
		"${E:+alt}":     {"", true},
		"$D":            {"${D}", false},
		"${missing}":    {"${missing}", false},
		"${unterminate": {"${unterminate", false},
		"$":             {"$", true},
	} {
		out, ok := Expand(in, vars)
		if out != want.out || ok != want.ok {
			t.Errorf("Expand(%q) = %q, %v; want %q, %v", in, out, ok, want.out, want.ok)
		}
	}
}

// FuzzParse: the parser takes any input without panicking, and what it
// returns is consistent (lines within the file, stages indexed in order).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"FROM alpine\nRUN echo hi\n",
		"# escape=`\nFROM a AS b\nRUN x `\n y\n",
		"ARG X=1\nFROM img:${X}\nCOPY <<EOF <<-EOT /x\na\nEOF\n\tb\n\tEOT\n",
		"FROM a\nRUN [\"sh\", \"-c\", \"x\"]\nENV A=\"b c\" D='e'\nADD --checksum=sha256:00 https://x/y /z\nUSER 0\n",
		"RUN \\\n",
		"FROM --mount=\"a b\n",
		"FROM a\nRUN <<EOF\nnever closed\n",
		"\xef\xbb\xbfFROM a\r\nUSER root\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		df := Parse(data)
		n := strings.Count(string(data), "\n") + 1
		for i, st := range df.Stages {
			if st.Index != i && st.From.Cmd == "FROM" {
				t.Fatalf("stage %d has index %d", i, st.Index)
			}
			for _, in := range st.Instructions {
				if in.Line < 1 || in.Line > n || in.EndLine < in.Line || in.EndLine > n {
					t.Fatalf("instruction %+v outside lines 1..%d", in, n)
				}
			}
		}
		_ = df.BaseImage()
		Check("Dockerfile", df, func(scan.Finding) {})
	})
}
