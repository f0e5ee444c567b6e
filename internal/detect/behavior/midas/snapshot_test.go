package midas

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
)

func snapshot(t testing.TB, m *Model) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := m.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSnapshotRoundTrip snapshots a model halfway through a stream; the
// restored model must score the rest exactly as the original.
func TestSnapshotRoundTrip(t *testing.T) {
	edges := synthetic(20000, 300, 250, 3)
	small := rConfig()
	small.Buckets, small.Rows, small.Alpha, small.Seed = 100, 3, 0.25, 42
	for _, cfg := range []Config{DefaultConfig(), rConfig(), small} {
		orig := mustNew(t, cfg)
		for _, e := range edges[:len(edges)/2] {
			orig.Score(e.src, e.dst, e.tick)
		}
		img := snapshot(t, orig)
		if len(img) != headerLen+cfg.MemoryBytes()+4 {
			t.Errorf("snapshot %d bytes, want header %d + cells %d + crc 4", len(img), headerLen, cfg.MemoryBytes())
		}
		restored := mustNew(t, rConfig()) // Restore replaces the configuration too
		if err := restored.Restore(bytes.NewReader(img)); err != nil {
			t.Fatal(err)
		}
		if restored.Config() != cfg || restored.Edges() != orig.Edges() {
			t.Fatalf("config %+v edges %d, want %+v %d", restored.Config(), restored.Edges(), cfg, orig.Edges())
		}
		if again := snapshot(t, restored); !bytes.Equal(again, img) {
			t.Fatal("snapshot of the restored model differs")
		}
		for i, e := range edges[len(edges)/2:] {
			a, b := orig.Observe(e.src, e.dst, e.tick), restored.Observe(e.src, e.dst, e.tick)
			if a != b {
				t.Fatalf("filter %v edge %d: original %+v, restored %+v", cfg.Filter, i, a, b)
			}
		}
	}
}

func TestSnapshotEmpty(t *testing.T) {
	m := mustNew(t, DefaultConfig())
	n, err := Load(bytes.NewReader(snapshot(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := m.Observe(1, 2, 5), n.Observe(1, 2, 5); a != b {
		t.Errorf("%+v != %+v", a, b)
	}
}

// TestLoadReadsOnlyTheSnapshot: a snapshot embedded in a longer stream
// leaves the bytes after it unread.
func TestLoadReadsOnlyTheSnapshot(t *testing.T) {
	m := mustNew(t, DefaultConfig())
	m.Score(1, 2, 3)
	r := bytes.NewReader(append(snapshot(t, m), "tail"...))
	if _, err := Load(r); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "tail" {
		t.Errorf("left %q", rest)
	}
}

func TestRestoreErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Buckets = 16
	m := mustNew(t, cfg)
	for i := range uint64(200) {
		m.Score(i%7, i%5, int64(i/20))
	}
	good := snapshot(t, m)
	// edit returns a copy of good changed by f, with the checksum redone
	// when fix is set.
	edit := func(fix bool, f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		if fix {
			body := b[:len(b)-4]
			binary.LittleEndian.PutUint32(b[len(b)-4:], crc(body))
		}
		return b
	}
	le := binary.LittleEndian
	cells := headerLen
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "restoring midas state: reading header: EOF"},
		{"short header", good[:10], "restoring midas state: reading header: unexpected EOF"},
		{"bad magic", edit(true, func(b []byte) { b[0] = 'X' }), "restoring midas state: corrupt snapshot: bad magic"},
		{"future version", edit(true, func(b []byte) { b[8] = 2 }), "restoring midas state: unsupported version 2"},
		{"huge rows", edit(true, func(b []byte) { le.PutUint32(b[12:], 1<<31) }), "restoring midas state: corrupt snapshot: 2147483648 x 16 sketch"},
		{"huge buckets", edit(true, func(b []byte) { le.PutUint32(b[16:], MaxBuckets+1) }), "restoring midas state: corrupt snapshot: 2 x 1048577 sketch"},
		{"zero rows", edit(true, func(b []byte) { le.PutUint32(b[12:], 0) }), "restoring midas state: midas config: rows 0 outside 1..16"},
		{"NaN alpha", edit(true, func(b []byte) { le.PutUint64(b[20:], math.Float64bits(math.NaN())) }), "restoring midas state: midas config: alpha NaN outside [0, 1]"},
		{"bad filter flag", edit(true, func(b []byte) { b[36] = 7 }), "restoring midas state: corrupt snapshot: bad flag"},
		{"ticks backwards", edit(true, func(b []byte) { le.PutUint64(b[46:], math.MaxInt64) }), "restoring midas state: corrupt snapshot: ticks 9223372036854775807..9"},
		{"truncated cells", good[:cells+100], "restoring midas state: reading edge sketch: unexpected EOF"},
		{"NaN cell", edit(true, func(b []byte) { le.PutUint64(b[cells+8:], math.Float64bits(math.NaN())) }), "restoring midas state: reading edge sketch: corrupt snapshot: cell 1 is NaN"},
		{"negative cell", edit(true, func(b []byte) { le.PutUint64(b[cells:], math.Float64bits(-1)) }), "restoring midas state: reading edge sketch: corrupt snapshot: cell 0 is -1"},
		{"no checksum", good[:len(good)-4], "restoring midas state: reading checksum: EOF"},
		{"flipped bit", edit(false, func(b []byte) { b[cells+3] ^= 1 }), "restoring midas state: corrupt snapshot: checksum mismatch"},
		{"huge header, little data", edit(false, func(b []byte) { le.PutUint32(b[12:], MaxRows); le.PutUint32(b[16:], MaxBuckets) }), "restoring midas state: reading edge sketch: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := mustNew(t, rConfig())
			target.Score(9, 9, 9)
			before := snapshot(t, target)
			err := target.Restore(bytes.NewReader(tc.in))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if !bytes.Equal(snapshot(t, target), before) {
				t.Error("failed Restore changed the model")
			}
			if strings.Contains(tc.name, "corrupt") && !errors.Is(err, errCorrupt) {
				t.Errorf("%v does not wrap errCorrupt", err)
			}
		})
	}
}

// TestRestoreAllocatesAsItReads: a header asking for the largest sketch
// (640 MiB) followed by little data must not allocate the sketch.
func TestRestoreAllocatesAsItReads(t *testing.T) {
	m := mustNew(t, DefaultConfig())
	img := snapshot(t, m)[:headerLen+1000]
	binary.LittleEndian.PutUint32(img[12:], MaxRows)
	binary.LittleEndian.PutUint32(img[16:], MaxBuckets)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Load(bytes.NewReader(img))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("truncated snapshot accepted")
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("allocated %d bytes for a %d-byte input", d, len(img))
	}
}

func crc(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestSnapshotWriteError(t *testing.T) {
	m := mustNew(t, DefaultConfig())
	for _, n := range []int{0, 100 << 10, DefaultConfig().MemoryBytes() + headerLen} {
		if err := m.Snapshot(&failWriter{n: n}); err == nil || err.Error() != "writing midas snapshot: disk full" {
			t.Errorf("budget %d: %v", n, err)
		}
	}
}

// FuzzRestore feeds hostile bytes to Load: it must never panic, and what
// it accepts must snapshot back to the bytes it read.
func FuzzRestore(f *testing.F) {
	cfg := DefaultConfig()
	cfg.Buckets = 8
	m, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	var b bytes.Buffer
	if err := m.Snapshot(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.Clone(b.Bytes()))
	for i := range uint64(50) {
		m.Score(i%3, i%4, int64(i/10))
	}
	b.Reset()
	if err := m.Snapshot(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.Clone(b.Bytes()))
	f.Add([]byte(snapshotMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		m, err := Load(r)
		if err != nil {
			return
		}
		used := len(data) - r.Len()
		var out bytes.Buffer
		if err := m.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data[:used]) {
			t.Fatal("accepted snapshot does not round-trip")
		}
		m.Score(1, 2, m.cur+1) // usable after restore
	})
}
