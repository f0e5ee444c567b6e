package feedback

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

func TestRecord(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s1 := sig("s1", "sigma", "r1", 0, "host:ws-1", "user:alice")
	s2 := sig("s2", "sigma", "r2", time.Hour, "host:ws-1")
	if err := st.PutSignals(ctx, []detect.Signal{s1, s2}); err != nil {
		t.Fatal(err)
	}
	inc := correlate.Incident{ID: "inc-1", Status: correlate.StatusOpen, FirstSeen: s1.Time, LastSeen: s2.Time, SignalIDs: []string{"s1", "s2"}, Version: 2}
	empty := correlate.Incident{ID: "inc-empty", Status: correlate.StatusOpen, FirstSeen: t0, LastSeen: t0, SignalIDs: []string{"gone"}, Version: 1}
	for _, i := range []correlate.Incident{inc, empty} {
		if err := st.UpsertIncident(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		req         Request
		wantErr     error
		wantIn      string // in the error
		wantVerdict store.Verdict
		wantExpires time.Time
	}{
		{name: "incident, short verdict, relative expiry", req: Request{TargetKind: store.TargetIncident, TargetID: "inc-1", Verdict: "fp", Scope: "entity", Expires: "30d"},
			wantVerdict: store.VerdictFalsePositive, wantExpires: s2.Time.Add(30 * 24 * time.Hour)},
		{name: "signal, long verdict, hours", req: Request{TargetKind: store.TargetSignal, TargetID: "s1", Verdict: "Benign_True_Positive", Expires: "12h"},
			wantVerdict: store.VerdictBenignTruePositive, wantExpires: s1.Time.Add(12 * time.Hour)},
		{name: "rule, absolute expiry", req: Request{TargetKind: store.TargetRule, TargetID: "sigma/r1", Verdict: "tp", Expires: "2027-01-02T03:04:05Z"},
			wantVerdict: store.VerdictTruePositive, wantExpires: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)},
		{name: "entity, relative to the newest signal", req: Request{TargetKind: store.TargetEntity, TargetID: "host:ws-1", Verdict: "btp", Expires: "1d"},
			wantVerdict: store.VerdictBenignTruePositive, wantExpires: s2.Time.Add(24 * time.Hour)},
		{name: "unknown incident", req: Request{TargetKind: store.TargetIncident, TargetID: "inc-nope", Verdict: "fp"}, wantErr: store.ErrNotFound, wantIn: "inc-nope"},
		{name: "unknown signal", req: Request{TargetKind: store.TargetSignal, TargetID: "s-nope", Verdict: "fp"}, wantErr: store.ErrNotFound, wantIn: "s-nope"},
		{name: "incident without stored signals", req: Request{TargetKind: store.TargetIncident, TargetID: "inc-empty", Verdict: "fp"}, wantErr: store.ErrInvalid, wantIn: "inc-empty"},
		{name: "bad verdict", req: Request{TargetKind: store.TargetIncident, TargetID: "inc-1", Verdict: "maybe"}, wantErr: store.ErrInvalid, wantIn: "maybe"},
		{name: "bad kind", req: Request{TargetKind: "host", TargetID: "x", Verdict: "fp"}, wantErr: store.ErrInvalid, wantIn: "target_kind"},
		{name: "no target id", req: Request{TargetKind: store.TargetRule, Verdict: "fp"}, wantErr: store.ErrInvalid, wantIn: "target_id"},
		{name: "bad scope", req: Request{TargetKind: store.TargetIncident, TargetID: "inc-1", Verdict: "fp", Scope: "sideways"}, wantErr: store.ErrInvalid, wantIn: "sideways"},
		{name: "negative expiry", req: Request{TargetKind: store.TargetIncident, TargetID: "inc-1", Verdict: "fp", Expires: "-3d"}, wantErr: store.ErrInvalid, wantIn: "expires"},
		{name: "rule not detector/rule", req: Request{TargetKind: store.TargetRule, TargetID: "r1", Verdict: "fp"}, wantErr: store.ErrInvalid, wantIn: "detector/rule"},
		{name: "long reason", req: Request{TargetKind: store.TargetRule, TargetID: "sigma/r1", Verdict: "fp", Reason: strings.Repeat("x", MaxReason+1)}, wantErr: store.ErrInvalid, wantIn: "reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := st.ListAudit(ctx, store.AuditQuery{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Record(ctx, st, tc.req, "ana", now)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantIn) || !IsRequestError(err) {
					t.Fatalf("error %v, want %v naming %q", err, tc.wantErr, tc.wantIn)
				}
				after, _ := st.ListAudit(ctx, store.AuditQuery{Limit: 1000})
				if len(after.Items) != len(before.Items) {
					t.Errorf("a rejected verdict was audited")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Verdict != tc.wantVerdict || !got.Expires.Equal(tc.wantExpires) || got.Author != "ana" || !got.Created.Equal(now) ||
				!strings.HasPrefix(got.ID, "fb-") || got.TargetID != tc.req.TargetID {
				t.Errorf("recorded %+v", got)
			}
			page, err := st.ListFeedback(ctx, store.FeedbackQuery{TargetKind: tc.req.TargetKind, TargetID: tc.req.TargetID})
			if err != nil || len(page.Items) != 1 || page.Items[0].ID != got.ID {
				t.Errorf("stored: %v %+v", err, page.Items)
			}
			audit, err := st.ListAudit(ctx, store.AuditQuery{Limit: 1})
			if err != nil || len(audit.Items) != 1 {
				t.Fatalf("audit: %v", err)
			}
			a := audit.Items[0]
			if a.Actor != "ana" || a.Action != AuditAction || a.Target != string(tc.req.TargetKind)+":"+tc.req.TargetID || !strings.Contains(string(a.Details), got.ID) {
				t.Errorf("audit entry %+v", a)
			}
		})
	}
}

func TestParseVerdict(t *testing.T) {
	for in, want := range map[string]store.Verdict{"tp": store.VerdictTruePositive, "TRUE_POSITIVE": store.VerdictTruePositive,
		"btp": store.VerdictBenignTruePositive, "fp": store.VerdictFalsePositive, "false_positive": store.VerdictFalsePositive,
		"dup": store.VerdictDuplicate, "duplicate": store.VerdictDuplicate} {
		if got, err := ParseVerdict(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "t", "positive", "fp "} {
		if _, err := ParseVerdict(in); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%q: error %v, want ErrInvalid", in, err)
		}
	}
}

func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"30d", "12h", "90m", "2027-01-02T03:04:05Z", "-3d", "0d", "3651d", "1e9h", "", "d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseExpiry(s, t0)
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("%q: error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if _, perr := time.Parse(time.RFC3339, s); perr != nil && !got.After(t0) {
			t.Fatalf("%q: relative expiry %v not after its base", s, got)
		}
	})
}
