package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/gateway"
)

// BenchmarkFootprint measures ftpalg's memory (VmRSS and VmHWM of
// /proc/PID/status) at idle and with N live control sessions, for
// BENCHMARKS.md ("Footprint"). The lab is the DNAT gateway of the other
// tests; the server is e2e/testdata/greeter in the server namespace,
// which answers every connection with "220 ready" and holds it. The
// client opens the connections through the gateway and reads each
// greeting: the SYN, the SYN-ACK and the greeting all went through
// ftpalg's queue, so each connection is a session ftpalg tracks, greeted.
// After the memory is read, `ftpalg status -json` must list exactly the
// sessions the config allows (min(N, policy.max_sessions)), each greeted.
//
//	go test -run='^$' -bench=Footprint -benchtime=1x ./e2e/
//
// Variants: defaults (the e2e gateway config at log level info: the
// daemon's defaults), and openwrt (the ipk's dist/openwrt/ftpalg.yaml:
// max_sessions 4096, queue.max_len 1024, memory_limit 48MiB), whose
// 10,000 connections are more than its max_sessions: the excess passes
// untracked. FTPALG_FOOTPRINT_SESSIONS lists the steps (default
// "1000,10000"; cumulative: each step opens connections up to N).
//
// Metrics: idle-rss-KiB, idle-hwm-KiB, and per step N rss-N-KiB,
// hwm-N-KiB (read before the status request) and tracked-N.
func BenchmarkFootprint(b *testing.B) {
	steps := footprintSteps(b)
	b.Run("defaults", func(b *testing.B) {
		cfg := gatewayConfig()
		cfg.LogLevel = "info"
		benchFootprint(b, steps, func(g *gwLab) *Daemon { return startDaemon(b, g.GW, cfg) }, 65536)
	})
	b.Run("openwrt", func(b *testing.B) {
		benchFootprint(b, steps, func(g *gwLab) *Daemon { return startPackagedDaemon(b, g.GW) }, 4096)
	})
}

func footprintSteps(b *testing.B) []int {
	s := os.Getenv("FTPALG_FOOTPRINT_SESSIONS")
	if s == "" {
		return []int{1000, 10000}
	}
	var steps []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 25000 || (len(steps) > 0 && n <= steps[len(steps)-1]) {
			b.Fatalf("FTPALG_FOOTPRINT_SESSIONS=%q: want increasing counts in 1-25000, like 1000,10000", s)
		}
		steps = append(steps, n)
	}
	return steps
}

func benchFootprint(b *testing.B, steps []int, start func(*gwLab) *Daemon, maxSessions int) {
	needLab(b)
	if b.N > 1 {
		b.Skip("one measurement per run: use -benchtime=1x")
	}
	most := steps[len(steps)-1]
	// The client end of every connection is in this process.
	raiseNoFile(b, uint64(most+1024))
	g := labDNAT(b, adminFtpalg)
	g.diagTail = 60
	startGreeter(b, g.Server, netip.AddrPortFrom(serverPriv, 21))
	d := start(g)
	pid := mainPID(b, d.Proc, "ftpalg")

	time.Sleep(2 * time.Second)
	idleRSS, idleHWM := procStatusKiB(b, pid, "VmRSS"), procStatusKiB(b, pid, "VmHWM")
	b.ReportMetric(float64(idleRSS), "idle-rss-KiB")
	b.ReportMetric(float64(idleHWM), "idle-hwm-KiB")
	report := []string{fmt.Sprintf("idle: VmRSS %d KiB, VmHWM %d KiB", idleRSS, idleHWM)}

	var conns []net.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for _, n := range steps {
		t0 := time.Now()
		more, err := openGreeted(g, n-len(conns))
		conns = append(conns, more...)
		if err != nil {
			b.Fatalf("opening connection %d of %d: %v", len(conns)+1, n, err)
		}
		opened := time.Since(t0)
		time.Sleep(2 * time.Second)
		rss, hwm := procStatusKiB(b, pid, "VmRSS"), procStatusKiB(b, pid, "VmHWM")
		tracked := trackedGreeted(b, d, g)
		want := min(n, maxSessions)
		if tracked != want {
			b.Fatalf("%d connections: ftpalg status lists %d greeted sessions, want %d", n, tracked, want)
		}
		b.ReportMetric(float64(rss), fmt.Sprintf("rss-%d-KiB", n))
		b.ReportMetric(float64(hwm), fmt.Sprintf("hwm-%d-KiB", n))
		b.ReportMetric(float64(tracked), fmt.Sprintf("tracked-%d", n))
		report = append(report, fmt.Sprintf("%d connections (opened in %v), %d tracked: VmRSS %d KiB, VmHWM %d KiB, (RSS - idle RSS) / connections = %.2f KiB",
			n, opened.Round(time.Millisecond), tracked, rss, hwm, float64(rss-idleRSS)/float64(n)))
	}
	if errs := d.Errors(); len(errs) > 0 {
		b.Fatalf("ftpalg logged errors, the first: %s", errs[0].Raw)
	}
	b.Logf("ftpalg footprint, %s:\n  %s", b.Name(), strings.Join(report, "\n  "))
}

// raiseNoFile raises this process's open-file limit to at least n for the
// benchmark, within the hard limit (a container may forbid raising that).
func raiseNoFile(b *testing.B, n uint64) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		b.Fatal(err)
	}
	if old.Cur >= n {
		return
	}
	if old.Max < n {
		b.Fatalf("%d connections need %d descriptors; the hard limit is %d", n-1024, n, old.Max)
	}
	lim := syscall.Rlimit{Cur: n, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatalf("raising RLIMIT_NOFILE to %d: %v", n, err)
	}
	b.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

var greeterBuild = goBuild{pkg: "./e2e/testdata/greeter", name: "greeter"}

// startGreeter runs e2e/testdata/greeter, the minimal FTP server, in ns:
// it sends "220 ready" on each connection and holds it. A process of its
// own, so that neither it nor this one needs more descriptors than one
// per connection.
func startGreeter(b *testing.B, ns *Netns, addr netip.AddrPort) {
	ready := make(chan struct{}, 1)
	_, err := ns.Start("greeter", func(line string) {
		if line == "ready" {
			select {
			case ready <- struct{}{}:
			default:
			}
		}
	}, greeterBuild.binary(b), "-listen", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		b.Fatal("greeter did not start within 10s")
	}
}

// openGreeted opens n control connections from the client namespace to
// the published server, 8 at a time, and reads each one's greeting.
func openGreeted(g *gwLab, n int) ([]net.Conn, error) {
	const workers = 8
	var mu sync.Mutex
	var conns []net.Conn
	var firstErr error
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One thread in the client namespace per worker: each socket is
			// made there.
			err := g.Client.Do(func() error {
				dialer := net.Dialer{Timeout: 10 * time.Second}
				if w%2 == 1 {
					dialer.LocalAddr = &net.TCPAddr{IP: g.ClientAddr2.AsSlice()}
				} else {
					dialer.LocalAddr = &net.TCPAddr{IP: g.ClientAddr.AsSlice()}
				}
				for range next {
					c, err := dialer.Dial("tcp", netip.AddrPortFrom(g.Dial, 21).String())
					if err != nil {
						return err
					}
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					line, err := bufio.NewReader(c).ReadString('\n')
					if err != nil || line != "220 ready\r\n" {
						c.Close()
						return fmt.Errorf("greeting %q: %v", line, err)
					}
					c.SetReadDeadline(time.Time{})
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
				return nil
			})
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return conns, firstErr
}

// trackedGreeted asks ftpalg status -json how many sessions it tracks,
// and requires each to be one of the benchmark's (client to the server,
// greeted).
func trackedGreeted(b *testing.B, d *Daemon, g *gwLab) int {
	out, err := d.ns.Run(ftpalgBinary(b), "status", "-json", "-config", d.ConfigPath)
	if err != nil {
		b.Fatalf("ftpalg status -json: %v\n%s", err, tail(out, 20))
	}
	var r gateway.StatusReply
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		b.Fatalf("ftpalg status -json: %v\n%s", err, tail(out, 20))
	}
	server := netip.AddrPortFrom(g.ServerAddr, 21)
	for _, s := range r.Sessions {
		if s.Server != server || (s.Client.Addr() != g.ClientAddr && s.Client.Addr() != g.ClientAddr2) || strings.Join(s.State, ",") != "greeted" {
			b.Fatalf("ftpalg tracks a session that is not the benchmark's greeted one: %+v", s)
		}
	}
	return len(r.Sessions)
}

// startPackagedDaemon runs ftpalg with the ipk's config
// (dist/openwrt/ftpalg.yaml), its log switched to JSON for the harness and
// its status socket moved into the lab.
func startPackagedDaemon(b *testing.B, ns *Netns) *Daemon {
	raw, err := os.ReadFile("../dist/openwrt/ftpalg.yaml")
	if err != nil {
		b.Fatal(err)
	}
	text := string(raw)
	sock := filepath.Join(ns.lab.dir, "ftpalg-openwrt.sock")
	for _, r := range []struct{ re, to string }{
		{`(?m)^  format: text$`, "  format: json"},
		{`(?m)^  socket: .*$`, "  socket: " + sock},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(text) {
			b.Fatalf("dist/openwrt/ftpalg.yaml has no line matching %s", r.re)
		}
		text = re.ReplaceAllString(text, r.to)
	}
	path := filepath.Join(ns.lab.dir, "ftpalg-openwrt.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	d := &Daemon{ns: ns, Cfg: DaemonConfig{StatusSocket: sock, Table: "ftpalg"}, ConfigPath: path, changed: make(chan struct{})}
	p, err := ns.Start("ftpalg", d.addLine, ftpalgBinary(b), "run", "-config", path)
	if err != nil {
		b.Fatal(err)
	}
	d.Proc = p
	if _, ok := d.WaitFor(10*time.Second, func(e LogEntry) bool { return e.Msg == "ready" }); !ok {
		b.Fatalf("ftpalg (openwrt config) did not log \"ready\" within 10s; its output:\n%s", tail(p.Output(), 40))
	}
	if _, ok := d.WaitFor(time.Second, msg("memory limit", "bytes", "50331648")); !ok {
		b.Fatalf("ftpalg (openwrt config) did not log its 48MiB memory limit; its output:\n%s", tail(p.Output(), 40))
	}
	return d
}

// TestMemoryLimitReload: memory_limit is applied on SIGHUP (logged with
// the new limit), an invalid one is refused with its key while the old
// stays, and off removes the limit.
func TestMemoryLimitReload(t *testing.T) {
	needLab(t)
	g := labDNAT(t, adminFtpalg)
	d := startDaemon(t, g.GW, gatewayConfig())
	if d.Count(msg("memory limit")) != 0 {
		t.Fatalf("ftpalg logged a memory limit without memory_limit in its config")
	}
	reload := func(extra string) int {
		t.Helper()
		if err := os.WriteFile(d.ConfigPath, []byte(d.Cfg.YAML()+extra), 0o644); err != nil {
			t.Fatal(err)
		}
		mark := d.Mark()
		if err := d.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		return mark
	}
	mark := reload("memory_limit: 64MiB\n")
	expectLogged(t, d, mark, 5*time.Second, "memory limit 64MiB", msg("memory limit", "bytes", "67108864"))
	expectLogged(t, d, mark, 5*time.Second, "reloaded", msg("reloaded"))

	mark = reload("memory_limit: 1MiB\n")
	expectLogged(t, d, mark, 5*time.Second, "the refusal of memory_limit 1MiB",
		msg("reload refused: the config is not valid; the old one stays", "key", "memory_limit"))
	time.Sleep(200 * time.Millisecond)
	for _, e := range d.Since(mark) {
		if e.Msg == "memory limit" || e.Msg == "memory limit off" {
			t.Errorf("a refused reload changed the memory limit: %s", e.Raw)
		}
	}

	mark = reload("memory_limit: off\n")
	expectLogged(t, d, mark, 5*time.Second, "memory limit off", msg("memory limit off"))
	if errs := d.Errors(); len(errs) != 1 {
		t.Errorf("ftpalg logged %d errors, want the one refusal", len(errs))
	}
	d.StopClean(t)
}
