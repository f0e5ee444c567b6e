package ingest

import (
	"bytes"

	"github.com/cespare/xxhash/v2"
)

// SameStream reports whether a and b are records of one stream: one source,
// format and context, which a decoder reads as one input.
func SameStream(a, b *Record) bool {
	return a.Source == b.Source && a.Format == b.Format && bytes.Equal(a.Context, b.Context)
}

// Streams groups n records (at(i) is the i-th) by stream: the indexes of each
// stream's records in order, the streams in order of first appearance. A batch
// from a bus partition interleaves many sources; decoding each stream's
// records as one input spreads a decoder's set-up (buffers, caches) over the
// run instead of paying it per record.
func Streams(n int, at func(int) *Record) [][]int {
	var groups [][]int
	var byHash map[uint64][]int // stream hash -> indexes in groups
	prev := -1
	for i := range n {
		r := at(i)
		if prev >= 0 && SameStream(at(groups[prev][0]), r) {
			groups[prev] = append(groups[prev], i)
			continue
		}
		if byHash == nil {
			byHash = make(map[uint64][]int)
		}
		h := streamHash(r)
		g := -1
		for _, c := range byHash[h] {
			if SameStream(at(groups[c][0]), r) {
				g = c
				break
			}
		}
		if g < 0 {
			g = len(groups)
			groups = append(groups, nil)
			byHash[h] = append(byHash[h], g)
		}
		groups[g] = append(groups[g], i)
		prev = g
	}
	return groups
}

// InOrder reports whether groups (from Streams) are runs laid one after
// another: the records were already grouped (a write-ahead log's batches are).
func InOrder(groups [][]int) bool {
	for _, g := range groups {
		if g[len(g)-1]-g[0] != len(g)-1 {
			return false
		}
	}
	return true
}

func streamHash(r *Record) uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(r.Source)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(r.Format)
	_, _ = d.Write([]byte{0})
	_, _ = d.Write(r.Context)
	return d.Sum64()
}
