package intel

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Format is a feed file format.
type Format uint8

// Feed formats.
const (
	FormatAuto  Format = iota // detect from the file name and first bytes
	FormatPlain               // one indicator per line
	FormatCSV                 // CSV with a header row
	FormatSTIX                // STIX 2.1 bundle
	FormatMISP                // MISP event JSON
)

var formatNames = [...]string{"auto", "plain", "csv", "stix", "misp"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("format(%d)", f)
}

// ParseFormat parses a format name (auto, plain, csv, stix, misp).
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if strings.EqualFold(s, n) {
			return Format(i), nil
		}
	}
	return 0, fmt.Errorf("unknown feed format %q (want auto, plain, csv, stix or misp)", s)
}

// DetectFormat guesses the format of a feed from its file name and first bytes:
// JSON with "type": "bundle" is STIX, other JSON with "Event" or "response" is MISP,
// a .csv name is CSV, anything else a plain list.
func DetectFormat(path string, head []byte) Format {
	h := bytes.TrimSpace(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")))
	if len(h) > 0 && (h[0] == '{' || h[0] == '[') {
		if bytes.Contains(h, []byte(`"bundle"`)) || bytes.Contains(h, []byte(`"spec_version"`)) {
			return FormatSTIX
		}
		return FormatMISP
	}
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		return FormatCSV
	}
	return FormatPlain
}

// Parse reads one feed in format (not FormatAuto).
func Parse(format Format, name string, r io.Reader) (*Feed, error) {
	switch format {
	case FormatPlain:
		return ParsePlain(name, r)
	case FormatCSV:
		return ParseCSV(name, r)
	case FormatSTIX:
		return ParseSTIX(name, r)
	case FormatMISP:
		return ParseMISP(name, r)
	}
	return nil, fmt.Errorf("parsing feed %s: format %v cannot be parsed", name, format)
}

// Source is one feed file to load.
type Source struct {
	Name   string // names the feed in signals and rejects; default the file's base name
	Path   string
	Format Format
}

// DefaultMaxFeedBytes bounds one feed file when StoreOptions leaves it 0.
const DefaultMaxFeedBytes = 512 << 20

// StoreOptions configures a Store.
type StoreOptions struct {
	Index        IndexOptions
	MaxFeedBytes int64 // a larger feed file fails the load; 0: DefaultMaxFeedBytes
}

// Store holds the current index and replaces it atomically on a successful reload;
// a failed reload leaves the previous index in place. Readers call Current once per
// batch and use that index throughout.
type Store struct {
	opts StoreOptions
	mu   sync.Mutex // serialises loads
	cur  atomic.Pointer[Index]
}

// NewStore returns a store holding an empty index.
func NewStore(opts StoreOptions) *Store {
	s := &Store{opts: opts}
	s.cur.Store(Empty())
	return s
}

// Current returns the index in force.
func (s *Store) Current() *Index { return s.cur.Load() }

// Swap installs x as the current index.
func (s *Store) Swap(x *Index) { s.cur.Store(x) }

// Load reads every source and builds one index; only when all feeds parse and the
// index builds does it replace the current one. It returns the new index (or nil
// and the error, the old index staying current).
func (s *Store) Load(sources []Source) (*Index, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	feeds := make([]*Feed, 0, len(sources))
	for _, src := range sources {
		f, err := ReadFeed(src, s.opts.MaxFeedBytes)
		if err != nil {
			return nil, err
		}
		feeds = append(feeds, f)
	}
	x, err := Build(feeds, s.opts.Index)
	if err != nil {
		return nil, err
	}
	s.cur.Store(x)
	return x, nil
}

// ReadFeed reads and parses one feed file of at most maxBytes (0: DefaultMaxFeedBytes).
func ReadFeed(src Source, maxBytes int64) (*Feed, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFeedBytes
	}
	name := src.Name
	if name == "" {
		name = filepath.Base(src.Path)
	}
	fh, err := os.Open(src.Path)
	if err != nil {
		return nil, fmt.Errorf("opening feed %s: %w", name, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading feed %s: %w", name, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("reading feed %s: larger than %d bytes", name, maxBytes)
	}
	format := src.Format
	if format == FormatAuto {
		format = DetectFormat(src.Path, data[:min(len(data), 4096)])
	}
	return Parse(format, name, bytes.NewReader(data))
}
