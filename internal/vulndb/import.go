package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/atomicfile"
)

// Limits bound what an import reads, so a hostile archive (a zip bomb, a
// huge file) costs at most these.
type Limits struct {
	// MaxRecordBytes is the largest record file (uncompressed) imported; a
	// larger one is rejected.
	MaxRecordBytes int64
	// MaxTotalBytes bounds the uncompressed bytes read from one source; past
	// it the import stops with an error and the database is unchanged.
	MaxTotalBytes int64
	// MaxFiles bounds the record files (or zip entries) of one source.
	MaxFiles int
}

// DefaultLimits fit osv.dev's largest archives with room to spare.
func DefaultLimits() Limits {
	return Limits{MaxRecordBytes: 16 << 20, MaxTotalBytes: 16 << 30, MaxFiles: 2_000_000}
}

// ImportStats says what an import did. Every record read is counted once in
// Added, Updated, Unchanged or Rejected; Withdrawn counts those of the
// added and updated records that are withdrawn (stored, never matched).
type ImportStats struct {
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Withdrawn int `json:"withdrawn"`
	Rejected  int `json:"rejected"`
	// Rejections name the rejected files and why (the first
	// maxRejections of them).
	Rejections []Rejection `json:"rejections,omitempty"`
	// Records is how many records the database holds after the import.
	Records int `json:"records"`
	// Compacted is set when the import rewrote the stored records to drop
	// the space replaced ones held.
	Compacted bool `json:"compacted,omitempty"`
}

// Rejection is a record file an import did not take, and why.
type Rejection struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

const maxRejections = 1000

// Compaction: an import rewrites every live record into its segment when
// the segments are this many, or when replaced records hold more than
// compactDeadBytes and more than half as much as the live ones.
const (
	maxSegments      = 16
	compactDeadBytes = 8 << 20
)

// Import reads OSV records from src (a directory of .json files, searched
// recursively; a .zip of them, as osv.dev publishes per ecosystem; or one
// .json file) into the database in dbDir, creating it if need be, with
// DefaultLimits. See ImportWithLimits.
func Import(ctx context.Context, dbDir, src string) (ImportStats, error) {
	return ImportWithLimits(ctx, dbDir, src, DefaultLimits())
}

// ImportWithLimits is Import with explicit limits. It is incremental: a
// record already stored with a later modified time, or the same time and
// the same bytes, is counted unchanged and not rewritten (nor validated
// again); a later one, or one of the same time whose bytes differ, replaces
// it; records missing from src stay. A record that cannot be used is rejected (its file and the
// reason are in the stats) and the import goes on. The new database replaces
// the old one atomically at the end: on error or cancellation, or after a
// crash, the previous database is still there.
func ImportWithLimits(ctx context.Context, dbDir, src string, lim Limits) (stats ImportStats, err error) {
	lim = lim.withDefaults()
	if err := os.MkdirAll(dbDir, 0o755); err != nil { //nolint:gosec // G301: advisories are public data, readable by the scanning users
		return stats, fmt.Errorf("creating %s: %w", dbDir, err)
	}
	unlock, err := lockDir(dbDir)
	if err != nil {
		return stats, err
	}
	defer unlock()

	old, err := readManifest(dbDir)
	if errors.Is(err, ErrNoDatabase) {
		old = &manifest{Format: formatVersion, Segments: map[string]*segmentInfo{}, Ecosystems: map[string]*ecoInfo{}}
	} else if err != nil {
		return stats, err
	}
	table, err := readTable(dbDir, old)
	if err != nil {
		return stats, err
	}
	collectGarbage(dbDir, old) // orphans of an import that did not finish

	im := &importer{
		dir:     dbDir,
		table:   table,
		old:     old,
		gen:     old.Generation + 1,
		segs:    map[string]*segmentInfo{},
		touched: map[string]bool{},
		stats:   &stats,
	}
	for name, s := range old.Segments {
		c := *s
		im.segs[name] = &c
	}
	if im.seg, err = createSegment(dbDir, im.gen); err != nil {
		return stats, err
	}
	finished := false
	defer func() {
		if !finished {
			im.seg.discard()
		}
	}()

	err = readSource(ctx, src, lim, func(name string, data []byte, readErr error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if readErr != nil {
			im.reject(name, readErr.Error())
			return nil
		}
		return im.add(name, data)
	})
	if err != nil {
		return stats, err
	}
	stats.Records = len(im.table)
	if stats.Added+stats.Updated == 0 {
		return stats, nil // nothing to write: the database stays as it is
	}
	if im.shouldCompact() {
		if err := im.compact(ctx); err != nil {
			return stats, err
		}
		stats.Compacted = true
	}
	if err := im.seg.finish(); err != nil {
		return stats, err
	}
	finished = true
	next, err := im.writeIndexes()
	if err != nil {
		_ = os.Remove(im.seg.path)
		return stats, err
	}
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return stats, fmt.Errorf("encoding the manifest: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dbDir, manifestName), filePerm, data); err != nil {
		return stats, fmt.Errorf("writing the manifest: %w", err)
	}
	collectGarbage(dbDir, old, next)
	return stats, nil
}

// withDefaults fills the limits left zero.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = d.MaxRecordBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = d.MaxTotalBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = d.MaxFiles
	}
	return l
}

type importer struct {
	dir     string
	table   map[string]*tableEntry
	old     *manifest
	gen     int
	seg     *segmentWriter
	segs    map[string]*segmentInfo // segment -> sizes, as they will be
	touched map[string]bool         // base ecosystems whose index changes
	stats   *ImportStats
	quick   fastjson.Parser
}

func (im *importer) reject(name, reason string) {
	im.stats.Rejected++
	if len(im.stats.Rejections) < maxRejections {
		im.stats.Rejections = append(im.stats.Rejections, Rejection{File: name, Reason: reason})
	}
}

// add takes one record file.
func (im *importer) add(name string, data []byte) error {
	hash := xxhash.Sum64(data)
	// The id and time are read first, without validating the rest (which
	// is most of an import's time when little changed).
	if v, err := im.quick.ParseBytes(data); err == nil {
		mod := v.GetStringBytes("modified")
		if prev := im.table[string(v.GetStringBytes("id"))]; prev != nil && mod != nil {
			if t, err := time.Parse(time.RFC3339Nano, string(mod)); err == nil && isUnchanged(prev, t, hash) {
				im.stats.Unchanged++
				return nil
			}
		}
	}
	r, err := parseRecord(data)
	if err != nil {
		im.reject(name, err.Error())
		return nil
	}
	prev := im.table[r.ID]
	if prev != nil && isUnchanged(prev, r.Modified, hash) {
		im.stats.Unchanged++
		return nil
	}
	enc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", r.ID, err)
	}
	enc = append(enc, '\n')
	rf, err := im.seg.append(enc, r.ID)
	if err != nil {
		return err
	}
	e := &tableEntry{ID: r.ID, Modified: r.Modified, Withdrawn: r.Withdrawn, Hash: hash, Ref: rf}
	for _, a := range r.Affected {
		k := pkgKey{Eco: a.Ecosystem, Name: a.Key}
		if !slices.Contains(e.Keys, k) {
			e.Keys = append(e.Keys, k)
		}
		im.touched[baseEcosystem(a.Ecosystem)] = true
	}
	if prev != nil {
		for _, k := range prev.Keys {
			im.touched[baseEcosystem(k.Eco)] = true
		}
		if s := im.segs[segName(prev.Ref.Seg)]; s != nil {
			s.Live -= int64(prev.Ref.Len)
		}
		im.stats.Updated++
	} else {
		im.stats.Added++
	}
	cur := im.segs[segName(im.gen)]
	if cur == nil {
		cur = &segmentInfo{}
		im.segs[segName(im.gen)] = cur
	}
	cur.Size += int64(len(enc))
	cur.Live += int64(len(enc))
	if r.Withdrawn {
		im.stats.Withdrawn++
	}
	im.table[r.ID] = e
	return nil
}

// isUnchanged says whether a record read with modified time t and content
// hash is no newer than the one stored: an earlier time, or the same time
// and the same bytes. The same time with other bytes is an update: some
// databases do not maintain modified (golang/vulndb's OSV files all say
// 0001-01-01T00:00:00Z), and their corrections must not be lost.
func isUnchanged(prev *tableEntry, t time.Time, hash uint64) bool {
	return t.Before(prev.Modified) || (t.Equal(prev.Modified) && hash == prev.Hash)
}

func (im *importer) shouldCompact() bool {
	var dead, live int64
	for _, s := range im.segs {
		dead += s.Size - s.Live
		live += s.Live
	}
	return len(im.segs) > maxSegments || (dead > compactDeadBytes && dead > live/2)
}

// compact copies every record stored in an older segment into the new one.
func (im *importer) compact(ctx context.Context) error {
	var moving []*tableEntry
	for _, e := range im.table {
		if e.Ref.Seg != im.gen {
			moving = append(moving, e)
		}
	}
	slices.SortFunc(moving, func(a, b *tableEntry) int {
		if a.Ref.Seg != b.Ref.Seg {
			return a.Ref.Seg - b.Ref.Seg
		}
		return int(a.Ref.Off - b.Ref.Off)
	})
	files := map[int]*os.File{}
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	cur := im.segs[segName(im.gen)]
	var buf []byte
	for i, e := range moving {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		f := files[e.Ref.Seg]
		if f == nil {
			var err error
			if f, err = os.Open(filepath.Join(im.dir, segName(e.Ref.Seg))); err != nil {
				return fmt.Errorf("compacting: %w", err)
			}
			files[e.Ref.Seg] = f
		}
		buf = slices.Grow(buf[:0], e.Ref.Len)[:e.Ref.Len]
		if _, err := f.ReadAt(buf, e.Ref.Off); err != nil {
			return fmt.Errorf("compacting: reading %s: %w", e.ID, err)
		}
		rf, err := im.seg.append(buf, e.ID)
		if err != nil {
			return err
		}
		e.Ref = rf
		cur.Size += int64(len(buf))
		cur.Live += int64(len(buf))
	}
	for name := range im.segs {
		if name != segName(im.gen) {
			delete(im.segs, name)
		}
	}
	for _, e := range im.table {
		for _, k := range e.Keys {
			im.touched[baseEcosystem(k.Eco)] = true
		}
	}
	for base := range im.old.Ecosystems {
		im.touched[base] = true
	}
	return nil
}

// writeIndexes writes the records file and the touched ecosystems' indexes
// and returns the manifest naming them.
func (im *importer) writeIndexes() (*manifest, error) {
	next := &manifest{
		Format:     formatVersion,
		Generation: im.gen,
		Updated:    time.Now().UTC().Truncate(time.Second),
		Records:    len(im.table),
		RecordsIdx: fmt.Sprintf("records-%d.jsonl", im.gen),
		Segments:   im.segs,
		Ecosystems: maps.Clone(im.old.Ecosystems),
	}
	for _, e := range im.table {
		if e.Withdrawn {
			next.Withdrawn++
		}
	}
	if err := writeTable(filepath.Join(im.dir, next.RecordsIdx), im.table); err != nil {
		return nil, fmt.Errorf("writing the records index: %w", err)
	}
	for _, base := range slices.Sorted(maps.Keys(im.touched)) {
		data, records, packages := buildEcoIndex(base, im.table)
		if records == 0 {
			delete(next.Ecosystems, base)
			continue
		}
		info := &ecoInfo{File: ecoFileName(base, im.gen), Size: int64(len(data)), Records: records, Packages: packages}
		info.CRC32 = crc32.ChecksumIEEE(data)
		if err := atomicfile.WriteBytes(filepath.Join(im.dir, info.File), filePerm, data); err != nil {
			return nil, fmt.Errorf("writing the %s index: %w", base, err)
		}
		next.Ecosystems[base] = info
	}
	return next, nil
}

// readSource calls fn with each record file of src, in a stable order: a
// file it could not read comes with readErr set.
func readSource(ctx context.Context, src string, lim Limits, fn func(name string, data []byte, readErr error) error) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("reading advisories: %w", err)
	}
	if fi.IsDir() {
		return readDir(ctx, src, lim, fn)
	}
	if strings.EqualFold(filepath.Ext(src), ".json") {
		if fi.Size() > lim.MaxRecordBytes {
			return fn(filepath.Base(src), nil, fmt.Errorf("%d bytes, larger than the %d-byte limit", fi.Size(), lim.MaxRecordBytes))
		}
		data, err := readLimited(src, lim.MaxRecordBytes)
		return fn(filepath.Base(src), data, err)
	}
	zr, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("reading %s (want a directory, a .zip or a .json file): %w", src, err)
	}
	defer func() { _ = zr.Close() }()
	return readZip(ctx, &zr.Reader, lim, fn)
}

// readDir reads the .json files under dir (symbolic links are not followed).
func readDir(ctx context.Context, dir string, lim Limits, fn func(string, []byte, error) error) error {
	var files, total int64
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if err != nil {
			if d != nil && d.IsDir() && path != dir {
				if ferr := fn(rel, nil, err); ferr != nil {
					return ferr
				}
				return fs.SkipDir
			}
			return fmt.Errorf("reading advisories: %w", err)
		}
		if d.IsDir() || !d.Type().IsRegular() || !strings.EqualFold(filepath.Ext(path), ".json") {
			return nil
		}
		if files++; files > int64(lim.MaxFiles) {
			return fmt.Errorf("reading advisories: more than %d files", lim.MaxFiles)
		}
		info, err := d.Info()
		if err != nil {
			return fn(rel, nil, err)
		}
		if info.Size() > lim.MaxRecordBytes {
			return fn(rel, nil, fmt.Errorf("%d bytes, larger than the %d-byte limit", info.Size(), lim.MaxRecordBytes))
		}
		data, err := readLimited(path, lim.MaxRecordBytes)
		if total += int64(len(data)); total > lim.MaxTotalBytes {
			return fmt.Errorf("reading advisories: more than %d bytes", lim.MaxTotalBytes)
		}
		return fn(rel, data, err)
	})
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than the %d-byte limit", limit)
	}
	return data, nil
}

// readZip reads the .json entries of a zip archive. Sizes are checked on
// what is decompressed, not on what the archive claims.
func readZip(ctx context.Context, zr *zip.Reader, lim Limits, fn func(string, []byte, error) error) error {
	if len(zr.File) > lim.MaxFiles {
		return fmt.Errorf("reading advisories: %d zip entries, more than %d", len(zr.File), lim.MaxFiles)
	}
	var total int64
	var buf bytes.Buffer
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.FileInfo().IsDir() || !strings.EqualFold(pathExt(f.Name), ".json") {
			continue
		}
		if f.UncompressedSize64 > uint64(lim.MaxRecordBytes) {
			if err := fn(f.Name, nil, fmt.Errorf("%d bytes, larger than the %d-byte limit", f.UncompressedSize64, lim.MaxRecordBytes)); err != nil {
				return err
			}
			continue
		}
		buf.Reset()
		n, rerr := readZipEntry(f, &buf, lim.MaxRecordBytes)
		if total += n; total > lim.MaxTotalBytes {
			return fmt.Errorf("reading advisories: more than %d bytes uncompressed", lim.MaxTotalBytes)
		}
		var data []byte
		if rerr == nil {
			data = buf.Bytes()
		}
		if err := fn(f.Name, data, rerr); err != nil {
			return err
		}
	}
	return nil
}

func readZipEntry(f *zip.File, buf *bytes.Buffer, limit int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := buf.ReadFrom(io.LimitReader(rc, limit+1))
	if err != nil {
		return n, err
	}
	if n > limit {
		return n, fmt.Errorf("larger than the %d-byte limit once decompressed", limit)
	}
	return n, nil
}

// pathExt is path.Ext for zip names, which use slashes.
func pathExt(name string) string {
	if i := strings.LastIndexAny(name, "./"); i >= 0 && name[i] == '.' {
		return name[i:]
	}
	return ""
}
