package gateway

import (
	"os"
	"runtime"
	"runtime/debug"
)

// procsFor is the GOMAXPROCS ftpalg runs with: one P per queue, no more
// than the runtime's own default (the CPUs it may use), unless the
// GOMAXPROCS environment variable (env) sets it, in which case the
// runtime's value stands (0 means "leave it").
//
// Nearly all of a queue's work is in system calls (receive, verdict,
// nftables batch), which do not need a P; a P more than there are queues
// only lets idle Ps spin looking for work. In the load run
// (BENCHMARKS.md) one queue on a 2-CPU machine cost about 20 % less CPU
// per transfer with GOMAXPROCS=1 than with the default 2.
func procsFor(queues int, current int, env string) int {
	if env != "" {
		return 0
	}
	return max(1, min(queues, current))
}

// applyProcs sets GOMAXPROCS for queues queues and returns the value in
// force.
func applyProcs(queues int) int {
	if n := procsFor(queues, runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS")); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	return runtime.GOMAXPROCS(0)
}

// defaultGOGC is the garbage collector's target ftpalg runs with unless
// the GOGC environment variable sets one. The queue library allocates a
// page per received packet, so with Go's default of 100 a busy gateway
// collects several times a second, and a collection that coincides with
// an announcement delays it. At 400 the collector runs a quarter as
// often; the heap may grow to five times what is live (a few MiB at
// idle). In the single-session load run (BENCHMARKS.md) the p99 of
// ftpalg_announce_seconds was in the 300-400 µs bucket in 4 of 5 runs at
// 100, and at most 300 µs in 3 of 3 at 400, for about 13 MiB more peak
// RSS. memory_limit (GOMEMLIMIT) still caps the heap: near the limit the
// collector runs as often as it must.
const defaultGOGC = 400

// gcPercentFor is the GC percent to set: defaultGOGC, or 0 ("leave it")
// when the GOGC environment variable (env) is set.
func gcPercentFor(env string) int {
	if env != "" {
		return 0
	}
	return defaultGOGC
}

// applyGC sets the GC percent and returns the value in force.
func applyGC() int {
	if n := gcPercentFor(os.Getenv("GOGC")); n > 0 {
		debug.SetGCPercent(n)
		return n
	}
	old := debug.SetGCPercent(100)
	debug.SetGCPercent(old)
	return old
}
