# Vigil developer targets. CI runs .ci/run, which calls the same commands.
GO        ?= go
PKGS      ?= ./...
CORE      ?= ./internal/event/... ./internal/decode/... ./internal/pipeline/... ./internal/detect/... ./internal/ingest/... ./internal/store/...
FUZZTIME  ?= 5s
BENCHTIME ?= 1s

.PHONY: build test race vet lint fuzz-short bench tidy

build:
	$(GO) build -o bin/vigil ./cmd/vigil

test:
	$(GO) test $(PKGS)

race:
	$(GO) test -race $(CORE)

vet:
	$(GO) vet $(PKGS)

# golangci-lint v2 (config: .golangci.yml). Install once with:
#   go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
lint:
	golangci-lint run $(PKGS)

# Every fuzz target in the tree, FUZZTIME each.
fuzz-short:
	./.ci/fuzz $(FUZZTIME)

# Single-core benchmarks of the hot paths, as recorded in docs/BENCHMARKS.md.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -cpu=1 -benchtime=$(BENCHTIME) ./internal/decode/... ./internal/event/...

tidy:
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum
