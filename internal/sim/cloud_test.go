package sim

import (
	"strconv"
	"testing"
)

func TestCloudTrail(t *testing.T) {
	dir, tr := generate(t, 12, 120, 7) // Monday to Sunday
	const name = "aws/cloudtrail.json"
	id, evs, byOff := decodeSimFile(t, dir, name)
	if id != "cloudtrail" {
		t.Fatalf("%s detected as %s", name, id)
	}
	wd, we := weekdayWeekend(evs, nil)
	if wd < 1.5*we || wd < 200 || wd > 20000 {
		t.Errorf("daily volume: weekday %.0f, weekend %.0f: want a few hundred to thousands, busier on weekdays", wd, we)
	}
	names := map[string]int{}
	for _, e := range evs {
		names[field(e, "eventName")+"/"+field(e, "eventCategory")]++
		if field(e, "cloud.account.id") == "" || field(e, "event.provider") == "" || field(e, "user.name") == "" {
			t.Fatalf("not normalized: %s", e.AppendJSON(nil))
		}
	}
	for _, want := range []string{"ConsoleLogin/Management", "AssumeRole/Management", "AssumeRoleWithWebIdentity/Management",
		"GetObject/Data", "PutObject/Data", "DescribeInstances/Management"} {
		if names[want] == 0 {
			t.Errorf("no benign %s", want)
		}
	}

	c := campaignByID(t, tr, "aws1")
	var attacker string
	principals := map[string]bool{}
	for _, en := range c.Entities {
		switch en.Kind {
		case "ip":
			attacker = en.Value
		case "cloud_principal":
			principals[en.Value] = true
		}
	}
	if len(principals) != 2 || attacker == "" {
		t.Fatalf("aws1 entities: %+v", c.Entities)
	}
	want := map[string][]string{
		"T1078.004": {"GetCallerIdentity"},
		"T1087.004": {"ListUsers"},
		"T1069.003": {"ListAttachedUserPolicies", "GetPolicyVersion"},
		"T1098.003": {"AttachUserPolicy", "CreatePolicyVersion"},
		"T1098.001": {"CreateAccessKey"},
		"T1580":     {"ListBuckets"},
		"T1619":     {"GetBucketAcl", "GetBucketPolicy", "ListObjects"},
		"T1530":     {"GetObject"},
		"T1537":     {"PutBucketPolicy", "PutBucketReplication"},
	}
	seen := map[string]int{}
	var out int64
	denied := 0 // the refused first attempt at AttachUserPolicy
	for _, ev := range c.Events {
		e := byOff[ev.Offset]
		if ev.File != name || e == nil {
			t.Fatalf("aws1: no record at %s@%d", ev.File, ev.Offset)
		}
		n := field(e, "eventName")
		ok := false
		for _, w := range want[ev.Technique] {
			ok = ok || n == w
		}
		if !ok {
			t.Errorf("aws1 %s: record is %s", ev.Technique, n)
		}
		if !e.Timestamp.Equal(ev.Time) {
			t.Errorf("aws1 %s: record time %s, truth %s", ev.Technique, e.Timestamp, ev.Time)
		}
		if got := field(e, "source.ip"); got != attacker {
			t.Errorf("aws1 %s: source %s, want the attacker %s", ev.Technique, got, attacker)
		}
		if arn := field(e, "userIdentity.arn"); !principals[arn] {
			t.Errorf("aws1 %s: principal %s is not a campaign entity", ev.Technique, arn)
		}
		if ev.Technique == "T1530" {
			b, _ := strconv.ParseInt(field(e, "additionalEventData.bytesTransferredOut"), 10, 64)
			out += b
		}
		if n == "CreatePolicyVersion" && field(e, "requestParameters.setAsDefault") != "true" {
			t.Errorf("aws1: CreatePolicyVersion without setAsDefault: %s", e.AppendJSON(nil))
		}
		if n == "AttachUserPolicy" && field(e, "errorCode") == "AccessDenied" && field(e, "event.outcome") == "failure" {
			denied++
		}
		seen[ev.Technique]++
	}
	for tech := range want {
		if seen[tech] == 0 {
			t.Errorf("aws1: no %s record", tech)
		}
	}
	if denied != 1 {
		t.Errorf("aws1: %d refused AttachUserPolicy, want 1", denied)
	}
	if seen["T1530"] < 80 || out < 100<<20 {
		t.Errorf("aws1 exfiltration: %d GetObject, %d bytes out", seen["T1530"], out)
	}
}
