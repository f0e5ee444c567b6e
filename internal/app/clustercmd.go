package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/vigilsec/vigil/internal/bus/jetstream"
	"github.com/vigilsec/vigil/internal/cluster"
)

const clusterCmdHelp = `
Look at a cluster of vigil serve nodes (serve --bus nats://...) through its bus,
from any machine that reaches NATS: the live members, the member running each
events partition and the correlator, and what each partition holds that its
worker has not checkpointed yet (what a takeover replays, and what
--max-backlog bounds). A partition no member runs holds its records until one
does: a worker died and its lease has not lapsed (--lease-ttl), or none runs.

  vigil cluster status --bus nats://nats:4222 [--bus-prefix VIGIL] [--output json]

It changes nothing on the bus: it reads the nodes' buckets and streams as they
are (the number of partitions included), and fails when no cluster uses the
prefix.

The exit code is 0 when every partition has an owner and a member holds the
correlator role, 1 otherwise (for monitoring scripts), 2 on bad flags. The same
overview is GET /api/v1/cluster on any member.
`

func runCluster(ctx context.Context, env Env, args []string) error {
	return runSub(ctx, env, args, clusterCmdHelp, map[string]func(context.Context, Env, []string) error{
		"status": runClusterStatus,
	}, "status")
}

func runClusterStatus(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "cluster status", "", clusterCmdHelp)
	busURL := fs.String("bus", "", "the cluster's NATS server, nats://host:port or tls://host:port (required)")
	prefix := fs.String("bus-prefix", "VIGIL", "the cluster's prefix of stream and bucket names (as serve --bus-prefix)")
	output := fs.String("output", "table", "table or json")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *busURL == "":
		return &ExitError{Code: ExitUsage, Err: errors.New("--bus is required")}
	case !strings.HasPrefix(*busURL, "nats://") && !strings.HasPrefix(*busURL, "tls://"):
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--bus %q: want nats://host:port or tls://host:port", jetstream.RedactURL(*busURL))}
	}
	if err := outputFlag(*output); err != nil {
		return err
	}
	b, err := jetstream.Open(ctx, jetstream.Options{URL: *busURL, Prefix: *prefix, Observe: true})
	if err != nil {
		return fmt.Errorf("--bus: %w", err)
	}
	defer func() { _ = b.Close() }()
	partitions, err := cluster.Partitions(ctx, b)
	if err != nil {
		return err
	}
	if partitions == 0 {
		return fmt.Errorf("no cluster uses --bus-prefix %s on this server (no events topic)", *prefix)
	}
	o, err := cluster.Describe(ctx, b, partitions)
	if err != nil {
		return err
	}
	if *output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(o); err != nil {
			return err
		}
	} else if err := printOverview(env, o); err != nil {
		return err
	}
	if o.Unowned > 0 || o.Correlator == "" {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d of %d partitions run by no member; correlator: %s", o.Unowned, partitions, orNone(o.Correlator))}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func printOverview(env Env, o cluster.Overview) error {
	fmt.Fprintf(env.Stdout, "members     %d: %s\n", len(o.Members), orNone(strings.Join(o.Members, ", ")))
	fmt.Fprintf(env.Stdout, "correlator  %s\n", orNone(o.Correlator))
	fmt.Fprintf(env.Stdout, "signals     last %d, %s held\n\n", o.Signals.Last, byteSize(o.Signals.HeldBytes))
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tOWNER\tLAST\tHELD")
	for _, p := range o.Partitions {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", p.Partition, orNone(p.Owner), p.Last, byteSize(p.HeldBytes))
	}
	return tw.Flush()
}

// byteSize is n in B, KiB, MiB or GiB.
func byteSize(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return fmt.Sprintf("%d B", n)
	case n < k*k:
		return fmt.Sprintf("%.1f KiB", float64(n)/k)
	case n < k*k*k:
		return fmt.Sprintf("%.1f MiB", float64(n)/(k*k))
	default:
		return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
	}
}
