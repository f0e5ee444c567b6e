// Package libuser is a library (no main package): its exported functions
// are the entry points.
package libuser

import "example.com/vulnlib"

// Use calls Other.
func Use() { vulnlib.Other() }

// Client wraps a framer.
type Client struct{ f vulnlib.Framer }

// Write is an exported method: an entry point.
func (c *Client) Write() error { return c.f.WriteFrame() }

func hidden() string { return vulnlib.Parse("x") }

var _ = hidden
