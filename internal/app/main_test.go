package app

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets a test run this test binary as the vigil command in a child
// process (a serve to kill -9, a load generator in another process): with
// VIGIL_TEST_MAIN=1 the binary runs Main with the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_TEST_MAIN") == "1" {
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, args)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
