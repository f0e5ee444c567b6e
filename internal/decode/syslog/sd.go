package syslog

import (
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// keySDID is repeated once per SD-ELEMENT with the element's SD-ID.
var keySDID = event.MakeKey("syslog.sd_id")

// sdParser walks RFC 5424 STRUCTURED-DATA, reusing its buffers between lines.
type sdParser struct {
	name []byte
	val  []byte
}

// parse adds each SD-PARAM of sd to e as syslog.sd.<SD-ID>.<PARAM-NAME>.
func (p *sdParser) parse(e *event.Event, sd string, keys *decode.KeyCache, ar *decode.Arena) error {
	_, err := p.walk(sd, e, keys, ar)
	return err
}

// walk scans the SD-ELEMENTs at the start of s and returns their length. With a nil
// e it only measures; otherwise it adds the parameters to e.
func (p *sdParser) walk(s string, e *event.Event, keys *decode.KeyCache, ar *decode.Arena) (int, error) {
	i := 0
	for i < len(s) && s[i] == '[' {
		i++
		start := i
		for i < len(s) && isSDName(s[i]) {
			i++
		}
		if i == start || i-start > 32 {
			return 0, fmt.Errorf("bad SD-ID at offset %d of structured data", start)
		}
		id := s[start:i]
		if e != nil {
			e.AddRaw(keySDID, id)
		}
		for i < len(s) && s[i] == ' ' {
			i++
			ns := i
			for i < len(s) && isSDName(s[i]) {
				i++
			}
			if i == ns || i-ns > 32 {
				return 0, fmt.Errorf("bad PARAM-NAME in SD-ELEMENT %q", id)
			}
			name := s[ns:i]
			if i+1 >= len(s) || s[i] != '=' || s[i+1] != '"' {
				return 0, fmt.Errorf("PARAM-NAME %q in SD-ELEMENT %q is not followed by =\"", name, id)
			}
			i += 2
			vs, escaped := i, false
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					escaped = true
					i++
				}
				i++
			}
			if i >= len(s) {
				return 0, errors.New("structured data ends inside a PARAM-VALUE")
			}
			if e != nil {
				p.add(e, id, name, s[vs:i], escaped, keys, ar)
			}
			i++ // closing quote
		}
		if i >= len(s) || s[i] != ']' {
			return 0, fmt.Errorf("SD-ELEMENT %q is not closed by ']'", id)
		}
		i++
	}
	return i, nil
}

func (p *sdParser) add(e *event.Event, id, name, v string, escaped bool, keys *decode.KeyCache, ar *decode.Arena) {
	p.name = append(append(append(append(p.name[:0], "syslog.sd."...), id...), '.'), name...)
	if escaped {
		p.val = p.val[:0]
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\' || v[i+1] == ']') {
				i++
			}
			p.val = append(p.val, v[i])
		}
		v = ar.String(p.val)
	}
	e.AddRaw(keys.Key(p.name), v)
}

// isSDName reports whether c may appear in an SD-NAME: printable US-ASCII except
// '=', space, ']' and '"'.
func isSDName(c byte) bool {
	return c > ' ' && c < 0x7f && c != '=' && c != ']' && c != '"'
}
