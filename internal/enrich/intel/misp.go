package intel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

type mispTag struct {
	Name string `json:"name"`
}

type mispAttribute struct {
	UUID      string    `json:"uuid"`
	Type      string    `json:"type"`
	Value     string    `json:"value"`
	ToIDs     flexBool  `json:"to_ids"`
	Deleted   flexBool  `json:"deleted"`
	Comment   string    `json:"comment"`
	FirstSeen string    `json:"first_seen"`
	LastSeen  string    `json:"last_seen"`
	Tag       []mispTag `json:"Tag"`
}

type mispEvent struct {
	UUID          string                `json:"uuid"`
	Info          string                `json:"info"`
	ThreatLevelID string                `json:"threat_level_id"`
	Orgc          struct{ Name string } `json:"Orgc"`
	Tag           []mispTag             `json:"Tag"`
	Attribute     []mispAttribute       `json:"Attribute"`
	Object        []struct {
		Attribute []mispAttribute `json:"Attribute"`
	} `json:"Object"`
}

// flexBool decodes MISP's booleans, written as true/false, 0/1 or "0"/"1".
type flexBool bool

func (b *flexBool) UnmarshalJSON(p []byte) error {
	switch string(bytes.Trim(p, `"`)) {
	case "true", "1", "True":
		*b = true
	case "false", "0", "False", "", "null":
		*b = false
	default:
		return fmt.Errorf("decoding boolean %s", p)
	}
	return nil
}

// mispThreatConfidence maps threat_level_id (1 high, 2 medium, 3 low, 4 undefined).
var mispThreatConfidence = map[string]float64{"1": 0.9, "2": 0.6, "3": 0.3}

// ParseMISP reads a MISP feed event file ({"Event":{...}}, as a MISP feed's
// <uuid>.json; also {"response":[{"Event":...}]} and an array of those, as the REST
// API writes them). Attributes of the event and of its objects with types ip-src,
// ip-dst (also "|port"), domain, hostname, domain|ip, url, md5, sha1, sha256 and
// filename|md5/sha1/sha256 become indicators; to_ids=false and deleted attributes
// are rejected (counted), other types counted as Unsupported. The event's
// threat_level_id gives the confidence (1: 0.9, 2: 0.6, 3: 0.3), its tags and the
// attribute's tags the labels, its creator organisation the Source.
func ParseMISP(name string, r io.Reader) (*Feed, error) {
	f := &Feed{Name: name}
	data, err := io.ReadAll(r)
	if err != nil {
		return f, fmt.Errorf("reading MISP feed %s: %w", name, err)
	}
	var events []mispEvent
	data = bytes.TrimSpace(data)
	type wrapped struct {
		Event    *mispEvent `json:"Event"`
		Response []struct {
			Event *mispEvent `json:"Event"`
		} `json:"response"`
	}
	collect := func(w wrapped) {
		if w.Event != nil {
			events = append(events, *w.Event)
		}
		for _, x := range w.Response {
			if x.Event != nil {
				events = append(events, *x.Event)
			}
		}
	}
	if len(data) > 0 && data[0] == '[' {
		var ws []wrapped
		if err := json.Unmarshal(data, &ws); err != nil {
			return f, fmt.Errorf("decoding MISP feed %s: %w", name, err)
		}
		for _, w := range ws {
			collect(w)
		}
	} else {
		var w wrapped
		if err := json.Unmarshal(data, &w); err != nil {
			return f, fmt.Errorf("decoding MISP feed %s: %w", name, err)
		}
		collect(w)
	}
	if len(events) == 0 {
		return f, fmt.Errorf("decoding MISP feed %s: no Event object", name)
	}
	for i := range events {
		mispEventTo(f, &events[i])
	}
	return f, nil
}

func mispEventTo(f *Feed, ev *mispEvent) {
	base := Indicator{Feed: f.Name, Source: ev.Orgc.Name, Description: ev.Info, Confidence: -1}
	if c, ok := mispThreatConfidence[strings.TrimSpace(ev.ThreatLevelID)]; ok {
		base.Confidence = c
	}
	for _, t := range ev.Tag {
		base.Labels = appendLabels(base.Labels, t.Name)
	}
	// An attribute's place is its uuid, else its JSON path in the event (an object's
	// attributes counted within the object, not after the event's own).
	place := func(a *mispAttribute, path string, i int) string {
		if a.UUID = strings.TrimSpace(a.UUID); a.UUID != "" { // " " is no id
			return f.Name + ":" + a.UUID
		}
		return fmt.Sprintf("%s:%s/%sAttribute[%d]", f.Name, strings.TrimSpace(ev.UUID), path, i)
	}
	for i := range ev.Attribute {
		mispAttributeTo(f, base, &ev.Attribute[i], place(&ev.Attribute[i], "", i))
	}
	for j := range ev.Object {
		for i := range ev.Object[j].Attribute {
			a := &ev.Object[j].Attribute[i]
			mispAttributeTo(f, base, a, place(a, fmt.Sprintf("Object[%d]/", j), i))
		}
	}
}

func mispAttributeTo(f *Feed, base Indicator, a *mispAttribute, place string) {
	if a.Deleted {
		f.reject(place, "attribute is deleted")
		return
	}
	if !a.ToIDs {
		f.reject(place, "to_ids is false (not for detection)")
		return
	}
	type part struct {
		kind Kind
		v    string
	}
	var parts []part
	left, right, piped := strings.Cut(a.Value, "|")
	switch strings.ToLower(a.Type) {
	case "ip-src", "ip-dst":
		parts = []part{{KindCIDR, a.Value}}
	case "ip-src|port", "ip-dst|port":
		parts = []part{{KindCIDR, left}}
	case "domain", "hostname":
		parts = []part{{KindDomain, a.Value}}
	case "domain|ip", "hostname|ip":
		parts = []part{{KindDomain, left}}
		if piped {
			parts = append(parts, part{KindCIDR, right})
		}
	case "url":
		parts = []part{{KindURL, a.Value}}
	case "md5", "sha1", "sha256":
		k, _ := ParseKind(a.Type)
		parts = []part{{k, a.Value}}
	case "filename|md5", "filename|sha1", "filename|sha256":
		k, _ := ParseKind(strings.TrimPrefix(strings.ToLower(a.Type), "filename|"))
		if !piped {
			f.reject(place, fmt.Sprintf("%s value has no '|'", a.Type))
			return
		}
		parts = []part{{k, right}}
	default:
		f.Unsupported++
		f.reject(place, fmt.Sprintf("attribute type %q is not supported", a.Type))
		return
	}
	base.ID = a.UUID
	if a.Comment != "" {
		base.Description = a.Comment
	}
	var err error
	if base.FirstSeen, err = parseTime(a.FirstSeen); err != nil {
		f.reject(place, err.Error())
		return
	}
	base.Labels = append([]string(nil), base.Labels...)
	for _, t := range a.Tag {
		base.Labels = appendLabels(base.Labels, t.Name)
	}
	for _, p := range parts {
		k, v, err := Normalize(p.kind, p.v)
		if err != nil {
			f.reject(place, err.Error())
			continue
		}
		in := base
		in.Kind, in.Value = k, v
		f.Indicators = append(f.Indicators, in)
	}
}
