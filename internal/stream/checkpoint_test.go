package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/pace"
)

// sampleCheckpoint is a checkpoint with every kind of section.
func sampleCheckpoint(t testing.TB) *checkpointState {
	t.Helper()
	corr := correlate.New(correlate.Options{})
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	sig := detect.Signal{ID: "s1", Time: at, DetectorID: "sigma", RuleID: "r1", Title: "t", Severity: detect.SeverityHigh,
		Entities: []detect.Entity{{Kind: detect.EntityHost, Value: "ws-1"}}}
	corr.Add(sig)
	cap, err := corr.Capture()
	if err != nil {
		t.Fatal(err)
	}
	return &checkpointState{
		head: ckptHead{ReadTo: 42, ReplayFrom: 40, MaxSeen: at.UnixNano(), Watermark: at.UnixNano() - 5, LastExpire: 7,
			Held:     []detect.Signal{sig},
			Behavior: []ckptModel{{ID: "behavior.a", Version: "1", Since: at, Updated: at}, {ID: "behavior.b", Version: "2"}}},
		correlator: cap,
		sigma:      []byte("sigma state"),
		models: []behavior.State{{ModelID: "behavior.a", Version: "1", Since: at, Updated: at, Blob: []byte{0, 1, 2, 255}},
			{ModelID: "behavior.b", Version: "2", Blob: []byte{}}},
	}
}

func encodeCheckpoint(t testing.TB, c *checkpointState) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := c.encode(&b, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := sampleCheckpoint(t)
	b := encodeCheckpoint(t, c)
	d, err := decodeCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	var corr bytes.Buffer
	if err := c.correlator.Encode(&corr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.correlator, corr.Bytes()) || !bytes.Equal(d.sigma, c.sigma) {
		t.Error("correlator or Sigma section changed in the round trip")
	}
	if d.head.ReadTo != 42 || d.head.ReplayFrom != 40 || d.head.LastExpire != 7 || len(d.head.Held) != 1 || d.head.Held[0].ID != "s1" {
		t.Errorf("head %+v", d.head)
	}
	if len(d.models) != 2 || !bytes.Equal(d.models[0].Blob, c.models[0].Blob) || !d.models[0].Since.Equal(c.models[0].Since) ||
		d.models[1].ModelID != "behavior.b" || d.models[1].Version != "2" || len(d.models[1].Blob) != 0 {
		t.Errorf("models %+v", d.models)
	}
	// a restored correlator accepts the section
	if err := correlate.New(correlate.Options{}).Restore(bytes.NewReader(d.correlator)); err != nil {
		t.Errorf("correlator section does not restore: %v", err)
	}
}

// TestCheckpointJSONVersion: a checkpoint earlier versions wrote (one JSON
// document) still restores.
func TestCheckpointJSONVersion(t *testing.T) {
	c := sampleCheckpoint(t)
	var corr bytes.Buffer
	if err := c.correlator.Encode(&corr); err != nil {
		t.Fatal(err)
	}
	old, err := json.Marshal(map[string]any{"read_to": 42, "replay_from": 40, "max_seen": 9, "watermark": 8, "last_expire": 7,
		"held": c.head.Held, "correlator": corr.Bytes(), "behavior": c.models, "sigma_correlations": c.sigma})
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeCheckpoint(old)
	if err != nil {
		t.Fatal(err)
	}
	if d.head.ReadTo != 42 || d.head.Watermark != 8 || !bytes.Equal(d.correlator, corr.Bytes()) || len(d.models) != 2 ||
		!reflect.DeepEqual(d.models[0].Blob, c.models[0].Blob) || string(d.sigma) != "sigma state" {
		t.Errorf("decoded %+v", d)
	}
}

// reframe builds a checkpoint from raw sections (a name, then a body written
// as one chunk), with a right checksum.
func reframe(sections ...string) []byte {
	var b []byte
	for i, s := range sections {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
		if i%2 == 1 && len(s) > 0 { // a body: the length above was its chunk's
			b = append(b, 0) // the empty last chunk
		}
	}
	return withSum(b)
}

// withSum puts the magic before body and the right checksum after it.
func withSum(body []byte) []byte { return withMagic(ckptMagic, body) }

func withMagic(magic string, body []byte) []byte {
	b := append([]byte(magic), body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestCheckpointChunks: a section is the chunks before the empty one, joined;
// a version 2 checkpoint (one length per section) still reads.
func TestCheckpointChunks(t *testing.T) {
	var body []byte
	body = append(binary.AppendUvarint(body, 4), "head"...)
	body = append(body, "\x01{\x01}\x00"...)
	body = append(binary.AppendUvarint(body, 5), "sigma"...)
	body = append(body, "\x03abc\x02de\x01f\x00"...)
	d, err := decodeCheckpoint(withSum(body))
	if err != nil {
		t.Fatal(err)
	}
	if string(d.sigma) != "abcdef" {
		t.Errorf("sigma section %q, want the chunks joined", d.sigma)
	}
	var v2 []byte
	for _, s := range []string{"head", `{"read_to":9}`, "sigma", "old"} {
		v2 = append(binary.AppendUvarint(v2, uint64(len(s))), s...)
	}
	d, err = decodeCheckpoint(withMagic(ckptMagicV2, v2))
	if err != nil {
		t.Fatal(err)
	}
	if d.head.ReadTo != 9 || string(d.sigma) != "old" {
		t.Errorf("version 2: read_to %d, sigma %q", d.head.ReadTo, d.sigma)
	}
	// a large section is written in many chunks and reads back whole
	c := sampleCheckpoint(t)
	c.sigma = bytes.Repeat([]byte("0123456789"), ckptChunk/4)
	d, err = decodeCheckpoint(encodeCheckpoint(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.sigma, c.sigma) {
		t.Errorf("a %d-byte section read back as %d bytes", len(c.sigma), len(d.sigma))
	}
}

func TestCheckpointRejects(t *testing.T) {
	good := encodeCheckpoint(t, sampleCheckpoint(t))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"other magic", append([]byte("VGSTRCK9"), good[8:]...)},
		{"magic only", []byte(ckptMagic)},
		{"truncated", good[:len(good)-10]},
		{"a flipped bit", flipped},
		{"no head", reframe("sigma", "x")},
		{"head not first", reframe("sigma", "x", "head", "{}")},
		{"section twice", reframe("head", "{}", "sigma", "x", "sigma", "y")},
		{"model not in the head", reframe("head", "{}", "model/x", "blob")},
		{"model without its section", reframe("head", `{"behavior":[{"id":"x"}]}`)},
		{"head not JSON", reframe("head", "{")},
		{"length past the end", withSum([]byte("\x04head\x64{}"))},
		{"no last chunk", withSum([]byte("\x04head\x02{}"))},
		{"chunk past the end", withSum([]byte("\x04head\x02{}\x09abc\x00"))},
		{"version 2 length past the end", withMagic(ckptMagicV2, []byte("\x04head\x64{}"))},
		{"bad length", withSum([]byte("\x04head\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))},
		{"name too long", withSum(binary.AppendUvarint(nil, ckptMaxName+1))},
		{"bad JSON document", []byte(`{"read_to":`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeCheckpoint(tc.b)
			if !errors.Is(err, errCheckpoint) {
				t.Errorf("err %v, want errCheckpoint", err)
			}
		})
	}
}

func TestFileCheckpoints(t *testing.T) {
	f := FileCheckpoints{Path: filepath.Join(t.TempDir(), "checkpoint")}
	if b, err := f.Load(t.Context()); b != nil || err != nil {
		t.Fatalf("no checkpoint yet: %q, %v", b, err)
	}
	c := sampleCheckpoint(t)
	if err := f.Save(t.Context(), func(w io.Writer) error { return c.encode(w, pace.New(0.5)) }); err != nil {
		t.Fatal(err)
	}
	b, err := f.Load(t.Context())
	if err != nil || !bytes.Equal(b, encodeCheckpoint(t, c)) {
		t.Fatalf("loaded %d bytes, %v", len(b), err)
	}
	// with no file yet, the fallback's (an earlier checkpoint in the store)
	st := openStore(t)
	if err := (StoreCheckpoints{Store: st}).Save(t.Context(), func(w io.Writer) error { return c.encode(w, nil) }); err != nil {
		t.Fatal(err)
	}
	g := FileCheckpoints{Path: filepath.Join(t.TempDir(), "none"), Fallback: StoreCheckpoints{Store: st}}
	if b, err := g.Load(t.Context()); err != nil || !bytes.Equal(b, encodeCheckpoint(t, c)) {
		t.Fatalf("fallback loaded %d bytes, %v", len(b), err)
	}
}

func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(encodeCheckpoint(f, sampleCheckpoint(f)))
	f.Add(reframe("head", `{"behavior":[{"id":"x"}]}`, "model/x", "b"))
	f.Add([]byte(`{"read_to":1,"held":[{"id":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeCheckpoint(b)
		if err != nil {
			if !errors.Is(err, errCheckpoint) {
				t.Fatalf("error %v does not wrap errCheckpoint", err)
			}
			return
		}
		if len(d.models) != len(d.head.Behavior) && b[0] != '{' {
			t.Fatalf("%d models for %d in the head", len(d.models), len(d.head.Behavior))
		}
	})
}

// slowCheckpoints holds its first Save until released, and records the order
// in which saves finish and what each held.
type slowCheckpoints struct {
	FileCheckpoints
	release chan struct{}
	mu      sync.Mutex
	calls   int
	done    []uint64 // ReadTo of each finished save, in finishing order
}

func (s *slowCheckpoints) Save(ctx context.Context, write func(io.Writer) error) error {
	s.mu.Lock()
	s.calls++
	first := s.calls == 1
	s.mu.Unlock()
	if first {
		<-s.release
	}
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	if err := s.FileCheckpoints.Save(ctx, func(w io.Writer) error { _, err := w.Write(b.Bytes()); return err }); err != nil {
		return err
	}
	d, err := decodeCheckpoint(b.Bytes())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.done = append(s.done, d.head.ReadTo)
	s.mu.Unlock()
	return nil
}

// TestCheckpointsLandInOrder: a shutdown's checkpoint taken while a periodic
// one is still being saved (beside the writer) waits for it, so the newer
// one is what the file holds: an older one landing last would name a replay
// position the log may already have let go.
func TestCheckpointsLandInOrder(t *testing.T) {
	recs := simulated(t)
	st := openStore(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	cp := &slowCheckpoints{FileCheckpoints: FileCheckpoints{Path: filepath.Join(t.TempDir(), "checkpoint")}, release: make(chan struct{})}
	eng, beh, sd, corr := stages(t)
	log := logOf(recs[:len(recs)/2])
	p, err := New(t.Context(), Options{
		Log: log, Registry: formats.Default(), Detect: eng, Behavior: beh, Sigma: sd, Correlator: corr, Store: st,
		Lateness: time.Minute, MaxBatch: 500, Workers: 2, CheckpointEvery: time.Minute, Checkpoints: cp,
		Now: func() time.Time { return time.Unix(0, now.Load()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// read a part of the log, then let the clock call for a checkpoint
	for p.Stats().Records < 1000 {
		time.Sleep(time.Millisecond)
	}
	now.Add(int64(2 * time.Minute))
	for {
		cp.mu.Lock()
		calls := cp.calls
		cp.mu.Unlock()
		if calls == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// the periodic checkpoint is held in Save; the rest of the log is read
	// and the processor is stopped: its last checkpoint comes while the
	// first is still being saved
	for p.Stats().Records < int64(len(recs)/2) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(cp.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(cp.done) != 2 || cp.done[0] >= cp.done[1] {
		t.Fatalf("saves finished reading to %v, want the periodic one, then the later shutdown one", cp.done)
	}
	b, err := cp.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.head.ReadTo != uint64(len(recs)/2) {
		t.Fatalf("the file's checkpoint read to %d, want %d (the last one)", d.head.ReadTo, len(recs)/2)
	}
}
