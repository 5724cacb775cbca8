package gateway

// The Go runtime's soft memory limit (config memory_limit). It is the
// process's, not the engine's: cmd/ftpalg applies it at start and after
// each reload the engine accepted.

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
)

// ApplyMemoryLimit sets the runtime's soft memory limit to limit bytes,
// or removes it for 0 (memory_limit: off), and logs what is in force.
// When the GOMEMLIMIT environment variable is set, the runtime took its
// limit from it at start and that one stays: limit is ignored (and the
// log says so). It returns the limit in force, math.MaxInt64 for none.
func ApplyMemoryLimit(limit int64, log *slog.Logger) int64 {
	if env, ok := os.LookupEnv("GOMEMLIMIT"); ok && env != "" {
		cur := debug.SetMemoryLimit(-1)
		if limit != 0 {
			log.Warn("memory_limit ignored: the GOMEMLIMIT environment variable is set and wins", "memory_limit", limit, "GOMEMLIMIT", env, "limit", cur)
		} else {
			log.Info("memory limit from GOMEMLIMIT", "GOMEMLIMIT", env, "limit", cur)
		}
		return cur
	}
	want := limit
	if want == 0 {
		want = math.MaxInt64 // the runtime's "no limit"
	}
	if prev := debug.SetMemoryLimit(want); prev != want {
		if limit == 0 {
			log.Info("memory limit off")
		} else {
			log.Info("memory limit", "bytes", limit)
		}
	}
	return want
}
