package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/bus/jetstream/natstest"
	"github.com/vigilsec/vigil/internal/cluster"
	"github.com/vigilsec/vigil/internal/store/postgres"
	"github.com/vigilsec/vigil/internal/store/postgres/pgtest"
)

// clusterStatus is what /api/v1/status says of a cluster member.
type clusterStatus struct {
	Store  string `json:"store"`
	Ingest struct {
		Cluster cluster.Status `json:"cluster"`
	} `json:"ingest"`
}

func (c *child) clusterStatus(t *testing.T, token string) (cluster.Status, bool) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+c.httpAddr+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return cluster.Status{}, false // a member being killed
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var s clusterStatus
	if resp.StatusCode != 200 || json.Unmarshal(body, &s) != nil {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	if want := c.wantStore; want != "" && s.Store != want {
		t.Errorf("status names the store %q, want %q", s.Store, want)
	}
	return s.Ingest.Cluster, true
}

// member is a serve in a child process with its API token.
type member struct {
	*child
	token string
}

// waitClusterDone waits until the members run every partition, each has read
// its whole partition and is idle, and the correlator has read every signals
// message and holds none.
func waitClusterDone(t *testing.T, members []member, partitions int, records int64) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		done, seen, corr := 0, 0, false
		var read int64
		var why string
		for _, m := range members {
			s, ok := m.clusterStatus(t, m.token)
			if !ok {
				continue
			}
			for _, p := range s.Partitions {
				seen++
				read += int64(p.Last)
				if p.Stream.Position == p.Last && p.Stream.Idle && p.Stream.Held == 0 && !p.Stream.ModelsRunning {
					done++
				} else {
					why = "partition not idle"
				}
			}
			if c := s.Correlator; c != nil {
				corr = c.Position == c.Last && c.Pending == 0 && c.Idle == partitions
				if !corr {
					why = "correlator busy"
				}
			}
		}
		if done == partitions && seen == partitions && corr && read >= records {
			return
		}
		if time.Now().After(deadline) {
			for _, m := range members {
				s, _ := m.clusterStatus(t, m.token)
				t.Logf("%+v", s)
				if s.Correlator != nil {
					t.Logf("correlator: %+v", *s.Correlator)
				}
			}
			t.Fatalf("the cluster did not finish (%s; %d of %d partitions done, %d of %d records published)\n%s", why, done, partitions, read, records, members[0].log())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

var clusterWait = 4 * time.Minute

// TestClusterKillOneWorker is issue 10's integration test: a simulated stream
// goes through an ingest node to NATS JetStream, three workers share its
// partitions (PostgreSQL holds the incidents), and the worker holding the
// correlator is killed with SIGKILL mid-stream. The incidents must equal those
// of one process running the same partitions on an in-process bus: no record
// lost, no signal or incident twice, whoever ran what.
func TestClusterKillOneWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster test runs serve in child processes")
	}
	natsURL := natstest.URL(t)
	pgURL, schema := pgtest.Schema(t)
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	storeURL := u.String()
	prefix := natstest.Prefix(t, natsURL)

	recs, _ := simRecords(t, 30, 4)
	bs := batches(recs, 400)
	total := 0
	for _, b := range bs {
		total += b.n
	}
	const partitions = "4"
	common := []string{"--listen", "127.0.0.1:0", "--log-level", "warn", "--checkpoint-every", "500ms", "--partitions", partitions}
	// The cluster's tokens are in its store, shared by every node.
	var statusToken string
	newMember := func(mode string, extra ...string) member {
		args := append([]string{"serve", "--data-dir", t.TempDir(), "--mode", mode}, common...)
		c := startChild(t, append(args, extra...)...)
		c.wantStore = "postgres"
		return member{child: c, token: statusToken}
	}
	sendAll := func(addr, token string, from int, acked *atomicInt) {
		for i := from; i < len(bs); i++ {
			if code, err := send(t.Context(), addr, token, bs[i]); err != nil || code != 200 {
				t.Errorf("sending request %d: %d %v", i, code, err)
				return
			}
			if acked != nil {
				acked.set(i + 1)
			}
		}
	}

	// One process, the same partitions, an in-process bus.
	refDir := t.TempDir()
	refIngest := cli(t, "tokens", "create", "--data-dir", refDir, "--name", "shipper", "--scope", "ingest")
	refAPI := cli(t, "tokens", "create", "--data-dir", refDir, "--name", "status", "--scope", "api", "--role", "viewer")
	ref := member{child: startChild(t, append([]string{"serve", "--data-dir", refDir, "--bus", "memory", "--ingest-listen", "127.0.0.1:0"}, common...)...), token: refAPI}
	ref.wantStore = "sqlite"
	sendAll(ref.ingestAd, refIngest, 0, nil)
	waitClusterDone(t, []member{ref}, 4, int64(total))
	ref.stop(t)
	want := storedIncidentSets(t, refDir)
	if len(want) < 3 {
		t.Fatalf("the one-process run stored %d incidents: the test proves nothing", len(want))
	}

	// The cluster: an ingest node and three workers.
	clusterArgs := []string{"--bus", natsURL, "--bus-prefix", prefix, "--store", storeURL, "--lease-ttl", "3s"}
	ingToken := cli(t, "tokens", "create", "--store", storeURL, "--name", "shipper", "--scope", "ingest")
	statusToken = cli(t, "tokens", "create", "--store", storeURL, "--name", "status", "--scope", "api", "--role", "viewer")
	ing := startChild(t, append(append([]string{"serve", "--data-dir", t.TempDir(), "--mode", "ingest", "--ingest-listen", "127.0.0.1:0"}, common...), clusterArgs...)...)
	workers := make([]member, 3)
	for i := range workers {
		workers[i] = newMember("worker", clusterArgs...)
	}
	var acked atomicInt
	var wg sync.WaitGroup
	wg.Go(func() { sendAll(ing.ingestAd, ingToken, 0, &acked) })

	// Kill the correlator's member once it has run records of its partitions;
	// when it runs none, by half the stream kill the one that ran the most.
	victim := -1
	deadline := time.Now().Add(3 * time.Minute)
	for victim < 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no worker ran records\n%s", workers[0].log())
		}
		most, mostN := -1, int64(0)
		for i, w := range workers {
			s, ok := w.clusterStatus(t, w.token)
			if !ok {
				continue
			}
			var n int64
			for _, p := range s.Partitions {
				n += p.Stream.Records
			}
			if n > mostN {
				most, mostN = i, n
			}
			if s.Correlator != nil && n > 0 && acked.get() >= len(bs)/5 {
				victim = i
				t.Logf("killing worker %d, the correlator's (%d partitions, %d records run, correlator at %d), with %d of %d requests acknowledged",
					i, len(s.Partitions), n, s.Correlator.Position, acked.get(), len(bs))
				break
			}
		}
		if victim < 0 && most >= 0 && acked.get() >= len(bs)/2 {
			victim = most
			t.Logf("killing worker %d (%d records run; the correlator's member runs no partition) with %d of %d requests acknowledged", most, mostN, acked.get(), len(bs))
		}
		if victim < 0 && acked.get() == len(bs) {
			t.Fatal("the stream was sent before a worker could be killed mid-stream: make it longer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = workers[victim].cmd.Process.Kill() // SIGKILL
	wg.Wait()
	alive := append(append([]member(nil), workers[:victim]...), workers[victim+1:]...)
	waitClusterDone(t, alive, 4, int64(total))
	// The overview, from a live worker's API and from the CLI: the two left
	// run every partition and the correlator.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+alive[0].httpAddr+"/api/v1/cluster", nil)
	req.Header.Set("Authorization", "Bearer "+alive[0].token)
	var ov cluster.Overview
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Error(err)
	} else {
		if err := json.NewDecoder(resp.Body).Decode(&ov); err != nil || resp.StatusCode != 200 {
			t.Errorf("GET /api/v1/cluster: %d %v", resp.StatusCode, err)
		}
		_ = resp.Body.Close()
	}
	if len(ov.Members) < 2 || ov.Unowned != 0 || ov.Correlator == "" || len(ov.Partitions) != 4 {
		t.Errorf("the cluster's overview after the kill: %+v", ov)
	}
	if code, out, errs := runCLI(t, "cluster", "status", "--bus", natsURL, "--bus-prefix", prefix); code != ExitOK {
		t.Errorf("vigil cluster status: exit %d\n%s%s", code, out, errs)
	}
	for _, w := range alive {
		w.stop(t)
	}
	ing.stop(t)

	st, err := postgres.Open(t.Context(), postgres.Options{URL: pgURL, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sameIncidents(t, incidentSets(t, st), want, "in the cluster", "in one process")
	t.Logf("%d incidents, equal", len(want))
}
