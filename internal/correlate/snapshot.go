package correlate

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/pace"
)

// snapshotMagic starts every snapshot; the version after it says the layout.
const (
	snapshotMagic   = "vigil-correlator\n"
	snapshotVersion = 1
)

// ErrSnapshot is wrapped by every error Restore returns for a snapshot it cannot
// use (not one, another version, inconsistent).
var ErrSnapshot = errors.New("bad correlator snapshot")

type snapState struct {
	Version    int               `json:"version"`
	Stats      Stats             `json:"stats"`
	Incidents  []snapIncident    `json:"incidents"`
	Entities   []snapEntity      `json:"entities"`
	Merged     map[string]string `json:"merged,omitempty"`
	Risk       []byte            `json:"risk"`        // the incidents' risk scorer (package risk)
	EntityRisk []byte            `json:"entity_risk"` // the entities' risk scorer
	Peaks      []snapPeak        `json:"peaks,omitempty"`
}

type snapPeak struct {
	Entity detect.Entity `json:"entity"`
	peak
}

type snapIncident struct {
	ID       string         `json:"id"`
	First    int64          `json:"first"`
	Last     int64          `json:"last"`
	Signals  sigList        `json:"signals"`
	Seen     map[string]int `json:"seen"`
	Entities []snapCount    `json:"entities"`
	Extra    int            `json:"extra,omitempty"`
	ExtraIDs []string       `json:"extra_ids,omitempty"`
	Absorbed []string       `json:"absorbed,omitempty"`
}

type snapCount struct {
	Kind  detect.EntityKind `json:"kind"`
	Value string            `json:"value"`
	N     int               `json:"n"`
}

type snapEntity struct {
	Kind       detect.EntityKind `json:"kind"`
	Value      string            `json:"value"`
	Incident   string            `json:"incident,omitempty"`
	Last       int64             `json:"last"`
	Neighbours []snapNeighbour   `json:"neighbours,omitempty"`
}

type snapNeighbour struct {
	Kind  detect.EntityKind `json:"kind"`
	Value string            `json:"value"`
	Time  int64             `json:"t"`
}

// Snapshot writes the open incidents and the entity graph of the window, so a
// later run can Restore and continue them: the next batch's signals join the
// incidents they link to under the same ids. Its size is bounded by what the
// window holds (call Expire first). The output is deterministic.
func (c *Correlator) Snapshot(w io.Writer) error {
	st, err := c.Capture()
	if err != nil {
		return err
	}
	return st.Encode(w)
}

// Captured is a correlator's state taken by Capture: a copy that later
// signals do not change, to be written (Encode) elsewhere, on another
// goroutine, while the correlator goes on. Capturing copies structure (the
// maps and lists the correlator changes; signals are never changed once taken,
// so they are shared); the costly part, encoding, is left to Encode.
type Captured struct {
	st    snapState
	cache *sigJSONCache
}

// Capture copies the correlator's state for a later Encode, which writes what
// Snapshot would have written now. It only copies: the ordering that makes the
// output deterministic (sorting a hundred thousand entities and more under a
// heavy stream) is Encode's, beside the correlator, not the caller's loop.
func (c *Correlator) Capture() (*Captured, error) {
	st := snapState{Version: snapshotVersion, Stats: c.stats, Merged: maps.Clone(c.mergedTo),
		Incidents: make([]snapIncident, 0, len(c.incs)), Entities: make([]snapEntity, 0, len(c.ents))}
	for id, inc := range c.incs {
		si := snapIncident{ID: id, First: inc.first, Last: inc.last, Seen: maps.Clone(inc.seen), Extra: inc.extra,
			ExtraIDs: slices.Clone(inc.extraIDs), Absorbed: slices.Clone(inc.absorbed),
			Signals: sigList{ptrs: slices.Clone(inc.signals), cache: &c.sigJSON}, Entities: make([]snapCount, 0, len(inc.entities))}
		for k, n := range inc.entities {
			si.Entities = append(si.Entities, snapCount{Kind: k.kind, Value: k.value, N: n})
		}
		st.Incidents = append(st.Incidents, si)
	}
	for k, e := range c.ents {
		se := snapEntity{Kind: k.kind, Value: k.value, Incident: e.incident, Last: e.last}
		if len(e.neighbours) > 0 {
			se.Neighbours = make([]snapNeighbour, 0, len(e.neighbours))
			for n, t := range e.neighbours {
				se.Neighbours = append(se.Neighbours, snapNeighbour{Kind: n.kind, Value: n.value, Time: t})
			}
		}
		st.Entities = append(st.Entities, se)
	}
	var rb bytes.Buffer
	if err := c.scorer.Snapshot(&rb); err != nil {
		return nil, fmt.Errorf("writing correlator snapshot: %w", err)
	}
	st.Risk = rb.Bytes()
	var eb bytes.Buffer
	if err := c.entities.Snapshot(&eb); err != nil {
		return nil, fmt.Errorf("writing correlator snapshot: %w", err)
	}
	st.EntityRisk = eb.Bytes()
	st.Peaks = make([]snapPeak, 0, len(c.peaks))
	for e, p := range c.peaks {
		st.Peaks = append(st.Peaks, snapPeak{Entity: e, peak: p})
	}
	return &Captured{st: st, cache: &c.sigJSON}, nil
}

// order sorts what Capture copied in map order, so the encoding is
// deterministic.
func (st *snapState) order() {
	slices.SortFunc(st.Incidents, func(a, b snapIncident) int { return strings.Compare(a.ID, b.ID) })
	for i := range st.Incidents {
		slices.SortFunc(st.Incidents[i].Entities, func(a, b snapCount) int {
			return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Value, b.Value))
		})
	}
	for i := range st.Entities {
		slices.SortFunc(st.Entities[i].Neighbours, func(a, b snapNeighbour) int {
			return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Value, b.Value))
		})
	}
	slices.SortFunc(st.Entities, func(a, b snapEntity) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Value, b.Value))
	})
	slices.SortFunc(st.Peaks, func(a, b snapPeak) int {
		return cmp.Or(strings.Compare(string(a.Entity.Kind), string(b.Entity.Kind)), strings.Compare(a.Entity.Value, b.Entity.Value))
	})
}

// sigList is an incident's signals in a snapshot: read as values, written
// from the correlator's signals through its cache of their encodings.
type sigList struct {
	vals  []detect.Signal
	ptrs  []*detect.Signal
	cache *sigJSONCache
}

func (l *sigList) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &l.vals) }

func (l sigList) MarshalJSON() ([]byte, error) {
	if l.cache == nil { // a restored snapshot written again as read
		return json.Marshal(l.vals)
	}
	b := []byte{'['}
	for i, s := range l.ptrs {
		if i > 0 {
			b = append(b, ',')
		}
		enc, err := l.cache.encode(s)
		if err != nil {
			return nil, err
		}
		b = append(b, enc...)
	}
	return append(b, ']'), nil
}

// sigJSONCache keeps the JSON of the signals open incidents hold, so each
// snapshot encodes only the signals that arrived since the one before: a
// stream's checkpoint otherwise encoded every held signal again (tens of
// megabytes under a heavy stream). Signals are keyed by pointer (a signal is
// never changed once the correlator has it); after each snapshot only the
// signals it wrote are kept. Safe for one snapshot at a time beside the
// correlator; concurrent snapshots are correct, only less cached.
type sigJSONCache struct {
	mu   sync.Mutex
	prev map[*detect.Signal][]byte // what the last snapshot wrote
	used map[*detect.Signal][]byte // what the one under way wrote
}

func (c *sigJSONCache) encode(s *detect.Signal) ([]byte, error) {
	c.mu.Lock()
	b, ok := c.prev[s]
	if !ok {
		b, ok = c.used[s]
	}
	c.mu.Unlock()
	if !ok {
		var err error
		if b, err = json.Marshal(s); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	if c.used == nil {
		c.used = map[*detect.Signal][]byte{}
	}
	c.used[s] = b
	c.mu.Unlock()
	return b, nil
}

// done ends a snapshot: what it wrote is what the next one finds.
func (c *sigJSONCache) done() {
	c.mu.Lock()
	c.prev, c.used = c.used, nil
	c.mu.Unlock()
}

// Encode writes the captured state as Snapshot does.
func (cs *Captured) Encode(w io.Writer) error { return cs.EncodePaced(w, nil) }

// EncodePaced is Encode paced by p (nil: flat out), for a checkpoint written
// beside a busy stream. The document is written a part at a time (an incident,
// an entity), never built whole in memory: under a heavy stream it is a
// hundred megabytes and more, and building it cost several times that in
// buffers grown by doubling.
func (cs *Captured) EncodePaced(w io.Writer, p *pace.Pacer) error {
	cs.st.order()
	bw := bufio.NewWriterSize(p.Writer(w), 256<<10)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return fmt.Errorf("writing correlator snapshot: %w", err)
	}
	err := cs.st.writeJSON(bw, p)
	if cs.cache != nil {
		cs.cache.done()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("writing correlator snapshot: %w", err)
	}
	return nil
}

// jsonOut writes a JSON document in parts; the first error sticks.
type jsonOut struct {
	w   *bufio.Writer
	err error
}

func (o *jsonOut) raw(s string) {
	if o.err == nil {
		_, o.err = o.w.WriteString(s)
	}
}

func (o *jsonOut) bytes(b []byte) {
	if o.err == nil {
		_, o.err = o.w.Write(b)
	}
}

// field writes key (with its leading comma and colon) and v.
func (o *jsonOut) field(key string, v any) {
	o.raw(key)
	o.value(v)
}

func (o *jsonOut) value(v any) {
	if o.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		o.err = err
		return
	}
	o.bytes(b)
}

// list writes n elements as a JSON array (null when nil), each by elem.
func (o *jsonOut) list(isNil bool, n int, p *pace.Pacer, elem func(i int)) {
	if isNil {
		o.raw("null")
		return
	}
	o.raw("[")
	for i := range n {
		if o.err != nil {
			return
		}
		p.Pause()
		if i > 0 {
			o.raw(",")
		}
		elem(i)
	}
	o.raw("]")
}

// writeJSON writes st as json.Marshal would, then a newline (as
// json.Encoder), a part at a time. TestSnapshotWrittenInParts holds it to
// json.Marshal.
func (st *snapState) writeJSON(w *bufio.Writer, p *pace.Pacer) error {
	o := &jsonOut{w: w}
	o.field(`{"version":`, st.Version)
	o.field(`,"stats":`, st.Stats)
	o.raw(`,"incidents":`)
	o.list(st.Incidents == nil, len(st.Incidents), p, func(i int) { st.Incidents[i].writeJSON(o, p) })
	o.raw(`,"entities":`)
	o.list(st.Entities == nil, len(st.Entities), p, func(i int) { o.value(&st.Entities[i]) })
	if len(st.Merged) > 0 {
		o.field(`,"merged":`, st.Merged)
	}
	o.field(`,"risk":`, st.Risk)
	o.field(`,"entity_risk":`, st.EntityRisk)
	if len(st.Peaks) > 0 {
		o.field(`,"peaks":`, st.Peaks)
	}
	o.raw("}\n")
	return o.err
}

// writeJSON writes the incident as json.Marshal would, its signals one at a
// time (an incident under a heavy stream holds tens of thousands).
func (si *snapIncident) writeJSON(o *jsonOut, p *pace.Pacer) {
	o.field(`{"id":`, si.ID)
	o.field(`,"first":`, si.First)
	o.field(`,"last":`, si.Last)
	o.raw(`,"signals":`)
	if l := si.Signals; l.cache == nil { // a restored snapshot written again as read
		o.value(l.vals)
	} else {
		o.list(l.ptrs == nil, len(l.ptrs), p, func(i int) {
			enc, err := l.cache.encode(l.ptrs[i])
			if err != nil && o.err == nil {
				o.err = err
			}
			o.bytes(enc)
		})
	}
	o.field(`,"seen":`, si.Seen)
	o.field(`,"entities":`, si.Entities)
	if si.Extra != 0 {
		o.field(`,"extra":`, si.Extra)
	}
	if len(si.ExtraIDs) > 0 {
		o.field(`,"extra_ids":`, si.ExtraIDs)
	}
	if len(si.Absorbed) > 0 {
		o.field(`,"absorbed":`, si.Absorbed)
	}
	o.raw("}")
}

// Restore loads a snapshot into a correlator that has taken no signal yet. It
// checks the snapshot whole before changing anything: on error the correlator
// is as it was.
func (c *Correlator) Restore(r io.Reader) error {
	if len(c.incs) > 0 || len(c.ents) > 0 || c.processed > 0 {
		return fmt.Errorf("restoring into a correlator that already holds signals: %w", ErrSnapshot)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("reading correlator snapshot: %w", err)
	}
	rest, ok := bytes.CutPrefix(data, []byte(snapshotMagic))
	if !ok {
		return fmt.Errorf("not a correlator snapshot (no %q header): %w", strings.TrimSpace(snapshotMagic), ErrSnapshot)
	}
	var st snapState
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("decoding correlator snapshot: %w: %w", ErrSnapshot, err)
	}
	if st.Version != snapshotVersion {
		return fmt.Errorf("correlator snapshot version %d, this build reads %d: %w", st.Version, snapshotVersion, ErrSnapshot)
	}
	incs := make(map[string]*incState, len(st.Incidents))
	sigInc := map[string]string{}
	for i, si := range st.Incidents {
		where := fmt.Sprintf("incident %d (%q)", i, si.ID)
		switch {
		case si.ID == "":
			return fmt.Errorf("%s: no id: %w", where, ErrSnapshot)
		case incs[si.ID] != nil:
			return fmt.Errorf("%s: id repeated: %w", where, ErrSnapshot)
		case len(si.Signals.vals) == 0:
			return fmt.Errorf("%s: no signals: %w", where, ErrSnapshot)
		case si.Last < si.First:
			return fmt.Errorf("%s: last before first: %w", where, ErrSnapshot)
		case si.Extra < 0:
			return fmt.Errorf("%s: negative repeat count: %w", where, ErrSnapshot)
		}
		inc := newIncState(si.ID, si.First)
		for j := range si.Signals.vals {
			s := &si.Signals.vals[j]
			if t := s.Time.UnixNano(); t < si.First || t > si.Last {
				return fmt.Errorf("%s: signal %q outside the incident's time span: %w", where, s.ID, ErrSnapshot)
			}
			// replayed for the aggregates (tactics, severity, confidence,
			// context); the counts and the risk come from the snapshot
			if !c.addTo(inc, s, c.signalKeys(s), dedupKey(s), false) {
				inc.extraIDs = append(inc.extraIDs, s.ID) // counted as a repeat now
			}
			if s.ID != "" {
				sigInc[s.ID] = si.ID
			}
		}
		inc.last = si.Last
		inc.seen = si.Seen
		if inc.seen == nil {
			inc.seen = map[string]int{}
		}
		inc.entities = map[entKey]int{}
		inc.extra += si.Extra
		inc.extraIDs = append(inc.extraIDs, si.ExtraIDs...)
		inc.absorbed = si.Absorbed
		for _, id := range si.ExtraIDs {
			sigInc[id] = si.ID
		}
		for _, e := range si.Entities {
			if e.Kind == "" || e.N <= 0 {
				return fmt.Errorf("%s: entity %s:%q with count %d: %w", where, e.Kind, e.Value, e.N, ErrSnapshot)
			}
			inc.entities[entKey{e.Kind, e.Value}] = e.N
		}
		incs[si.ID] = inc
	}
	// Every merge chain must end at an open incident, without a loop.
	for from := range st.Merged {
		id, steps := from, 0
		for {
			next, ok := st.Merged[id]
			if !ok {
				break
			}
			if steps++; steps > len(st.Merged) {
				return fmt.Errorf("merge of %q loops: %w", from, ErrSnapshot)
			}
			id = next
		}
		if incs[id] == nil {
			return fmt.Errorf("merge of %q ends at %q, which is not an open incident: %w", from, id, ErrSnapshot)
		}
		if incs[from] != nil {
			return fmt.Errorf("%q is both merged and open: %w", from, ErrSnapshot)
		}
	}
	ents := make(map[entKey]*entState, len(st.Entities))
	for i, se := range st.Entities {
		k := entKey{se.Kind, se.Value}
		if se.Kind == "" || ents[k] != nil {
			return fmt.Errorf("entity %d (%s:%q): empty kind or repeated: %w", i, se.Kind, se.Value, ErrSnapshot)
		}
		e := &entState{incident: se.Incident, last: se.Last}
		if se.Kind != evidenceKind {
			e.neighbours = make(map[entKey]int64, len(se.Neighbours))
		}
		if e.incident != "" && incs[e.incident] == nil && st.Merged[e.incident] == "" {
			e.incident = "" // its incident closed: the entity links nothing until seen again
		}
		for _, n := range se.Neighbours {
			if e.neighbours == nil {
				return fmt.Errorf("entity %d (%s:%q): an event with neighbours: %w", i, se.Kind, se.Value, ErrSnapshot)
			}
			e.neighbours[entKey{n.Kind, n.Value}] = n.Time
		}
		ents[k] = e
	}
	scorer := newScorer()
	if err := scorer.Restore(bytes.NewReader(st.Risk)); err != nil {
		return fmt.Errorf("restoring the incidents' risk: %w: %w", ErrSnapshot, err)
	}
	entities := newEntityScorer()
	if err := entities.Restore(bytes.NewReader(st.EntityRisk)); err != nil {
		return fmt.Errorf("restoring the entities' risk: %w: %w", ErrSnapshot, err)
	}
	peaks := make(map[detect.Entity]peak, len(st.Peaks))
	for _, p := range st.Peaks {
		if p.Score > 0 && p.Score <= 100 && entities.Has(p.Entity) {
			peaks[p.Entity] = p.peak
		}
	}
	c.incs, c.ents, c.sigInc, c.scorer, c.entities, c.peaks = incs, ents, sigInc, scorer, entities, peaks
	c.mergedTo = st.Merged
	if c.mergedTo == nil {
		c.mergedTo = map[string]string{}
	}
	c.stats = st.Stats
	c.order = c.order[:0]
	for id := range incs {
		c.order = append(c.order, id)
	}
	slices.SortFunc(c.order, func(a, b string) int {
		return cmp.Or(cmp.Compare(incs[a].first, incs[b].first), strings.Compare(a, b))
	})
	return nil
}
