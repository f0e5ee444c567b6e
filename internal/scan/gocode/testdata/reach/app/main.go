// Command app calls some symbols of vulnlib.
package main

import (
	"fmt"
	"os"
	"sort"

	"example.com/vulnlib"
)

func main() {
	run(os.Args)
}

func run(args []string) {
	if len(args) > 1 {
		fmt.Println(helper(args[1]))
	}
	var r vulnlib.Reader = &vulnlib.Framer{}
	_ = r.ReadFrame()
	vulnlib.Noop()
	fmt.Println(vulnlib.Name{})
	xs := []int{3, 1, 2}
	sort.Slice(xs, func(i, j int) bool { return vulnlib.Less(xs[i], xs[j]) })
}

func helper(s string) string { return vulnlib.Parse(s) }

// neverCalled is not reachable from main.
func neverCalled() { vulnlib.Other() }

var _ = neverCalled
