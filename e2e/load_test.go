package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkGatewayLoad is an end-to-end load run: S concurrent control
// sessions of the Go client, each doing T passive downloads of a 4 KiB
// file and QUIT, through the DNAT gateway (vsftpd 10.0.0.2 published as
// 203.0.113.1, client 198.51.100.10, admin ruleset with policy drop and
// "ct state invalid drop"). The same lab and workload run through three
// gateways:
//
//	ftpalg          the admin ruleset admits ftpalg's ct mark; ftpalg runs
//	                with the e2e gateway config at log level info, 1 queue
//	ftpalg-2queues  the same with queue.count 2
//	kernel-helper   no ftpalg: ct helper "ftp" and "related accept"
//	nop-queue       the kernel-helper gateway, and every control packet
//	                (tcp port 21, both directions, forward hook) queued
//	                to e2e/testdata/nopqueue, a go-nfqueue program that
//	                accepts each one in its callback: the cost of the
//	                queue alone
//
// Every transfer is checked byte for byte; any error fails the benchmark.
// For the ftpalg variants the gateway's conntrack invalid counter and the
// admin ruleset's invalid drops must not move, ftpalg must log no error
// and its queues must report nothing lost.
//
//	go test -run='^$' -bench=GatewayLoad -benchtime=1x ./e2e/
//
// Environment: FTPALG_LOAD_SESSIONS (S, default 16), FTPALG_LOAD_TRANSFERS
// (T, default 20), FTPALG_LOAD_CLIENTS (client addresses 198.51.100.10,
// .11, ... that the sessions take in turn; default 4, so that the kernel,
// which picks a queue by address pair, spreads ftpalg-2queues' sessions
// over both queues), FTPALG_LOAD_QUEUE_ENV (space-separated NAME=VALUE
// settings, e.g. "GOMAXPROCS=1 GOGC=400", put into the environment of
// both queue programs, ftpalg and nopqueue, and of nothing else),
// FTPALG_LOAD_BEFORE_BIN (an ftpalg binary of an earlier commit: run as
// one more gateway, ftpalg-before, right after ftpalg, for a before and
// after in one run), FTPALG_LOAD_PPROF (a directory: ftpalg serves metrics.pprof and the
// run saves a CPU profile of FTPALG_LOAD_PPROF_SECONDS, default 10, and a
// 2 s execution trace of ftpalg there, both started when the timed run
// starts).
//
// Metrics per iteration: sessions/s and transfers/s (over the wall time
// of the whole workload), p50-ms and p99-ms (one transfer, from sending
// PASV to the end of the data), host-cpu-% (busy share of all CPUs, from
// /proc/stat; the lab shares the machine with everything else), the CPU
// time of the test process (the clients) and of vsftpd (with its reaped
// session processes), ct-invalid (the gateway's conntrack invalid
// counter, delta); for ftpalg also its CPU time (utime+stime), the control
// packets its divert rules queued (rule counters, delta), the CPU time
// per queued packet and its peak RSS (VmHWM); for nop-queue the same
// figures of the nopqueue program (nopqueue-*). For both kinds of queue
// program also ctlpkts/transfer and queue-cpu-us/transfer (the queue
// program's CPU time per transfer).
func BenchmarkGatewayLoad(b *testing.B) {
	w := loadWorkload{
		sessions:  envInt(b, "FTPALG_LOAD_SESSIONS", 16, 1, 1024),
		transfers: envInt(b, "FTPALG_LOAD_TRANSFERS", 20, 1, 100000),
		clients:   envInt(b, "FTPALG_LOAD_CLIENTS", 4, 1, 50),
		size:      4 << 10,
	}
	type gateway struct {
		name   string
		kind   adminKind
		queues int // 0: no ftpalg
		nop    bool
		bin    string // ftpalg binary ("": this tree's)
	}
	gws := []gateway{
		{"ftpalg", adminFtpalg, 1, false, ""},
		{"ftpalg-2queues", adminFtpalg, 2, false, ""},
		{"kernel-helper", adminKernelHelper, 0, false, ""},
		{"nop-queue", adminKernelHelper, 0, true, ""},
	}
	if before := os.Getenv("FTPALG_LOAD_BEFORE_BIN"); before != "" {
		gws = append(gws[:1], append([]gateway{{"ftpalg-before", adminFtpalg, 1, false, before}}, gws[1:]...)...)
	}
	for _, gw := range gws {
		b.Run(gw.name, func(b *testing.B) { benchGateway(b, gw.kind, gw.queues, gw.nop, gw.bin, w) })
	}
}

type loadWorkload struct {
	sessions, transfers, clients, size int
}

func envInt(b *testing.B, name string, def, lo, hi int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		b.Fatalf("%s=%q: want an integer in %d-%d", name, s, lo, hi)
	}
	return n
}

const loadPath = "/pub/load.bin"

func benchGateway(b *testing.B, kind adminKind, queues int, nop bool, bin string, w loadWorkload) {
	g := labDNAT(b, kind)
	g.diagTail = 80
	// labDNAT gives the client .10 and .11; more clients need more.
	for i := 2; i < w.clients; i++ {
		g.Client.Addr(b, "eth0", loadClientAddr(i).String()+"/24")
	}
	srv := startVsftpd(b, g.Server, serverPriv, serverOpts{})
	data := make([]byte, w.size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(srv.Root, loadPath), data, 0o644); err != nil {
		b.Fatal(err)
	}
	var d *Daemon
	var pid int
	restoreEnv := queueEnv(b)
	if queues > 0 {
		cfg := gatewayConfig()
		// The e2e config logs at debug (a line per FTP command and
		// reply); a deployment logs at info, ftpalg's default.
		cfg.LogLevel = "info"
		cfg.Queues = queues
		cfg.MetricsListen = metricsAddr
		cfg.Pprof = os.Getenv("FTPALG_LOAD_PPROF") != "" && bin == ""
		cfg.Binary = bin
		d = startDaemon(b, g.GW, cfg)
		comm := "ftpalg"
		if bin != "" {
			comm = filepath.Base(bin)
			comm = comm[:min(len(comm), 15)] // the kernel's comm is at most 15 bytes
		}
		pid = mainPID(b, d.Proc, comm)
	}
	var nq *nopQueue
	if nop {
		nq = startNopQueue(b, g.GW)
		pid = nq.pid
	}
	restoreEnv()
	clients := make([]netip.Addr, w.clients)
	for i := range clients {
		clients[i] = loadClientAddr(i)
	}

	// Warm-up: one session, one transfer. It proves the lab before the
	// clock starts (and loads whatever kernel modules the path needs).
	warm := loadWorkload{sessions: 1, transfers: 1, clients: 1, size: w.size}
	if _, err := runLoad(g, warm, clients, data); err != nil {
		b.Fatalf("warm-up: %v", err)
	}

	invalid0 := g.GW.ConntrackInvalid(b)
	drops0 := adminInvalidDrops(b, g.GW, "forward")
	var ctl0 uint64
	var cpuD0 int64
	queueTable := ""
	switch {
	case d != nil:
		queueTable = d.Cfg.Table
	case nq != nil:
		queueTable = nopQueueTable
	}
	if queueTable != "" {
		ctl0 = divertPackets(b, g.GW, queueTable)
		cpuD0 = procCPUTicks(b, pid, false)
	}
	var met0 map[string]float64
	var profiles sync.WaitGroup
	if d != nil {
		met0 = mustScrape(b, g.GW)
		if dir := os.Getenv("FTPALG_LOAD_PPROF"); dir != "" {
			secs := envInt(b, "FTPALG_LOAD_PPROF_SECONDS", 10, 1, 600)
			name := strings.ReplaceAll(b.Name(), "/", "-")
			profiles.Go(func() {
				saveProfile(b, g.GW, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), filepath.Join(dir, name+".cpu.pprof"))
			})
			profiles.Go(func() {
				saveProfile(b, g.GW, "/debug/pprof/trace?seconds=2", filepath.Join(dir, name+".trace"))
			})
		}
	}
	vsftpdPID := srv.Proc.Pid()
	cpuS0 := procCPUTicks(b, vsftpdPID, true)
	cpuC0 := procCPUTicks(b, os.Getpid(), false)
	host0 := hostCPU(b)

	var lat []time.Duration
	var wall time.Duration
	iters := 0
	for b.Loop() {
		r, err := runLoad(g, w, clients, data)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, r.lat...)
		wall += r.wall
		iters++
	}
	host1 := hostCPU(b)
	cpuC1 := procCPUTicks(b, os.Getpid(), false)
	profiles.Wait()
	// vsftpd's session processes end just after their 221: let the
	// parent reap them so that their time is in its cutime/cstime.
	eventually(3*time.Second, func() bool { return len(procChildren(vsftpdPID)) == 0 })
	cpuS1 := procCPUTicks(b, vsftpdPID, true)

	n := float64(iters)
	sec := wall.Seconds()
	b.ReportMetric(float64(w.sessions)*n/sec, "sessions/s")
	b.ReportMetric(float64(w.sessions*w.transfers)*n/sec, "transfers/s")
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	busy, total := host1.busy-host0.busy, host1.total-host0.total
	tick := clockTick()
	if total > 0 {
		b.ReportMetric(100*float64(busy)/float64(total), "host-cpu-%")
		// The whole machine's busy CPU per transfer (client, gateway
		// kernel path, queue program, server): the one CPU figure that
		// covers the kernel helper's softirq work too.
		b.ReportMetric(float64((time.Duration(busy)*tick).Microseconds())/(float64(w.sessions*w.transfers)*n), "host-cpu-us/transfer")
	}
	b.ReportMetric(ms(time.Duration(cpuC1-cpuC0)*tick)/n, "client-cpu-ms/op")
	b.ReportMetric(ms(time.Duration(cpuS1-cpuS0)*tick)/n, "vsftpd-cpu-ms/op")

	invalid := g.GW.ConntrackInvalid(b) - invalid0
	drops := adminInvalidDrops(b, g.GW, "forward") - drops0
	b.ReportMetric(float64(invalid), "ct-invalid")

	if queueTable != "" {
		prog := "ftpalg"
		if nq != nil {
			prog = "nopqueue"
		}
		cpuD1 := procCPUTicks(b, pid, false)
		ctl := divertPackets(b, g.GW, queueTable) - ctl0
		hwm := procStatusKiB(b, pid, "VmHWM")
		cpuD := time.Duration(cpuD1-cpuD0) * tick
		transfers := float64(w.sessions*w.transfers) * n
		b.ReportMetric(ms(cpuD)/n, prog+"-cpu-ms/op")
		b.ReportMetric(float64(ctl)/n, "ctlpkts/op")
		b.ReportMetric(float64(ctl)/transfers, "ctlpkts/transfer")
		b.ReportMetric(float64(cpuD.Microseconds())/transfers, "queue-cpu-us/transfer")
		if ctl > 0 {
			b.ReportMetric(float64(cpuD.Microseconds())/float64(ctl), prog+"-us/ctlpkt")
		}
		b.ReportMetric(float64(hwm)/1024, prog+"-peak-RSS-MiB")
	}
	if d != nil {
		// What ftpalg adds to an announcing packet (227 in, pinhole
		// installed, verdict out), from its own histogram over the
		// timed run: the upper bound of the bucket holding the
		// percentile.
		met1 := mustScrape(b, g.GW)
		for _, h := range []struct{ name, unit string }{{"ftpalg_announce_seconds", "announce"}, {"ftpalg_decision_seconds", "decision"}} {
			for _, p := range []float64{50, 99} {
				if le, ok := histQuantile(met0, met1, h.name, p/100); ok {
					b.ReportMetric(le*1e6, fmt.Sprintf("%s-p%.0f-us(le)", h.unit, p))
				}
			}
		}
	}

	if d == nil {
		if invalid != 0 || drops != 0 {
			b.Logf("kernel helper: the gateway's conntrack invalid counter moved by %d, the admin ruleset dropped %d invalid packets", invalid, drops)
		}
		if nq != nil {
			nq.stop(b)
		}
		return
	}
	// Control connections' conntrack entries (TIME_WAIT keeps them for
	// 120 s, so the whole run is there): how many are be_liberal.
	ents := controlEntries(b, g.GW, 21)
	liberal, resized := 0, 0
	for _, e := range ents {
		if e.Liberal() {
			liberal++
		}
		if e.Mark&resizedMark != 0 {
			resized++
		}
	}
	b.ReportMetric(float64(len(ents)), "ctl-entries")
	b.ReportMetric(float64(liberal), "ctl-liberal")
	b.ReportMetric(float64(resized), "ctl-resized")

	if invalid != 0 {
		b.Errorf("the gateway's conntrack invalid counter moved by %d during the run", invalid)
	}
	if drops != 0 {
		b.Errorf("the admin ruleset dropped %d ct-invalid packets during the run", drops)
	}
	// ftpalg really did the work: one pinhole per transfer.
	want := w.sessions*w.transfers*iters + 1
	if got := d.Count(msg("pinhole open")); got < want {
		b.Errorf("ftpalg logged %d \"pinhole open\", want at least %d (one per transfer)", got, want)
	}
	for _, e := range d.Entries() {
		if e.Msg == "refuse" {
			b.Errorf("ftpalg refused something in an ordinary session: %s", e.Raw)
		}
	}
	noDaemonErrors(b, d)
	mark := d.Mark()
	d.StopClean(b)
	checkQueueStats(b, d, mark, queues)
}

// checkQueueStats logs the per-queue stats ftpalg prints on exit and fails
// on anything lost on the way.
func checkQueueStats(b *testing.B, d *Daemon, mark, queues int) {
	seen := 0
	var received []string
	for _, e := range d.Since(mark) {
		if e.Msg != "queue stats" {
			continue
		}
		seen++
		b.Logf("queue stats: %s", e.Raw)
		received = append(received, "queue "+e.Field("queue")+": "+e.Field("received"))
		for _, k := range []string{"lost", "overruns", "recv_errors", "verdict_errors"} {
			if v := e.Field(k); v != "0" {
				b.Errorf("ftpalg queue %s: %s=%s", e.Field("queue"), k, v)
			}
		}
	}
	if seen != queues {
		b.Errorf("ftpalg logged %d \"queue stats\" lines on exit, want %d", seen, queues)
	}
	b.Logf("control packets received per queue over ftpalg's life (warm-up included): %s", strings.Join(received, ", "))
}

// queueEnv puts FTPALG_LOAD_QUEUE_ENV's settings into this process's
// environment, which the queue programs started next inherit (this
// process's own runtime read its settings at start and ignores them), and
// returns the function that takes them out again.
func queueEnv(b *testing.B) func() {
	var undo []func()
	for _, kv := range strings.Fields(os.Getenv("FTPALG_LOAD_QUEUE_ENV")) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			b.Fatalf("FTPALG_LOAD_QUEUE_ENV: %q is not NAME=VALUE", kv)
		}
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		undo = append(undo, func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		})
	}
	if len(undo) > 0 {
		b.Logf("queue programs run with %s", os.Getenv("FTPALG_LOAD_QUEUE_ENV"))
	}
	return func() {
		for _, f := range undo {
			f()
		}
	}
}

// saveProfile fetches path (a /debug/pprof/ URL of ftpalg's metrics
// server, metrics.pprof on) from inside ns and writes the body to file.
func saveProfile(b *testing.B, ns *Netns, path, file string) {
	conn, err := ns.Dial(netip.Addr{}, netip.MustParseAddrPort(metricsAddr), 2*time.Second)
	if err != nil {
		b.Errorf("profile %s: %v", path, err)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(11 * time.Minute))
	fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, metricsAddr)
	raw, err := io.ReadAll(conn)
	if err != nil {
		b.Errorf("profile %s: %v", path, err)
		return
	}
	head, body, ok := strings.Cut(string(raw), "\r\n\r\n")
	if !ok || !strings.Contains(head, " 200 ") {
		b.Errorf("profile %s: %.200q", path, raw)
		return
	}
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		b.Error(err)
		return
	}
	b.Logf("profile %s: %s (%d bytes)", path, file, len(body))
}

// mustScrape scrapes ftpalg's metrics in the gateway namespace.
func mustScrape(b *testing.B, ns *Netns) map[string]float64 {
	m, _, err := scrapeMetrics(ns, metricsAddr)
	if err != nil {
		b.Fatalf("scrape ftpalg metrics: %v", err)
	}
	return m
}

// histQuantile is the upper bound of the bucket of histogram name that
// holds quantile q of the observations between scrapes m0 and m1 (a
// Prometheus exposition's cumulative le buckets).
func histQuantile(m0, m1 map[string]float64, name string, q float64) (float64, bool) {
	type bucket struct{ le, n float64 }
	var bs []bucket
	prefix := name + `_bucket{le="`
	for k, v := range m1 {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		s := strings.TrimSuffix(k[len(prefix):], `"}`)
		le, err := strconv.ParseFloat(s, 64)
		if err != nil {
			continue // +Inf parses; anything else is not a bound
		}
		bs = append(bs, bucket{le, v - m0[k]})
	}
	slices.SortFunc(bs, func(a, b bucket) int {
		if a.le < b.le {
			return -1
		}
		if a.le > b.le {
			return 1
		}
		return 0
	})
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return 0, false
	}
	total := bs[len(bs)-1].n
	for _, x := range bs {
		if x.n >= q*total {
			return x.le, true
		}
	}
	return 0, false
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i, 1)-1]
}

// ---- the workload ----

type loadResult struct {
	wall time.Duration
	lat  []time.Duration // one per transfer: PASV sent .. end of data
}

// runLoad runs w.sessions sessions at once; session i connects from
// clients[i%len(clients)]. It returns the first errors, if any.
func runLoad(g *gwLab, w loadWorkload, clients []netip.Addr, want []byte) (loadResult, error) {
	server := netip.AddrPortFrom(g.Dial, 21)
	lats := make([][]time.Duration, w.sessions)
	errs := make([]error, w.sessions)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range w.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats[i], errs[i] = loadSession(g.Client, clients[i%len(clients)], server, w.transfers, want)
		}()
	}
	wg.Wait()
	r := loadResult{wall: time.Since(start)}
	var failed []error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Errorf("session %d: %w", i, err))
		}
		r.lat = append(r.lat, lats[i]...)
	}
	if len(failed) > 0 {
		more := ""
		if len(failed) > 3 {
			more = fmt.Sprintf("\n(and %d more failed sessions)", len(failed)-3)
			failed = failed[:3]
		}
		return r, fmt.Errorf("%d of %d sessions failed:\n%w%s", len(errs)-countNil(errs), len(errs), errors.Join(failed...), more)
	}
	return r, nil
}

func countNil(errs []error) int {
	n := 0
	for _, e := range errs {
		if e == nil {
			n++
		}
	}
	return n
}

// loadSession is one control session: login, n PASV downloads, QUIT.
func loadSession(ns *Netns, local netip.Addr, server netip.AddrPort, n int, want []byte) ([]time.Duration, error) {
	c, err := DialFTP(ns, local, server)
	if err != nil {
		return nil, err
	}
	fail := func(err error) ([]time.Duration, error) {
		c.Close()
		return nil, fmt.Errorf("%w\nlast lines of the client's transcript:\n%s", err, tail(c.Transcript(), 12))
	}
	lat := make([]time.Duration, 0, n)
	for j := range n {
		t0 := time.Now()
		d, err := c.Prepare(PASV)
		if err != nil {
			return fail(fmt.Errorf("transfer %d: %w", j, err))
		}
		var got []byte
		var t1 time.Time
		err = c.Transfer(d, "RETR "+loadPath, func(conn net.Conn) error {
			var err error
			got, err = io.ReadAll(conn)
			t1 = time.Now()
			return err
		})
		if err != nil {
			return fail(fmt.Errorf("transfer %d: %w", j, err))
		}
		if len(got) != len(want) || !bytes.Equal(got, want) {
			return fail(fmt.Errorf("transfer %d: got %d bytes (sha256 %s), want %d (sha256 %s)",
				j, len(got), digest(got), len(want), digest(want)))
		}
		lat = append(lat, t1.Sub(t0))
	}
	if err := c.Quit(); err != nil {
		return fail(err)
	}
	return lat, nil
}

// loadClientAddr is the i-th client address: 198.51.100.10, .11, ...
func loadClientAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)})
}

// ---- what the kernel knows about the processes ----

// mainPID is the pid of the program a Proc runs: ip netns exec execs it
// in place, so it is the Proc's own pid; should ip ever fork, it is its
// only child.
func mainPID(b testing.TB, p *Proc, comm string) int {
	pid := p.Pid()
	if c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(c)) == comm {
		return pid
	}
	for _, child := range procChildren(pid) {
		if c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", child)); strings.TrimSpace(string(c)) == comm {
			return child
		}
	}
	b.Fatalf("cannot find the %s process (started as pid %d)", comm, pid)
	return 0
}

func procChildren(pid int) []int {
	out, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// procCPUTicks is utime+stime of a process from /proc/<pid>/stat, in
// clock ticks; with children also cutime+cstime (the children it reaped).
func procCPUTicks(b testing.TB, pid int, children bool) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("cpu time of pid %d: %v", pid, err)
	}
	s := string(raw)
	// Fields after "(comm)": state is field 3; utime, stime, cutime,
	// cstime are fields 14-17.
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	last := 12
	if children {
		last = 14
	}
	var sum int64
	for _, v := range f[11 : last+1] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/stat: %q", pid, s)
		}
		sum += n
	}
	return sum
}

var clockTickOnce struct {
	sync.Once
	d time.Duration
}

// clockTick is the unit of /proc/<pid>/stat times: 1/sysconf(_SC_CLK_TCK)
// (USER_HZ, 100 on every Linux this runs on; asked of getconf anyway).
func clockTick() time.Duration {
	clockTickOnce.Do(func() {
		hz := 100
		if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
				hz = n
			}
		}
		clockTickOnce.d = time.Second / time.Duration(hz)
	})
	return clockTickOnce.d
}

// procStatusKiB reads a "kB" line (VmHWM, VmRSS) of /proc/<pid>/status.
func procStatusKiB(b testing.TB, pid int, key string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n
				}
			}
		}
	}
	b.Fatalf("/proc/%d/status has no %s line", pid, key)
	return 0
}

type cpuTimes struct{ busy, total uint64 }

// hostCPU reads the machine-wide "cpu" line of /proc/stat: busy is
// everything but idle and iowait.
func hostCPU(b testing.TB) cpuTimes {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		b.Fatalf("/proc/stat: %q", line)
	}
	var t cpuTimes
	// user nice system idle iowait irq softirq steal (guest is in user)
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			b.Fatalf("/proc/stat: %q", line)
		}
		t.total += n
		if i != 3 && i != 4 {
			t.busy += n
		}
	}
	return t
}

// divertPackets sums the packet counters of the rules in ftpalg's
// divert-* chains: the control packets sent to the queues.
func divertPackets(b testing.TB, ns *Netns, table string) uint64 {
	out, err := ns.Run("nft", "-j", "list", "table", "inet", table)
	if err != nil {
		b.Fatalf("nft -j list table inet %s: %v: %s", table, err, out)
	}
	// nft may warn about the compat target before the JSON.
	if i := strings.Index(out, `{"nftables"`); i > 0 {
		out = out[i:]
	}
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Chain string            `json:"chain"`
				Expr  []json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		b.Fatalf("nft -j list table inet %s: %v:\n%s", table, err, tail(out, 20))
	}
	var sum uint64
	counters := 0
	for _, o := range doc.Nftables {
		if o.Rule == nil || !strings.HasPrefix(o.Rule.Chain, "divert-") {
			continue
		}
		for _, e := range o.Rule.Expr {
			var c struct {
				Counter *struct {
					Packets uint64 `json:"packets"`
				} `json:"counter"`
			}
			if json.Unmarshal(e, &c) == nil && c.Counter != nil {
				sum += c.Counter.Packets
				counters++
			}
		}
	}
	if counters == 0 {
		b.Fatalf("no counters in the divert chains of table inet %s:\n%s", table, tail(out, 40))
	}
	return sum
}
