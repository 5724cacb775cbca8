# ftpalg: see README.md.
.PHONY: build test bench
build:
	go build -o ftpalg ./cmd/ftpalg

# The whole suite; .ci/run runs exactly this.
test:
	scripts/test

bench:
	go test -run='^$$' -bench=. -benchmem ./conntrack ./rewrite ./replay
