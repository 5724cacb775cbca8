package gateway

import (
	"os"
	"runtime"
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
