package vulndb

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/atomicfile"
)

// The database directory holds:
//
//	manifest.json           what follows, switched atomically: the database is whatever it names
//	seg-<gen>.dat           records (compact JSON, one after another), written by import <gen>;
//	                        a later import appends its new and changed records to a new segment
//	records-<gen>.jsonl     every record's id, modified time, segment position and package keys
//	                        (read by imports only)
//	eco-<name>-<gen>.idx    one per ecosystem: "ecosystem\tname\tseg:off:len:id,..." lines sorted
//	                        by name, loaded on the first query of that ecosystem
//	import.lock             held while an import runs
//
// An import writes its segment and index files under new names, fsyncs them,
// then replaces manifest.json: a crash before that leaves the previous
// database whole (the orphans are deleted by the next import). Files the
// previous manifest named are kept one import longer, for readers that
// opened it.

const (
	formatVersion = 1
	manifestName  = "manifest.json"
	lockName      = "import.lock"
	filePerm      = 0o644
)

// ErrNoDatabase is returned by Open when the directory holds no database.
var ErrNoDatabase = errors.New("no vulnerability database (import one first)")

// ErrChanged is returned by a query when an import replaced the database
// files the DB was opened on: Open it again.
var ErrChanged = errors.New("vulnerability database changed since it was opened (open it again)")

type manifest struct {
	Format     int                     `json:"format"`
	Generation int                     `json:"generation"`
	Updated    time.Time               `json:"updated"`
	Records    int                     `json:"records"`
	Withdrawn  int                     `json:"withdrawn"`
	RecordsIdx string                  `json:"records_file,omitempty"`
	Segments   map[string]*segmentInfo `json:"segments"`   // file name -> sizes
	Ecosystems map[string]*ecoInfo     `json:"ecosystems"` // base ecosystem -> index file
}

type segmentInfo struct {
	Size int64 `json:"size"`
	Live int64 `json:"live"` // bytes of records still referenced
}

type ecoInfo struct {
	File     string `json:"file"`
	Size     int64  `json:"size"`
	CRC32    uint32 `json:"crc32"`
	Records  int    `json:"records"`
	Packages int    `json:"packages"`
}

// ref locates one stored record.
type ref struct {
	Seg int    `json:"s"`
	Off int64  `json:"o"`
	Len int    `json:"n"`
	ID  string `json:"-"`
}

func segName(gen int) string { return "seg-" + strconv.Itoa(gen) + ".dat" }

// pkgKey is an (ecosystem, normalised name) pair a record is indexed under.
type pkgKey struct {
	Eco  string `json:"e"`
	Name string `json:"n"`
}

// tableEntry is a stored record as the records file lists it.
type tableEntry struct {
	ID        string    `json:"id"`
	Modified  time.Time `json:"mod"`
	Withdrawn bool      `json:"w,omitempty"`
	Hash      uint64    `json:"h"` // xxhash of the record file's bytes
	Ref       ref       `json:"ref"`
	Keys      []pkgKey  `json:"keys,omitempty"`
}

func readManifest(dir string) (*manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDatabase
	}
	if err != nil {
		return nil, fmt.Errorf("reading the database manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decoding the database manifest %s: %w", filepath.Join(dir, manifestName), err)
	}
	if m.Format != formatVersion {
		return nil, fmt.Errorf("database format %d in %s, this Vigil reads %d: import the advisories again into a new directory", m.Format, dir, formatVersion)
	}
	for name := range m.Segments {
		if !isOurFile(name) {
			return nil, fmt.Errorf("decoding the database manifest: segment %q", name)
		}
	}
	for eco, e := range m.Ecosystems {
		if e == nil || !isOurFile(e.File) {
			return nil, fmt.Errorf("decoding the database manifest: index of %q", eco)
		}
	}
	if m.RecordsIdx != "" && !isOurFile(m.RecordsIdx) {
		return nil, fmt.Errorf("decoding the database manifest: records file %q", m.RecordsIdx)
	}
	return &m, nil
}

// ourFiles are the names Vigil writes in a database directory; nothing else
// there is ever deleted.
var ourFiles = regexp.MustCompile(`^(seg-[0-9]+\.dat|records-[0-9]+\.jsonl|eco-[A-Za-z0-9._]+-[0-9a-f]{8}-[0-9]+\.idx)$`)

// ourTemps are the temporary files atomicfile.Write makes for ours.
var ourTemps = regexp.MustCompile(`^\.(manifest\.json|records-[0-9]+\.jsonl|eco-[A-Za-z0-9._]+-[0-9a-f]{8}-[0-9]+\.idx)\.[0-9]+\.tmp$`)

func isOurFile(name string) bool { return ourFiles.MatchString(name) }

// referenced lists the files a manifest names.
func (m *manifest) referenced() map[string]bool {
	out := map[string]bool{}
	if m == nil {
		return out
	}
	for name := range m.Segments {
		out[name] = true
	}
	for _, e := range m.Ecosystems {
		out[e.File] = true
	}
	if m.RecordsIdx != "" {
		out[m.RecordsIdx] = true
	}
	return out
}

// readTable reads the records file a manifest names.
func readTable(dir string, m *manifest) (map[string]*tableEntry, error) {
	table := make(map[string]*tableEntry, m.Records)
	if m.RecordsIdx == "" {
		return table, nil
	}
	f, err := os.Open(filepath.Join(dir, m.RecordsIdx))
	if err != nil {
		return nil, fmt.Errorf("opening the records index: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	for {
		var e tableEntry
		if err := dec.Decode(&e); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading the records index %s: %w", m.RecordsIdx, err)
		}
		if _, ok := m.Segments[segName(e.Ref.Seg)]; !ok {
			return nil, fmt.Errorf("reading the records index: %s is in an unknown segment", e.ID)
		}
		e.Ref.ID = e.ID
		table[e.ID] = &e
	}
	if len(table) != m.Records {
		return nil, fmt.Errorf("reading the records index: %d records, the manifest says %d", len(table), m.Records)
	}
	return table, nil
}

// writeTable writes the records file, sorted by id.
func writeTable(path string, table map[string]*tableEntry) error {
	ids := make([]string, 0, len(table))
	for id := range table {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return atomicfile.Write(path, filePerm, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, id := range ids {
			if err := enc.Encode(table[id]); err != nil {
				return err
			}
		}
		return nil
	})
}

// ecoFileName names an ecosystem's index file of one generation: the
// ecosystem's name made safe for a file name, and a hash of the name so two
// names made alike stay apart.
func ecoFileName(base string, gen int) string {
	safe := []byte(base)
	for i, c := range safe {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			safe[i] = '_'
		}
	}
	if len(safe) > 40 {
		safe = safe[:40]
	}
	return fmt.Sprintf("eco-%s-%08x-%d.idx", safe, crc32.ChecksumIEEE([]byte(base)), gen)
}

// buildEcoIndex renders the index of one base ecosystem from the table.
func buildEcoIndex(base string, table map[string]*tableEntry) (data []byte, records, packages int) {
	byKey := map[pkgKey][]ref{}
	for _, e := range table {
		counted := false
		for _, k := range e.Keys {
			if baseEcosystem(k.Eco) != base {
				continue
			}
			byKey[k] = append(byKey[k], e.Ref)
			if !counted {
				records++
				counted = true
			}
		}
	}
	keys := make([]pkgKey, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pkgKey) int {
		if c := strings.Compare(a.Eco, b.Eco); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	var buf bytes.Buffer
	for _, k := range keys {
		refs := byKey[k]
		slices.SortFunc(refs, func(a, b ref) int { return strings.Compare(a.ID, b.ID) })
		buf.WriteString(k.Eco)
		buf.WriteByte('\t')
		buf.WriteString(k.Name)
		buf.WriteByte('\t')
		for i, r := range refs {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(r.Seg))
			buf.WriteByte(':')
			buf.WriteString(strconv.FormatInt(r.Off, 10))
			buf.WriteByte(':')
			buf.WriteString(strconv.Itoa(r.Len))
			buf.WriteByte(':')
			buf.WriteString(r.ID)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes(), records, len(keys)
}

// ecoIndex is one ecosystem's loaded index: "ecosystem\x00name" -> records.
type ecoIndex map[string][]ref

func indexKey(eco, name string) string { return eco + "\x00" + name }

// parseEcoIndex reads an index file checked against the manifest.
func parseEcoIndex(data []byte, info *ecoInfo) (ecoIndex, error) {
	if int64(len(data)) != info.Size || crc32.ChecksumIEEE(data) != info.CRC32 {
		return nil, fmt.Errorf("index %s: size or checksum differs from the manifest", info.File)
	}
	idx := make(ecoIndex, info.Packages)
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		eco, r, ok1 := bytes.Cut(line, []byte{'\t'})
		name, refs, ok2 := bytes.Cut(r, []byte{'\t'})
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("index %s: malformed line", info.File)
		}
		var out []ref
		for part := range bytes.SplitSeq(refs, []byte{','}) {
			f := strings.SplitN(string(part), ":", 4)
			if len(f) != 4 {
				return nil, fmt.Errorf("index %s: malformed reference %q", info.File, clip(string(part)))
			}
			seg, err1 := strconv.Atoi(f[0])
			off, err2 := strconv.ParseInt(f[1], 10, 64)
			n, err3 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil || err3 != nil || off < 0 || n <= 0 {
				return nil, fmt.Errorf("index %s: malformed reference %q", info.File, clip(string(part)))
			}
			out = append(out, ref{Seg: seg, Off: off, Len: n, ID: f[3]})
		}
		idx[indexKey(string(eco), string(name))] = out
	}
	return idx, nil
}

// segmentWriter appends records to a new segment.
type segmentWriter struct {
	gen  int
	path string
	f    *os.File
	w    *bufio.Writer
	off  int64
}

func createSegment(dir string, gen int) (*segmentWriter, error) {
	path := filepath.Join(dir, segName(gen))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return nil, fmt.Errorf("creating segment: %w", err)
	}
	return &segmentWriter{gen: gen, path: path, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (s *segmentWriter) append(data []byte, id string) (ref, error) {
	if _, err := s.w.Write(data); err != nil {
		return ref{}, fmt.Errorf("writing segment: %w", err)
	}
	r := ref{Seg: s.gen, Off: s.off, Len: len(data), ID: id}
	s.off += int64(len(data))
	return r, nil
}

// finish flushes and syncs the segment.
func (s *segmentWriter) finish() error {
	if err := s.w.Flush(); err != nil {
		_ = s.f.Close()
		return fmt.Errorf("writing segment: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		_ = s.f.Close()
		return fmt.Errorf("syncing segment: %w", err)
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("closing segment: %w", err)
	}
	return nil
}

// discard removes an unfinished segment.
func (s *segmentWriter) discard() {
	_ = s.f.Close()
	_ = os.Remove(s.path)
}

// collectGarbage deletes the files of ours that neither manifest names, and
// temporary files atomicfile left behind.
func collectGarbage(dir string, keep ...*manifest) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	live := map[string]bool{}
	for _, m := range keep {
		for f := range m.referenced() {
			live[f] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		stale := isOurFile(name) && !live[name] || ourTemps.MatchString(name)
		if stale && e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
}
