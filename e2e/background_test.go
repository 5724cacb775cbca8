package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBackgroundTraffic: what traffic that is not FTP costs
// ftpalg. The DNAT lab with ftpalg running (e2e gateway config at log
// level info, metrics on), plus a TCP service on the server
// (10.0.0.2:8080, published as 203.0.113.1:8080 by a DNAT rule the admin
// ruleset admits). After one FTP transfer (the lab works), ftpalg's CPU
// time (utime+stime from /proc/PID/stat) and its conntrack event
// counters are taken over an idle window, then over a window of the
// same length in which e2e/testdata/bgtraffic opens short connections
// to the service (connect, send 16 bytes, the server closes, close) from
// the client's two addresses in turn. One more FTP transfer follows.
//
// Two variants, each with its own lab, in one run:
//
//	filtered    ftpalg as deployed: its conntrack event socket carries
//	            the socket filter (ctnetlink.Filter)
//	unfiltered  ftpalg started with FTPALG_TEST_UNFILTERED_CT_EVENTS=1,
//	            which only this benchmark sets: every event reaches it
//
// Conntrack sends a connection's DESTROY event when its entry goes; so
// that those of the background connections fall inside the window, the
// gateway's nf_conntrack_tcp_timeout_time_wait is 2 s (a namespace
// setting of the lab). The client namespace reuses TIME_WAIT ports
// (tcp_tw_reuse) and has the whole port range.
//
//	go test -run='^$' -bench=BackgroundTraffic -benchtime=1x ./e2e/
//
// Environment: FTPALG_BG_SECONDS (the length of each window, default
// 30; scripts/test sets 5 for its run-once pass) and FTPALG_BG_RATE
// (connections per second, default 2000).
//
// Metrics per iteration: idle-cpu-ms and traffic-cpu-ms (ftpalg's CPU
// time over each window), extra-cpu-ms (their difference), idle-events
// and traffic-events (ftpalg_conntrack_events_total over each window),
// traffic-ignored (ftpalg_conntrack_events_ignored_total over the
// traffic window), conns/s (completed background connections per second
// of the window), conns-failed, host-cpu-% (busy share of all CPUs over
// the traffic window). The filtered variant fails if more than 1% as
// many events as background connections reach ftpalg; the unfiltered
// one if fewer than one per connection do (then the traffic did not
// make events and the comparison would prove nothing).
func BenchmarkBackgroundTraffic(b *testing.B) {
	secs := envInt(b, "FTPALG_BG_SECONDS", 30, 1, 600)
	rate := envInt(b, "FTPALG_BG_RATE", 2000, 1, 20000)
	for _, v := range []struct {
		name       string
		unfiltered bool
	}{{"filtered", false}, {"unfiltered", true}} {
		b.Run(v.name, func(b *testing.B) {
			benchBackground(b, v.unfiltered, time.Duration(secs)*time.Second, rate)
		})
	}
}

var bgTrafficBuild = goBuild{pkg: "./e2e/testdata/bgtraffic", name: "bgtraffic"}

// unfilteredEnv is gateway's switch that turns the event filter off.
const unfilteredEnv = "FTPALG_TEST_UNFILTERED_CT_EVENTS"

func benchBackground(b *testing.B, unfiltered bool, window time.Duration, rate int) {
	bin := bgTrafficBuild.binary(b)
	if unfiltered {
		b.Setenv(unfilteredEnv, "1")
	} else {
		b.Setenv(unfilteredEnv, "")
	}
	g := labDNAT(b, adminFtpalg)
	g.diagTail = 80
	g.GW.MustRun(b, "nft", "add rule inet admin prerouting ip daddr 203.0.113.1 tcp dport 8080 dnat ip to 10.0.0.2")
	g.GW.MustRun(b, "nft", "add rule inet admin forward tcp dport 8080 accept")
	g.GW.Sysctl(b, "net.netfilter.nf_conntrack_tcp_timeout_time_wait=2")
	g.Client.Sysctl(b, "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65535")

	srv := startVsftpd(b, g.Server, serverPriv, serverOpts{})
	cfg := gatewayConfig()
	cfg.LogLevel = "info"
	cfg.MetricsListen = metricsAddr
	d := startDaemon(b, g.GW, cfg)
	pid := mainPID(b, d.Proc, "ftpalg")
	warned := d.Count(msg("conntrack events unfiltered: every event in the namespace reaches ftpalg")) > 0
	if warned != unfiltered {
		b.Fatalf("ftpalg logged that its events are unfiltered: %v, want %v", warned, unfiltered)
	}

	bg, err := g.Server.Start("bgtraffic server", nil, bin, "-listen", "10.0.0.2:8080")
	if err != nil {
		b.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool { return strings.Contains(bg.Output(), "ready") }) {
		b.Fatalf("bgtraffic server not ready: %s", bg.Output())
	}
	transfer := func(when string) {
		c := dialGo(b, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
		defer c.Close()
		if got, err := c.Retr(PASV, smallPath); err != nil || !bytes.Equal(got, srv.Files[smallPath]) {
			b.Fatalf("FTP transfer %s: %v (%d bytes)", when, err, len(got))
		}
		if err := c.Quit(); err != nil {
			b.Fatalf("QUIT %s: %v", when, err)
		}
	}
	transfer("before the windows")
	time.Sleep(time.Second) // the session's events are in

	counters := func() (events, ignored float64) { return ctEventCounters(b, g) }
	tick := clockTick()
	var idleCPU, trafficCPU time.Duration
	var idleEvents, trafficEvents, trafficIgnored float64
	var conns, failed int
	var seconds float64
	var busy, total uint64
	iters := 0
	for b.Loop() {
		// Idle.
		cpu0 := procCPUTicks(b, pid, false)
		ev0, _ := counters()
		time.Sleep(window)
		cpu1 := procCPUTicks(b, pid, false)
		ev1, ig1 := counters()
		// Background traffic.
		host0 := hostCPU(b)
		out, err := g.Client.RunTimeout(window+time.Minute, nil, bin, "-dial", "203.0.113.1:8080",
			"-rate", strconv.Itoa(rate), "-duration", window.String(),
			"-from", clientPub.String()+","+clientPub2.String())
		if err != nil {
			b.Fatalf("bgtraffic client: %v\n%s", err, out)
		}
		cpu2 := procCPUTicks(b, pid, false)
		ev2, ig2 := counters()
		host1 := hostCPU(b)
		st, ok, nfail, secs, err := parseBgDone(out)
		if err != nil {
			b.Fatalf("bgtraffic client: %v\n%s", err, out)
		}
		if nfail > st/100 {
			b.Fatalf("bgtraffic client: %d of %d connections failed: %s", nfail, st, out)
		}
		idleCPU += time.Duration(cpu1-cpu0) * tick
		trafficCPU += time.Duration(cpu2-cpu1) * tick
		idleEvents += ev1 - ev0
		trafficEvents += ev2 - ev1
		trafficIgnored += ig2 - ig1
		conns += ok
		failed += nfail
		seconds += secs
		busy += host1.busy - host0.busy
		total += host1.total - host0.total
		iters++
	}
	n := float64(iters)
	b.ReportMetric(ms(idleCPU)/n, "idle-cpu-ms")
	b.ReportMetric(ms(trafficCPU)/n, "traffic-cpu-ms")
	b.ReportMetric((ms(trafficCPU)-ms(idleCPU))/n, "extra-cpu-ms")
	b.ReportMetric(idleEvents/n, "idle-events")
	b.ReportMetric(trafficEvents/n, "traffic-events")
	b.ReportMetric(trafficIgnored/n, "traffic-ignored")
	b.ReportMetric(float64(conns)/seconds, "conns/s")
	b.ReportMetric(float64(failed)/n, "conns-failed")
	if total > 0 {
		b.ReportMetric(100*float64(busy)/float64(total), "host-cpu-%")
	}
	switch {
	case !unfiltered && trafficEvents > float64(conns)/100:
		b.Errorf("filtered: %v conntrack events reached ftpalg during %d background connections", trafficEvents, conns)
	case unfiltered && trafficEvents < float64(conns):
		b.Errorf("unfiltered: only %v conntrack events for %d background connections: the traffic made no events?", trafficEvents, conns)
	}

	transfer("after the windows")
	noDaemonErrors(b, d)
	d.StopClean(b)
}

// parseBgDone reads bgtraffic's "done started=N ok=N failed=N seconds=S
// first_error=..." line.
func parseBgDone(out string) (started, ok, failed int, seconds float64, err error) {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "done ") {
			continue
		}
		first := ""
		if i := strings.Index(line, " first_error="); i >= 0 {
			line, first = line[:i], line[i+len(" first_error="):]
		}
		if _, err := fmt.Sscanf(line, "done started=%d ok=%d failed=%d seconds=%g", &started, &ok, &failed, &seconds); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("%q: %v", line, err)
		}
		if failed > 0 {
			fmt.Fprintf(os.Stderr, "bgtraffic: %d failed, first: %s\n", failed, first)
		}
		return started, ok, failed, seconds, nil
	}
	return 0, 0, 0, 0, fmt.Errorf("no \"done\" line")
}

// TestEventFilterReload: the event filter follows the control ports. A
// TCP connection through the gateway to port 2121 (DNAT, admitted by the
// admin ruleset) wakes no conntrack event in ftpalg while 2121 is not a
// control port; after a SIGHUP that adds it, the next one's NEW event,
// and its DESTROY after conntrack -D, arrive, and nothing arrives that
// ftpalg ignores.
func TestEventFilterReload(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	g.GW.MustRun(t, "nft", "add rule inet admin prerouting ip daddr 203.0.113.1 tcp dport 2121 dnat ip to 10.0.0.2")
	g.GW.MustRun(t, "nft", "add rule inet admin forward tcp dport 2121 accept")
	ln, err := g.Server.Listen(netip.MustParseAddrPort("10.0.0.2:2121"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	t.Setenv(unfilteredEnv, "")
	cfg := gatewayConfig()
	cfg.MetricsListen = metricsAddr
	d := startDaemon(t, g.GW, cfg)
	counters := func() (events, ignored float64) { return ctEventCounters(t, g) }
	dial := func(local netip.Addr) {
		t.Helper()
		c, err := g.Client.Dial(local, netip.MustParseAddrPort("203.0.113.1:2121"), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}

	ev0, ig0 := counters()
	dial(clientPub)
	time.Sleep(time.Second)
	if ev, ig := counters(); ev != ev0 || ig != ig0 {
		t.Fatalf("a connection to port 2121 (not a control port) moved the event counters: events %v -> %v, ignored %v -> %v", ev0, ev, ig0, ig)
	}

	more := d.Cfg
	more.ControlPorts = "[21, 2121]"
	if err := os.WriteFile(d.ConfigPath, []byte(more.YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	mark := d.Mark()
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	expectLogged(t, d, mark, 5*time.Second, "reloaded with port 2121", msg("reloaded", "control_ports_changed", "true"))
	ev1, _ := counters()
	dial(clientPub2)
	if !eventually(3*time.Second, func() bool { ev, _ := counters(); return ev >= ev1+1 }) {
		t.Fatalf("no conntrack event for a connection to the new control port 2121 (events %v)", ev1)
	}
	g.GW.MustRun(t, "conntrack", "-D", "-p", "tcp", "--orig-src", clientPub2.String(), "--orig-port-dst", "2121")
	if !eventually(3*time.Second, func() bool { ev, _ := counters(); return ev >= ev1+2 }) {
		t.Fatalf("no DESTROY event after conntrack -D of the connection to port 2121")
	}
	if _, ig := counters(); ig != ig0 {
		t.Errorf("ftpalg ignored %v events: the filter let through what it has no use for", ig-ig0)
	}
	noDaemonErrors(t, d)
	d.StopClean(t)
}

// ctEventCounters scrapes ftpalg's conntrack event counters (received,
// and of those ignored) from the gateway's metrics.
func ctEventCounters(tb testing.TB, g *gwLab) (events, ignored float64) {
	tb.Helper()
	m, body, err := scrapeMetrics(g.GW, metricsAddr)
	if err != nil {
		tb.Fatalf("scrape: %v", err)
	}
	ev, ok1 := m["ftpalg_conntrack_events_total"]
	ig, ok2 := m["ftpalg_conntrack_events_ignored_total"]
	if !ok1 || !ok2 {
		tb.Fatalf("no conntrack event counters in the metrics:\n%s", ftpalgLines(body))
	}
	return ev, ig
}
