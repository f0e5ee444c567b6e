// Command app calls some symbols of vulnlib.
package main

import (
	"fmt"
	"os"

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
}

func helper(s string) string { return vulnlib.Parse(s) }

// neverCalled is not reachable from main.
func neverCalled() { vulnlib.Other() }

var _ = neverCalled
