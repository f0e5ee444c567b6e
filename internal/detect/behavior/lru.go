package behavior

// lruNode is embedded in what an lruList orders; v points back at its owner.
type lruNode[T any] struct {
	prev, next *lruNode[T]
	v          T
}

// lruList is an intrusive doubly linked list, most recently used first. Moving and
// removing cost O(1) and allocate nothing: the nodes live inside the entries.
type lruList[T any] struct {
	head, tail *lruNode[T]
	n          int
}

func (l *lruList[T]) pushFront(n *lruNode[T]) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
	l.n++
}

func (l *lruList[T]) remove(n *lruNode[T]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
	l.n--
}

func (l *lruList[T]) moveToFront(n *lruNode[T]) {
	if l.head == n {
		return
	}
	l.remove(n)
	l.pushFront(n)
}

// back returns the least recently used node, nil when empty.
func (l *lruList[T]) back() *lruNode[T] { return l.tail }

func (l *lruList[T]) len() int { return l.n }
