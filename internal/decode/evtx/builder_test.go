package evtx

import (
	"encoding/binary"
	"hash/crc32"
	"time"
	"unicode/utf16"
)

// chunkBuilder writes a synthetic EVTX chunk the way the Windows event log
// service lays one out: names and template definitions inline at first use and
// referenced by chunk offset afterwards. Positions are chunk offsets.
type chunkBuilder struct {
	b     []byte
	names map[string]int
	recs  int
	first uint64
}

func newChunk(firstRecord uint64) *chunkBuilder {
	return &chunkBuilder{b: make([]byte, chunkHeaderSize), names: map[string]int{}, first: firstRecord}
}

func (c *chunkBuilder) u8(v byte)    { c.b = append(c.b, v) }
func (c *chunkBuilder) u16(v uint16) { c.b = binary.LittleEndian.AppendUint16(c.b, v) }
func (c *chunkBuilder) u32(v uint32) { c.b = binary.LittleEndian.AppendUint32(c.b, v) }
func (c *chunkBuilder) u64(v uint64) { c.b = binary.LittleEndian.AppendUint64(c.b, v) }

func utf16le(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

// nameRef writes a name offset, and the name inline when it is new.
func (c *chunkBuilder) nameRef(s string) {
	if off, ok := c.names[s]; ok {
		c.u32(uint32(off))
		return
	}
	off := len(c.b) + 4
	c.names[s] = off
	c.u32(uint32(off))
	c.u32(0) // next in hash chain
	c.u16(0) // hash (not checked by readers)
	c.u16(uint16(len(utf16.Encode([]rune(s)))))
	c.b = append(c.b, utf16le(s)...)
	c.u16(0)
}

// node is a BinXML element for the builder.
type node struct {
	name     string
	attrs    []attr
	children []any // node, string (text) or subst
}

type attr struct {
	name  string
	value any // string or subst
}

type subst struct {
	idx      uint16
	typ      byte
	optional bool
}

func (c *chunkBuilder) content(v any, dep bool) {
	switch v := v.(type) {
	case string:
		c.u8(tokValue)
		c.u8(typString)
		c.u16(uint16(len(utf16.Encode([]rune(v)))))
		c.b = append(c.b, utf16le(v)...)
	case subst:
		if v.optional {
			c.u8(tokOptSubst)
		} else {
			c.u8(tokSubst)
		}
		c.u16(v.idx)
		c.u8(v.typ)
	case node:
		c.element(v, dep)
	}
}

func (c *chunkBuilder) element(n node, dep bool) {
	tok := byte(tokOpenStart)
	if len(n.attrs) > 0 {
		tok |= tokMoreBit
	}
	c.u8(tok)
	if dep {
		c.u16(0xffff)
	}
	c.u32(0) // data size: not used by readers
	c.nameRef(n.name)
	if len(n.attrs) > 0 {
		c.u32(0) // attribute list size
	}
	for i, a := range n.attrs {
		t := byte(tokAttribute)
		if i < len(n.attrs)-1 {
			t |= tokMoreBit
		}
		c.u8(t)
		c.nameRef(a.name)
		c.content(a.value, dep)
	}
	if len(n.children) == 0 {
		c.u8(tokCloseEmpty)
		return
	}
	c.u8(tokCloseStart)
	for _, ch := range n.children {
		c.content(ch, dep)
	}
	c.u8(tokEndElement)
}

// value is one substitution value of a template instance.
type value struct {
	typ  byte
	data []byte // or, for typBinXML, built by fn at its place
	fn   func(c *chunkBuilder)
}

// instance writes a template instance of root; def is the offset of an earlier
// definition, or 0 to define it inline. It returns the definition's offset.
func (c *chunkBuilder) instance(root node, def int, vals []value) int {
	c.u8(tokFragmentStart)
	c.u8(1)
	c.u8(1)
	c.u8(0)
	c.u8(tokTemplate)
	c.u8(1)
	c.u32(0x1234) // template id
	if def == 0 {
		def = len(c.b) + 4
		c.u32(uint32(def))
		c.u32(0)                               // next template
		c.b = append(c.b, make([]byte, 16)...) // GUID
		sizeAt := len(c.b)
		c.u32(0)
		start := len(c.b)
		c.u8(tokFragmentStart)
		c.u8(1)
		c.u8(1)
		c.u8(0)
		c.element(root, true)
		c.u8(tokEOF)
		binary.LittleEndian.PutUint32(c.b[sizeAt:], uint32(len(c.b)-start))
	} else {
		c.u32(uint32(def))
	}
	c.u32(uint32(len(vals)))
	descAt := len(c.b)
	for range vals {
		c.u32(0)
	}
	for i, v := range vals {
		start := len(c.b)
		if v.fn != nil {
			v.fn(c)
		} else {
			c.b = append(c.b, v.data...)
		}
		binary.LittleEndian.PutUint16(c.b[descAt+4*i:], uint16(len(c.b)-start))
		c.b[descAt+4*i+2] = v.typ
	}
	return def
}

// record writes one event record whose BinXML is written by body.
func (c *chunkBuilder) record(written time.Time, body func(c *chunkBuilder)) {
	start := len(c.b)
	c.u32(recordMagic)
	c.u32(0)
	c.u64(c.first + uint64(c.recs))
	c.u64(toFiletime(written))
	body(c)
	c.u8(tokEOF)
	for (len(c.b)+4-start)%8 != 0 {
		c.u8(0)
	}
	size := uint32(len(c.b) + 4 - start)
	c.u32(size)
	binary.LittleEndian.PutUint32(c.b[start+4:], size)
	c.recs++
}

// bytes finishes the chunk: header fields and checksums, padded to 64 KiB.
func (c *chunkBuilder) bytes() []byte {
	free := len(c.b)
	out := make([]byte, chunkSize)
	copy(out, c.b)
	copy(out, chunkMagic)
	last := c.first + uint64(c.recs) - 1
	binary.LittleEndian.PutUint64(out[8:], c.first)
	binary.LittleEndian.PutUint64(out[16:], last)
	binary.LittleEndian.PutUint64(out[24:], c.first)
	binary.LittleEndian.PutUint64(out[32:], last)
	binary.LittleEndian.PutUint32(out[40:], 128)
	binary.LittleEndian.PutUint32(out[48:], uint32(free))
	binary.LittleEndian.PutUint32(out[52:], crc32.ChecksumIEEE(out[chunkHeaderSize:free]))
	binary.LittleEndian.PutUint32(out[124:], chunkHeaderCRC(out))
	return out
}

// fileOf puts chunks behind a file header.
func fileOf(chunks ...[]byte) []byte {
	h := make([]byte, fileHeaderSize)
	copy(h, fileMagic)
	binary.LittleEndian.PutUint64(h[16:], uint64(len(chunks)-1))
	binary.LittleEndian.PutUint32(h[32:], 128)
	binary.LittleEndian.PutUint16(h[36:], 1)
	binary.LittleEndian.PutUint16(h[38:], 3)
	binary.LittleEndian.PutUint16(h[40:], fileHeaderSize)
	binary.LittleEndian.PutUint16(h[42:], uint16(len(chunks)))
	binary.LittleEndian.PutUint32(h[124:], crc32.ChecksumIEEE(h[:120]))
	for _, c := range chunks {
		h = append(h, c...)
	}
	return h
}

func toFiletime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + filetimeUnixEpoch
}

func le16b(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32b(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64b(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
