// Command vigil is Vigil's single binary. See `vigil --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigilsec/vigil/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := app.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StdoutTTY: app.IsTerminal(os.Stdout), StderrTTY: app.IsTerminal(os.Stderr),
	}
	code := app.Main(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}
