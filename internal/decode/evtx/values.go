package evtx

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/event"
)

// BinXML value types.
const (
	typNull       = 0x00
	typString     = 0x01
	typAnsi       = 0x02
	typInt8       = 0x03
	typUint8      = 0x04
	typInt16      = 0x05
	typUint16     = 0x06
	typInt32      = 0x07
	typUint32     = 0x08
	typInt64      = 0x09
	typUint64     = 0x0a
	typReal32     = 0x0b
	typReal64     = 0x0c
	typBool       = 0x0d
	typBinary     = 0x0e
	typGUID       = 0x0f
	typSizeT      = 0x10
	typFileTime   = 0x11
	typSystemTime = 0x12
	typSID        = 0x13
	typHexInt32   = 0x14
	typHexInt64   = 0x15
	typEvtHandle  = 0x20
	typBinXML     = 0x21
	typEvtXML     = 0x23
	typArray      = 0x80
)

// smallInts holds the decimal text of small integers, the most common values
// (Level, Task, Opcode, Version, ...), so rendering them allocates nothing.
var smallInts = func() [1024]string {
	var t [1024]string
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// apply emits the fields of plan pl for substitution values subs.
func (b *binxml) apply(pl *plan, subs []subValue, depth int) error {
	for i := range pl.ops {
		o := &pl.ops[i]
		if o.kind == opNested {
			if v, ok := sub(subs, o.sub); ok && v.typ == typBinXML {
				if err := b.fragment(int(v.off), int(v.off+v.size), o.child, depth+1); err != nil {
					return err
				}
			}
			continue
		}
		switch {
		case o.sub >= 0:
			if err := b.emitSub(o, subs, depth); err != nil {
				return err
			}
		case o.p0 == o.p1:
			if o.attr && o.static == "" {
				continue
			}
			b.emit(o, o.key, o.static)
		default:
			if err := b.emitMixed(o, pl.parts[o.p0:o.p1], subs, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// sub returns substitution i; a reference past the array reads as null.
func sub(subs []subValue, i int32) (subValue, bool) {
	if int(i) < len(subs) {
		return subs[i], true
	}
	return subValue{}, false
}

// emitSub emits a field whose value is one substitution.
func (b *binxml) emitSub(o *op, subs []subValue, depth int) error {
	v, _ := sub(subs, o.sub)
	if v.typ == typBinXML {
		return b.fragment(int(v.off), int(v.off+v.size), o.child, depth+1)
	}
	key := o.key
	if o.keySub >= 0 {
		k, ok := b.dynamicKey(subs, o.keySub)
		if !ok {
			return nil
		}
		key = k
	}
	data := b.c[v.off : v.off+v.size]
	if v.typ == typNull || len(data) == 0 {
		if !o.attr {
			b.emit(o, key, "")
		}
		return nil
	}
	if o.sp == spTime && v.typ == typFileTime && len(data) == 8 {
		b.timeFT, b.hasFT = le64(data, 0), true
	}
	if v.typ&typArray != 0 {
		eachItem(v.typ&^typArray, data, func(item []byte) {
			b.scratch = appendValue(b.scratch[:0], v.typ&^typArray, item)
			b.emit(o, key, b.arena.String(b.scratch))
		})
		return nil
	}
	b.emit(o, key, b.render(v.typ, data))
	return nil
}

// render returns the text of a scalar value.
func (b *binxml) render(typ uint8, data []byte) string {
	switch typ {
	case typUint8:
		if len(data) == 1 {
			return smallInts[data[0]]
		}
	case typUint16:
		if len(data) != 2 {
			break
		}
		if n := le16(data, 0); n < uint16(len(smallInts)) {
			return smallInts[n]
		}
	case typUint32:
		if len(data) == 4 {
			if n := le32(data, 0); n < uint32(len(smallInts)) {
				return smallInts[n]
			}
		}
	}
	b.scratch = appendValue(b.scratch[:0], typ, data)
	if len(b.scratch) == 0 {
		return ""
	}
	return b.arena.String(b.scratch)
}

// dynamicKey returns the key named by a substitution (<Data Name="%n">).
func (b *binxml) dynamicKey(subs []subValue, i int32) (event.Key, bool) {
	v, _ := sub(subs, i)
	if v.typ&typArray != 0 || v.typ == typBinXML {
		return event.Key{}, false
	}
	b.scratch = appendValue(b.scratch[:0], v.typ, b.c[v.off:v.off+v.size])
	if len(b.scratch) == 0 {
		return b.kData, true
	}
	return b.keys.Key(b.scratch), true
}

// emitMixed emits a field whose value mixes text and substitutions.
func (b *binxml) emitMixed(o *op, parts []part, subs []subValue, depth int) error {
	var text []byte // b.scratch is used by appendValue: build apart
	for _, p := range parts {
		if p.sub < 0 {
			text = append(text, p.text...)
			continue
		}
		v, _ := sub(subs, p.sub)
		if v.typ == typBinXML {
			if err := b.fragment(int(v.off), int(v.off+v.size), o.child, depth+1); err != nil {
				return err
			}
			continue
		}
		data := b.c[v.off : v.off+v.size]
		if v.typ&typArray != 0 {
			first := true
			eachItem(v.typ&^typArray, data, func(item []byte) {
				if !first {
					text = append(text, ' ')
				}
				first = false
				text = appendValue(text, v.typ&^typArray, item)
			})
			continue
		}
		text = appendValue(text, v.typ, data)
	}
	if o.attr && len(text) == 0 {
		return nil
	}
	b.emit(o, o.key, b.arena.String(text))
	return nil
}

// emit adds a raw field and notes the values the decoder needs.
func (b *binxml) emit(o *op, key event.Key, v string) {
	switch o.sp {
	case spTime:
		if !b.hasFT {
			b.timeText = v
		}
	case spRecordID:
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			b.recordID = n
		}
	}
	b.e.AddRaw(key, v)
}

// itemSize is the size of one element of an array of typ, 0 when variable.
func itemSize(typ uint8, total int) int {
	switch typ {
	case typInt8, typUint8:
		return 1
	case typInt16, typUint16:
		return 2
	case typInt32, typUint32, typReal32, typBool, typHexInt32:
		return 4
	case typInt64, typUint64, typReal64, typFileTime, typHexInt64:
		return 8
	case typGUID, typSystemTime:
		return 16
	case typSizeT:
		if total%8 == 0 {
			return 8
		}
		return 4
	}
	return 0
}

// eachItem calls fn with each element of an array value.
func eachItem(typ uint8, data []byte, fn func([]byte)) {
	switch typ {
	case typString:
		start := 0
		for i := 0; i+1 < len(data); i += 2 {
			if data[i] == 0 && data[i+1] == 0 {
				fn(data[start:i])
				start = i + 2
			}
		}
		if start < len(data)-1 {
			fn(data[start:])
		}
		return
	case typAnsi:
		start := 0
		for i, c := range data {
			if c == 0 {
				fn(data[start:i])
				start = i + 1
			}
		}
		if start < len(data) {
			fn(data[start:])
		}
		return
	case typSID:
		for len(data) >= 8 {
			n := 8 + 4*int(data[1])
			if n > len(data) {
				n = len(data)
			}
			fn(data[:n])
			data = data[n:]
		}
		return
	}
	size := itemSize(typ, len(data))
	if size == 0 {
		fn(data)
		return
	}
	for len(data) >= size {
		fn(data[:size])
		data = data[size:]
	}
}

const hexUpper = "0123456789ABCDEF"

// appendValue appends the text of a scalar value as Windows renders it in XML.
// A value whose size does not fit its type is rendered as hex bytes.
func appendValue(dst []byte, typ uint8, d []byte) []byte {
	switch typ {
	case typNull:
		return dst
	case typString, typEvtXML:
		return appendUTF16(dst, d)
	case typAnsi:
		for len(d) > 0 && d[len(d)-1] == 0 {
			d = d[:len(d)-1]
		}
		if utf8.Valid(d) {
			return append(dst, d...)
		}
		for _, c := range d { // Windows-1252 is close enough to Latin-1 here
			dst = utf8.AppendRune(dst, rune(c))
		}
		return dst
	case typInt8:
		if len(d) == 1 {
			return strconv.AppendInt(dst, int64(int8(d[0])), 10)
		}
	case typUint8:
		if len(d) == 1 {
			return strconv.AppendUint(dst, uint64(d[0]), 10)
		}
	case typInt16:
		if len(d) == 2 {
			return strconv.AppendInt(dst, int64(int16(le16(d, 0))), 10)
		}
	case typUint16:
		if len(d) == 2 {
			return strconv.AppendUint(dst, uint64(le16(d, 0)), 10)
		}
	case typInt32:
		if len(d) == 4 {
			return strconv.AppendInt(dst, int64(int32(le32(d, 0))), 10)
		}
	case typUint32:
		if len(d) == 4 {
			return strconv.AppendUint(dst, uint64(le32(d, 0)), 10)
		}
	case typInt64:
		if len(d) == 8 {
			return strconv.AppendInt(dst, int64(le64(d, 0)), 10)
		}
	case typUint64:
		if len(d) == 8 {
			return strconv.AppendUint(dst, le64(d, 0), 10)
		}
	case typReal32:
		if len(d) == 4 {
			return strconv.AppendFloat(dst, float64(math.Float32frombits(le32(d, 0))), 'g', -1, 32)
		}
	case typReal64:
		if len(d) == 8 {
			return strconv.AppendFloat(dst, math.Float64frombits(le64(d, 0)), 'g', -1, 64)
		}
	case typBool:
		if len(d) == 4 || len(d) == 1 || len(d) == 2 {
			for _, c := range d {
				if c != 0 {
					return append(dst, "true"...)
				}
			}
			return append(dst, "false"...)
		}
	case typGUID:
		if len(d) == 16 {
			return appendGUID(dst, d)
		}
	case typSizeT, typHexInt32, typHexInt64, typEvtHandle:
		switch len(d) {
		case 4:
			return strconv.AppendUint(append(dst, '0', 'x'), uint64(le32(d, 0)), 16)
		case 8:
			return strconv.AppendUint(append(dst, '0', 'x'), le64(d, 0), 16)
		}
	case typFileTime:
		if len(d) == 8 {
			return appendFileTime(dst, le64(d, 0))
		}
	case typSystemTime:
		if len(d) == 16 {
			return appendSystemTime(dst, d)
		}
	case typSID:
		if s, ok := appendSID(dst, d); ok {
			return s
		}
	}
	return appendHex(dst, d)
}

func appendHex(dst, d []byte) []byte {
	for _, c := range d {
		dst = append(dst, hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}

// appendGUID renders a GUID as {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.
func appendGUID(dst, d []byte) []byte {
	dst = append(dst, '{')
	for _, i := range [...]int{3, 2, 1, 0} {
		dst = append(dst, hexUpper[d[i]>>4], hexUpper[d[i]&15])
	}
	dst = append(dst, '-', hexUpper[d[5]>>4], hexUpper[d[5]&15], hexUpper[d[4]>>4], hexUpper[d[4]&15])
	dst = append(dst, '-', hexUpper[d[7]>>4], hexUpper[d[7]&15], hexUpper[d[6]>>4], hexUpper[d[6]&15], '-')
	dst = appendHex(dst, d[8:10])
	dst = append(dst, '-')
	dst = appendHex(dst, d[10:16])
	return append(dst, '}')
}

// appendSID renders a binary SID as S-R-A-S1-S2-...
func appendSID(dst, d []byte) ([]byte, bool) {
	if len(d) < 8 || len(d) < 8+4*int(d[1]) {
		return dst, false
	}
	var auth uint64
	for _, c := range d[2:8] {
		auth = auth<<8 | uint64(c)
	}
	dst = append(dst, 'S', '-')
	dst = strconv.AppendUint(dst, uint64(d[0]), 10)
	dst = append(dst, '-')
	if auth < 1<<32 {
		dst = strconv.AppendUint(dst, auth, 10)
	} else {
		dst = strconv.AppendUint(append(dst, '0', 'x'), auth, 16)
	}
	for i := 0; i < int(d[1]); i++ {
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, uint64(le32(d, 8+4*i)), 10)
	}
	return dst, true
}

// Windows FILETIME: 100 ns intervals since 1601-01-01 UTC.
const (
	filetimeUnixEpoch = 116444736000000000
	ticksPerSecond    = 10000000
)

// filetime converts a FILETIME to a time (the zero FILETIME gives year 1601).
func filetime(ft uint64) time.Time {
	ticks := int64(ft - filetimeUnixEpoch) // wraps for years before 1970: fine, CheckTime rejects them
	if ft < filetimeUnixEpoch {
		ticks = -int64(filetimeUnixEpoch - ft)
	}
	sec, frac := ticks/ticksPerSecond, ticks%ticksPerSecond
	if frac < 0 {
		sec, frac = sec-1, frac+ticksPerSecond
	}
	return time.Unix(sec, frac*100).UTC()
}

// appendFileTime renders a FILETIME as RFC 3339 UTC with 7 fractional digits,
// as Windows does: 2019-03-19T23:34:25.4564760Z.
func appendFileTime(dst []byte, ft uint64) []byte {
	if ft >= 1<<63 {
		return appendHex(dst, []byte{byte(ft >> 56), byte(ft >> 48), byte(ft >> 40), byte(ft >> 32), byte(ft >> 24), byte(ft >> 16), byte(ft >> 8), byte(ft)})
	}
	secs := int64(ft / ticksPerSecond) // since 1601
	frac := int64(ft % ticksPerSecond)
	days := secs / 86400
	rem := secs % 86400
	y, m, d := civil(days - 134774) // 134774 days from 1601-01-01 to 1970-01-01
	return appendDateTime(dst, y, m, d, int(rem/3600), int(rem/60%60), int(rem%60), frac, 7)
}

// appendSystemTime renders a SYSTEMTIME (year, month, weekday, day, hour,
// minute, second, milliseconds) with 7 fractional digits.
func appendSystemTime(dst, d []byte) []byte {
	return appendDateTime(dst, int64(le16(d, 0)), int(le16(d, 2)), int(le16(d, 6)),
		int(le16(d, 8)), int(le16(d, 10)), int(le16(d, 12)), int64(le16(d, 14))*10000, 7)
}

func appendDateTime(dst []byte, y int64, mo, d, h, mi, s int, frac int64, digits int) []byte {
	dst = appendPadded(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, int64(mo), 2)
	dst = append(dst, '-')
	dst = appendPadded(dst, int64(d), 2)
	dst = append(dst, 'T')
	dst = appendPadded(dst, int64(h), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, int64(mi), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, int64(s), 2)
	dst = append(dst, '.')
	dst = appendPadded(dst, frac, digits)
	return append(dst, 'Z')
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(dst []byte, v int64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for v > 0 || i > len(buf)-width {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[i:]...)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func civil(z int64) (int64, int, int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := int(doy - (153*mp+2)/5 + 1)
	m := int(mp + 3)
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}
