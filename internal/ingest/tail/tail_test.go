package tail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/ingest"
)

type memAppender struct {
	mu    sync.Mutex
	recs  []ingest.Record
	calls int
	// hook, when set, runs on each call before the records are kept; an error
	// rejects the call.
	hook func(call int, recs []ingest.Record) error
}

func (a *memAppender) Append(_ context.Context, recs []ingest.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.hook != nil {
		if err := a.hook(a.calls, recs); err != nil {
			return err
		}
	}
	a.recs = append(a.recs, recs...)
	return nil
}

func (a *memAppender) snapshot() []ingest.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.recs)
}

func (a *memAppender) lines() []string {
	var out []string
	for _, r := range a.snapshot() {
		out = append(out, string(r.Data))
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type running struct {
	t      *Tailer
	app    *memAppender
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
}

// start runs a tailer with test-sized intervals; app may be nil.
func start(t *testing.T, opts Options, app *memAppender) *running {
	t.Helper()
	if app == nil {
		app = &memAppender{}
	}
	opts.Appender = app
	if opts.PollInterval == 0 {
		opts.PollInterval = 5 * time.Millisecond
	}
	if opts.PartialFlush == 0 {
		opts.PartialFlush = time.Hour
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	tl, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tl.backoff = [2]time.Duration{time.Millisecond, 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{t: tl, app: app, cancel: cancel, done: make(chan struct{})}
	go func() { r.err = tl.Run(ctx); close(r.done) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func write(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func numbered(prefix string, from, to int) (string, []string) {
	var b strings.Builder
	var want []string
	for i := from; i < to; i++ {
		l := fmt.Sprintf("%s %05d", prefix, i)
		want = append(want, l)
		b.WriteString(l + "\n")
	}
	return b.String(), want
}

const auth = "Mar  9 10:00:01 host sshd[42]: Failed password for root from 10.0.0.1 port 22 ssh2\n"

func TestAppendLines(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "auth.log")
	write(t, p, auth+"\n"+strings.TrimSuffix(auth, "\n")+"\r\n")
	r := start(t, Options{Paths: []string{p}, StateFile: filepath.Join(dir, "state.json"), Format: "syslog-rfc3164"}, nil)
	eventually(t, "first lines", func() bool { return len(r.app.snapshot()) == 2 })
	write(t, p, "third line\n")
	eventually(t, "third line", func() bool { return len(r.app.snapshot()) == 3 })
	recs := r.app.snapshot()
	want := strings.TrimSuffix(auth, "\n")
	if string(recs[0].Data) != want || string(recs[1].Data) != want || string(recs[2].Data) != "third line" {
		t.Fatalf("got %q", r.app.lines())
	}
	for _, rec := range recs {
		if rec.Source != "tail:"+p || rec.Format != "syslog-rfc3164" || rec.Context != nil || rec.Received.IsZero() {
			t.Fatalf("record %+v", rec)
		}
	}
	if d, err := formats.Default().Detect(recs[0].Data); err != nil || d.Format.ID != "syslog-rfc3164" {
		t.Fatalf("a tailed syslog line is detected as %q (%v)", d.Format.ID, err)
	}
	r.stop(t)
	entries, err := readState(filepath.Join(dir, "state.json"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("state %+v, %v", entries, err)
	}
	fi, _ := os.Stat(p)
	if entries[0].Offset != fi.Size() || entries[0].Path != p || entries[0].Ino == 0 {
		t.Fatalf("checkpoint %+v, want offset %d", entries[0], fi.Size())
	}
}

// TestRestartResumesExactly stops the tailer between Appends and while an
// Append fails, restarts it, and checks every line arrives exactly once.
func TestRestartResumesExactly(t *testing.T) {
	for _, stopDuring := range []bool{false, true} {
		t.Run(fmt.Sprintf("stop during append=%v", stopDuring), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "app.log")
			state := filepath.Join(dir, "state.json")
			text, want := numbered("line", 0, 1000)
			write(t, p, text)

			var cur atomic.Pointer[running]
			app := &memAppender{}
			app.hook = func(call int, _ []ingest.Record) error {
				if call == 3 {
					for cur.Load() == nil { // start has not returned yet
						runtime.Gosched()
					}
					cur.Load().cancel() // the third Append succeeds, then the tailer stops
					if stopDuring {
						return context.Canceled // ... or fails as the tailer stops
					}
				}
				return nil
			}
			r := start(t, Options{Paths: []string{p}, StateFile: state, BatchSize: 100}, app)
			cur.Store(r)
			<-r.done
			if r.err != nil {
				t.Fatal(r.err)
			}
			got := app.lines()
			if wantN := map[bool]int{false: 300, true: 200}[stopDuring]; len(got) != wantN {
				t.Fatalf("first run appended %d lines, want %d", len(got), wantN)
			}
			more, want2 := numbered("line", 1000, 1100)
			write(t, p, more)
			want = append(want, want2...)

			r2 := start(t, Options{Paths: []string{p}, StateFile: state, BatchSize: 100}, nil)
			eventually(t, "the rest", func() bool { return len(got)+len(r2.app.snapshot()) >= len(want) })
			r2.stop(t)
			all := append(got, r2.app.lines()...)
			if strings.Join(all, "\n") != strings.Join(want, "\n") {
				t.Fatalf("after restart: %d lines, want %d (lost or duplicated)", len(all), len(want))
			}
		})
	}
}

func TestRenameRotationWhileWriting(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	before, want := numbered("old", 0, 50)
	if _, err := w.WriteString(before); err != nil {
		t.Fatal(err)
	}
	r := start(t, Options{Paths: []string{p}, StateFile: filepath.Join(dir, "state.json"), PartialFlush: 50 * time.Millisecond}, nil)
	eventually(t, "old lines", func() bool { return len(r.app.snapshot()) == 50 })
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	// The writer has not reopened yet: it keeps writing to the renamed file.
	late, wantLate := numbered("old", 50, 80)
	if _, err := w.WriteString(late); err != nil {
		t.Fatal(err)
	}
	want = append(want, wantLate...)
	newText, wantNew := numbered("new", 0, 40)
	write(t, p, newText)
	eventually(t, "every line", func() bool { return len(r.app.snapshot()) >= 120 })
	eventually(t, "rotation counted", func() bool { return testutil.ToFloat64(r.t.m.rotated) == 1 })
	eventually(t, "old file closed", func() bool { return testutil.ToFloat64(r.t.m.files) == 1 })
	r.stop(t)
	var old, cur []string
	for _, rec := range r.app.snapshot() {
		if rec.Source != "tail:"+p {
			t.Fatalf("source %q", rec.Source)
		}
		if strings.HasPrefix(string(rec.Data), "old") {
			old = append(old, string(rec.Data))
		} else {
			cur = append(cur, string(rec.Data))
		}
	}
	if strings.Join(old, ",") != strings.Join(want, ",") || strings.Join(cur, ",") != strings.Join(wantNew, ",") {
		t.Fatalf("old %d lines (want %d), new %d (want %d)", len(old), len(want), len(cur), len(wantNew))
	}
}

func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	text, want := numbered("before", 0, 20)
	write(t, p, text)
	r := start(t, Options{Paths: []string{p}, StateFile: filepath.Join(dir, "state.json")}, nil)
	eventually(t, "first lines", func() bool { return len(r.app.snapshot()) == 20 })
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	after, wantAfter := numbered("after", 0, 3)
	write(t, p, after)
	want = append(want, wantAfter...)
	eventually(t, "lines after truncation", func() bool { return len(r.app.snapshot()) == 23 })
	if got := r.app.lines(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q", got)
	}
	if n := testutil.ToFloat64(r.t.m.truncated); n != 1 {
		t.Fatalf("truncations %v", n)
	}
}

func TestGlobNewFilesAndCompressedSkipped(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.log"), "a1\n")
	write(t, filepath.Join(dir, "other.txt"), "not matched\n")
	r := start(t, Options{Paths: []string{filepath.Join(dir, "*.log*")}, StateFile: filepath.Join(dir, "state.json"), StartAt: "end"}, nil)
	eventually(t, "a.log open", func() bool { return testutil.ToFloat64(r.t.m.files) == 1 })
	write(t, filepath.Join(dir, "a.log"), "a2\n")
	// Files appearing after startup are read from their beginning whatever StartAt says.
	write(t, filepath.Join(dir, "b.log"), "b1\nb2\n")
	write(t, filepath.Join(dir, "c.log.1"), "\x1f\x8b\x08\x00gzip bytes\n")
	write(t, filepath.Join(dir, "d.log.2.gz"), "")
	eventually(t, "new lines", func() bool { return len(r.app.snapshot()) == 3 })
	eventually(t, "compressed skipped", func() bool {
		return testutil.ToFloat64(r.t.m.skipped.WithLabelValues("compressed")) == 2
	})
	got := map[string]string{}
	for _, rec := range r.app.snapshot() {
		got[string(rec.Data)] = rec.Source
	}
	if got["a2"] != "tail:"+filepath.Join(dir, "a.log") || got["b1"] != "tail:"+filepath.Join(dir, "b.log") || got["b2"] == "" {
		t.Fatalf("got %v (a1 is before the end StartAt starts from)", got)
	}
}

func TestPartialLineFlush(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	write(t, p, "complete\nno newline yet")
	const wait = 150 * time.Millisecond
	began := time.Now()
	r := start(t, Options{Paths: []string{p}, StateFile: filepath.Join(dir, "state.json"), PartialFlush: wait}, nil)
	eventually(t, "complete line", func() bool { return len(r.app.snapshot()) >= 1 })
	eventually(t, "partial line", func() bool { return len(r.app.snapshot()) == 2 })
	if el := time.Since(began); el < wait {
		t.Fatalf("partial line emitted after %v, before the file was quiet for %v", el, wait)
	}
	if got := r.app.lines(); got[1] != "no newline yet" {
		t.Fatalf("got %q", got)
	}
	write(t, p, "\nnext\n")
	eventually(t, "next line", func() bool { return len(r.app.snapshot()) == 3 })
	if got := r.app.lines(); got[2] != "next" {
		t.Fatalf("got %q", got)
	}
}

func TestMaxLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	long := strings.Repeat("x", 200)
	write(t, p, "a\n"+long+"\nb\n"+long[:100])
	r := start(t, Options{Paths: []string{p}, StateFile: filepath.Join(dir, "state.json"), MaxLine: 64}, nil)
	eventually(t, "short lines", func() bool { return len(r.app.snapshot()) == 2 })
	write(t, p, long[:150]+"\nc\n")
	eventually(t, "line after a long one", func() bool { return len(r.app.snapshot()) == 3 })
	if got := r.app.lines(); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("got %q", got)
	}
	if n := testutil.ToFloat64(r.t.m.skipped.WithLabelValues("line_too_long")); n != 2 {
		t.Fatalf("too long lines counted %v, want 2", n)
	}
}

func TestHeaderContext(t *testing.T) {
	zeek, err := os.ReadFile("../../decode/zeek/testdata/conn.log")
	if err != nil {
		t.Fatal(err)
	}
	zlines := strings.SplitAfter(string(zeek), "\n")
	zheader := strings.Join(zlines[:8], "")
	w3c := "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2024-03-09 10:00:00\n" +
		"#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status time-taken\n"
	w3cRow := "2024-03-09 10:00:01 10.0.0.5 GET /index.html - 443 - 203.0.113.9 Mozilla/5.0 200 0 0 15"
	w3c2 := "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time c-ip cs-method sc-status\n"
	tests := []struct {
		name, format, body string
		wantCtx            []string // context of each record
		wantData           []string
		detect             string
	}{
		{"zeek", "", string(zeek), repeat(zheader, 12), linesOf(zlines[8:20]), "zeek-tsv"},
		{"w3c with a second header", "", w3c + w3cRow + "\n" + w3c2 + "2024-03-09 11:00:00 203.0.113.9 GET 404\n",
			[]string{w3c, w3c2}, []string{w3cRow, "2024-03-09 11:00:00 203.0.113.9 GET 404"}, "w3c"},
		{"csv", "csv", "time,user,action\n2024-03-09T10:00:00Z,alice,login\n#not a header\n",
			[]string{"time,user,action\n", "time,user,action\n"}, []string{"2024-03-09T10:00:00Z,alice,login", "#not a header"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "x.log")
			write(t, p, tt.body)
			state := filepath.Join(dir, "state.json")
			r := start(t, Options{Paths: []string{p}, StateFile: state, Format: tt.format}, nil)
			eventually(t, "records", func() bool { return len(r.app.snapshot()) == len(tt.wantData) })
			r.stop(t)
			recs := r.app.snapshot()
			for i, rec := range recs {
				if string(rec.Data) != tt.wantData[i] || string(rec.Context) != tt.wantCtx[i] {
					t.Fatalf("record %d: data %q context %q\nwant data %q context %q", i, rec.Data, rec.Context, tt.wantData[i], tt.wantCtx[i])
				}
			}
			if tt.detect != "" {
				d, err := formats.Default().Detect(append(slices.Clone(recs[0].Context), recs[0].Data...))
				if err != nil || !strings.HasPrefix(d.Format.ID, tt.detect) {
					t.Fatalf("context+data detected as %q (%v), want %s", d.Format.ID, err, tt.detect)
				}
			}
			// After a restart the records of the file still carry its header.
			write(t, p, tt.wantData[0]+"\n")
			r2 := start(t, Options{Paths: []string{p}, StateFile: state, Format: tt.format}, nil)
			eventually(t, "record after restart", func() bool { return len(r2.app.snapshot()) == 1 })
			if rec := r2.app.snapshot()[0]; string(rec.Context) != tt.wantCtx[0] {
				t.Fatalf("after restart context %q, want %q", rec.Context, tt.wantCtx[0])
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func linesOf(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = strings.TrimSuffix(l, "\n")
	}
	return out
}

func TestOverloadRetry(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	text, want := numbered("l", 0, 50)
	write(t, p, text)
	app := &memAppender{hook: func(call int, _ []ingest.Record) error {
		if call <= 4 {
			return fmt.Errorf("appending: %w", &ingest.OverloadError{RetryAfter: time.Second})
		}
		if call == 5 {
			return errors.New("disk hiccup")
		}
		return nil
	}}
	r := start(t, Options{Paths: []string{p}, StateFile: filepath.Join(dir, "state.json"), BatchSize: 20}, app)
	eventually(t, "every line", func() bool { return len(app.snapshot()) == 50 })
	if got := app.lines(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q", got)
	}
	if n := testutil.ToFloat64(r.t.m.retries); n != 5 {
		t.Fatalf("retries %v, want 5", n)
	}
}

func TestCorruptStateIsAnError(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	for _, body := range []string{"{not json", `{"version":1,"files":[{"path":"/x","offset":-1,"fingerprint":""}]}`, `{"version":2,"files":[]}`} {
		if err := os.WriteFile(state, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		tl, err := New(Options{Paths: []string{filepath.Join(dir, "*.log")}, StateFile: state, Appender: &memAppender{}})
		if err != nil {
			t.Fatal(err)
		}
		err = tl.Run(t.Context())
		if err == nil || !strings.Contains(err.Error(), state) || !strings.Contains(err.Error(), "corrupt") {
			t.Fatalf("state %q: Run returned %v", body, err)
		}
	}
}

func TestInodeReuseDetected(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state.json")
	write(t, p, "first file line one\nfirst file line two\n")
	r := start(t, Options{Paths: []string{p}, StateFile: state}, nil)
	eventually(t, "lines", func() bool { return len(r.app.snapshot()) == 2 })
	r.stop(t)
	// Same inode, other content (as after a delete and a reuse): not resumed at the old offset.
	if err := os.WriteFile(p, []byte("other content, longer than before, line 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r2 := start(t, Options{Paths: []string{p}, StateFile: state, StartAt: "beginning"}, nil)
	eventually(t, "new file read from 0", func() bool { return len(r2.app.snapshot()) == 1 })
	if got := r2.app.lines(); got[0] != "other content, longer than before, line 1" {
		t.Fatalf("got %q", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	app := &memAppender{}
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Appender: app, StateFile: "s"}, "no paths"},
		{Options{Paths: []string{"x"}, StateFile: "s"}, "no appender"},
		{Options{Paths: []string{"x"}, Appender: app}, "no state file"},
		{Options{Paths: []string{"x"}, Appender: app, StateFile: "s", StartAt: "middle"}, "start at"},
		{Options{Paths: []string{"[x"}, Appender: app, StateFile: "s"}, "syntax error"},
	}
	for _, tt := range tests {
		if _, err := New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.opts, err, tt.want)
		}
	}
}

// FuzzState: the checkpoint parser never panics, and what it accepts it
// writes back to an equal document.
func FuzzState(f *testing.F) {
	f.Add([]byte(`{"version":1,"files":[{"path":"/var/log/auth.log","dev":2049,"ino":131,"fingerprint":"` + strings.Repeat("ab", 32) + `","fp_len":1024,"offset":5120}]}`))
	f.Add([]byte(`{"version":1,"files":[]}`))
	f.Add([]byte(`{"version":1,"files":[{"path":"a","fingerprint":"zz"}]}`))
	f.Add([]byte(`{"version":1} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseState(b)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Offset < 0 || e.Path == "" || e.FPLen > fingerprintSize {
				t.Fatalf("accepted %+v", e)
			}
		}
		dir := t.TempDir()
		p := filepath.Join(dir, "s.json")
		if err := writeState(p, entries); err != nil {
			t.Fatal(err)
		}
		again, err := readState(p)
		if err != nil {
			t.Fatalf("rereading what was written: %v", err)
		}
		if len(again) != len(entries) || (len(entries) > 0 && !slices.Equal(again, entries)) {
			t.Fatalf("round trip changed the checkpoints")
		}
	})
}
