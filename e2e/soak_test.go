package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak runs many sessions at a steady rate through the DNAT gateway
// and checks that ftpalg ends where it started: no session, pinhole or
// mapping left, and its memory back near the level it had after a
// warm-up. It runs only with FTPALG_SOAK=1 (it takes more than 10
// minutes):
//
//	FTPALG_SOAK=1 FTPALG_E2E=require go test ./e2e/ -run TestSoak -v -timeout 40m
//
// Each session: login from one of 4 client addresses, two downloads of a
// 4 KiB file in two of PASV, EPSV, PORT, EPRT (rotating, so every mode is
// used equally), 150 ms of think time before each transfer and before
// QUIT, then QUIT. Sessions start at a fixed rate whatever their
// duration (at most 64 run at once). ftpalg runs with the e2e gateway
// config at log level info (a deployment's level) and default session
// timings (closed_linger 2m).
//
// Every 10 s the test logs ftpalg's RSS (VmRSS), the elements of pin4
// and dnat4, the sessions open according to the log ("session start"
// minus "session end") and the gateway's conntrack entries. After the
// last session it waits closed_linger plus 15 s, then requires: every
// session succeeded, the sets and maps are empty, ftpalg's exit stats
// report no tracked session or pinhole and an empty NAT cache, and
// ftpalg's RSS comes back to at most the warm-up baseline plus 25%
// within 5 minutes (the Go runtime returns freed memory only after a GC,
// forced every 2 minutes in an idle process, at its scavenger's pace).
//
// Environment: FTPALG_SOAK_SESSIONS (default 10000), FTPALG_SOAK_SECONDS
// (default 600: the rate is sessions/seconds), FTPALG_SOAK_WARMUP
// (sessions before the baseline, default 300), FTPALG_SOAK_REPORT (a
// file to write the RSS series to as a Markdown table),
// FTPALG_SOAK_LINGER (closed_linger for a quick trial run, e.g. 5s).
func TestSoak(t *testing.T) {
	if os.Getenv("FTPALG_SOAK") != "1" {
		t.Skip("set FTPALG_SOAK=1 to run the soak (10+ minutes)")
	}
	sessions := soakEnv(t, "FTPALG_SOAK_SESSIONS", 10000)
	seconds := soakEnv(t, "FTPALG_SOAK_SECONDS", 600)
	warmN := soakEnv(t, "FTPALG_SOAK_WARMUP", 300)
	const (
		clients     = 4
		maxParallel = 64
		think       = 150 * time.Millisecond
		rssMargin   = 1.25
	)
	interval := time.Duration(seconds) * time.Second / time.Duration(sessions)
	linger := 2 * time.Minute // closed_linger's default
	if s := os.Getenv("FTPALG_SOAK_LINGER"); s != "" {
		var err error
		if linger, err = time.ParseDuration(s); err != nil || linger <= 0 {
			t.Fatalf("FTPALG_SOAK_LINGER=%q: want a duration", s)
		}
	}

	g := labDNAT(t, adminFtpalg)
	g.diagTail = 80
	for i := 2; i < clients; i++ {
		g.Client.Addr(t, "eth0", loadClientAddr(i).String()+"/24")
	}
	srv := startVsftpd(t, g.Server, serverPriv, serverOpts{})
	data := make([]byte, 4<<10)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(srv.Root, loadPath), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := gatewayConfig()
	cfg.LogLevel = "info"
	if os.Getenv("FTPALG_SOAK_LINGER") != "" {
		cfg.PolicyExtra = "closed_linger: " + linger.String()
	}
	d := startDaemon(t, g.GW, cfg)
	pid := mainPID(t, d.Proc, "ftpalg")
	server := netip.AddrPortFrom(g.Dial, 21)

	var failed atomic.Int64
	var firstErrs []string
	var errMu sync.Mutex
	// run starts n sessions at the soak's rate and waits for them.
	run := func(first, n int) (lag time.Duration) {
		sem := make(chan struct{}, maxParallel)
		var wg sync.WaitGroup
		start := time.Now()
		for i := first; i < first+n; i++ {
			at := start.Add(time.Duration(i-first) * interval)
			time.Sleep(time.Until(at))
			sem <- struct{}{}
			lag = max(lag, time.Since(at))
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := soakSession(g.Client, loadClientAddr(i%clients), server, i, think, data); err != nil {
					failed.Add(1)
					errMu.Lock()
					if len(firstErrs) < 5 {
						firstErrs = append(firstErrs, fmt.Sprintf("session %d: %v", i, err))
					}
					errMu.Unlock()
				}
			}()
		}
		wg.Wait()
		return lag
	}

	// The samples.
	type sample struct {
		at             time.Duration
		phase          string
		rss            int64
		pin4, dnat4    int
		open, done     int
		conntrack      int
		failedSessions int64
	}
	var samples []sample
	t0 := time.Now()
	take := func(phase string) sample {
		s := sample{at: time.Since(t0), phase: phase, rss: rssKiB(pid), failedSessions: failed.Load()}
		if sets, ok, err := g.GW.NftSets("inet", cfg.Table); err == nil && ok {
			s.pin4, s.dnat4 = len(sets["pin4"]), len(sets["dnat4"])
		}
		started, ended := 0, 0
		for _, e := range d.Entries() {
			switch e.Msg {
			case "session start":
				started++
			case "session end":
				ended++
			}
		}
		s.open, s.done = started-ended, ended
		if out, err := g.GW.Run("conntrack", "-C"); err == nil {
			s.conntrack, _ = strconv.Atoi(strings.TrimSpace(out))
		}
		samples = append(samples, s)
		t.Logf("t=%4.0fs %-8s rss=%6d KiB pin4=%3d dnat4=%3d sessions open=%3d ended=%5d conntrack=%5d failed=%d",
			s.at.Seconds(), phase, s.rss, s.pin4, s.dnat4, s.open, s.done, s.conntrack, s.failedSessions)
		return s
	}
	stopSampling := make(chan struct{})
	var phase atomic.Value
	phase.Store("warm-up")
	samplerDone := make(chan struct{})
	take("start")
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				take(phase.Load().(string))
			}
		}
	}()

	// Warm-up, then the baseline: after the warm-up's sessions are gone
	// from the tracker (closed_linger), as they will be at the end.
	run(0, warmN)
	phase.Store("settle")
	time.Sleep(linger + 15*time.Second)
	base := rssKiB(pid)
	t.Logf("baseline after %d warm-up sessions and %v: RSS %d KiB", warmN, linger+15*time.Second, base)

	phase.Store("soak")
	soakStart := time.Now()
	lag := run(warmN, sessions)
	soakWall := time.Since(soakStart)
	t.Logf("%d sessions in %v (%.1f sessions/s; the schedule fell behind by at most %v), %d failed",
		sessions, soakWall.Round(time.Second), float64(sessions)/soakWall.Seconds(), lag.Round(time.Millisecond), failed.Load())

	phase.Store("cool")
	expectNothingLeft(t, g.GW, cfg.Table, 5*time.Second, "right after the last session")
	time.Sleep(linger + 15*time.Second)
	// The sessions are gone from the tracker now; the Go runtime gives
	// their memory back only after a GC (forced every 2 minutes when
	// nothing allocates) and its scavenger's pace. Wait up to 5 minutes
	// for the RSS to come back within the margin.
	phase.Store("return")
	limit := int64(float64(base) * rssMargin)
	returnStart := time.Now()
	returned := eventually(5*time.Minute, func() bool {
		time.Sleep(time.Second)
		return rssKiB(pid) <= limit
	})
	returnTook := time.Since(returnStart)
	close(stopSampling)
	<-samplerDone
	final := take("end")

	// Assertions.
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d sessions failed; the first:\n%s", n, sessions+warmN, strings.Join(firstErrs, "\n"))
	}
	expectNothingLeft(t, g.GW, cfg.Table, time.Second, "at the end of the soak")
	if final.open != 0 {
		t.Errorf("the log shows %d sessions started and never ended", final.open)
	}
	if !returned {
		t.Errorf("ftpalg's RSS is %d KiB %v after the sessions were gone, above the baseline %d KiB + 25%% (%d KiB)", final.rss, returnTook.Round(time.Second), base, limit)
	} else {
		t.Logf("ftpalg's RSS back within baseline + 25%% %v after the last sessions left the tracker", returnTook.Round(time.Second))
	}
	// Where the session starts came from: one per control connection,
	// unless a flow was seen twice (a reused client port, a mid-stream
	// pickup).
	flows := map[string]int{}
	reasons := map[string]int{}
	for _, e := range d.Entries() {
		switch e.Msg {
		case "session start":
			flows[e.Field("client")]++
		case "session end":
			reasons[e.Field("reason")]++
		}
	}
	t.Logf("%d control connections opened by the test, %d session starts logged for %d distinct client ends; session end reasons: %v",
		warmN+sessions, final.done, len(flows), reasons)
	peak := int64(0)
	for _, s := range samples {
		peak = max(peak, s.rss)
	}
	hwm := procStatusKiB(t, pid, "VmHWM")
	noDaemonErrors(t, d)
	st := stopAndStats(t, d)
	for _, q := range st.queues {
		t.Logf("exit: %s", q.Raw)
	}
	t.Logf("exit: %s", st.ct.Raw)
	if n := st.sum("tracked"); n != 0 {
		t.Errorf("ftpalg's session table still held %d sessions at exit", n)
	}
	if n := st.sum("tracked_pinholes"); n != 0 {
		t.Errorf("ftpalg's tracker still held %d pinholes at exit", n)
	}
	for _, k := range []string{"cached", "pinholes"} {
		if v, _ := st.ct.Fields[k].(float64); v != 0 {
			t.Errorf("ftpalg's %s is %v at exit, want 0", k, v)
		}
	}
	for _, k := range []string{"lost", "overruns", "recv_errors", "verdict_errors"} {
		if v := st.sum(k); v != 0 {
			t.Errorf("ftpalg queue %s = %d", k, v)
		}
	}

	// The report.
	var b strings.Builder
	fmt.Fprintf(&b, "| t (s) | phase | ftpalg RSS (KiB) | pin4 | dnat4 | sessions open (log) | sessions ended (log) | gateway conntrack entries | failed |\n")
	fmt.Fprintf(&b, "|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "| %.0f | %s | %d | %d | %d | %d | %d | %d | %d |\n", s.at.Seconds(), s.phase, s.rss, s.pin4, s.dnat4, s.open, s.done, s.conntrack, s.failedSessions)
	}
	fmt.Fprintf(&b, "\nbaseline RSS %d KiB, end RSS %d KiB (%+.1f%%, %v after the sessions left the tracker), peak sampled RSS %d KiB, VmHWM %d KiB; %d+%d sessions in %v, %d failed; exit: tracked=%d tracked_pinholes=%d cached=%v pinholes=%v\n",
		base, final.rss, 100*(float64(final.rss)/float64(base)-1), returnTook.Round(time.Second), peak, hwm, warmN, sessions, soakWall.Round(time.Second), failed.Load(),
		st.sum("tracked"), st.sum("tracked_pinholes"), st.ct.Fields["cached"], st.ct.Fields["pinholes"])
	t.Logf("soak report:\n%s", b.String())
	if p := os.Getenv("FTPALG_SOAK_REPORT"); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func soakEnv(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

var soakModes = [...]Mode{PASV, EPSV, PORT, EPRT}

// soakSession is one session of the soak: login, two downloads in modes
// i and i+1 (mod 4), QUIT, with think time before each step.
func soakSession(ns *Netns, local netip.Addr, server netip.AddrPort, i int, think time.Duration, want []byte) error {
	c, err := DialFTP(ns, local, server)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		c.Close()
		return fmt.Errorf("%w\nlast lines of the client's transcript:\n%s", err, tail(c.Transcript(), 12))
	}
	for j := range 2 {
		time.Sleep(think)
		mode := soakModes[(i+j)%len(soakModes)]
		got, err := c.Retr(mode, loadPath)
		if err != nil {
			return fail(fmt.Errorf("transfer %d (%s): %w", j, mode, err))
		}
		if !bytes.Equal(got, want) {
			return fail(fmt.Errorf("transfer %d (%s): got %d bytes (sha256 %s), want %d (sha256 %s)", j, mode, len(got), digest(got), len(want), digest(want)))
		}
	}
	time.Sleep(think)
	if err := c.Quit(); err != nil {
		return fail(err)
	}
	return nil
}
