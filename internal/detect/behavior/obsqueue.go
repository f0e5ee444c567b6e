package behavior

import (
	"sort"
	"sync"
)

// obsBlockLen is the number of observations in one block of an obsQueue
// (about 370 KiB).
const obsBlockLen = 2048

type obsBlock = [obsBlockLen]Obs

// obsBlocks recycles the queues' blocks: at 100k observations a second held
// for seconds, a block is filled and emptied several times a second.
var obsBlocks = sync.Pool{New: func() any { return new(obsBlock) }}

// obsQueue is the sorted sequence of observations a streaming engine holds
// until the watermark passes them, kept in fixed-size blocks. Appending,
// merging near the end and taking from the front each move only the
// observations they touch: a single growing slice (the earlier form) was
// reallocated and copied whole as it grew and compacted by copying half of
// itself. Those copies, hundreds of megabytes at 100k observations a second
// and several seconds of tolerance, cannot be preempted, so every goroutine
// waiting for the garbage collector's stop-the-world stalled behind them
// (signals held back for half a second), and the unused half of the slice's
// capacity was memory the collector scanned.
//
// Every block but the first and the last is full; the first is live from
// head on.
type obsQueue struct {
	blocks []*obsBlock
	head   int // first live index in blocks[0]
	n      int // live observations
	segs   [][]Obs
}

// Len returns the number of observations held.
func (q *obsQueue) Len() int { return q.n }

// at returns the i-th observation held (0 <= i < Len).
func (q *obsQueue) at(i int) *Obs {
	j := q.head + i
	return &q.blocks[j/obsBlockLen][j%obsBlockLen]
}

// push appends o.
func (q *obsQueue) push(o *Obs) {
	j := q.head + q.n
	if j == len(q.blocks)*obsBlockLen {
		q.blocks = append(q.blocks, obsBlocks.Get().(*obsBlock))
	}
	q.blocks[j/obsBlockLen][j%obsBlockLen] = *o
	q.n++
}

// truncate drops the observations from i on.
func (q *obsQueue) truncate(i int) {
	from, end := q.head+i, q.head+q.n
	for j := from; j < end; {
		b, k := j/obsBlockLen, j%obsBlockLen
		m := min(obsBlockLen, k+end-j)
		clear(q.blocks[b][k:m])
		j += m - k
	}
	q.n = i
	q.release((from+obsBlockLen-1)/obsBlockLen, len(q.blocks))
	q.blocks = q.blocks[:(from+obsBlockLen-1)/obsBlockLen]
	if len(q.blocks) == 0 {
		q.head = 0
	}
}

// release gives blocks[from:to] back to the pool (they are cleared).
func (q *obsQueue) release(from, to int) {
	for _, b := range q.blocks[from:to] {
		obsBlocks.Put(b)
	}
	clear(q.blocks[from:to])
}

// front returns the first k observations as the runs of their blocks, valid
// until the queue changes.
func (q *obsQueue) front(k int) [][]Obs {
	q.segs = q.segs[:0]
	for j, end := q.head, q.head+k; j < end; {
		b, o := j/obsBlockLen, j%obsBlockLen
		m := min(obsBlockLen, o+end-j)
		q.segs = append(q.segs, q.blocks[b][o:m])
		j += m - o
	}
	return q.segs
}

// dropFront removes the first k observations.
func (q *obsQueue) dropFront(k int) {
	for _, s := range q.front(k) {
		clear(s) // drop the references the models no longer need
	}
	clear(q.segs)
	q.head += k
	q.n -= k
	full := q.head / obsBlockLen
	if q.n == 0 {
		full = len(q.blocks)
	}
	if full > 0 {
		q.release(0, full)
		n := copy(q.blocks, q.blocks[full:])
		clear(q.blocks[n:])
		q.blocks = q.blocks[:n]
		q.head -= full * obsBlockLen
		if len(q.blocks) == 0 {
			q.head = 0
		}
	}
}

// countUpTo returns how many observations (a prefix: the queue is sorted)
// have an event time at or before t.
func (q *obsQueue) countUpTo(t int64) int {
	return sort.Search(q.n, func(i int) bool { return q.at(i).Time > t })
}

// insertSorted adds batch, sorted in observation order, keeping the queue
// sorted. A stream's batches mostly follow each other in time: the batch is
// appended, or merged from the first held observation it precedes, so the
// cost is the batch and the overlap, not what is held. tmp is scratch space.
func (q *obsQueue) insertSorted(batch []Obs, tmp *[]Obs) {
	if len(batch) == 0 {
		return
	}
	if q.n == 0 || !batch[0].less(q.at(q.n-1)) {
		for i := range batch {
			q.push(&batch[i])
		}
		return
	}
	p := sort.Search(q.n, func(i int) bool { return !q.at(i).less(&batch[0]) })
	tail := (*tmp)[:0]
	for i := p; i < q.n; i++ {
		tail = append(tail, *q.at(i))
	}
	q.truncate(p)
	i, j := 0, 0
	for i < len(tail) && j < len(batch) {
		if batch[j].less(&tail[i]) {
			q.push(&batch[j])
			j++
		} else {
			q.push(&tail[i])
			i++
		}
	}
	for ; i < len(tail); i++ {
		q.push(&tail[i])
	}
	for ; j < len(batch); j++ {
		q.push(&batch[j])
	}
	clear(tail)
	if cap(tail) > 4*obsBlockLen {
		tail = nil // an unusual overlap: do not keep its memory
	}
	*tmp = tail[:0]
}

// each calls fn with every observation held, in order.
func (q *obsQueue) each(fn func(*Obs)) {
	for _, s := range q.front(q.n) {
		for i := range s {
			fn(&s[i])
		}
	}
	clear(q.segs)
}
