package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/enrich/identity"
	"github.com/vigilsec/vigil/internal/store"
)

// behaviorOptions are hunt's flags for the behavioral models.
type behaviorOptions struct {
	enabled    bool
	identities string
}

func (o *behaviorOptions) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.BoolVar(&o.enabled, "behavior", true, "run the behavioral models (baselines learned from the input itself; see docs/BEHAVIOR.md)")
	fs.StringVar(&o.identities, "identities", "", "identity directory CSV (user, aliases, department, role, ...): one baseline per person across their names, and peer groups")
}

// behaviorModels is the one explicit list of behavioral models hunt and serve run.
func behaviorModels(dir *identity.Directory) []behavior.Model {
	var peers behavior.PeerFunc
	if dir != nil {
		peers = dir.PeerGroup
	}
	return []behavior.Model{
		behavior.NewFirstSeen(behavior.FirstSeenConfig{}, nil, peers),
	}
}

// buildBehavior loads what the models need and builds the engine; it reports the
// identity directory's rejected rows on w.
func buildBehavior(o behaviorOptions, log *slog.Logger, w io.Writer) (*behavior.Engine, error) {
	var dir *identity.Directory
	var opts behavior.Options
	opts.Logger = log
	if o.identities != "" {
		d, rejected, err := identity.Load(o.identities)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--identities: %w", err)}
		}
		for i, r := range rejected {
			if i == 5 {
				fmt.Fprintf(w, "vigil: %s: %d more rows rejected\n", o.identities, len(rejected)-5)
				break
			}
			fmt.Fprintf(w, "vigil: %s: rejected %v\n", o.identities, r)
		}
		dir = d
		opts.Users = d.Canonical
	}
	return behavior.NewEngine(behaviorModels(dir), opts)
}

// restoreBehavior loads the models' saved state from the store, if any.
func restoreBehavior(ctx context.Context, st store.Store, eng *behavior.Engine) error {
	var states []behavior.State
	for _, m := range eng.Models() {
		ms, err := st.GetModelState(ctx, m.ID(), "")
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("loading %s state: %w", m.ID(), err)
		}
		states = append(states, behavior.State{ModelID: ms.ModelID, Updated: ms.Updated, Blob: ms.Blob})
	}
	return eng.Restore(states)
}

// saveBehavior stores every model's state, so the next run goes on from it.
func saveBehavior(ctx context.Context, st store.Store, eng *behavior.Engine) error {
	states, err := eng.Snapshot()
	if err != nil {
		return err
	}
	for _, s := range states {
		if err := st.PutModelState(ctx, store.ModelState{ModelID: s.ModelID, Version: 1, Updated: s.Updated, Blob: s.Blob}); err != nil {
			return fmt.Errorf("saving %s state: %w", s.ModelID, err)
		}
	}
	return nil
}
