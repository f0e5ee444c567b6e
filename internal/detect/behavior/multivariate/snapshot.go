package multivariate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Snapshot format, little endian:
//
//	magic "VGMVLODA", version u32
//	config: dims, projections, bins u32; range f64; window, refit, calibration u32; seed u64
//	state:  seen u64; head, fill, sinceFit u32; fitted u8; calHead, calFill u32
//	median[dims] f64, scale[dims] f64, counts[projections*bins] u32,
//	lo[projections], hi[projections], tau[projections] f64,
//	window[window*dims] f64, calibration[calibration] f64
//
// Projections are re-drawn from the seed; surprise tables are re-derived from
// the counts. The payload length follows from the config alone, so Restore
// checks the config, then reads at most that many bytes (growing with the
// bytes actually supplied) before allocating the model.
const (
	snapshotMagic   = "VGMVLODA"
	snapshotVersion = 1
	headerLen       = 8 + 4 + (4*3 + 8 + 4*3 + 8) + (8 + 4*3 + 1 + 4*2)
)

var errSnapshot = errors.New("invalid snapshot")

func payloadLen(c Config) int {
	return c.Dims*16 + c.Projections*c.Bins*4 + c.Projections*24 + c.Window*c.Dims*8 + c.Calibration*8
}

// Snapshot writes the whole learnt state in a versioned binary format.
func (md *Model) Snapshot(w io.Writer) error {
	c := md.cfg
	b := make([]byte, 0, headerLen+payloadLen(c))
	le := binary.LittleEndian
	b = append(b, snapshotMagic...)
	b = le.AppendUint32(b, snapshotVersion)
	b = le.AppendUint32(b, uint32(c.Dims))
	b = le.AppendUint32(b, uint32(c.Projections))
	b = le.AppendUint32(b, uint32(c.Bins))
	b = le.AppendUint64(b, math.Float64bits(c.Range))
	b = le.AppendUint32(b, uint32(c.Window))
	b = le.AppendUint32(b, uint32(c.Refit))
	b = le.AppendUint32(b, uint32(c.Calibration))
	b = le.AppendUint64(b, c.Seed)
	b = le.AppendUint64(b, md.seen)
	b = le.AppendUint32(b, uint32(md.head))
	b = le.AppendUint32(b, uint32(md.fill))
	b = le.AppendUint32(b, uint32(md.sinceFit))
	if md.fitted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = le.AppendUint32(b, uint32(md.calHead))
	b = le.AppendUint32(b, uint32(md.calFill))
	for _, v := range md.med {
		b = le.AppendUint64(b, math.Float64bits(v))
	}
	for _, v := range md.scale {
		b = le.AppendUint64(b, math.Float64bits(v))
	}
	for _, v := range md.counts {
		b = le.AppendUint32(b, v)
	}
	for _, a := range [][]float64{md.lo, md.hi, md.tau} {
		for _, v := range a {
			b = le.AppendUint64(b, math.Float64bits(v))
		}
	}
	for _, v := range md.win {
		b = le.AppendUint64(b, math.Float64bits(v))
	}
	for _, v := range md.calib {
		b = le.AppendUint64(b, math.Float64bits(v))
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing multivariate snapshot: %w", err)
	}
	return nil
}

// Restore replaces the model's configuration and state with a snapshot. On
// error the model is unchanged. The bytes may be hostile: every length and
// value is checked before it is used.
func (md *Model) Restore(r io.Reader) error {
	nm, err := restore(r)
	if err != nil {
		return fmt.Errorf("restoring multivariate model: %w", err)
	}
	*md = *nm
	return nil
}

type reader struct {
	b   []byte
	off int
}

func (r *reader) u32() uint32 {
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) f64() float64 { return math.Float64frombits(r.u64()) }

func restore(in io.Reader) (*Model, error) {
	hb := make([]byte, headerLen)
	if _, err := io.ReadFull(in, hb); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	if string(hb[:8]) != snapshotMagic {
		return nil, fmt.Errorf("reading header: bad magic: %w", errSnapshot)
	}
	h := &reader{b: hb, off: 8}
	if v := h.u32(); v != snapshotVersion {
		return nil, fmt.Errorf("reading header: version %d, want %d: %w", v, snapshotVersion, errSnapshot)
	}
	var c Config
	c.Dims = int(h.u32())
	c.Projections = int(h.u32())
	c.Bins = int(h.u32())
	c.Range = h.f64()
	c.Window = int(h.u32())
	c.Refit = int(h.u32())
	c.Calibration = int(h.u32())
	c.Seed = h.u64()
	if err := c.Validate(); err != nil { // no defaults: a snapshot carries them all
		return nil, fmt.Errorf("checking config: %w: %w", err, errSnapshot)
	}
	seen := h.u64()
	head, fill, sinceFit := int(h.u32()), int(h.u32()), int(h.u32())
	fittedByte := hb[h.off]
	h.off++
	calHead, calFill := int(h.u32()), int(h.u32())

	want := payloadLen(c)
	var buf bytes.Buffer
	// Grows with the bytes supplied, never beyond want+1.
	if _, err := buf.ReadFrom(io.LimitReader(in, int64(want)+1)); err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	if buf.Len() != want {
		return nil, fmt.Errorf("reading state: %d bytes, want %d: %w", buf.Len(), want, errSnapshot)
	}

	W, C := c.Window, c.Calibration
	switch {
	case fittedByte > 1:
		return nil, fmt.Errorf("checking state: fitted flag %d: %w", fittedByte, errSnapshot)
	case fill > W || head >= W || (fill < W && head != fill):
		return nil, fmt.Errorf("checking state: window head %d fill %d of %d: %w", head, fill, W, errSnapshot)
	case calFill > C || calHead >= C || (calFill < C && calHead != calFill):
		return nil, fmt.Errorf("checking state: calibration head %d fill %d of %d: %w", calHead, calFill, C, errSnapshot)
	case seen < uint64(fill):
		return nil, fmt.Errorf("checking state: %d seen but %d held: %w", seen, fill, errSnapshot)
	case fittedByte == 1 && (fill != W || sinceFit >= c.Refit):
		return nil, fmt.Errorf("checking state: fitted with fill %d, %d since fit: %w", fill, sinceFit, errSnapshot)
	case fittedByte == 0 && (fill == W || calFill != 0 || seen != uint64(fill) || sinceFit != fill):
		return nil, fmt.Errorf("checking state: unfitted with fill %d, %d calibration scores: %w", fill, calFill, errSnapshot)
	}

	md, err := New(c)
	if err != nil {
		return nil, err
	}
	md.seen, md.head, md.fill, md.sinceFit = seen, head, fill, sinceFit
	md.fitted = fittedByte == 1
	md.calHead, md.calFill = calHead, calFill
	p := &reader{b: buf.Bytes()}
	for f := range md.med {
		md.med[f] = p.f64()
	}
	for f := range md.scale {
		md.scale[f] = p.f64()
	}
	for i := range md.counts {
		md.counts[i] = p.u32()
	}
	for _, a := range [][]float64{md.lo, md.hi, md.tau} {
		for i := range a {
			a[i] = p.f64()
		}
	}
	for i := range md.win {
		md.win[i] = p.f64()
	}
	for i := range md.calib {
		md.calib[i] = p.f64()
	}
	if err := md.checkRestored(); err != nil {
		return nil, fmt.Errorf("checking state: %w: %w", err, errSnapshot)
	}
	if md.fitted {
		md.fitTable(md.fill)
	}
	md.sorted = append(md.sorted, md.calib[:md.calFill]...)
	slices.Sort(md.sorted)
	return md, nil
}

// checkRestored verifies values: finite data, positive scales, histograms
// that count exactly the window, zeros where nothing was learnt.
func (md *Model) checkRestored() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	d := md.cfg.Dims
	for i, v := range md.win {
		if i >= md.fill*d {
			if v != 0 {
				return fmt.Errorf("window value %d beyond fill is %v", i, v)
			}
		} else if !finite(v) {
			return fmt.Errorf("window value %d is %v", i, v)
		}
	}
	for i, v := range md.calib {
		if i >= md.calFill {
			if v != 0 {
				return fmt.Errorf("calibration score %d beyond fill is %v", i, v)
			}
		} else if !finite(v) {
			return fmt.Errorf("calibration score %d is %v", i, v)
		}
	}
	for f := range d {
		med, sc := md.med[f], md.scale[f]
		if md.fitted && (!finite(med) || !(sc >= 1e-9) || math.IsInf(sc, 0)) {
			return fmt.Errorf("feature %d scaling %v/%v", f, med, sc)
		}
		if !md.fitted && (med != 0 || sc != 0) {
			return fmt.Errorf("feature %d scaling %v/%v before any fit", f, med, sc)
		}
	}
	B := md.cfg.Bins
	for i := range md.cfg.Projections {
		var sum uint64
		for _, c := range md.counts[i*B : (i+1)*B] {
			sum += uint64(c)
		}
		want := uint64(0)
		if md.fitted {
			want = uint64(md.fill)
		}
		if sum != want {
			return fmt.Errorf("projection %d histogram counts %d, want %d", i, sum, want)
		}
		lo, hi, tau := md.lo[i], md.hi[i], md.tau[i]
		if md.fitted && (!finite(lo) || !finite(hi) || lo > hi || !(tau >= md.width) || !finite(tau)) {
			return fmt.Errorf("projection %d range %v..%v tail %v", i, lo, hi, tau)
		}
		if !md.fitted && (lo != 0 || hi != 0 || tau != 0) {
			return fmt.Errorf("projection %d range %v..%v tail %v before any fit", i, lo, hi, tau)
		}
	}
	return nil
}
