package vulndb

import (
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/scan"
)

// decodeRecord reads a stored record (as json.Marshal wrote it) with
// fastjson: queries decode records on every cold lookup, and
// encoding/json's reflection was most of their time. TestCodecRoundTrip
// holds it to encoding/json's answer on every golang/vulndb record.
func decodeRecord(p *fastjson.Parser, data []byte) (*record, error) {
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, err
	}
	if v.Type() != fastjson.TypeObject {
		return nil, errors.New("not an object")
	}
	r := &record{
		ID:        str(v, "id"),
		Withdrawn: v.GetBool("withdrawn"),
		Aliases:   strs(v.GetArray("aliases")),
		Summary:   str(v, "summary"),
		URL:       str(v, "url"),
		Refs:      strs(v.GetArray("refs")),
	}
	if m := v.GetStringBytes("modified"); m != nil {
		if r.Modified, err = time.Parse(time.RFC3339Nano, string(m)); err != nil {
			return nil, fmt.Errorf("modified: %w", err)
		}
	}
	if r.Sev, err = decodeSeverity(v.Get("sev")); err != nil {
		return nil, err
	}
	for _, av := range v.GetArray("affected") {
		a := affect{
			Ecosystem: str(av, "eco"),
			Name:      str(av, "name"),
			Key:       str(av, "key"),
			Versions:  strs(av.GetArray("versions")),
			GitRanges: av.GetInt("git"),
		}
		for _, rv := range av.GetArray("ranges") {
			var vr verRange
			for _, ev := range rv.GetArray("ev") {
				vr.Events = append(vr.Events, event{Kind: str(ev, "k"), V: str(ev, "v")})
			}
			a.Ranges = append(a.Ranges, vr)
		}
		if sv := av.Get("symbols"); sv != nil {
			a.Symbols = symbolList{raw: sv.MarshalTo(nil)}
		}
		if a.Sev, err = decodeSeverity(av.Get("sev")); err != nil {
			return nil, err
		}
		r.Affected = append(r.Affected, a)
	}
	return r, nil
}

func decodeSeverity(v *fastjson.Value) (severity, error) {
	var s severity
	if v == nil {
		return s, nil
	}
	if l := v.GetStringBytes("level"); l != nil {
		lvl, err := scan.ParseSeverity(string(l))
		if err != nil {
			return s, err
		}
		s.Level = lvl
	}
	s.CVSS = str(v, "cvss")
	s.Score = v.GetFloat64("score")
	return s, nil
}

func str(v *fastjson.Value, key string) string { return string(v.GetStringBytes(key)) }

func strs(vs []*fastjson.Value) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		b, err := v.StringBytes()
		if err == nil {
			out = append(out, string(b))
		}
	}
	return out
}
