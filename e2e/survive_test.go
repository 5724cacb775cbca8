package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/ctnetlink"
)

// Sessions that outlive ftpalg (issue 10). A passive session behind DNAT
// whose 227 ftpalg rewrote keeps the line's length (10,0,0,2 becomes
// 203,0,113,1, the free text gives up what the address gains), so its
// sequence numbers stay the kernel's and it needs ftpalg only for its next
// announcement. It must survive whatever happens to ftpalg: kill -9, an
// upgrade (SIGTERM, a new ftpalg), `nft flush ruleset`, a fail-open queue
// overrun, `conntrack -D` of its entry. In each case a NOOP sent during
// the disturbance is answered, and once ftpalg is back the next PASV on
// the same control connection is rewritten and its transfer is byte-exact.
// Where ftpalg kept its state of the session while segments crossed
// without it (flush, overrun), the first PASV after them must work too
// (firstPasvAfterGap): its segment acknowledges server bytes ftpalg never
// saw, which proves the bypass.
//
// The lab is labDNAT with four servers, each behind its own DNAT:
//   - vsftpd 10.0.0.2, published as 203.0.113.1;
//   - pyftpdlib 10.0.0.3, published as 203.0.113.2;
//   - pure-ftpd 10.0.0.6, published as 203.0.113.5;
//   - pyftpdlib 10.0.0.5, published as 203.0.113.4, answering PASV with
//     "227 =10,0,0,5,4,p2" (passive ports 1025-1029): one byte of free
//     text and a port already as short as a data port can be, so the 3
//     bytes the address gains cannot all be absorbed and the line must
//     grow. That session is resized; what happens to it when ftpalg
//     restarts is the resized-kill-9 case.

var (
	bareServer = netip.MustParseAddr("10.0.0.5")
	barePublic = netip.MustParseAddr("203.0.113.4")
	pureServer = netip.MustParseAddr("10.0.0.6")
	purePublic = netip.MustParseAddr("203.0.113.5")
)

// liberalFlag is IP_CT_TCP_FLAG_BE_LIBERAL.
const liberalFlag = 0x08

type survivalLab struct {
	*gwLab
	admin   string                    // the administrator's ruleset, for a reload
	servers []*FTPServer              // 227 rewritten at the same length
	resizer *FTPServer                // 227 rewritten longer
	public  map[*FTPServer]netip.Addr // the address the client dials
	cfg     DaemonConfig
}

func newSurvivalLab(t *testing.T) *survivalLab {
	t.Helper()
	g := labDNAT(t, adminFtpalg)
	dnat := []string{"ip daddr 203.0.113.1 tcp dport 21 dnat ip to 10.0.0.2"}
	for _, p := range [][2]netip.Addr{{pyServer, pyPublic}, {bareServer, barePublic}, {pureServer, purePublic}} {
		g.Server.Addr(t, "eth0", p[0].String()+"/24")
		g.GW.Addr(t, "cl", p[1].String()+"/32")
		rule := fmt.Sprintf("ip daddr %s tcp dport 21 dnat ip to %s", p[1], p[0])
		dnat = append(dnat, rule)
		g.GW.MustRun(t, append([]string{"nft", "add", "rule", "inet", "admin", "prerouting"}, strings.Fields(rule)...)...)
	}
	// The overrun's burst (from floodAddr) is counted and dropped by the
	// server namespace, as in TestQueueOverrun.
	g.Server.Nft(t, `table inet flood {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		ip saddr 198.51.100.12 tcp flags & (syn|rst|ack) == syn counter drop comment "syn"
		ip saddr 198.51.100.12 counter drop comment "other"
	}
}
`)
	l := &survivalLab{gwLab: g, admin: gatewayAdmin(adminFtpalg, dnat, nil), cfg: gatewayConfig(),
		public: map[*FTPServer]netip.Addr{}}
	vs := startVsftpd(t, g.Server, serverPriv, serverOpts{Extra: "listen_address=" + serverPriv.String() + "\n"})
	py := startPyftpdlib(t, g.Server, pyServer, serverOpts{})
	pure := startPureftpd(t, g.Server, pureServer, serverOpts{})
	l.resizer = startPyftpdlib(t, g.Server, bareServer, serverOpts{Bare227: true, PasvMin: 1025, PasvMax: 1029})
	l.resizer.Kind = "pyftpdlib-bare227"
	l.servers = []*FTPServer{vs, py, pure}
	l.public[vs], l.public[py], l.public[pure], l.public[l.resizer] = serverPubIP, pyPublic, purePublic, barePublic
	return l
}

// survivor is one control session of the test.
type survivor struct {
	srv    *FTPServer
	c      *FTPClient
	client netip.AddrPort // its client end, as ftpalg logs it
}

func (s *survivor) String() string { return s.srv.Kind + " session " + s.client.String() }

// open starts a session on srv and runs one PASV download on it, which d
// must rewrite: at the same length (resized false) or longer.
func (l *survivalLab) open(t *testing.T, d *Daemon, srv *FTPServer, resized bool) *survivor {
	t.Helper()
	mark := d.Mark()
	c := dialGo(t, l.Client, l.ClientAddr, netip.AddrPortFrom(l.public[srv], 21))
	s := &survivor{srv: srv, c: c, client: c.ControlLocal()}
	s.retr(t, "first PASV")
	checkRewrites(t, d, mark, s, resized)
	return s
}

// openAll opens one session on each server whose 227 keeps its length.
func (l *survivalLab) openAll(t *testing.T, d *Daemon) []*survivor {
	t.Helper()
	var ss []*survivor
	for _, srv := range l.servers {
		ss = append(ss, l.open(t, d, srv, false))
	}
	for _, s := range ss {
		l.expectNotLiberal(t, s, "before the disturbance")
	}
	return ss
}

// retr downloads the small file over PASV and checks it byte for byte.
// Prepare has already required the 227 to announce the address the
// client dialled, i.e. that it was rewritten.
func (s *survivor) retr(t *testing.T, when string) bool {
	t.Helper()
	small, _ := testFiles()
	got, err := s.c.Retr(PASV, smallPath)
	if err != nil {
		t.Errorf("%s: %s: %v", s, when, err)
		return false
	}
	if string(got) != string(small) {
		t.Errorf("%s: %s: got %d bytes (sha256 %s), want %d (sha256 %s)", s, when, len(got), digest(got), len(small), digest(small))
		return false
	}
	return true
}

// noop sends a NOOP and requires its 200.
func (s *survivor) noop(t *testing.T, when string) {
	t.Helper()
	s.c.Timeout = 5 * time.Second
	if _, err := s.c.Expect("NOOP", 200); err != nil {
		t.Errorf("%s: NOOP %s: %v", s, when, err)
	}
}

// sessionIDs are the ids d gave the control connection whose client end
// is client (more than one when it was picked up again).
func sessionIDs(d *Daemon, client netip.AddrPort) map[string]bool {
	ids := map[string]bool{}
	for _, e := range d.Entries() {
		if e.Msg == "session start" && e.Field("client") == client.String() {
			ids[e.Field("session")] = true
		}
	}
	return ids
}

// sessionLog is what d logged after mark about the control connection
// whose client end is client.
func sessionLog(d *Daemon, mark int, client netip.AddrPort) []LogEntry {
	ids := sessionIDs(d, client)
	var out []LogEntry
	for _, e := range d.Since(mark) {
		if ids[e.Field("session")] || e.Field("client") == client.String() {
			out = append(out, e)
		}
	}
	return out
}

// checkRewrites requires d to have logged, after mark, at least one
// "rewrite" of s's 227, every one of them the same length as the
// original line (resized: longer), and, for a session that must not be
// resized, no "session resized".
func checkRewrites(t *testing.T, d *Daemon, mark int, s *survivor, resized bool) {
	t.Helper()
	// The log reaches the test through a pipe, which can lag behind the
	// packets (after the overrun's thousands of sessions, say).
	var log []LogEntry
	rewrites := 0
	eventually(3*time.Second, func() bool {
		log = sessionLog(d, mark, s.client)
		rewrites = len(filterEntries(log, msg("rewrite")))
		return rewrites > 0
	})
	if rewrites == 0 {
		t.Errorf("%s: ftpalg logged no \"rewrite\" for it", s)
	}
	for _, e := range log {
		switch e.Msg {
		case "rewrite":
			from, to := e.Field("from"), e.Field("to")
			if !strings.HasPrefix(from, "227") {
				continue
			}
			if grown := len(to) != len(from); grown != resized {
				t.Errorf("%s: rewrite %q -> %q changes the length by %+d bytes; want a resize: %v", s, from, to, len(to)-len(from), resized)
			}
		case "session resized":
			if !resized {
				t.Errorf("%s: ftpalg resized the session: %s", s, e.Raw)
			}
		}
	}
}

// controlEntry is the gateway's conntrack entry of s's control connection.
func (l *survivalLab) controlEntry(t *testing.T, s *survivor) (ctnetlink.Info, bool) {
	t.Helper()
	for _, e := range controlEntries(t, l.GW, 21) {
		if e.Orig.Src == s.client {
			return e, true
		}
	}
	return ctnetlink.Info{}, false
}

// expectNotLiberal requires be_liberal unset, in both directions, and no
// resized bit in the ct mark on s's control entry: the kernel tracks its
// window as for any connection, and a later ftpalg leaves it alone.
func (l *survivalLab) expectNotLiberal(t *testing.T, s *survivor, when string) {
	t.Helper()
	e, ok := l.controlEntry(t, s)
	if !ok {
		t.Errorf("%s: no conntrack entry %s", s, when)
		return
	}
	if e.Liberal() || e.TCPFlags[0]&liberalFlag != 0 || e.TCPFlags[1]&liberalFlag != 0 {
		t.Errorf("%s: be_liberal set on its control entry %s (tcp flags %#x/%#x, mark %#x)", s, when, e.TCPFlags[0], e.TCPFlags[1], e.Mark)
	}
	if e.Mark&resizedMark != 0 {
		t.Errorf("%s: its control entry carries the resized bit %s (mark %#x)", s, when, e.Mark)
	}
}

// firstPasvAfterGap: the first PASV after segments of s crossed the
// gateway without ftpalg while ftpalg kept its state of the session (its
// table flushed, its queue full) lies beyond bytes ftpalg never saw (a
// NOOP), and it acknowledges a reply ftpalg did not see either. That
// proves the bypass: the PASV is inspected at once, and the server's 227
// after its own hole pairs with it and is rewritten (it once passed
// uninspected, its 227 unrewritten or refused as unsolicited).
func (s *survivor) firstPasvAfterGap(t *testing.T) {
	t.Helper()
	s.c.Timeout = 5 * time.Second
	switch got, err := s.c.Retr(PASV, smallPath); {
	case err == nil:
		small, _ := testFiles()
		if string(got) != string(small) {
			t.Errorf("%s: first PASV after the gap: got %d bytes, want %d", s, len(got), len(small))
		}
		t.Logf("%s: first PASV after the gap rewritten, transfer complete", s)
	default:
		t.Errorf("%s: first PASV after the gap: %v", s, err)
	}
}

// after is what every case ends with, ftpalg running (d): the next PASV
// on the same control connection is rewritten at the same length and its
// transfer is byte-exact, be_liberal is still unset, and the session ends
// politely.
func (l *survivalLab) after(t *testing.T, d *Daemon, mark int, ss []*survivor, liberalChecked bool) {
	t.Helper()
	for _, s := range ss {
		s.c.Timeout = 5 * time.Second
		if !s.retr(t, "PASV after the disturbance") {
			continue
		}
		checkRewrites(t, d, mark, s, false)
		if liberalChecked {
			l.expectNotLiberal(t, s, "after the disturbance")
		}
		if err := s.c.Quit(); err != nil {
			t.Errorf("%s: QUIT: %v", s, err)
		}
	}
}

// TestSessionsOutliveFtpalg: the cases above, one after another in one lab,
// each with fresh sessions on vsftpd, pyftpdlib and pure-ftpd; and the resized
// session, for the record.
func TestSessionsOutliveFtpalg(t *testing.T) {
	l := newSurvivalLab(t)
	d := startDaemon(t, l.GW, l.cfg)
	daemons := []*Daemon{d}
	// restart starts a new ftpalg; its whole log is after the
	// disturbance (mark 0).
	restart := func(t *testing.T) {
		t.Helper()
		d = startDaemon(t, l.GW, l.cfg)
		daemons = append(daemons, d)
	}
	// Each case starts with ftpalg running, even after a case that
	// failed before it could restart it.
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if d.Exited() {
				restart(t)
			}
			f(t)
		})
	}

	run("kill-9", func(t *testing.T) {
		ss := l.openAll(t, d)
		if err := d.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Wait(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			s.noop(t, "while ftpalg is dead")
		}
		restart(t)
		l.after(t, d, 0, ss, true)
	})

	run("upgrade", func(t *testing.T) {
		ss := l.openAll(t, d)
		d.StopClean(t)
		if tableExists(l.GW, l.cfg.Table) {
			t.Fatalf("table inet %s still there after SIGTERM", l.cfg.Table)
		}
		for _, s := range ss {
			s.noop(t, "between the old ftpalg and the new one")
		}
		restart(t)
		l.after(t, d, 0, ss, true)
	})

	// A ruleset reload (flush ruleset, then the administrator's rules):
	// ftpalg's table is gone until its watchdog restores it (within
	// 250 ms). Each session sends a NOOP at once; the table must still be
	// missing once all are answered, else the watchdog was quicker and
	// the reload is repeated.
	run("flush-ruleset", func(t *testing.T) {
		ss := l.openAll(t, d)
		mark := d.Mark()
		inGap := false
		for try := 1; try <= 5 && !inGap; try++ {
			m := d.Mark()
			start := time.Now()
			if out, err := l.GW.RunInput([]byte(reloadScript(l.admin)), "nft", "-f", "-"); err != nil {
				t.Fatalf("nft -f (flush ruleset + admin ruleset): %v\n%s", err, out)
			}
			for _, s := range ss {
				s.noop(t, "right after the flush")
			}
			answered := time.Since(start)
			inGap = !tableExists(l.GW, l.cfg.Table)
			expectLogged(t, d, m, 3*time.Second, `"table restored"`, msg("table restored"))
			t.Logf("reload %d: NOOPs answered %v after the flush, table still missing then: %v; restored after %v",
				try, answered.Round(time.Millisecond), inGap, time.Since(start).Round(time.Millisecond))
		}
		if !inGap {
			t.Errorf("5 times the watchdog restored the table before the NOOPs were answered: nothing crossed the gap")
		}
		for _, s := range ss {
			s.firstPasvAfterGap(t)
		}
		l.after(t, d, mark, ss, true)
	})

	// A burst larger than the queue (as in TestQueueOverrun) while the
	// sessions send NOOPs: with fail_open what does not fit passes
	// uninspected, the sessions' segments included.
	run("queue-overrun", func(t *testing.T) {
		if !l.cfg.FailOpen {
			t.Fatal("the case needs fail_open")
		}
		ss := l.openAll(t, d)
		k0, ok := readNfqKernelStats(t, l.GW, l.cfg.Queue)
		if !ok {
			t.Fatalf("queue %d not bound in the gateway", l.cfg.Queue)
		}
		div0 := divertPackets(t, l.GW, l.cfg.Table)
		talkers := talk(ss)
		time.Sleep(100 * time.Millisecond)
		mark := d.Mark()
		const flows = 20000
		took, err := tcpBurst(l.Client, floodAddr, 20000, netip.AddrPortFrom(l.Dial, 21), flows)
		if err != nil {
			t.Fatal(err)
		}
		// The NOOPs stop with the burst, so the PASVs below are the
		// sessions' first commands after it.
		finishTalkers(t, talkers, "through the overrun")
		if !eventually(10*time.Second, func() bool {
			k, ok := readNfqKernelStats(t, l.GW, l.cfg.Queue)
			return ok && k.Total == 0
		}) {
			t.Errorf("packets still waiting in queue %d 10s after the burst", l.cfg.Queue)
		}
		k1, _ := readNfqKernelStats(t, l.GW, l.cfg.Queue)
		div := divertPackets(t, l.GW, l.cfg.Table) - div0
		ids := k1.IDSeq - k0.IDSeq
		t.Logf("burst of %d SYN+RST pairs in %v: the divert rules matched %d packets, the queue took %d, %d passed it full (fail-open)",
			flows, took.Round(time.Millisecond), div, ids, div-ids)
		if div == ids {
			t.Errorf("the queue never filled; nothing was tested")
		}
		l.GW.Run("conntrack", "-D", "-s", floodAddr.String())
		for _, s := range ss {
			s.firstPasvAfterGap(t)
		}
		l.after(t, d, mark, ss, true)
	})

	// conntrack -D of the control entries: ftpalg ends the sessions; the
	// kernel picks each connection up again from its next packet (the
	// NOOP) and ftpalg from the PASV after it. The kernel marks an entry
	// it picks up mid-stream be_liberal itself, so be_liberal is checked
	// before the deletion only.
	run("conntrack-delete", func(t *testing.T) {
		ss := l.openAll(t, d)
		mark := d.Mark()
		for _, s := range ss {
			out := l.GW.MustRun(t, "conntrack", "-D", "-p", "tcp", "--orig-src", s.client.Addr().String(),
				"--sport", fmt.Sprint(s.client.Port()), "--dport", "21")
			if !strings.Contains(out, "1 flow entries have been deleted") {
				t.Fatalf("conntrack -D for %s: %s", s, out)
			}
		}
		for _, s := range ss {
			ids := sessionIDs(d, s.client)
			expectLogged(t, d, mark, 2*time.Second, fmt.Sprintf(`"session end" of %s`, s),
				func(e LogEntry) bool { return e.Msg == "session end" && ids[e.Field("session")] })
		}
		for _, s := range ss {
			s.noop(t, "after conntrack -D")
			if e, ok := l.controlEntry(t, s); ok {
				t.Logf("%s: entry picked up again by the kernel: tcp flags %#x/%#x", s, e.TCPFlags[0], e.TCPFlags[1])
			} else {
				t.Errorf("%s: the kernel made no new entry for the connection after conntrack -D", s)
			}
		}
		l.after(t, d, mark, ss, false)
	})

	// The resized session (its 227 had too little free text to give)
	// depends on ftpalg: it is marked in conntrack (be_liberal, resized
	// bit); with ftpalg dead its commands cross unadjusted and go
	// unanswered (recorded, README Known limits); the new ftpalg finds it
	// by its mark and resets it at its next segment.
	run("resized-kill-9", func(t *testing.T) {
		r := l.open(t, d, l.resizer, true)
		if _, ok := d.WaitFor(2*time.Second, msg("session resized", "client", r.client.String())); !ok {
			t.Errorf("%s: no \"session resized\"", r)
		}
		if e, ok := l.controlEntry(t, r); !ok {
			t.Errorf("%s: no conntrack entry", r)
		} else if !e.Liberal() || e.Mark&resizedMark == 0 {
			t.Errorf("%s: control entry be_liberal %v, mark %#x; want be_liberal and the resized bit %#x", r, e.Liberal(), e.Mark, resizedMark)
		}
		if err := d.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Wait(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := r.c.Send("NOOP"); err == nil {
			t.Logf("%s, ftpalg dead: NOOP: %s", r, replyOutcome(r.c, 1500*time.Millisecond))
		}
		restart(t)
		e, ok := d.WaitFor(2*time.Second, msg("resized session from an earlier run: reset", "client", r.client.String()))
		if !ok {
			t.Fatalf("the new ftpalg did not report %s as a resized session of an earlier run", r)
		}
		t.Logf("new ftpalg: %s", e.Raw)
		r.c.Timeout = 3 * time.Second
		if _, _, err := r.c.Cmd("NOOP"); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s after the restart: NOOP: %v, want a connection reset", r, err)
		}
		r.c.Close()
	})

	// A new session works, nothing is left once the sessions ended.
	xfer{Tool: GoFTP, Mode: PASV}.run(t, l.Client, l.ClientAddr, l.Dial, l.servers[0])
	expectNothingLeft(t, l.GW, l.cfg.Table, 3*time.Second, "at the end")
	// The ftpalgs the cases stopped or killed logged no error either.
	for _, old := range daemons[:len(daemons)-1] {
		for _, e := range old.Errors() {
			t.Errorf("ftpalg logged an error: %s", e.Raw)
		}
	}
	noDaemonErrors(t, d)
}

// talk starts a NOOP loop (talker, failhelp_test.go) on each session.
func talk(ss []*survivor) []*talker {
	var out []*talker
	for _, s := range ss {
		out = append(out, startTalker(s.srv.Kind+" "+s.client.String(), s.c))
	}
	return out
}
