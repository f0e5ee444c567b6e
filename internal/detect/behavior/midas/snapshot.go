package midas

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// Snapshot format, version 1, little endian:
//
//	magic "VGMIDAS\x00", version u32
//	config: rows u32, buckets u32, alpha f64, seed u64, filter u8, threshold f64
//	state: started u8, first i64, cur i64, edges u64
//	cells: 3 sketches x rows x buckets x (3 or 5) f64
//	crc32 (IEEE) of everything before it, u32
const (
	snapshotMagic   = "VGMIDAS\x00"
	snapshotVersion = 1
	headerLen       = 8 + 4 + (4 + 4 + 8 + 8 + 1 + 8) + (1 + 8 + 8 + 8)
)

var errCorrupt = errors.New("corrupt snapshot")

// Snapshot writes the model's configuration and full state to w. Restore
// reads it back.
func (m *Model) Snapshot(w io.Writer) error {
	crc := crc32.NewIEEE()
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	h := make([]byte, 0, headerLen)
	h = append(h, snapshotMagic...)
	h = binary.LittleEndian.AppendUint32(h, snapshotVersion)
	h = binary.LittleEndian.AppendUint32(h, uint32(m.cfg.Rows))
	h = binary.LittleEndian.AppendUint32(h, uint32(m.cfg.Buckets))
	h = binary.LittleEndian.AppendUint64(h, math.Float64bits(m.cfg.Alpha))
	h = binary.LittleEndian.AppendUint64(h, m.cfg.Seed)
	h = append(h, boolByte(m.cfg.Filter))
	h = binary.LittleEndian.AppendUint64(h, math.Float64bits(m.cfg.Threshold))
	h = append(h, boolByte(m.started))
	h = binary.LittleEndian.AppendUint64(h, uint64(m.first))
	h = binary.LittleEndian.AppendUint64(h, uint64(m.cur))
	h = binary.LittleEndian.AppendUint64(h, m.edges)
	if _, err := bw.Write(h); err != nil {
		return fmt.Errorf("writing midas snapshot: %w", err)
	}
	var b [8]byte
	for _, cells := range m.cells {
		for _, v := range cells {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			if _, err := bw.Write(b[:]); err != nil {
				return fmt.Errorf("writing midas snapshot: %w", err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing midas snapshot: %w", err)
	}
	if _, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return fmt.Errorf("writing midas snapshot: %w", err)
	}
	return nil
}

// Restore replaces the model's configuration and state with a snapshot
// written by Snapshot. On error the model is unchanged. Memory is
// allocated as the cells are read, so a short or hostile input cannot make
// Restore allocate much more than its own length; a valid header can ask
// for at most the memory of the largest valid Config.
func (m *Model) Restore(r io.Reader) error {
	n, err := Load(r)
	if err != nil {
		return err
	}
	*m = *n
	return nil
}

// Load reads a snapshot written by Snapshot into a new Model. It reads
// exactly the snapshot's bytes from r, no further.
func Load(r io.Reader) (*Model, error) {
	m, err := load(r)
	if err != nil {
		return nil, fmt.Errorf("restoring midas state: %w", err)
	}
	return m, nil
}

func load(r io.Reader) (*Model, error) {
	crc := crc32.NewIEEE()
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	crc.Write(h[:])
	if string(h[:8]) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	le := binary.LittleEndian
	if v := le.Uint32(h[8:]); v != snapshotVersion {
		return nil, fmt.Errorf("unsupported version %d", v)
	}
	p := h[12:]
	rows, buckets := le.Uint32(p), le.Uint32(p[4:])
	if rows > MaxRows || buckets > MaxBuckets {
		return nil, fmt.Errorf("%w: %d x %d sketch", errCorrupt, rows, buckets)
	}
	cfg := Config{
		Rows:      int(rows),
		Buckets:   int(buckets),
		Alpha:     math.Float64frombits(le.Uint64(p[8:])),
		Seed:      le.Uint64(p[16:]),
		Threshold: math.Float64frombits(le.Uint64(p[25:])),
	}
	filter, started := p[24], p[33]
	if filter > 1 || started > 1 {
		return nil, fmt.Errorf("%w: bad flag", errCorrupt)
	}
	cfg.Filter = filter == 1
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newShell(cfg)
	m.started = started == 1
	m.first = int64(le.Uint64(p[34:]))
	m.cur = int64(le.Uint64(p[42:]))
	m.edges = le.Uint64(p[50:])
	if m.cur < m.first || (!m.started && (m.first != 0 || m.cur != 0 || m.edges != 0)) {
		return nil, fmt.Errorf("%w: ticks %d..%d", errCorrupt, m.first, m.cur)
	}
	n := cfg.Rows * cfg.Buckets * m.stride
	buf := make([]byte, 64<<10)
	for k := range m.cells {
		cells, err := readCells(r, n, buf, crc)
		if err != nil {
			return nil, fmt.Errorf("reading %v sketch: %w", Kind(k), err)
		}
		m.cells[k] = cells
	}
	sum := crc.Sum32()
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, fmt.Errorf("reading checksum: %w", err)
	}
	if le.Uint32(buf) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return m, nil
}

// readCells reads n float64 cells, growing the slice as bytes arrive so a
// header that promises more than the input holds costs little memory.
// Every cell must be finite and non-negative, as the model keeps them.
func readCells(r io.Reader, n int, buf []byte, crc hash.Hash32) ([]float64, error) {
	out := make([]float64, 0, min(n, len(buf)/8))
	for len(out) < n {
		k := min(n-len(out), len(buf)/8)
		b := buf[:8*k]
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		crc.Write(b)
		if cap(out)-len(out) < k {
			out = slices.Grow(out, min(n, max(2*cap(out), len(out)+k))-len(out))
		}
		for i := 0; i < len(b); i += 8 {
			v := math.Float64frombits(binary.LittleEndian.Uint64(b[i:]))
			if !(v >= 0 && v <= math.MaxFloat64) {
				return nil, fmt.Errorf("%w: cell %d is %v", errCorrupt, len(out), v)
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
