package seasonal

// lru is an intrusive doubly linked list over slab indices, most recently
// used at the head. It allocates only when the slab grows.
type lru struct {
	prev, next []int32
	head, tail int32
}

func (l *lru) reset() {
	l.prev, l.next = l.prev[:0], l.next[:0]
	l.head, l.tail = -1, -1
}

// grow makes room for index i (== current length).
func (l *lru) grow() {
	l.prev = append(l.prev, -1)
	l.next = append(l.next, -1)
}

func (l *lru) pushFront(i int32) {
	l.prev[i], l.next[i] = -1, l.head
	if l.head >= 0 {
		l.prev[l.head] = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

func (l *lru) unlink(i int32) {
	p, n := l.prev[i], l.next[i]
	if p >= 0 {
		l.next[p] = n
	} else {
		l.head = n
	}
	if n >= 0 {
		l.prev[n] = p
	} else {
		l.tail = p
	}
	l.prev[i], l.next[i] = -1, -1
}

func (l *lru) touch(i int32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	l.pushFront(i)
}

// Records live in fixed-size chunks: growing never copies records (no
// latency spike, no append slack) and a record's address is stable.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
)

type slab[T any] struct {
	chunks [][]T
	n      int32
}

func (s *slab[T]) at(i int32) *T { return &s.chunks[i>>chunkBits][i&(chunkSize-1)] }

func (s *slab[T]) len() int32 { return s.n }

// push appends a zero record and returns its index.
func (s *slab[T]) push() int32 {
	if int(s.n) == len(s.chunks)<<chunkBits {
		s.chunks = append(s.chunks, make([]T, chunkSize))
	}
	s.n++
	return s.n - 1
}
