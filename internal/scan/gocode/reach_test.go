package gocode

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReachable(t *testing.T) {
	needGo(t)
	syms := []string{
		"example.com/vulnlib.Parse",
		"example.com/vulnlib.deep",
		"example.com/vulnlib.Other",
		"example.com/vulnlib.Framer.ReadFrame",
		"example.com/vulnlib.Framer.WriteFrame",
		"example.com/vulnlib/sub.Unused",
		"example.com/vulnlib.Missing",
		"golang.org/x/net/html.Parse",
		"example.com/vulnlib.Name.String",
		"example.com/vulnlib.Less",
	}
	tests := []struct {
		dir  string
		want map[string][]string
	}{
		{"app", map[string][]string{
			"example.com/vulnlib.Parse":            {"example.com/app.main", "example.com/app.run", "example.com/app.helper", "example.com/vulnlib.Parse"},
			"example.com/vulnlib.deep":             {"example.com/app.main", "example.com/app.run", "example.com/app.helper", "example.com/vulnlib.Parse", "example.com/vulnlib.deep"},
			"example.com/vulnlib.Framer.ReadFrame": {"example.com/app.main", "example.com/app.run", "example.com/vulnlib.Framer.ReadFrame"},
			// called back by fmt and sort, which have no SSA
			"example.com/vulnlib.Name.String": {"example.com/app.main", "example.com/app.run", "example.com/vulnlib.Name.String"},
			"example.com/vulnlib.Less":        {"example.com/app.main", "example.com/app.run", "example.com/app.run$1", "example.com/vulnlib.Less"},
		}},
		{"libuser", map[string][]string{
			"example.com/vulnlib.Other":             {"example.com/libuser.Use", "example.com/vulnlib.Other"},
			"example.com/vulnlib.Framer.WriteFrame": {"example.com/libuser.Client.Write", "example.com/vulnlib.Framer.WriteFrame"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			got, err := Reachable(context.Background(), filepath.Join("testdata", "reach", tt.dir), syms)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Reachable =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestReachableNotImported(t *testing.T) {
	needGo(t)
	got, err := Reachable(context.Background(), filepath.Join("testdata", "reach", "app"), []string{"example.com/vulnlib/sub.Unused", "net/http.Get"})
	if err != nil || len(got) != 0 {
		t.Fatalf("Reachable = %v, %v; want nothing", got, err)
	}
}

func TestReachableBroken(t *testing.T) {
	needGo(t)
	for _, dir := range []string{"missingdep", "newgo", "nograph"} {
		got, err := Reachable(context.Background(), filepath.Join("testdata", dir), []string{"example.com/nowhere.Do", "crypto/md5.Sum"})
		if err == nil {
			t.Errorf("Reachable on %s, which does not load = %v, want an error", dir, got)
		}
	}
}

func TestSplitSymbol(t *testing.T) {
	got := splitSymbol("gopkg.in/yaml.v3.Decoder.Decode")
	want := []symbolCand{{"gopkg.in/yaml", "v3.Decoder.Decode"}, {"gopkg.in/yaml.v3", "Decoder.Decode"}, {"gopkg.in/yaml.v3.Decoder", "Decode"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("splitSymbol = %v, want %v", got, want)
	}
	if got := splitSymbol("fmt.Println"); !reflect.DeepEqual(got, []symbolCand{{"fmt", "Println"}}) {
		t.Errorf("splitSymbol(fmt.Println) = %v", got)
	}
}
