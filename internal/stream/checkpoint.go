package stream

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/atomicfile"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/pace"
	"github.com/vigilsec/vigil/internal/store"
)

// CheckpointID names the processor's checkpoint in the store's model states
// (StoreCheckpoints).
const CheckpointID = "stream.checkpoint"

// Checkpoints keeps the processor's latest checkpoint.
type Checkpoints interface {
	// Load returns the latest checkpoint; nil and no error when there is none.
	Load(ctx context.Context) ([]byte, error)
	// Save replaces the checkpoint with what write writes, durably, whole or
	// not at all.
	Save(ctx context.Context, write func(io.Writer) error) error
}

// StoreCheckpoints keeps the checkpoint in the store, as the model state
// CheckpointID; the default. Key names the checkpoint among several (a
// cluster's partitions: each has its own processor); "" for serve's one.
type StoreCheckpoints struct {
	Store store.Store
	Key   string
}

// Load implements Checkpoints.
func (s StoreCheckpoints) Load(ctx context.Context) ([]byte, error) {
	ms, err := s.Store.GetModelState(ctx, CheckpointID, s.Key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ms.Blob, nil
}

// Save implements Checkpoints.
func (s StoreCheckpoints) Save(ctx context.Context, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	return s.Store.PutModelState(ctx, store.ModelState{ModelID: CheckpointID, Key: s.Key, Version: 1, Updated: time.Now().UTC(), Blob: b.Bytes()})
}

// FileCheckpoints keeps the checkpoint in a file, replaced atomically. With a
// large state (tens of megabytes under a heavy stream) a file costs a fraction
// of a database blob: no page copies, no second write through the database's
// own log. vigil serve keeps it beside the write-ahead log it points into.
type FileCheckpoints struct {
	Path string
	// Fallback, if set, is loaded when there is no file yet (a checkpoint
	// kept elsewhere before).
	Fallback Checkpoints
}

// Load implements Checkpoints.
func (f FileCheckpoints) Load(ctx context.Context) ([]byte, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		if f.Fallback != nil {
			return f.Fallback.Load(ctx)
		}
		return nil, nil
	}
	return b, err
}

// Save implements Checkpoints.
func (f FileCheckpoints) Save(_ context.Context, write func(io.Writer) error) error {
	return atomicfile.Write(f.Path, 0o600, write)
}

// ckptHead is a checkpoint's small part: positions, held signals and what
// the sections are.
type ckptHead struct {
	ReadTo     uint64          `json:"read_to"`
	ReplayFrom uint64          `json:"replay_from"`
	MaxSeen    int64           `json:"max_seen"`
	Watermark  int64           `json:"watermark"`
	LastExpire int64           `json:"last_expire"`
	Held       []detect.Signal `json:"held"`
	Behavior   []ckptModel     `json:"behavior,omitempty"` // each model's state is the section "model/"+ID
}

// ckptModel describes one behavioral model's state.
type ckptModel struct {
	ID      string    `json:"id"`
	Version string    `json:"version"`
	Since   time.Time `json:"since,omitzero"`
	Updated time.Time `json:"updated,omitzero"`
}

// checkpointState is a checkpoint as captured: every part a copy the steps
// after it do not change, so it is encoded on the writer goroutine.
type checkpointState struct {
	head       ckptHead
	correlator *correlate.Captured
	sigma      []byte
	models     []behavior.State
}

// The checkpoint's layout: the magic, then sections (a name, a uvarint length
// and bytes, then the body as chunks: each a uvarint length and bytes, the last
// of length zero), then the CRC-32C (Castagnoli) of everything before it,
// little-endian. The sections are "head" (JSON, first), "correlator", "sigma"
// and "model/<id>" per behavioral model. The binary layout writes the models'
// and the correlator's own encodings as they are: wrapping them in JSON cost a
// base64 pass over tens of megabytes per checkpoint. Chunks let a section be
// written as it is encoded, without knowing its length first: the correlator's
// (a hundred megabytes and more under a heavy stream) was built whole in
// memory for its length. Version 2 (ckptMagicV2) had one length per section;
// it is still read.
const (
	ckptMagic      = "VGSTRCK3"
	ckptMagicV2    = "VGSTRCK2"
	ckptMaxName    = 256
	ckptChunk      = 256 << 10
	ckptHeadName   = "head"
	ckptCorrName   = "correlator"
	ckptSigmaName  = "sigma"
	ckptModelNames = "model/"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunkWriter writes each Write as one chunk of a section body.
type chunkWriter struct{ w io.Writer }

func (c chunkWriter) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if _, err := c.w.Write(binary.AppendUvarint(nil, uint64(len(b)))); err != nil {
		return 0, err
	}
	return c.w.Write(b)
}

// encode writes the checkpoint.
func (c *checkpointState) encode(w io.Writer, pc *pace.Pacer) error {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(pc.Writer(io.MultiWriter(w, crc)), 1<<20)
	head, err := json.Marshal(&c.head)
	if err != nil {
		return fmt.Errorf("encoding the checkpoint: %w", err)
	}
	if _, err := bw.WriteString(ckptMagic); err != nil {
		return err
	}
	section := func(name string, body func(io.Writer) error) error {
		if _, err := bw.Write(binary.AppendUvarint(nil, uint64(len(name)))); err != nil {
			return err
		}
		if _, err := bw.WriteString(name); err != nil {
			return err
		}
		// chunks of at most ckptChunk bytes, however body writes
		cw := bufio.NewWriterSize(chunkWriter{bw}, ckptChunk)
		if err := body(cw); err != nil {
			return err
		}
		if err := cw.Flush(); err != nil {
			return err
		}
		return bw.WriteByte(0) // the last chunk
	}
	blob := func(b []byte) func(io.Writer) error {
		return func(w io.Writer) error { _, err := w.Write(b); return err }
	}
	if err := section(ckptHeadName, blob(head)); err != nil {
		return err
	}
	if c.correlator != nil {
		if err := section(ckptCorrName, func(w io.Writer) error { return c.correlator.EncodePaced(w, pc) }); err != nil {
			return fmt.Errorf("checkpointing the correlator: %w", err)
		}
	}
	if c.sigma != nil {
		if err := section(ckptSigmaName, blob(c.sigma)); err != nil {
			return err
		}
	}
	for _, m := range c.models {
		if err := section(ckptModelNames+m.ModelID, blob(m.Blob)); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err = w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

// errCheckpoint is wrapped by every error decoding a checkpoint.
var errCheckpoint = errors.New("bad stream checkpoint")

// decodedCheckpoint is a checkpoint read back.
type decodedCheckpoint struct {
	head       ckptHead
	correlator []byte
	sigma      []byte
	models     []behavior.State
}

// decodeCheckpoint reads a checkpoint written by encode, or the JSON
// document earlier versions wrote.
func decodeCheckpoint(b []byte) (*decodedCheckpoint, error) {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSONCheckpoint(b)
	}
	chunked := true
	rest, ok := bytes.CutPrefix(b, []byte(ckptMagic))
	if !ok {
		chunked = false
		if rest, ok = bytes.CutPrefix(b, []byte(ckptMagicV2)); !ok {
			return nil, fmt.Errorf("no %q header: %w", ckptMagic, errCheckpoint)
		}
	}
	if len(rest) < 4 {
		return nil, fmt.Errorf("truncated: %w", errCheckpoint)
	}
	body, sum := rest[:len(rest)-4], binary.LittleEndian.Uint32(rest[len(rest)-4:])
	if got := crc32.Checksum(b[:len(b)-4], castagnoli); got != sum {
		return nil, fmt.Errorf("checksum %08x, stored %08x: %w", got, sum, errCheckpoint)
	}
	sections := map[string][]byte{}
	var order []string
	for off := 0; len(body) > 0; {
		name, n, err := ckptField(body, ckptMaxName)
		if err != nil {
			return nil, fmt.Errorf("section name at byte %d: %w", len(ckptMagic)+off, err)
		}
		off += n
		body = body[n:]
		var data []byte
		if chunked {
			data, n, err = ckptChunks(body)
		} else {
			data, n, err = ckptField(body, len(body))
		}
		if err != nil {
			return nil, fmt.Errorf("section %q at byte %d: %w", name, len(ckptMagic)+off, err)
		}
		off += n
		body = body[n:]
		if _, dup := sections[string(name)]; dup {
			return nil, fmt.Errorf("section %q twice: %w", name, errCheckpoint)
		}
		sections[string(name)] = data
		order = append(order, string(name))
	}
	if len(order) == 0 || order[0] != ckptHeadName {
		return nil, fmt.Errorf("the first section is not %q: %w", ckptHeadName, errCheckpoint)
	}
	d := &decodedCheckpoint{correlator: sections[ckptCorrName], sigma: sections[ckptSigmaName]}
	if err := json.Unmarshal(sections[ckptHeadName], &d.head); err != nil {
		return nil, fmt.Errorf("head: %w: %w", errCheckpoint, err)
	}
	for _, m := range d.head.Behavior {
		blob, ok := sections[ckptModelNames+m.ID]
		if !ok {
			return nil, fmt.Errorf("no state section for model %q: %w", m.ID, errCheckpoint)
		}
		d.models = append(d.models, behavior.State{ModelID: m.ID, Version: m.Version, Since: m.Since, Updated: m.Updated, Blob: blob})
	}
	for _, name := range order {
		if id, ok := strings.CutPrefix(name, ckptModelNames); ok && !slices.ContainsFunc(d.head.Behavior, func(m ckptModel) bool { return m.ID == id }) {
			return nil, fmt.Errorf("section %q names no model of the head: %w", name, errCheckpoint)
		}
	}
	return d, nil
}

// ckptField reads a uvarint length and that many bytes, at most limit.
func ckptField(b []byte, limit int) ([]byte, int, error) {
	n, k := binary.Uvarint(b)
	switch {
	case k <= 0:
		return nil, 0, fmt.Errorf("bad length: %w", errCheckpoint)
	case n > uint64(limit) || n > uint64(len(b)-k):
		return nil, 0, fmt.Errorf("length %d past the end: %w", n, errCheckpoint)
	}
	return b[k : k+int(n)], k + int(n), nil
}

// ckptChunks reads a section body as chunks up to the empty one: the body
// (one chunk's bytes as they are, more chunks joined) and the bytes read.
func ckptChunks(b []byte) ([]byte, int, error) {
	var data []byte
	for off, chunks := 0, 0; ; chunks++ {
		chunk, n, err := ckptField(b[off:], len(b)-off)
		if err != nil {
			return nil, 0, err
		}
		off += n
		switch {
		case len(chunk) == 0:
			if data == nil {
				data = []byte{}
			}
			return data, off, nil
		case chunks == 0:
			data = chunk
		case chunks == 1:
			data = append(bytes.Clone(data), chunk...)
		default:
			data = append(data, chunk...)
		}
	}
}

// decodeJSONCheckpoint reads the JSON checkpoint document of earlier
// versions, so an upgraded service resumes where it stopped.
func decodeJSONCheckpoint(b []byte) (*decodedCheckpoint, error) {
	var doc struct {
		ReadTo     uint64           `json:"read_to"`
		ReplayFrom uint64           `json:"replay_from"`
		MaxSeen    int64            `json:"max_seen"`
		Watermark  int64            `json:"watermark"`
		LastExpire int64            `json:"last_expire"`
		Held       []detect.Signal  `json:"held"`
		Correlator []byte           `json:"correlator"`
		Behavior   []behavior.State `json:"behavior,omitempty"`
		Sigma      []byte           `json:"sigma_correlations,omitempty"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", errCheckpoint, err)
	}
	return &decodedCheckpoint{
		head: ckptHead{ReadTo: doc.ReadTo, ReplayFrom: doc.ReplayFrom, MaxSeen: doc.MaxSeen, Watermark: doc.Watermark,
			LastExpire: doc.LastExpire, Held: doc.Held},
		correlator: doc.Correlator, sigma: doc.Sigma, models: doc.Behavior,
	}, nil
}

// checkpoint writes the processor's state and lets the log drop what a
// restart no longer needs.
func (p *Processor) checkpoint(ctx context.Context, sync bool) error {
	start := p.opts.Now()
	if p.behJobs != nil {
		// the models' state and what they hold must be still while captured
		var released []detect.Signal
		if err := p.collectModels(ctx, true, &released); err != nil {
			return err
		}
		if err := p.storeSignals(ctx, released, nil, nil); err != nil {
			return err
		}
	}
	var snap *modelSnapshot
	if p.opts.Behavior != nil {
		var err error
		if snap, err = snapshotModels(p.opts.Behavior, nil); err != nil {
			return err
		}
	}
	return p.capture(ctx, snap, p.readTo, start, sync)
}

// modelSnapshot is the behavioral models' part of a checkpoint.
type modelSnapshot struct {
	states []behavior.State
	pos    uint64 // the oldest log position of what they had taken but not run
	held   bool
}

func snapshotModels(eng *behavior.Engine, pc *pace.Pacer) (*modelSnapshot, error) {
	states, err := eng.SnapshotPaced(pc)
	if err != nil {
		return nil, fmt.Errorf("checkpointing: %w", err)
	}
	_, pos, ok := eng.Held()
	return &modelSnapshot{states: states, pos: pos, held: ok}, nil
}

// capture takes the rest of a checkpoint (the correlator, held signals, Sigma
// correlations, positions) with the models' snapshot, taken when the processor
// had read up to readTo, and queues its writing. When the models' snapshot is
// older than the rest (taken on their goroutine while steps went on), the
// replay starts no later than readTo+1, so the models see again everything
// they had not when snapshotted; what they then emit again has the same ids
// and changes nothing.
//
// Capturing copies; encoding and writing (tens of megabytes under a heavy
// stream) are the writer goroutine's, beside the next steps.
func (p *Processor) capture(ctx context.Context, snap *modelSnapshot, readTo uint64, start time.Time, sync bool) error {
	inLoop := p.opts.Now()
	// The incidents the correlator holds are stored before its state is: the
	// checkpoint's correlator has nothing left to write.
	if p.opts.Correlator != nil {
		if err := p.correlate(ctx, math.MinInt64, start, true); err != nil {
			return err
		}
	}
	st := &checkpointState{head: ckptHead{ReadTo: p.readTo, MaxSeen: p.maxSeen, Watermark: p.watermark, LastExpire: p.lastExp,
		Held: slices.Clone([]detect.Signal(p.held))}}
	// Held signals are in the checkpoint; held observations and Sigma hits are
	// not: the log is replayed from the oldest record they came from.
	replay := min(p.readTo, readTo) + 1
	if snap != nil {
		if snap.held && snap.pos > 0 && snap.pos < replay {
			replay = snap.pos
		}
		st.models = snap.states
		for _, m := range snap.states {
			st.head.Behavior = append(st.head.Behavior, ckptModel{ID: m.ModelID, Version: m.Version, Since: m.Since, Updated: m.Updated})
		}
	}
	if p.opts.Sigma != nil && p.opts.Sigma.Correlations() != nil {
		if _, off, ok := p.opts.Sigma.Held(); ok {
			if off > 0 && off < replay {
				replay = off
			}
		}
		var sb bytes.Buffer
		if err := p.opts.Sigma.Correlations().Snapshot(&sb); err != nil {
			return fmt.Errorf("checkpointing the Sigma correlations: %w", err)
		}
		st.sigma = sb.Bytes()
	}
	st.head.ReplayFrom = replay
	if p.opts.Correlator != nil {
		var err error
		if st.correlator, err = p.opts.Correlator.Capture(); err != nil {
			return fmt.Errorf("checkpointing the correlator: %w", err)
		}
	}
	p.lastCkpt = p.opts.Now()
	captured := p.lastCkpt.Sub(inLoop)
	p.m.checkpointCapture.Observe(captured.Seconds())
	// The state is captured; writing it (and letting the log go) is queued
	// after the incidents it covers. The writer then hands it to a goroutine of
	// its own and goes on with the next steps' signals and incidents: encoding
	// and writing tens of megabytes takes a second or more, and the writes
	// queued behind it would fill the queue and stop the steps. What the
	// writer stores meanwhile is newer than the checkpoint: after a crash
	// before the checkpoint lands, the replay makes it again with the same ids.
	p.ckptQueued.Store(true)
	wctx := context.WithoutCancel(ctx)
	async := p.writeQ != nil
	if err := p.enqueue(func() error {
		if !async { // no writer goroutine: write it here
			return p.saveCheckpoint(wctx, st, replay, start, inLoop, captured, nil)
		}
		// The one before may still be being saved (a shutdown's checkpoint
		// right after a periodic one): checkpoints land in order, or an older
		// one could replace a newer one whose commit let the log go.
		p.ckptWG.Wait()
		p.ckptWG.Go(func() {
			var pc *pace.Pacer
			if !sync {
				pc = pace.New(p.opts.CheckpointShare)
			}
			if err := p.saveCheckpoint(wctx, st, replay, start, inLoop, captured, pc); err != nil {
				select {
				case p.writeErr <- err:
				default: // an earlier failure is being reported
				}
			}
		})
		return nil
	}); err != nil {
		return err
	}
	if sync {
		return p.drain()
	}
	return nil
}

// saveCheckpoint encodes and saves a captured checkpoint, then lets the log go
// up to where its replay starts.
func (p *Processor) saveCheckpoint(wctx context.Context, st *checkpointState, replay uint64, start, inLoop time.Time, captured time.Duration, pc *pace.Pacer) error {
	defer p.ckptQueued.Store(false)
	size := 0
	err := p.opts.Checkpoints.Save(wctx, func(w io.Writer) error {
		cw := &countWriter{w: w}
		err := st.encode(cw, pc)
		size = cw.n
		return err
	})
	if err != nil {
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	p.m.checkpointBytes.Set(float64(size))
	if replay > 1 {
		if err := p.opts.Log.Commit(replay - 1); err != nil {
			return fmt.Errorf("committing the log at %d: %w", replay-1, err)
		}
	}
	p.m.checkpoints.Inc()
	took := p.opts.Now().Sub(start)
	p.m.checkpointSeconds.Observe(took.Seconds())
	p.log.InfoContext(wctx, "checkpoint written", "bytes", size, "replay_from", replay, "took", took,
		"models", inLoop.Sub(start), "captured", captured, "written", p.opts.Now().Sub(inLoop.Add(captured)))
	return nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += n
	return n, err
}

// restore loads the checkpoint, if there is one.
func (p *Processor) restore(ctx context.Context) error {
	blob, err := p.opts.Checkpoints.Load(ctx)
	if err != nil {
		return fmt.Errorf("reading the stream checkpoint: %w", err)
	}
	if blob == nil {
		return nil
	}
	doc, err := decodeCheckpoint(blob)
	if err != nil {
		return fmt.Errorf("reading the stream checkpoint: %w", err)
	}
	if p.opts.Correlator != nil {
		if err := p.opts.Correlator.Restore(bytes.NewReader(doc.correlator)); err != nil {
			return fmt.Errorf("restoring the correlator from the checkpoint: %w", err)
		}
	} else if len(doc.correlator) > 0 {
		return errors.New("the stream checkpoint holds a correlator's state and this processor publishes its signals instead: it is another processor's checkpoint")
	}
	if p.opts.Behavior != nil && len(doc.models) > 0 {
		if err := p.opts.Behavior.Restore(doc.models); err != nil {
			return fmt.Errorf("restoring the behavioral models from the checkpoint: %w", err)
		}
	}
	if p.opts.Sigma != nil && p.opts.Sigma.Correlations() != nil && len(doc.sigma) > 0 {
		skipped, err := p.opts.Sigma.Correlations().Restore(bytes.NewReader(doc.sigma))
		if err != nil {
			return fmt.Errorf("restoring the Sigma correlations from the checkpoint: %w", err)
		}
		if len(skipped) > 0 {
			p.log.WarnContext(ctx, "Sigma correlations changed since the checkpoint start empty", "correlations", skipped)
		}
		p.opts.Sigma.SkipThrough(doc.head.Watermark)
	}
	h := doc.head
	for _, s := range h.Held {
		heap.Push(&p.held, s)
		p.heldIDs[s.ID] = true
	}
	p.readTo, p.maxSeen, p.watermark, p.lastExp = h.ReadTo, h.MaxSeen, h.Watermark, h.LastExpire
	p.replayTo, p.replayWM = h.ReadTo, h.Watermark
	p.next = max(h.ReplayFrom, 1)
	p.log.InfoContext(ctx, "restored the stream checkpoint", "read_to", h.ReadTo, "replay_from", p.next, "held_signals", len(h.Held))
	return nil
}
