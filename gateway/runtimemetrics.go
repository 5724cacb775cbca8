package gateway

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"

	"github.com/ftpalg/ftpalg/internal/promtext"
	"golang.org/x/sys/unix"
)

// The process's and the Go runtime's metrics, under the names the
// Prometheus Go client gives them, so that dashboards made for any Go
// program read them: a scrape reads /proc/self and runtime/metrics.
var (
	famProcCPU     = &promtext.Family{Name: "process_cpu_seconds_total", Help: "Total user and system CPU time spent in seconds.", Type: promtext.Counter}
	famProcOpenFDs = &promtext.Family{Name: "process_open_fds", Help: "Number of open file descriptors.", Type: promtext.Gauge}
	famProcMaxFDs  = &promtext.Family{Name: "process_max_fds", Help: "Maximum number of open file descriptors.", Type: promtext.Gauge}
	famProcRSS     = &promtext.Family{Name: "process_resident_memory_bytes", Help: "Resident memory size in bytes.", Type: promtext.Gauge}
	famProcVSZ     = &promtext.Family{Name: "process_virtual_memory_bytes", Help: "Virtual memory size in bytes.", Type: promtext.Gauge}
	famProcStart   = &promtext.Family{Name: "process_start_time_seconds", Help: "Start time of the process since unix epoch in seconds.", Type: promtext.Gauge}
	famGoInfo      = &promtext.Family{Name: "go_info", Help: "Information about the Go environment.", Type: promtext.Gauge}
	famGoroutines  = &promtext.Family{Name: "go_goroutines", Help: "Number of goroutines that currently exist.", Type: promtext.Gauge}
	famThreads     = &promtext.Family{Name: "go_threads", Help: "Number of OS threads created.", Type: promtext.Gauge}
	famGCPauses    = &promtext.Family{Name: "go_gc_duration_seconds", Help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", Type: promtext.Summary}
)

// gcQuantiles are the quantiles of go_gc_duration_seconds: what
// debug.ReadGCStats gives for five PauseQuantiles.
var gcQuantiles = [...]string{"0", "0.25", "0.5", "0.75", "1"}

// goMetrics are runtime/metrics samples exposed as they are.
var goMetrics = []struct {
	key string
	fam *promtext.Family
}{
	{"/memory/classes/heap/objects:bytes", &promtext.Family{Name: "go_memstats_heap_alloc_bytes", Help: "Number of heap bytes allocated and currently in use.", Type: promtext.Gauge}},
	{"/memory/classes/total:bytes", &promtext.Family{Name: "go_memstats_sys_bytes", Help: "Number of bytes obtained from system.", Type: promtext.Gauge}},
	{"/gc/heap/allocs:bytes", &promtext.Family{Name: "go_memstats_alloc_bytes_total", Help: "Total number of bytes allocated in heap until now, even if released already.", Type: promtext.Counter}},
	{"/gc/heap/goal:bytes", &promtext.Family{Name: "go_memstats_next_gc_bytes", Help: "Number of heap bytes when next garbage collection will take place.", Type: promtext.Gauge}},
	{"/gc/gogc:percent", &promtext.Family{Name: "go_gc_gogc_percent", Help: "Heap size target percentage configured by the user, otherwise 100 (GOGC).", Type: promtext.Gauge}},
	{"/gc/gomemlimit:bytes", &promtext.Family{Name: "go_gc_gomemlimit_bytes", Help: "Go runtime memory limit configured by the user, otherwise math.MaxInt64 (GOMEMLIMIT, or memory_limit).", Type: promtext.Gauge}},
	{"/sched/gomaxprocs:threads", &promtext.Family{Name: "go_sched_gomaxprocs_threads", Help: "The current runtime.GOMAXPROCS setting.", Type: promtext.Gauge}},
}

// Linux's USER_HZ, the unit of /proc's times: 100 on every architecture
// ftpalg builds for.
const userHZ = 100

var (
	bootOnce sync.Once
	bootTime int64 // btime of /proc/stat, seconds since the epoch; 0 if unknown
)

// procStat is what writeRuntimeMetrics takes from /proc/self/stat.
type procStat struct {
	threads, startTicks, vsize, rssPages uint64
}

// readProcStat parses /proc/self/stat: the fields after the command
// name, which is in parentheses and may itself hold spaces and ')'.
func readProcStat(b []byte) (procStat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, false
	}
	num := func(n int) uint64 {
		v, _ := strconv.ParseUint(string(f[n-3]), 10, 64)
		return v
	}
	return procStat{threads: num(20), startTicks: num(22), vsize: num(23), rssPages: num(24)}, true
}

// readBootTime is the btime line of /proc/stat.
func readBootTime(b []byte) int64 {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, _ := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return n
		}
	}
	return 0
}

// writeRuntimeMetrics writes the process's and the Go runtime's metrics.
// A figure the system does not give is left out.
func writeRuntimeMetrics(w *promtext.Writer) {
	one := func(f *promtext.Family, v float64) {
		w.Begin(f)
		w.Sample(f.Name, v)
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		one(famProcCPU, float64(ru.Utime.Nano()+ru.Stime.Nano())/1e9)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		one(famProcOpenFDs, float64(len(fds)))
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		one(famProcMaxFDs, float64(lim.Cur))
	}
	b, err := os.ReadFile("/proc/self/stat")
	st, ok := readProcStat(b)
	if err == nil && ok {
		one(famProcRSS, float64(st.rssPages)*float64(os.Getpagesize()))
		one(famProcVSZ, float64(st.vsize))
		bootOnce.Do(func() {
			if b, err := os.ReadFile("/proc/stat"); err == nil {
				bootTime = readBootTime(b)
			}
		})
		if bootTime != 0 {
			one(famProcStart, float64(bootTime)+float64(st.startTicks)/userHZ)
		}
	}
	w.Begin(famGoInfo)
	w.Sample(famGoInfo.Name, 1, "version", runtime.Version())
	one(famGoroutines, float64(runtime.NumGoroutine()))
	if ok {
		one(famThreads, float64(st.threads))
	}
	// The GC pauses as the client gives them: the minimum, quartiles and
	// maximum of the recent pauses, their count (the number of
	// collections) and total.
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, len(gcQuantiles))}
	debug.ReadGCStats(&gc)
	w.Begin(famGCPauses)
	for i, q := range gcQuantiles {
		w.Sample(famGCPauses.Name, gc.PauseQuantiles[i].Seconds(), "quantile", q)
	}
	w.Sample(famGCPauses.Name+"_sum", gc.PauseTotal.Seconds())
	w.Sample(famGCPauses.Name+"_count", float64(gc.NumGC))
	samples := make([]metrics.Sample, len(goMetrics))
	for i, m := range goMetrics {
		samples[i].Name = m.key
	}
	metrics.Read(samples)
	for i, m := range goMetrics {
		switch v := samples[i].Value; v.Kind() {
		case metrics.KindUint64:
			one(m.fam, float64(v.Uint64()))
		case metrics.KindFloat64:
			one(m.fam, v.Float64())
		}
	}
}
