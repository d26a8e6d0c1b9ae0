# The targets stay thin: the logic lives in scripts/, so CI, people and README run the same commands.
# make test ARGS='-run TestUp ./migrations/...' passes arguments through to go test.

GO ?= go

.PHONY: test vet fmt-check build run bench

test:
	bash scripts/test.sh $(ARGS)

vet:
	$(GO) vet ./...

# Tracked and new (not ignored) files; xargs -r because gofmt with no files would read stdin.
fmt-check:
	@out=$$(git ls-files -z --cached --others --exclude-standard -- '*.go' | xargs -0 -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

build:
	$(GO) build ./...

run:
	bash scripts/run.sh

# Not part of test or CI: a benchmark of several minutes (make bench ARGS=--quick: under two).
bench:
	bash scripts/bench.sh $(ARGS)
