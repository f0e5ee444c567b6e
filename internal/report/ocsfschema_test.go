package report

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// Facts from the OCSF 1.3.0 schema, written down by hand for the conformance
// test (no schema file is copied here). Source: the OCSF schema sources at
// version 1.3.0 as bundled in mcm/pydantic-ocsf, ocsf/schemas/v1_3_0.json at
// commit 7895bfca4df1a069cf70c39eeb3fb5ea9afa8cab ("version": "1.3.0"), which
// holds ocsf/ocsf-schema's events/findings/{finding,detection_finding,
// incident_finding}.json, objects/*.json and dictionary.json at that version.
// base_event is not in that bundle; its attributes are those of
// ocsf/ocsf-schema events/base_event.json at 1.3.0 (the requirement levels
// below), with types from the bundled 1.3.0 dictionary.

// Requirement levels.
const (
	req = "required"
	rec = "recommended"
	opt = "optional"
)

// ocsfAttr is one attribute of a class or object: its requirement, its JSON
// type (integer, long, timestamp, string, boolean, object:<name>, or "" for an
// attribute we never emit and so do not type-check), whether it is an array,
// and the enum of an *_id attribute (id -> caption).
type ocsfAttr struct {
	Req     string
	Type    string
	Array   bool
	Enum    map[int]string
	Sibling string // the caption attribute that must equal Enum[id]
	Profile string // set when the attribute exists only with this profile applied
}

// Enums (dictionary.json 1.3.0 unless noted; 0 Unknown and 99 Other come from
// the dictionary for every *_id).
var (
	ocsfActivityEnum   = map[int]string{0: "Unknown", 1: "Create", 2: "Update", 3: "Close", 99: "Other"} // finding.json / incident_finding.json
	ocsfSeverityEnum   = map[int]string{0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal", 99: "Other"}
	ocsfConfidenceEnum = map[int]string{0: "Unknown", 1: "Low", 2: "Medium", 3: "High", 99: "Other"}
	ocsfImpactEnum     = map[int]string{0: "Unknown", 1: "Low", 2: "Medium", 3: "High", 4: "Critical", 99: "Other"}
	ocsfPriorityEnum   = map[int]string{0: "Unknown", 1: "Low", 2: "Medium", 3: "High", 4: "Critical", 99: "Other"}
	// finding.json 1.3.0 status_id.
	ocsfFindingStatusEnum = map[int]string{0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 99: "Other"}
	// incident_finding.json 1.3.0 status_id.
	ocsfIncidentStatusEnum = map[int]string{0: "Unknown", 1: "New", 2: "In Progress", 3: "On Hold", 4: "Resolved", 5: "Closed", 99: "Other"}
	// objects/analytic.json 1.3.0 type_id.
	ocsfAnalyticTypeEnum = map[int]string{0: "Unknown", 1: "Rule", 2: "Behavioral", 3: "Statistical", 4: "Learning (ML/DL)",
		5: "Fingerprinting", 6: "Tagging", 7: "Keyword Match", 8: "Regular Expressions", 9: "Exact Data Match",
		10: "Partial Data Match", 11: "Indexed Data Match", 99: "Other"}
	// observable type_id 1.3.0: the observable numbers of the dictionary types
	// (hostname_t 1, ip_t 2, mac_t 3, username_t 4, email_t 5, url_t 6,
	// file_name_t 7, file_hash_t 8, process_name_t 9, resource_uid_t 10, port_t
	// 11, subnet_t 12), dictionary attributes and objects.
	ocsfObservableTypeEnum = map[int]string{0: "Unknown", 1: "Hostname", 2: "IP Address", 3: "MAC Address", 4: "User Name",
		5: "Email Address", 6: "URL String", 7: "File Name", 8: "Hash", 9: "Process Name", 10: "Resource UID", 11: "Port",
		12: "Subnet", 13: "Command Line", 14: "Country", 15: "Process ID", 16: "HTTP User-Agent", 17: "CWE Object: uid",
		18: "CVE Object: uid", 19: "User Credential ID", 20: "Endpoint", 21: "User", 22: "Email", 23: "Uniform Resource Locator",
		24: "File", 25: "Process", 26: "Geo Location", 27: "Container", 28: "Registry Key", 29: "Registry Value",
		30: "Fingerprint", 99: "Other"}
)

// ocsfBaseEvent is base_event 1.3.0 (extended by finding and incident_finding).
func ocsfBaseEvent() map[string]ocsfAttr {
	return map[string]ocsfAttr{
		"activity_id":     {Req: req, Type: "integer", Enum: ocsfActivityEnum, Sibling: "activity_name"},
		"activity_name":   {Req: opt, Type: "string"},
		"category_name":   {Req: opt, Type: "string"},
		"category_uid":    {Req: req, Type: "integer", Enum: map[int]string{2: "Findings"}, Sibling: "category_name"},
		"class_name":      {Req: opt, Type: "string"},
		"class_uid":       {Req: req, Type: "integer"},
		"count":           {Req: opt, Type: "integer"},
		"duration":        {Req: opt, Type: "long"},
		"end_time":        {Req: opt, Type: "timestamp"},
		"enrichments":     {Req: opt, Array: true},
		"message":         {Req: rec, Type: "string"},
		"metadata":        {Req: req, Type: "object:metadata"},
		"observables":     {Req: rec, Type: "object:observable", Array: true},
		"raw_data":        {Req: opt, Type: "string"},
		"severity":        {Req: opt, Type: "string"},
		"severity_id":     {Req: req, Type: "integer", Enum: ocsfSeverityEnum, Sibling: "severity"},
		"start_time":      {Req: opt, Type: "timestamp"},
		"status":          {Req: opt, Type: "string"},
		"status_code":     {Req: opt, Type: "string"},
		"status_detail":   {Req: opt, Type: "string"},
		"status_id":       {Req: rec, Type: "integer"},
		"time":            {Req: req, Type: "timestamp"},
		"timezone_offset": {Req: rec, Type: "integer"},
		"type_name":       {Req: opt, Type: "string"},
		"type_uid":        {Req: req, Type: "long"},
		"unmapped":        {Req: opt, Type: "object:*"},
	}
}

func mergeAttrs(base map[string]ocsfAttr, more map[string]ocsfAttr) map[string]ocsfAttr {
	for k, v := range more {
		if b, ok := base[k]; ok {
			// A class refines an inherited attribute: keep what it does not restate.
			if v.Type == "" {
				v.Type, v.Array = b.Type, b.Array
			}
			if v.Enum == nil {
				v.Enum, v.Sibling = b.Enum, b.Sibling
			}
		}
		base[k] = v
	}
	return base
}

// ocsfClass is one event class: uid, caption, and every attribute it defines.
type ocsfClass struct {
	UID     int
	Caption string
	Attrs   map[string]ocsfAttr
}

// ocsfDetectionFinding is detection_finding 1.3.0 (class 2004): base_event,
// then finding.json (profile host), then detection_finding.json (profile
// security_control).
func ocsfDetectionFinding() ocsfClass {
	a := ocsfBaseEvent()
	mergeAttrs(a, map[string]ocsfAttr{ // finding.json 1.3.0
		"comment":          {Req: opt, Type: "string"},
		"confidence":       {Req: opt, Type: "string"},
		"confidence_id":    {Req: rec, Type: "integer", Enum: ocsfConfidenceEnum, Sibling: "confidence"},
		"confidence_score": {Req: opt, Type: "integer"},
		"device":           {Req: rec, Type: "object:device"},
		"end_time":         {Req: opt},
		"finding_info":     {Req: req, Type: "object:finding_info"},
		"start_time":       {Req: opt},
		"status":           {Req: opt},
		"status_id":        {Req: rec, Enum: ocsfFindingStatusEnum, Sibling: "status"},
		// profiles/host.json, applied by finding.json.
		"actor": {Req: opt, Profile: "host"},
	})
	mergeAttrs(a, map[string]ocsfAttr{ // detection_finding.json 1.3.0
		"evidences":       {Req: rec, Array: true},
		"impact":          {Req: opt, Type: "string"},
		"impact_id":       {Req: opt, Type: "integer", Enum: ocsfImpactEnum, Sibling: "impact"},
		"impact_score":    {Req: opt, Type: "integer"},
		"remediation":     {Req: opt},
		"resources":       {Req: rec, Array: true},
		"risk_level":      {Req: opt, Type: "string"},
		"risk_level_id":   {Req: opt, Type: "integer"},
		"risk_score":      {Req: opt, Type: "integer"},
		"risk_details":    {Req: opt, Type: "string"},
		"vulnerabilities": {Req: opt, Array: true},
		// profiles/security_control.json, applied by detection_finding.json.
		"action":         {Req: opt, Profile: "security_control"},
		"action_id":      {Req: rec, Profile: "security_control"},
		"attacks":        {Req: opt, Type: "object:attack", Array: true, Profile: "security_control"},
		"authorizations": {Req: opt, Profile: "security_control"},
		"disposition":    {Req: opt, Profile: "security_control"},
		"disposition_id": {Req: rec, Profile: "security_control"},
		"firewall_rule":  {Req: opt, Profile: "security_control"},
		"malware":        {Req: opt, Profile: "security_control"},
		"policy":         {Req: opt, Profile: "security_control"},
	})
	return ocsfClass{UID: 2004, Caption: "Detection Finding", Attrs: a}
}

// ocsfIncidentFinding is incident_finding 1.3.0 (class 2005). It extends
// base_event directly, not finding: it has no finding_info, only
// finding_info_list. Constraint at_least_one: assignee, assignee_group.
func ocsfIncidentFinding() ocsfClass {
	a := ocsfBaseEvent()
	mergeAttrs(a, map[string]ocsfAttr{
		"activity_id":         {Req: req},
		"activity_name":       {Req: opt},
		"assignee":            {Req: opt, Type: "object:user"},
		"assignee_group":      {Req: opt, Type: "object:group"},
		"attacks":             {Req: opt, Type: "object:attack", Array: true},
		"comment":             {Req: opt, Type: "string"},
		"confidence":          {Req: opt, Type: "string"},
		"confidence_id":       {Req: rec, Type: "integer", Enum: ocsfConfidenceEnum, Sibling: "confidence"},
		"confidence_score":    {Req: opt, Type: "integer"},
		"desc":                {Req: rec, Type: "string"},
		"end_time":            {Req: opt},
		"finding_info_list":   {Req: req, Type: "object:finding_info", Array: true},
		"impact":              {Req: rec, Type: "string"},
		"impact_id":           {Req: rec, Type: "integer", Enum: ocsfImpactEnum, Sibling: "impact"},
		"impact_score":        {Req: rec, Type: "integer"},
		"priority":            {Req: opt, Type: "string"},
		"priority_id":         {Req: rec, Type: "integer", Enum: ocsfPriorityEnum, Sibling: "priority"},
		"src_url":             {Req: rec, Type: "string"},
		"start_time":          {Req: opt},
		"status":              {Req: rec},
		"status_id":           {Req: req, Enum: ocsfIncidentStatusEnum, Sibling: "status"},
		"ticket":              {Req: opt},
		"is_suspected_breach": {Req: opt, Type: "boolean"},
		"verdict":             {Req: rec, Type: "string"},
		"verdict_id":          {Req: rec, Type: "integer"},
	})
	return ocsfClass{UID: 2005, Caption: "Incident Finding", Attrs: a}
}

// ocsfObjects are the 1.3.0 objects Vigil emits (objects/*.json; _entity
// supplies name and uid, recommended, to the objects that extend it).
var ocsfObjects = map[string]map[string]ocsfAttr{
	"metadata": {
		"correlation_uid": {Req: opt, Type: "string"}, "event_code": {Req: opt, Type: "string"},
		"extension": {Req: opt}, "extensions": {Req: opt, Array: true}, "labels": {Req: opt, Type: "string", Array: true},
		"log_level": {Req: opt, Type: "string"}, "log_name": {Req: rec, Type: "string"}, "log_provider": {Req: rec, Type: "string"},
		"log_version": {Req: opt, Type: "string"}, "logged_time": {Req: opt, Type: "timestamp"},
		"modified_time": {Req: opt, Type: "timestamp"}, "loggers": {Req: opt, Array: true},
		"original_time": {Req: rec, Type: "string"}, "processed_time": {Req: opt, Type: "timestamp"},
		"product": {Req: req, Type: "object:product"}, "profiles": {Req: opt, Type: "string", Array: true},
		"sequence": {Req: opt, Type: "integer"}, "tenant_uid": {Req: rec, Type: "string"},
		"uid": {Req: opt, Type: "string"}, "version": {Req: req, Type: "string"},
	},
	"product": { // extends _entity
		"feature": {Req: opt}, "cpe_name": {Req: opt, Type: "string"}, "lang": {Req: opt, Type: "string"},
		"name": {Req: rec, Type: "string"}, "path": {Req: opt, Type: "string"}, "uid": {Req: rec, Type: "string"},
		"url_string": {Req: opt, Type: "string"}, "vendor_name": {Req: req, Type: "string"}, "version": {Req: rec, Type: "string"},
	},
	"finding_info": {
		"analytic": {Req: rec, Type: "object:analytic"}, "attacks": {Req: opt, Type: "object:attack", Array: true},
		"created_time": {Req: opt, Type: "timestamp"}, "data_sources": {Req: opt, Type: "string", Array: true},
		"desc": {Req: opt, Type: "string"}, "first_seen_time": {Req: opt, Type: "timestamp"}, "kill_chain": {Req: opt, Array: true},
		"last_seen_time": {Req: opt, Type: "timestamp"}, "modified_time": {Req: opt, Type: "timestamp"},
		"product_uid": {Req: opt, Type: "string"}, "related_events": {Req: opt, Type: "object:related_event", Array: true},
		"related_analytics": {Req: opt, Type: "object:analytic", Array: true}, "src_url": {Req: opt, Type: "string"},
		"title": {Req: req, Type: "string"}, "types": {Req: opt, Type: "string", Array: true}, "uid": {Req: req, Type: "string"},
	},
	"analytic": { // extends _entity
		"category": {Req: opt, Type: "string"}, "desc": {Req: opt, Type: "string"}, "name": {Req: rec, Type: "string"},
		"type": {Req: opt, Type: "string"}, "type_id": {Req: req, Type: "integer", Enum: ocsfAnalyticTypeEnum, Sibling: "type"},
		"uid": {Req: rec, Type: "string"}, "version": {Req: opt, Type: "string"},
	},
	"attack": { // constraint at_least_one: tactic, technique, sub_technique
		"tactic": {Req: opt, Type: "object:tactic"}, "tactics": {Req: opt, Type: "object:tactic", Array: true},
		"technique": {Req: opt, Type: "object:technique"}, "sub_technique": {Req: opt, Type: "object:sub_technique"},
		"version": {Req: rec, Type: "string"},
	},
	"tactic":        {"name": {Req: rec, Type: "string"}, "src_url": {Req: opt, Type: "string"}, "uid": {Req: rec, Type: "string"}},
	"technique":     {"name": {Req: rec, Type: "string"}, "src_url": {Req: opt, Type: "string"}, "uid": {Req: rec, Type: "string"}},
	"sub_technique": {"name": {Req: rec, Type: "string"}, "src_url": {Req: opt, Type: "string"}, "uid": {Req: rec, Type: "string"}},
	"observable": {
		"name": {Req: req, Type: "string"}, "reputation": {Req: opt}, "type": {Req: opt, Type: "string"},
		"type_id": {Req: req, Type: "integer", Enum: ocsfObservableTypeEnum, Sibling: "type"}, "value": {Req: opt, Type: "string"},
	},
	"related_event": { // no time attribute in 1.3.0
		"attacks": {Req: opt, Type: "object:attack", Array: true}, "kill_chain": {Req: opt, Array: true},
		"observables": {Req: opt, Type: "object:observable", Array: true}, "product_uid": {Req: opt, Type: "string"},
		"type": {Req: opt, Type: "string"}, "type_name": {Req: opt, Type: "string"}, "type_uid": {Req: rec, Type: "long"},
		"uid": {Req: req, Type: "string"},
	},
}

// ocsfEntityObjects are the objects extending _entity, whose constraint is
// at_least_one of name and uid.
var ocsfEntityObjects = map[string]bool{"product": true, "analytic": true, "tactic": true, "technique": true, "sub_technique": true}

// ocsfReporter is what the checker reports to: a *testing.T, or fakeT in the
// test that shows the checker catches deviations.
type ocsfReporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// fakeT records whether anything was reported.
type fakeT struct{ failed bool }

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }

// ocsfChecker checks decoded findings against the tables above.
type ocsfChecker struct {
	t    ocsfReporter
	line int
}

func (c *ocsfChecker) errorf(path, format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("line %d %s: %s", c.line, path, fmt.Sprintf(format, args...))
}

// checkAttrs checks one object or event: no attribute it does not define (or
// whose profile is not applied), required ones present, types, enums and their
// captions.
func (c *ocsfChecker) checkAttrs(path string, v map[string]any, attrs map[string]ocsfAttr, profiles []string) {
	c.t.Helper()
	for k, spec := range attrs {
		if _, ok := v[k]; !ok && spec.Req == req && (spec.Profile == "" || slices.Contains(profiles, spec.Profile)) {
			c.errorf(path, "required attribute %s missing", k)
		}
	}
	for k, val := range v {
		spec, ok := attrs[k]
		if !ok {
			c.errorf(path, "attribute %s is not defined by the schema (belongs in unmapped)", k)
			continue
		}
		if spec.Profile != "" && !slices.Contains(profiles, spec.Profile) {
			c.errorf(path, "attribute %s needs profile %s, not in metadata.profiles %v", k, spec.Profile, profiles)
		}
		p := path + "." + k
		if spec.Array {
			arr, ok := val.([]any)
			if !ok {
				c.errorf(p, "want an array, got %T", val)
				continue
			}
			for i, e := range arr {
				c.checkValue(fmt.Sprintf("%s[%d]", p, i), e, spec, profiles)
			}
			continue
		}
		c.checkValue(p, val, spec, profiles)
		if spec.Enum != nil {
			n, _ := val.(float64)
			caption, ok := spec.Enum[int(n)]
			if !ok {
				c.errorf(p, "%v is not in the enum %v", val, spec.Enum)
			} else if sib, has := v[spec.Sibling]; has && int(n) != 99 && sib != caption {
				c.errorf(p, "%v means %q but %s is %q", val, caption, spec.Sibling, sib)
			}
		}
	}
}

// Plausible timestamp_t values (milliseconds): 2000-01-01 .. 2100-01-01.
const minMs, maxMs = 946684800000, 4102444800000

func (c *ocsfChecker) checkValue(p string, val any, spec ocsfAttr, profiles []string) {
	c.t.Helper()
	switch typ := spec.Type; {
	case typ == "":
		c.errorf(p, "attribute is defined but Vigil is not expected to emit it; add its type to the table")
	case typ == "string":
		if _, ok := val.(string); !ok {
			c.errorf(p, "want a string, got %T", val)
		}
	case typ == "boolean":
		if _, ok := val.(bool); !ok {
			c.errorf(p, "want a boolean, got %T", val)
		}
	case typ == "integer" || typ == "long" || typ == "timestamp":
		n, ok := val.(float64)
		if !ok || n != math.Trunc(n) {
			c.errorf(p, "want an integer, got %v", val)
			return
		}
		if typ == "integer" && (n > math.MaxInt32 || n < math.MinInt32) {
			c.errorf(p, "%v overflows integer_t", val)
		}
		if typ == "timestamp" && (n < minMs || n > maxMs) {
			c.errorf(p, "%v is not a time in milliseconds since the epoch", val)
		}
	case typ == "object:*":
		if _, ok := val.(map[string]any); !ok {
			c.errorf(p, "want an object, got %T", val)
		}
	case strings.HasPrefix(typ, "object:"):
		name := strings.TrimPrefix(typ, "object:")
		obj, ok := val.(map[string]any)
		if !ok {
			c.errorf(p, "want a %s object, got %T", name, val)
			return
		}
		attrs, ok := ocsfObjects[name]
		if !ok {
			c.errorf(p, "object %s is not in the table", name)
			return
		}
		c.checkAttrs(p, obj, attrs, profiles)
		c.checkConstraints(p, name, obj)
	}
}

func (c *ocsfChecker) checkConstraints(p, name string, obj map[string]any) {
	c.t.Helper()
	atLeastOne := func(keys ...string) {
		for _, k := range keys {
			if _, ok := obj[k]; ok {
				return
			}
		}
		c.errorf(p, "%s needs at least one of %v", name, keys)
	}
	if ocsfEntityObjects[name] {
		atLeastOne("name", "uid")
	}
	switch name {
	case "attack":
		atLeastOne("tactic", "technique", "sub_technique")
	case "observable":
		c.checkObservableValue(p, obj)
	case "sub_technique":
		if uid, _ := obj["uid"].(string); uid != "" && !regexp.MustCompile(`^T\d{4}\.\d{3}$`).MatchString(uid) {
			c.errorf(p, "sub_technique uid %q is not a sub-technique id", uid)
		}
	case "technique":
		if uid, _ := obj["uid"].(string); uid != "" && !regexp.MustCompile(`^T\d{4}$`).MatchString(uid) {
			c.errorf(p, "technique uid %q is not a technique id (sub-techniques go in sub_technique)", uid)
		}
	}
}

// checkObservableValue checks that the value fits the observable's type_id,
// by the 1.3.0 dictionary types' patterns and lengths.
func (c *ocsfChecker) checkObservableValue(p string, obj map[string]any) {
	c.t.Helper()
	id, _ := obj["type_id"].(float64)
	v, _ := obj["value"].(string)
	ok := true
	switch int(id) {
	case 1:
		ok = hostnameRE.MatchString(v)
	case 2:
		_, err := netip.ParseAddr(v)
		ok = err == nil && len(v) <= 40
	case 4, 7, 9:
		ok = v != ""
	case 5:
		ok = emailRE.MatchString(v)
	case 6:
		u, err := url.Parse(v)
		ok = err == nil && u.Scheme != ""
	case 8:
		_, err := hex.DecodeString(v)
		ok = err == nil && v != "" && len(v) <= 64
	case 99:
	default:
		ok = false
	}
	if !ok {
		c.errorf(p, "value %q does not fit observable type_id %v", v, id)
	}
}

// checkOCSFFinding checks one output line and returns its class_uid (0 when
// it is not one of the two classes).
func checkOCSFFinding(t ocsfReporter, line int, raw []byte) (classUID int) {
	t.Helper()
	c := &ocsfChecker{t: t, line: line}
	var f map[string]any
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Errorf("line %d: %v", line, err)
		return 0
	}
	var cls ocsfClass
	switch f["class_uid"] {
	case 2004.0:
		cls = ocsfDetectionFinding()
	case 2005.0:
		cls = ocsfIncidentFinding()
	default:
		t.Errorf("line %d: class_uid %v, want 2004 or 2005", line, f["class_uid"])
		return 0
	}
	var profiles []string
	if md, ok := f["metadata"].(map[string]any); ok {
		if ps, ok := md["profiles"].([]any); ok {
			for _, p := range ps {
				s, _ := p.(string)
				if !slices.Contains([]string{"host", "security_control", "cloud", "datetime", "osint"}, s) {
					c.errorf("metadata.profiles", "%q is not a 1.3.0 profile of this class", s)
				}
				profiles = append(profiles, s)
			}
		}
		if md["version"] != OCSFVersion {
			c.errorf("metadata.version", "%v, want %s", md["version"], OCSFVersion)
		}
	}
	c.checkAttrs("", f, cls.Attrs, profiles)
	act, _ := f["activity_id"].(float64)
	if f["type_uid"] != float64(cls.UID*100)+act {
		c.errorf("type_uid", "%v, want class_uid*100+activity_id = %v", f["type_uid"], float64(cls.UID*100)+act)
	}
	if f["class_name"] != cls.Caption {
		c.errorf("class_name", "%v, want %q", f["class_name"], cls.Caption)
	}
	if want := cls.Caption + ": " + ocsfActivityEnum[int(act)]; f["type_name"] != want {
		c.errorf("type_name", "%v, want %q", f["type_name"], want)
	}
	if f["category_uid"] != 2.0 {
		c.errorf("category_uid", "%v, want 2 (Findings)", f["category_uid"])
	}
	if s, ok := f["start_time"].(float64); ok {
		if e, ok := f["end_time"].(float64); ok && e < s {
			c.errorf("end_time", "%v before start_time %v", e, s)
		}
	}
	return cls.UID
}

// ocsfRichFixture has signals of every detector family (Sigma rule, behavioral,
// IOC), sub-techniques and techniques, tactics by name and unknown, evidence,
// every entity kind with good and bad values, and incidents in every
// priority band, one naming a signal that is not in the run.
func ocsfRichFixture() ([]detect.Signal, []correlate.Incident) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	all := []detect.Entity{
		{Kind: detect.EntityUser, Value: "alice@corp.example"}, {Kind: detect.EntityUser, Value: `CORP\bob`},
		{Kind: detect.EntityHost, Value: "dc01.corp.example"}, {Kind: detect.EntityHost, Value: "WS_01$"},
		{Kind: detect.EntityIP, Value: "203.0.113.7"}, {Kind: detect.EntityIP, Value: "2001:db8::1"}, {Kind: detect.EntityIP, Value: "not-an-ip"},
		{Kind: detect.EntityProcess, Value: `C:\Windows\System32\rundll32.exe`}, {Kind: detect.EntityFile, Value: "/tmp/x.sh"},
		{Kind: detect.EntityDomain, Value: "evil.example"}, {Kind: detect.EntityURL, Value: "https://evil.example/a?b=c"},
		{Kind: detect.EntityURL, Value: "no scheme"},
		{Kind: detect.EntityHash, Value: strings.Repeat("ab", 32)}, {Kind: detect.EntityHash, Value: strings.Repeat("cd", 64)},
		{Kind: detect.EntityWorkload, Value: "ns/deploy/web"}, {Kind: detect.EntityPrincipal, Value: "arn:aws:iam::123456789012:role/x"},
	}
	sigs := []detect.Signal{
		{ID: "s1", Time: t0, DetectorID: "sigma", DetectorVersion: "1", RuleID: "r1", Title: "Spray", Severity: detect.SeverityMedium,
			Confidence: 0.6, Tactics: []string{"credential-access"}, Techniques: []string{"T1110.003", "T1003"}, Entities: all,
			Explanation: detect.Explanation{Summary: "sum"}, Evidence: []detect.EvidenceRef{{EventID: "e1", Time: t0, Source: "a.json", Offset: 1}, {EventID: "e2", Time: t0}}},
		{ID: "s2", Time: t0.Add(time.Minute), DetectorID: "behavior.first_seen", RuleID: "first_seen.user_host", Title: "First",
			Severity: detect.SeverityCritical, Confidence: 0.95, Tactics: []string{"lateral-movement", "no-such-tactic"}, Entities: all[:3]},
		{ID: "s3", Time: t0.Add(2 * time.Minute), DetectorID: "ioc", RuleID: "ioc.domain", Title: "IOC", Severity: detect.SeverityInfo,
			Confidence: 0.1, Entities: all[9:10]},
		{ID: "s4", Time: t0.Add(3 * time.Minute), DetectorID: "sigma", RuleID: "r4", Title: "No confidence", Severity: detect.SeverityLow},
		{ID: "s5", Time: t0.Add(4 * time.Minute), DetectorID: "sigma", RuleID: "r5", Title: "Bad technique", Severity: detect.SeverityHigh,
			Confidence: 0.5, Techniques: []string{"T9999"}},
	}
	var incs []correlate.Incident
	for i, risk := range []float64{5, 25, 50, 90} {
		incs = append(incs, correlate.Incident{ID: fmt.Sprintf("inc-%d", i), Title: "t", Severity: detect.Severity(i + 1),
			Confidence: float64(i) / 4, Risk: risk, FirstSeen: t0, LastSeen: t0.Add(time.Duration(i) * time.Minute),
			Tactics: []string{"credential-access"}, Techniques: []string{"T1110.003"}, Entities: all,
			SignalIDs: []string{"s1", "s2", "missing"}})
	}
	return sigs, incs
}

func TestOCSFConformance(t *testing.T) {
	fixtures := map[string]func() ([]detect.Signal, []correlate.Incident){"golden": ocsfGoldenFixture, "rich": ocsfRichFixture}
	for name, fx := range fixtures {
		t.Run(name, func(t *testing.T) {
			sigs, incs := fx()
			var buf bytes.Buffer
			if err := Results(&buf, OCSFL, sigs, incs, nil); err != nil {
				t.Fatal(err)
			}
			lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
			if len(lines) != len(sigs)+len(incs) {
				t.Fatalf("%d lines, want %d", len(lines), len(sigs)+len(incs))
			}
			for i, l := range lines {
				want := 2004
				if i < len(incs) {
					want = 2005
				}
				if got := checkOCSFFinding(t, i, l); got != want {
					t.Errorf("line %d: class %d, want %d", i, got, want)
				}
			}
		})
	}
}

// TestOCSFCheckerCatches feeds the checker findings with known deviations, so
// that the conformance test can fail.
func TestOCSFCheckerCatches(t *testing.T) {
	sigs, _ := ocsfGoldenFixture()
	good, err := json.Marshal(detectionFinding(&sigs[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"undefined attribute", `"message":`, `"bogus":1,"message":`},
		{"related_event time", `"related_events":[{"uid":"e1"}]`, `"related_events":[{"uid":"e1","time":1772445600000}]`},
		{"severity caption", `"severity":"Medium"`, `"severity":"High"`},
		{"type_uid", `"type_uid":200401`, `"type_uid":200402`},
		{"seconds not ms", `"time":1772445600000`, `"time":1772445600`},
		{"observable type", `"type_id":2,"type":"IP Address"`, `"type_id":5,"type":"Email Address"`},
		{"profile attribute", `"message":`, `"attacks":[],"message":`},
		{"missing required", `"severity_id":3,`, ``},
		{"sub-technique as technique", `"sub_technique":{"uid":"T1110.003"`, `"technique":{"uid":"T1110.003"`},
	} {
		bad := strings.Replace(string(good), tc.from, tc.to, 1)
		if bad == string(good) {
			t.Fatalf("%s: %q not in %s", tc.name, tc.from, good)
		}
		ft := &fakeT{}
		checkOCSFFinding(ft, 0, []byte(bad))
		if !ft.failed {
			t.Errorf("%s: checker accepted %s", tc.name, bad)
		}
	}
	if ft := (&fakeT{}); checkOCSFFinding(ft, 0, good) != 2004 || ft.failed {
		t.Errorf("checker rejected the unaltered finding %s", good)
	}
}
