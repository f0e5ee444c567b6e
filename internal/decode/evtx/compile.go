package evtx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/event"
)

// compile walks the BinXML in c[pos:end] (a template definition when dep is
// true: its element headers carry a dependency id) and appends to pl what to
// emit, the walk starting in section sec.
func (b *binxml) compile(pl *plan, pos, end int, sec section, dep bool) error {
	c := b.c
	b.stack, b.cparts, b.aparts, b.inAttr = b.stack[:0], b.cparts[:0], b.aparts[:0], false
	for pos < end {
		tok := c[pos]
		var err error
		switch tok &^ tokMoreBit {
		case tokEOF:
			if len(b.stack) != 0 {
				return errors.New("BinXML ends inside an element")
			}
			return nil
		case tokOpenStart:
			pos, err = b.openElement(pl, pos, end, sec, dep)
		case tokCloseStart:
			b.endAttr(pl)
			pos++
		case tokCloseEmpty, tokEndElement:
			b.endAttr(pl)
			if len(b.stack) == 0 {
				return fmt.Errorf("end of element without a start at chunk offset %d", pos)
			}
			b.closeElement(pl)
			pos++
		case tokValue:
			pos, err = b.valueText(pos, end)
		case tokAttribute:
			b.endAttr(pl)
			if len(b.stack) == 0 {
				return fmt.Errorf("attribute outside an element at chunk offset %d", pos)
			}
			if pos+5 > end {
				return b.bounds("attribute", pos, 5, end)
			}
			var name []byte
			if name, pos, err = b.readName(int(le32(c, pos+1)), pos+5, end); err == nil {
				b.attr, b.inAttr = b.keys.Key(name), true
			}
		case tokCDATA:
			pos, err = b.text(pos+1, end)
		case tokCharRef:
			if pos+3 > end {
				return b.bounds("character reference", pos, 3, end)
			}
			b.addPart(part{sub: -1, text: string(rune(le16(c, pos+1)))})
			pos += 3
		case tokEntityRef:
			if pos+5 > end {
				return b.bounds("entity reference", pos, 5, end)
			}
			var name []byte
			if name, pos, err = b.readName(int(le32(c, pos+1)), pos+5, end); err == nil {
				b.addPart(part{sub: -1, text: entity(name)})
			}
		case tokPITarget:
			if pos+5 > end {
				return b.bounds("processing instruction", pos, 5, end)
			}
			_, pos, err = b.readName(int(le32(c, pos+1)), pos+5, end)
		case tokPIData:
			if pos+3 > end {
				return b.bounds("processing instruction", pos, 3, end)
			}
			pos += 3 + 2*int(le16(c, pos+1))
		case tokSubst, tokOptSubst:
			if pos+4 > end {
				return b.bounds("substitution", pos, 4, end)
			}
			// An optional substitution declared null is never rendered.
			if !(tok == tokOptSubst && c[pos+3] == typNull) {
				b.addPart(part{sub: int32(le16(c, pos+1))})
			}
			pos += 4
		case tokFragmentStart:
			pos += 4
		case tokTemplate:
			return fmt.Errorf("template instance inside a template definition at chunk offset %d: unsupported", pos)
		default:
			return fmt.Errorf("unknown BinXML token 0x%02x at chunk offset %d", tok, pos)
		}
		if err != nil {
			return err
		}
	}
	if len(b.stack) != 0 {
		return b.bounds("element", pos, 1, end)
	}
	return nil
}

// openElement reads an element start and pushes its frame.
func (b *binxml) openElement(pl *plan, pos, end int, sec section, dep bool) (int, error) {
	c := b.c
	if len(b.stack) >= maxElementDepth {
		return 0, fmt.Errorf("elements nested deeper than %d", maxElementDepth)
	}
	b.endAttr(pl)
	p := pos + 1
	if dep {
		p += 2
	}
	if p+8 > end {
		return 0, b.bounds("element start", pos, p+8-pos, end)
	}
	nameOff := int(le32(c, p+4))
	p += 8
	if !plausibleName(nameOff, pos, p) {
		// Writers disagree on the dependency id outside template definitions:
		// try the other layout before giving up.
		q := pos + 1
		if !dep {
			q += 2
		}
		if q+8 <= end && plausibleName(int(le32(c, q+4)), pos, q+8) {
			nameOff, p = int(le32(c, q+4)), q+8
		}
	}
	name, p, err := b.readName(nameOff, p, end)
	if err != nil {
		return 0, err
	}
	if c[pos]&tokMoreBit != 0 {
		p += 4 // attribute list size
	}
	if p > end {
		return 0, b.bounds("element start", pos, p-pos, end)
	}
	parent := sec
	if n := len(b.stack); n > 0 {
		top := &b.stack[n-1]
		parent = top.child
		if top.leaf {
			top.leaf = false
		}
		b.flushNested(pl, top)
	}
	k := b.keys.Key(name)
	b.stack = append(b.stack, frame{name: k, parent: parent, child: b.childSection(parent, k),
		leaf: true, keySub: -1, p0: len(b.cparts)})
	return p, nil
}

// plausibleName reports whether a name offset read from an element header at
// pos, whose fixed part ends at after, can be right: the name is inline right
// after, or was written earlier in the chunk.
func plausibleName(off, pos, after int) bool {
	return off == after || (off >= chunkHeaderSize && off < pos)
}

// childSection returns the section of the children of element name in parent.
func (b *binxml) childSection(parent section, name event.Key) section {
	switch parent {
	case secRoot:
		return secEvent
	case secEvent:
		switch name {
		case b.kSystem:
			return secSystem
		case b.kEventData:
			return secEventData
		case b.kRendering:
			return secSkip
		}
		return secLeaves
	case secSystem, secSystemDeep:
		return secSystemDeep
	case secSkip:
		return secSkip
	}
	return secLeaves
}

// flushNested turns the substitutions met so far in a non-leaf element's
// content into nested-BinXML steps and drops its text.
func (b *binxml) flushNested(pl *plan, f *frame) {
	for _, pt := range b.cparts[f.p0:] {
		if pt.sub >= 0 {
			pl.ops = append(pl.ops, op{kind: opNested, sub: pt.sub, keySub: -1, child: f.child})
		}
	}
	b.cparts = b.cparts[:f.p0]
}

// addPart adds content to the attribute being read or to the open element.
func (b *binxml) addPart(p part) {
	if b.inAttr {
		b.aparts = append(b.aparts, p)
		return
	}
	if len(b.stack) > 0 {
		b.cparts = append(b.cparts, p)
	}
}

// valueText reads a value token (text in the template).
func (b *binxml) valueText(pos, end int) (int, error) {
	if pos+2 > end {
		return 0, b.bounds("value", pos, 2, end)
	}
	if t := b.c[pos+1]; t != typString {
		return 0, fmt.Errorf("value token of type 0x%02x at chunk offset %d: unsupported", t, pos)
	}
	return b.text(pos+2, end)
}

// text reads a length-prefixed UTF-16 string as a text part.
func (b *binxml) text(pos, end int) (int, error) {
	if pos+2 > end {
		return 0, b.bounds("text", pos, 2, end)
	}
	n := 2 * int(le16(b.c, pos))
	if pos+2+n > end {
		return 0, b.bounds("text", pos, 2+n, end)
	}
	b.scratch = appendUTF16(b.scratch[:0], b.c[pos+2:pos+2+n])
	b.addPart(part{sub: -1, text: b.arena.String(b.scratch)})
	return pos + 2 + n, nil
}

// readName decodes the name at chunk offset off into b.name. A name written
// inline (off == pos) is skipped over; the position after it is returned.
func (b *binxml) readName(off, pos, end int) ([]byte, int, error) {
	c := b.c
	if off < 0 || off+8 > len(c) {
		return nil, 0, b.bounds("name", off, 8, len(c))
	}
	n := 2 * int(le16(c, off+6))
	if off+8+n > len(c) {
		return nil, 0, b.bounds("name", off, 8+n, len(c))
	}
	b.name = appendUTF16(b.name[:0], c[off+8:off+8+n])
	if off == pos {
		pos += 8 + n + 2 // header, characters, NUL
		if pos > end {
			return nil, 0, b.bounds("name", off, pos-off, end)
		}
	}
	return b.name, pos, nil
}

// endAttr finishes the attribute being read, if any.
func (b *binxml) endAttr(pl *plan) {
	if !b.inAttr {
		return
	}
	b.inAttr = false
	parts := b.aparts
	b.aparts = b.aparts[:0]
	f := &b.stack[len(b.stack)-1]
	switch f.parent {
	case secSystem:
		o := b.field(pl, b.systemAttrKey(f.name, b.attr), parts, secSystemDeep)
		o.attr = true
		if f.name == b.kTimeCreated && b.attr == b.kSystemTime {
			o.sp = spTime
		}
	case secEventData:
		if f.name != b.kData || b.attr != b.kName {
			return
		}
		switch {
		case len(parts) == 1 && parts[0].sub >= 0:
			f.keySub = parts[0].sub
		default:
			b.scratch = b.scratch[:0]
			for _, p := range parts {
				b.scratch = append(b.scratch, p.text...)
			}
			if len(b.scratch) > 0 { // <Data Name=""> stays "Data"
				f.key, f.hasKey = b.keys.Key(b.scratch), true
			}
		}
	}
	// Attributes elsewhere (UserData, xmlns, ...) are dropped, per the convention.
}

// systemAttrKey names a System attribute: TimeCreated/SystemTime is TimeCreated,
// Execution's ProcessID and ThreadID keep their names, EventID's Qualifiers is
// Qualifiers, others are Element_Attr (Provider_Name, Security_UserID, ...).
func (b *binxml) systemAttrKey(elem, attr event.Key) event.Key {
	switch {
	case elem == b.kTimeCreated && attr == b.kSystemTime:
		return b.kTimeCreated
	case elem == b.kExecution && (attr == b.kProcessID || attr == b.kThreadID),
		elem == b.kEventID && attr == b.kQualifiers:
		return attr
	}
	b.scratch = append(append(append(b.scratch[:0], elem.Value()...), '_'), attr.Value()...)
	return b.keys.Key(b.scratch)
}

// closeElement pops the open element and emits its leaf field or nested steps.
func (b *binxml) closeElement(pl *plan) {
	f := b.stack[len(b.stack)-1]
	b.stack = b.stack[:len(b.stack)-1]
	if !f.leaf {
		b.flushNested(pl, &f)
		return
	}
	parts := b.cparts[f.p0:]
	switch f.parent {
	case secRoot, secEvent:
		b.flushNested(pl, &f)
	case secSystem:
		if len(parts) > 0 {
			o := b.field(pl, f.name, parts, f.child)
			if f.name == b.kEventRecordID {
				o.sp = spRecordID
			}
		}
	case secEventData:
		key := f.name
		if f.hasKey {
			key = f.key
		}
		b.field(pl, key, parts, f.child).keySub = f.keySub
	case secLeaves, secSystemDeep:
		b.field(pl, f.name, parts, f.child)
	}
	b.cparts = b.cparts[:f.p0]
}

// field appends a field step valued by parts and returns it.
func (b *binxml) field(pl *plan, key event.Key, parts []part, child section) *op {
	o := op{kind: opField, key: key, child: child, sub: -1, keySub: -1}
	switch {
	case len(parts) == 1 && parts[0].sub >= 0:
		o.sub = parts[0].sub
	case allText(parts):
		switch len(parts) {
		case 0:
		case 1:
			o.static = parts[0].text
		default:
			b.scratch = b.scratch[:0]
			for _, p := range parts {
				b.scratch = append(b.scratch, p.text...)
			}
			o.static = b.arena.String(b.scratch)
		}
	default:
		o.p0 = int32(len(pl.parts))
		pl.parts = append(pl.parts, parts...)
		o.p1 = int32(len(pl.parts))
	}
	pl.ops = append(pl.ops, o)
	return &pl.ops[len(pl.ops)-1]
}

func allText(parts []part) bool {
	for _, p := range parts {
		if p.sub >= 0 {
			return false
		}
	}
	return true
}

// entity returns the text of an XML entity reference.
func entity(name []byte) string {
	switch string(name) {
	case "amp":
		return "&"
	case "lt":
		return "<"
	case "gt":
		return ">"
	case "quot":
		return `"`
	case "apos":
		return "'"
	}
	return "&" + string(name) + ";"
}

// appendUTF16 appends UTF-16LE b as UTF-8, dropping trailing NULs. ASCII text,
// the common case, is converted four code units at a time.
func appendUTF16(dst, b []byte) []byte {
	n := len(b) / 2
	for n > 0 && b[2*n-2] == 0 && b[2*n-1] == 0 {
		n--
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	i := 0
	for ; i+4 <= n; i += 4 {
		v := binary.LittleEndian.Uint64(b[2*i:])
		if v&0xff80ff80ff80ff80 != 0 {
			return appendUTF16Slow(dst[:start+i], b[2*i:2*n])
		}
		out[i], out[i+1], out[i+2], out[i+3] = byte(v), byte(v>>16), byte(v>>32), byte(v>>48)
	}
	for ; i < n; i++ {
		lo, hi := b[2*i], b[2*i+1]
		if hi != 0 || lo >= 0x80 {
			return appendUTF16Slow(dst[:start+i], b[2*i:2*n])
		}
		out[i] = lo
	}
	return dst
}

func appendUTF16Slow(dst, b []byte) []byte {
	for i := 0; i+1 < len(b); i += 2 {
		r := rune(le16(b, i))
		if r >= 0xd800 && r < 0xdc00 && i+3 < len(b) {
			if r2 := rune(le16(b, i+2)); r2 >= 0xdc00 && r2 < 0xe000 {
				r = (r-0xd800)<<10 + (r2 - 0xdc00) + 0x10000
				i += 2
			}
		}
		dst = utf8.AppendRune(dst, r) // lone surrogates become U+FFFD
	}
	return dst
}
