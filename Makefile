# ftpalg: see README.md.
.PHONY: build test bench
build:
	go build -o ftpalg ./cmd/ftpalg

# The whole suite: the same as scripts/test, which .ci/run runs.
test:
	scripts/test

bench:
	go test -run='^$$' -bench=. -benchmem ./conntrack ./rewrite ./replay
