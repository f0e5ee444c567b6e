// Package main needs a module that is not in the module cache.
package main

import (
	"crypto/sha1"

	"example.com/nowhere"
)

func main() {
	nowhere.Do(sha1.New()) // want VGL-GO-010
}
