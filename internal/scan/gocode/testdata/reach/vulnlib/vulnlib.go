// Package vulnlib stands for a dependency with vulnerable symbols.
package vulnlib

// Parse is vulnerable; it calls deep, vulnerable too.
func Parse(s string) string { return deep(s) }

func deep(s string) string { return s + "!" }

// Other is vulnerable and called by nobody in app.
func Other() {}

// Framer reads frames.
type Framer struct{}

// ReadFrame is vulnerable; app calls it through an interface.
func (f *Framer) ReadFrame() error { return nil }

// WriteFrame is vulnerable and never called.
func (f *Framer) WriteFrame() error { return nil }

// Reader is what app holds a Framer as.
type Reader interface{ ReadFrame() error }

// Noop does nothing; app calls it.
func Noop() {}

// Name prints itself: fmt calls its String method.
type Name struct{}

// String is vulnerable; app only hands a Name to fmt.
func (Name) String() string { return "name" }

// Less is vulnerable; app calls it from a closure sort calls.
func Less(a, b int) bool { return a < b }
