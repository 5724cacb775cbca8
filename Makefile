# ftpalg: see README.md.
.PHONY: build test bench cross deb debtest ipk ipktest
build:
	go build -o ftpalg ./cmd/ftpalg

# The whole suite: the same as scripts/test, which .ci/run runs.
test:
	scripts/test

# Cross builds for amd64, arm64, arm (GOARM=7), 386, mips, mipsle
# (softfloat) and riscv64, and the pure tests under qemu-user on arm and
# big-endian mips (scripts/cross; part of scripts/test).
cross:
	scripts/cross

bench:
	go test -run='^$$' -bench=. -benchmem ./conntrack ./rewrite ./replay

# The Debian package, dist/out/ftpalg_VERSION_ARCH.deb (scripts/deb, nfpm).
deb:
	scripts/deb

# Builds it, runs lintian, installs, checks and purges it in a throwaway
# overlay of this machine's root (scripts/debtest; part of scripts/test).
debtest:
	scripts/debtest

# The OpenWrt package, dist/out/ftpalg_VERSION_ARCH.ipk (scripts/ipk, nfpm);
# IPK_GOARCH=arm64 by default (scripts/ipk lists the others).
IPK_GOARCH ?= arm64
ipk:
	scripts/ipk $(IPK_GOARCH)

# Builds it and checks its layout, the binary under qemu-user, the init
# script against a fake procd and the fw4 snippet (scripts/ipktest; part
# of scripts/test).
ipktest:
	scripts/ipktest $(IPK_GOARCH)
