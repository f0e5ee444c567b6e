package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/vigilsec/vigil/internal/vulndb"
)

const vulndbHelp = `
Keep the OSV vulnerability database vigil scan matches dependencies against,
offline, in the data directory (or --db):

  vigil vulndb import --data-dir DIR SOURCE...   a directory of OSV JSON records, an
                                                 osv.dev all.zip, or one record file;
                                                 incremental: unchanged records are skipped
  vigil vulndb stats  --data-dir DIR             records per ecosystem

osv.dev publishes every ecosystem's records as
https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip
(Go's are also the golang/vulndb repository's data/osv directory).
`

// vulndbDir is the database directory: --db, else the data directory's.
func vulndbDir(db, dataDir string) (string, error) {
	switch {
	case db != "":
		return db, nil
	case dataDir != "":
		return filepath.Join(dataDir, "vulndb"), nil
	}
	return "", errors.New("give --data-dir or --db")
}

func runVulndb(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || (args[0] != "import" && args[0] != "stats") {
		fs := newFlagSet(env, "vulndb", "import|stats [flags]", vulndbHelp)
		fs.Usage()
		return &ExitError{Code: ExitUsage, Err: errors.New("vigil vulndb: want import or stats")}
	}
	sub := args[0]
	fs := newFlagSet(env, "vulndb "+sub, map[string]string{"import": "SOURCE...", "stats": ""}[sub], vulndbHelp)
	dataDir := fs.String("data-dir", "", "Vigil's data directory: the database is its vulndb directory")
	db := fs.String("db", "", "the database directory (instead of --data-dir's)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	rest, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	dir, err := vulndbDir(*db, *dataDir)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	switch sub {
	case "import":
		if len(rest) == 0 {
			return &ExitError{Code: ExitUsage, Err: errors.New("vigil vulndb import: give a directory, a zip or a record file")}
		}
		var all []vulndb.ImportStats
		rejected := 0
		for _, src := range rest {
			st, err := vulndb.Import(ctx, dir, src)
			if err != nil {
				return fmt.Errorf("importing %s: %w", src, err)
			}
			all = append(all, st)
			rejected += st.Rejected
			if !*asJSON {
				fmt.Fprintf(env.Stdout, "%s: %d added, %d updated, %d unchanged, %d withdrawn, %d rejected; the database holds %d records\n",
					src, st.Added, st.Updated, st.Unchanged, st.Withdrawn, st.Rejected, st.Records)
				for _, r := range st.Rejections {
					fmt.Fprintf(env.Stderr, "vigil vulndb: rejected %s: %s\n", r.File, r.Reason)
				}
			}
		}
		if *asJSON {
			return writeIndentedJSON(env, all)
		}
		if rejected > 0 {
			fmt.Fprintf(env.Stderr, "vigil vulndb: %d records rejected (the others were imported)\n", rejected)
		}
		return nil
	default:
		if len(rest) > 0 {
			return &ExitError{Code: ExitUsage, Err: errors.New("vigil vulndb stats takes no arguments")}
		}
		d, err := vulndb.Open(dir)
		if err != nil {
			return fmt.Errorf("opening the vulnerability database %s: %w", dir, err)
		}
		defer func() { _ = d.Close() }()
		st := d.Stats()
		if *asJSON {
			return writeIndentedJSON(env, st)
		}
		fmt.Fprintf(env.Stdout, "%s: %d records (%d withdrawn), updated %s\n", dir, st.Records, st.Withdrawn, st.Updated.Format("2006-01-02 15:04:05Z07:00"))
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ECOSYSTEM\tRECORDS\tPACKAGES")
		for _, e := range st.Ecosystems {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", e.Name, e.Records, e.Packages)
		}
		return tw.Flush()
	}
}

func writeIndentedJSON(env Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
