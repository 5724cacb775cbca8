package gateway

import (
	"bytes"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

// ApplyMemoryLimit sets the runtime's limit, removes it for 0, and leaves
// a GOMEMLIMIT from the environment alone.
func TestApplyMemoryLimit(t *testing.T) {
	orig := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))

	t.Setenv("GOMEMLIMIT", "")
	if got := ApplyMemoryLimit(48<<20, log); got != 48<<20 {
		t.Errorf("ApplyMemoryLimit(48MiB) = %d", got)
	}
	if cur := debug.SetMemoryLimit(-1); cur != 48<<20 {
		t.Errorf("runtime limit %d after memory_limit 48MiB", cur)
	}
	if !strings.Contains(buf.String(), "msg=\"memory limit\" bytes=50331648") {
		t.Errorf("log: %s", buf.String())
	}

	// A reload to off removes it.
	if got := ApplyMemoryLimit(0, log); got != math.MaxInt64 {
		t.Errorf("ApplyMemoryLimit(off) = %d", got)
	}
	if cur := debug.SetMemoryLimit(-1); cur != math.MaxInt64 {
		t.Errorf("runtime limit %d after memory_limit off", cur)
	}

	// GOMEMLIMIT wins: the runtime read it at start (simulated here by
	// setting the limit the way the runtime would), and memory_limit is
	// ignored with a warning.
	t.Setenv("GOMEMLIMIT", "64MiB")
	debug.SetMemoryLimit(64 << 20)
	buf.Reset()
	if got := ApplyMemoryLimit(48<<20, log); got != 64<<20 {
		t.Errorf("ApplyMemoryLimit(48MiB) with GOMEMLIMIT=64MiB = %d", got)
	}
	if cur := debug.SetMemoryLimit(-1); cur != 64<<20 {
		t.Errorf("runtime limit %d, want GOMEMLIMIT's 64MiB", cur)
	}
	if !strings.Contains(buf.String(), "level=WARN msg=\"memory_limit ignored") {
		t.Errorf("log: %s", buf.String())
	}
}
