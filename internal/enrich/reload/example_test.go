package reload_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/enrich/assets"
	"github.com/vigilsec/vigil/internal/enrich/reload"
)

// An asset inventory as a reloadable source: assets.Store.Reload swaps a new
// inventory in only when the file loads, so a broken file leaves the previous
// one in force. In the binary, Run(ctx) polls the file and HangupTrigger feeds
// Options.Trigger.
func Example_assets() {
	dir, err := os.MkdirTemp("", "vigil-reload-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "assets.csv")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			panic(err)
		}
	}
	write("host,ips,criticality\ndc01,10.0.0.10,extreme\nws-1,10.0.0.21,low\n")

	store := assets.NewStore(nil)
	w, err := reload.New([]reload.Source{{
		Name:  "assets",
		Paths: []string{path},
		Load: func(context.Context) (reload.Summary, error) {
			rej, err := store.Reload(path)
			st := store.Status()
			return reload.Summary{
				Loaded:   store.Inventory().Len(),
				Rejected: len(rej),
				Text:     fmt.Sprintf("%d assets in the file, %d ambiguous short names", st.Assets, st.Ambiguous),
			}, err
		},
	}}, reload.Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	_ = w.ReloadAll(ctx) // at start-up; then go w.Run(ctx)
	st := w.Status()[0]
	fmt.Println(st.State, st.Summary.Loaded, store.Lookup("dc01").Asset.Criticality)

	write("host,ips,criticality\n,10.0.0.10,extreme\n") // no usable row
	_ = w.Reload(ctx, "assets")
	st = w.Status()[0]
	fmt.Println(st.State, st.Failures, store.Lookup("dc01").Asset.Criticality)
	// Output:
	// ok 2 extreme
	// failing 1 extreme
}
