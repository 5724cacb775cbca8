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

# The OpenWrt packages, dist/out/ftpalg_VERSION_ARCH.ipk (scripts/ipk, nfpm),
# one per GOARCH of IPK_GOARCHES (scripts/ipk lists the OpenWrt names).
IPK_GOARCHES ?= arm mipsle mips arm64
ipk:
	for a in $(IPK_GOARCHES); do scripts/ipk $$a || exit 1; done

# Builds each and checks its layout, the binary under qemu-user, the init
# script against a fake procd and the fw4 rule (scripts/ipktest; part of
# scripts/test).
ipktest:
	for a in $(IPK_GOARCHES); do scripts/ipktest $$a || exit 1; done
