package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/ingest/replay"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// batch is one ingest request: a run of records of one source and format.
type batch struct {
	source, format string
	body           []byte
	n              int
}

// batches cuts records (without a context: NDJSON carries none) into requests.
func batches(recs []replay.Timed, size int) []batch {
	var out []batch
	var cur *batch
	for _, r := range recs {
		if len(r.Record.Context) > 0 {
			continue
		}
		src := strings.NewReplacer("/", "-", ":", "-", ".", "-").Replace(r.Record.Source)
		if cur == nil || cur.source != src || cur.format != r.Record.Format || cur.n == size {
			out = append(out, batch{source: src, format: r.Record.Format})
			cur = &out[len(out)-1]
		}
		if cur.n > 0 {
			cur.body = append(cur.body, '\n')
		}
		cur.body = append(cur.body, r.Record.Data...)
		cur.n++
	}
	return out
}

func send(ctx context.Context, addr, token string, b batch) (int, error) {
	u := fmt.Sprintf("http://%s/ingest/ndjson?format=%s&source=%s", addr, url.QueryEscape(b.format), url.QueryEscape(b.source))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// child is vigil serve running in another process (this test binary, see
// TestMain).
type child struct {
	cmd                *exec.Cmd
	httpAddr, ingestAd string
	stderr             *bytes.Buffer
	mu                 *sync.Mutex
	wantStore          string // what its status must name as the store ("" unchecked)
}

var serveLine = regexp.MustCompile(`serving the console and API on https?://([^\s,]+)(?:, ingest on (\S+))?`)

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"-test.run=^$", "--"}, args...)...) // #nosec G204 -- the test binary itself
	cmd.Env = append(os.Environ(), "VIGIL_TEST_MAIN=1")
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}, mu: &sync.Mutex{}}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			if m := serveLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
	}()
	go func() { _ = cmd.Wait(); _ = pw.Close() }()
	select {
	case m := <-found:
		c.httpAddr, c.ingestAd = m[1], m[2]
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("serve did not start:\n%s", c.log())
	}
	return c
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// status is what /api/v1/status says of the stream and the log.
type serveStatus struct {
	Ingest struct {
		Stream struct {
			Records  int64  `json:"records"`
			Position uint64 `json:"position"`
			Held     int    `json:"held_signals"`
			Models   bool   `json:"models_running"`
		} `json:"stream"`
		WAL struct {
			Last uint64 `json:"last"`
		} `json:"wal"`
	} `json:"ingest"`
}

func (c *child) status(t *testing.T, token string) serveStatus {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+c.httpAddr+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var s serveStatus
	if resp.StatusCode != 200 || json.Unmarshal(body, &s) != nil {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	return s
}

// waitIdle waits until the stream has processed the whole log and released
// what it held.
func (c *child) waitIdle(t *testing.T, token string, atLeast uint64) serveStatus {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		s := c.status(t, token)
		if s.Ingest.WAL.Last >= atLeast && s.Ingest.Stream.Position == s.Ingest.WAL.Last && s.Ingest.Stream.Held == 0 && !s.Ingest.Stream.Models {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("not idle: %+v (want the log at %d)\n%s", s, atLeast, c.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for c.cmd.ProcessState == nil {
			time.Sleep(20 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		t.Fatalf("serve did not stop on SIGTERM:\n%s", c.log())
	}
	if !c.cmd.ProcessState.Success() {
		t.Fatalf("serve ended with %v:\n%s", c.cmd.ProcessState, c.log())
	}
}

// storedIncidentSets is every stored incident (merged ones left out) with its
// sorted signal ids.
func storedIncidentSets(t *testing.T, dir string) map[string]string {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return incidentSets(t, st)
}

// incidentSets is every incident of st (merged ones left out) with its sorted
// signal ids.
func incidentSets(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	q := store.IncidentQuery{Limit: store.MaxLimit}
	for {
		page, err := st.ListIncidents(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range page.Items {
			if inc.Status == correlate.StatusMerged {
				continue
			}
			ids := slices.Clone(inc.SignalIDs)
			sort.Strings(ids)
			out[inc.ID] = strings.Join(ids, ",")
		}
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

type atomicInt struct {
	mu sync.Mutex
	n  int
}

func (a *atomicInt) set(n int) { a.mu.Lock(); a.n = n; a.mu.Unlock() }
func (a *atomicInt) get() int  { a.mu.Lock(); defer a.mu.Unlock(); return a.n }

func cli(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runCLI(t, args...)
	if code != ExitOK {
		t.Fatalf("%v: exit %d: %s", args, code, errs)
	}
	return strings.TrimSpace(out)
}

// TestServeCrashRecovery is the crash test: logs are sent to a serve in
// another process, which is killed with SIGKILL while requests are in flight;
// a new serve on the same data directory takes the rest (the sender resends
// what was not acknowledged). The stored incidents must equal those of a run
// that never crashed: no acknowledged record lost, no incident twice.
func TestServeCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test runs serve in child processes")
	}
	recs, _ := simRecords(t, 30, 4)
	bs := batches(recs, 400)
	total := 0
	for _, b := range bs {
		total += b.n
	}
	run := func(crashAt int) map[string]string {
		dir := t.TempDir()
		token := cli(t, "tokens", "create", "--data-dir", dir, "--name", "shipper", "--scope", "ingest")
		api := cli(t, "tokens", "create", "--data-dir", dir, "--name", "status", "--scope", "api", "--role", "viewer")
		args := []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--ingest-listen", "127.0.0.1:0", "--log-level", "warn", "--checkpoint-every", "500ms"}
		c := startChild(t, args...)
		next := 0
		if crashAt > 0 {
			// Send in order and kill the server while the next request is on
			// its way: that one may be durable without its acknowledgement.
			var acked atomicInt
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range bs {
					code, err := send(t.Context(), c.ingestAd, token, bs[i])
					if err != nil || code != 200 {
						return
					}
					acked.set(i + 1)
				}
			}()
			for acked.get() < crashAt {
				time.Sleep(100 * time.Microsecond)
			}
			_ = c.cmd.Process.Kill() // SIGKILL
			<-done
			next = acked.get()
			t.Logf("killed serve with %d of %d requests acknowledged", next, len(bs))
			c = startChild(t, args...)
		}
		for ; next < len(bs); next++ {
			if code, err := send(t.Context(), c.ingestAd, token, bs[next]); err != nil || code != 200 {
				t.Fatalf("sending request %d: %d %v", next, code, err)
			}
		}
		s := c.waitIdle(t, api, uint64(total))
		if crashAt > 0 && s.Ingest.Stream.Records >= int64(s.Ingest.WAL.Last) {
			t.Errorf("the restarted serve processed the whole log again (%d records): no checkpoint was restored", s.Ingest.Stream.Records)
		}
		c.stop(t)
		return storedIncidentSets(t, dir)
	}
	want := run(0)
	if len(want) < 3 {
		t.Fatalf("the run without a crash stored %d incidents: the test proves nothing", len(want))
	}
	got := run(len(bs) * 2 / 5)
	sameIncidents(t, got, want, "after the crash", "without")
}

// sameIncidents reports every incident whose signals differ between two runs'
// incident sets (incidentSets), and those only one has.
func sameIncidents(t *testing.T, got, want map[string]string, gotRun, wantRun string) {
	t.Helper()
	for id, sigs := range want {
		if got[id] != sigs {
			t.Errorf("incident %s: %s %q, %s %q", id, gotRun, got[id], wantRun, sigs)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("incident %s exists only %s", id, gotRun)
		}
	}
}
