package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The lab of the hostile suite and how one case runs in it.
//
// labDNAT (client 198.51.100.10, server 10.0.0.2 published as 203.0.113.1)
// plus:
//   - 198.51.100.99 in the client namespace: a third host on the client's
//     side, where bounce probes listen;
//   - 10.0.0.3 in the server namespace, published as 203.0.113.2: pyftpdlib,
//     for cases where a real server's answer matters;
//   - 10.0.0.4, published as 203.0.113.3: the raw-socket server
//     (rawtcp_test.go), whose kernel RSTs are dropped;
//   - 10.0.0.99 in the server namespace: a third host on the server's side.
//
// The scripted Go server listens on 10.0.0.2:21. The same lab is built
// with ftpalg (adminFtpalg) and with the kernel's helper
// (adminKernelHelper) for the comparison.

var (
	thirdClientSide = netip.MustParseAddr("198.51.100.99")
	thirdServerSide = netip.MustParseAddr("10.0.0.99")
	pyServer        = netip.MustParseAddr("10.0.0.3")
	pyPublic        = netip.MustParseAddr("203.0.113.2")
	rawPublic       = netip.MustParseAddr("203.0.113.3")
)

type hostileLab struct {
	*gwLab
	kind     adminKind
	d        *Daemon // nil for the kernel helper
	script   *scriptedServer
	pyftpd   *FTPServer
	clientIP netip.Addr
}

func newHostileLab(t *testing.T, kind adminKind, cfg *DaemonConfig) *hostileLab {
	t.Helper()
	g := labDNAT(t, kind)
	g.Client.Addr(t, "eth0", thirdClientSide.String()+"/24")
	for _, a := range []netip.Addr{pyServer, rawServerAddr, thirdServerSide} {
		g.Server.Addr(t, "eth0", a.String()+"/24")
	}
	for _, a := range []netip.Addr{pyPublic, rawPublic} {
		g.GW.Addr(t, "cl", a.String()+"/32")
	}
	g.GW.MustRun(t, "nft", "add", "rule", "inet", "admin", "prerouting", "ip", "daddr", pyPublic.String(), "tcp", "dport", "21", "dnat", "ip", "to", pyServer.String())
	g.GW.MustRun(t, "nft", "add", "rule", "inet", "admin", "prerouting", "ip", "daddr", rawPublic.String(), "tcp", "dport", "21", "dnat", "ip", "to", rawServerAddr.String())
	g.Server.Nft(t, rawDropRuleset)
	h := &hostileLab{gwLab: g, kind: kind, clientIP: g.ClientAddr}
	var err error
	h.script, err = startScriptedServer(g.Server, netip.AddrPortFrom(serverPriv, 21))
	if err != nil {
		t.Fatalf("scripted server: %v", err)
	}
	t.Cleanup(h.script.Close)
	h.pyftpd = startPyftpdlib(t, g.Server, pyServer, serverOpts{})
	if kind == adminFtpalg {
		c := gatewayConfig()
		if cfg != nil {
			c = *cfg
		}
		h.d = startDaemon(t, g.GW, c)
	}
	return h
}

// outcome is what one case did in one lab; the table is made of these.
type outcome struct {
	pinholes string // ftpalg: "pinhole open" lines; kernel: expectations
	session  string // the checks that held, rendered
	log      string // ftpalg: msg/reason of refusals and resets
	failed   bool   // the case's checks failed: the row says so
	errs     []string
}

// dialTarget is the control connection's destination for a case.
func (c *hostileCase) dialTarget() netip.AddrPort {
	switch c.server {
	case srvPyftpdlib:
		return netip.AddrPortFrom(pyPublic, 21)
	case srvRaw:
		return netip.AddrPortFrom(rawPublic, 21)
	}
	return netip.AddrPortFrom(serverPubIP, 21)
}

// setsPoller samples ftpalg's sets (or the kernel's expectation table)
// while a case runs and keeps every element it saw.
type setsPoller struct {
	mu   sync.Mutex
	seen map[string]bool
	stop chan struct{}
	done chan struct{}
}

func pollSets(h *hostileLab) *setsPoller {
	p := &setsPoller{seen: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			for _, e := range h.snapshot() {
				p.mu.Lock()
				p.seen[e] = true
				p.mu.Unlock()
			}
			select {
			case <-p.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return p
}

// sample records the current state at once.
func (p *setsPoller) sample(h *hostileLab) {
	for _, e := range h.snapshot() {
		p.mu.Lock()
		p.seen[e] = true
		p.mu.Unlock()
	}
}

func (p *setsPoller) finish() []string {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for e := range p.seen {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

var expectRe = regexp.MustCompile(`src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)`)

// snapshot lists ftpalg's pinhole-related elements, or the kernel's
// expectations as "src -> dst:dport".
func (h *hostileLab) snapshot() []string {
	if h.kind == adminKernelHelper {
		out, _ := h.GW.Run("conntrack", "-L", "expect")
		var exps []string
		for _, l := range strings.Split(out, "\n") {
			if m := expectRe.FindStringSubmatch(l); m != nil {
				exps = append(exps, m[1]+" -> "+net.JoinHostPort(m[2], m[4]))
			}
		}
		return exps
	}
	sets, ok, err := h.GW.NftSets("inet", h.d.Cfg.Table)
	if err != nil || !ok {
		return nil
	}
	var out []string
	for _, name := range dynamicSets {
		for _, e := range sets[name] {
			k := strings.Join(e.Key, " . ")
			if e.Value != nil {
				k += " : " + strings.Join(e.Value, " . ")
			}
			out = append(out, name+" "+k)
		}
	}
	return out
}

// caseStart readies the lab for a case: the kernel helper's lab forgets
// its expectations. It returns whether this is that lab, ftpalg's log
// mark, and what the sets hold already (left by an earlier case: not this
// case's).
func (h *hostileLab) caseStart() (kernel bool, mark int, before map[string]bool) {
	kernel = h.kind == adminKernelHelper
	if kernel {
		h.GW.Run("conntrack", "-F", "expect")
	}
	if h.d != nil {
		mark = h.d.Mark()
	}
	before = map[string]bool{}
	for _, e := range h.snapshot() {
		before[e] = true
	}
	return kernel, mark, before
}

// run plays one case in the lab and checks it; it returns what happened.
func (h *hostileLab) run(t *testing.T, c *hostileCase) outcome {
	t.Helper()
	if c.ftps != nil {
		return h.runFTPS(t, c)
	}
	kernel, mark, before := h.caseStart()
	poll := pollSets(h)
	env := &peerEnv{client: h.Client, server: h.Server, readTO: 2 * time.Second}
	env.afterStep = func() { poll.sample(h) }
	var raw *rawConn
	if c.server == srvRaw {
		var err error
		raw, err = rawListen(h.Server, "eth0", netip.AddrPortFrom(rawServerAddr, 21))
		if err != nil {
			poll.finish()
			t.Fatalf("raw server: %v", err)
		}
		defer raw.Close()
		env.raw = raw
	}
	cc, err := h.Client.Dial(h.clientIP, c.dialTarget(), 3*time.Second)
	if err != nil {
		poll.finish()
		t.Fatalf("control connection to %v: %v", c.dialTarget(), err)
	}
	cc.(*net.TCPConn).SetNoDelay(true)
	env.cConn = cc
	local := cc.LocalAddr().(*net.TCPAddr).AddrPort()
	switch c.server {
	case srvScript:
		sc, err := h.script.accept(3 * time.Second)
		if err != nil {
			cc.Close()
			poll.finish()
			t.Fatal(err)
		}
		env.sConn = sc
		defer sc.Close()
	case srvPyftpdlib:
		env.realServer = true
	case srvRaw:
		if err := raw.waitEstablished(3 * time.Second); err != nil {
			cc.Close()
			poll.finish()
			t.Fatalf("raw server saw no SYN: %v", err)
		}
	}
	res := env.run(c.steps)
	// End the session from both sides. A stalled session has unsent
	// data that its kernel would retransmit for minutes (and the
	// kernel helper would act on every copy): abort it with a RST.
	if env.stalled {
		cc.(*net.TCPConn).SetLinger(0)
	}
	cc.Close()
	if env.sConn != nil {
		env.sConn.Close()
	}
	if raw != nil {
		raw.FIN()
	}
	var sess string
	sessions, ended, seen, entries := h.collect(mark, poll, before, local.String())
	if len(sessions) > 0 {
		sess = sessions[0]
	} else {
		ended = false
	}
	t.Logf("transcript:\n%s", res.transcript())
	if h.d != nil {
		var raws []string
		for _, e := range entries {
			raws = append(raws, e.Raw)
		}
		t.Logf("ftpalg log of session %s:\n%s", sess, strings.Join(raws, "\n"))
	}
	t.Logf("seen in the kernel: %v", seen)

	check := func(rep reporter, want expect) outcome {
		out := outcome{session: checkSession(rep, res, want)}
		if kernel {
			out.pinholes = checkKernelExpectations(rep, seen, want.pins)
			return out
		}
		out.pinholes = checkPinholes(rep, entries, seen, want.pins)
		if want.anyLog {
			out.log = renderLog(entries)
		} else {
			out.log = checkLog(rep, entries, want.log)
		}
		return out
	}
	want := c.ftpalg
	if kernel {
		want = c.kernel
	}
	var out outcome
	if !kernel && c.ftpalgAlt != nil {
		// Two outcomes are acceptable (timing decides between them):
		// take the one that holds.
		var r1, r2 recorder
		out = check(&r1, want)
		if len(r1.errs) > 0 {
			if o2 := check(&r2, *c.ftpalgAlt); len(r2.errs) == 0 {
				t.Logf("the alternative outcome held: %s", c.altWhy)
				out = o2
				out.session += " — timing-dependent: " + c.altWhy
				r1.errs = nil
			}
		}
		for _, e := range r1.errs {
			t.Error(e)
		}
	} else {
		tee := &teeReporter{t: t}
		out = check(tee, want)
		out.errs = tee.errs
	}
	if h.d != nil {
		if !ended {
			out.errs = append(out.errs, "ftpalg never logged the session's end: it lost track of the session")
			t.Errorf("ftpalg did not log the end of session %q within 4s of both ends closing: it lost track of the session", sess)
		}
		// Nothing of this session may be left (elements that were
		// there before the case are an earlier case's).
		if left := h.leftOver(before, 3*time.Second); len(left) > 0 {
			out.errs = append(out.errs, fmt.Sprintf("still in ftpalg's sets 3s after the session ended: %v", left))
			t.Errorf("after the session ended, still in ftpalg's sets after 3s: %v", left)
		}
	}
	return out
}

// reporter is where checks report: a *testing.T, or a recorder when one
// of two outcomes may hold.
type reporter interface {
	Errorf(format string, args ...any)
}

type recorder struct{ errs []string }

// teeReporter reports to t and keeps the messages for the table.
type teeReporter struct {
	t    *testing.T
	errs []string
}

func (r *teeReporter) Errorf(format string, args ...any) {
	r.t.Helper()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.t.Errorf(format, args...)
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// checkSession checks what the ends received against the case's checks
// and renders the ones that held.
func checkSession(t reporter, res *convResult, w expect) string {
	var said []string
	for _, chk := range w.sees {
		neg := strings.HasPrefix(chk, "!")
		spec := strings.TrimPrefix(chk, "!")
		who, text, ok := strings.Cut(spec, ":")
		if !ok && spec != "ok" {
			t.Errorf("bad check %q", chk)
			continue
		}
		s := fromClient
		if who == "s" {
			s = fromServer
		}
		switch {
		case spec == "ok":
			// The session goes on: the client's NOOP got its 200 and
			// the server received everything up to the QUIT.
			c1 := strings.Contains(res.clientGot.String(), "200 NOOP ok")
			c2 := strings.Contains(res.serverGot.String(), "QUIT\r\n")
			switch {
			case neg && c2:
				t.Errorf("the server received the QUIT; the case expects the session to stall")
			case !neg && !(c1 && c2):
				t.Errorf("session does not go on: client got 200 to NOOP: %v, server got QUIT: %v", c1, c2)
			}
			if neg {
				said = append(said, "stalled: the server never got the lines after it")
			} else {
				said = append(said, "session goes on (NOOP 200, QUIT reaches the server)")
			}
			continue
		case text == "reset":
			if got := res.reset(s); got == neg {
				t.Errorf("%s connection reset = %v, want %v", s, got, !neg)
			}
			if neg {
				said = append(said, s.String()+" not reset")
			} else {
				said = append(said, s.String()+" reset")
			}
			continue
		}
		has := strings.Contains(res.got(s).String(), text)
		if has == neg {
			if neg {
				t.Errorf("the %s received %q; it must not", s, text)
			} else {
				t.Errorf("the %s did not receive %q", s, text)
			}
		}
		shown := printable(strings.TrimSpace(strings.ReplaceAll(text, "\r", "")))
		if len(shown) > 40 {
			shown = shown[:40] + "…"
		}
		if neg {
			said = append(said, fmt.Sprintf("%s never got `%s`", s, shown))
		} else {
			said = append(said, fmt.Sprintf("%s got `%s`", s, shown))
		}
	}
	// Probes: the case's steps name the endpoint; w.probes says, per
	// probe, whether it may connect (default: what the step says).
	for i, p := range res.probes {
		wantConn := false
		if i < len(w.probes) {
			wantConn = w.probes[i]
		}
		// A refusal means the SYN got through to a host that did not
		// listen there, unless the gateway itself answered (its own
		// addresses are not forwarded at all).
		reached := p.connected || errors.Is(p.err, syscall.ECONNREFUSED) && !gatewayOwn(p.to.Addr())
		if p.err != nil && !reached && !isTimeout(p.err) && !gatewayOwn(p.to.Addr()) {
			t.Errorf("probe %s -> %v: unexpected error %v", p.from, p.to, p.err)
		}
		if reached != wantConn {
			t.Errorf("probe %s -> %v: reached=%v (connected=%v, err %v), want reached=%v", p.from, p.to, reached, p.connected, p.err, wantConn)
		}
		if wantConn {
			said = append(said, fmt.Sprintf("%s reached %v", p.from, p.to))
		} else {
			said = append(said, fmt.Sprintf("%s→%v blocked", p.from, p.to))
		}
	}
	return strings.Join(said, "; ")
}

// gatewayOwn: the lab gateway's own addresses.
func gatewayOwn(a netip.Addr) bool {
	switch a {
	case gwPub, serverPubIP, pyPublic, rawPublic, netip.MustParseAddr("10.0.0.1"):
		return true
	}
	return false
}

// printable shows a bare LF as ⏎ and other control bytes and bytes
// outside ASCII as \xNN, for the table.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n':
			b.WriteString("⏎")
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// checkPinholes requires exactly the announced pinholes (by dst) in the
// log, and nothing else in the sets at any sampled moment.
func checkPinholes(t reporter, entries []LogEntry, seen []string, want []string) string {
	var got []string
	for _, e := range entries {
		if e.Msg == "pinhole open" {
			s := e.Field("src") + " → " + e.Field("dst")
			if d := e.Field("dnat"); d != "" {
				s += " (dnat " + d + ")"
			}
			got = append(got, s)
			ok := false
			for _, w := range want {
				if e.Field("dst") == w {
					ok = true
				}
			}
			if !ok {
				t.Errorf("ftpalg opened a pinhole the case did not legitimately announce: %s", s)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("ftpalg opened %d pinholes %v, want %d (dst %v)", len(got), got, len(want), want)
	}
	for _, s := range seen {
		ok := false
		for _, w := range want {
			ap := netip.MustParseAddrPort(w)
			if strings.Contains(s, ap.Addr().String()+" . "+fmt.Sprint(ap.Port())) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("ftpalg's sets held %q, which no legitimate announcement of the case names", s)
		}
	}
	if len(got) == 0 {
		return "none"
	}
	return strings.Join(got, "; ")
}

// checkKernelExpectations requires exactly the expected expectations.
func checkKernelExpectations(t reporter, seen []string, want []string) string {
	if !slices.Equal(seen, sortedCopy(want)) {
		t.Errorf("kernel expectations seen: %q, want %q", seen, want)
	}
	if len(seen) == 0 {
		return "none"
	}
	return strings.Join(seen, "; ")
}

func sortedCopy(s []string) []string {
	c := append([]string{}, s...)
	sort.Strings(c)
	return c
}

// checkLog requires each "msg/reason" of want among the entries, and no
// refusal or reset that want does not name.
func checkLog(t reporter, entries []LogEntry, want []string) string {
	var got []string
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Msg == "refuse" || e.Msg == "reset" {
			k := e.Msg + "/" + e.Field("reason")
			if !seen[k] {
				seen[k] = true
				got = append(got, k)
			}
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("ftpalg did not log %s for this session (logged %v)", w, got)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("ftpalg logged %s, which the case does not expect", g)
		}
	}
	if len(got) == 0 {
		return "—"
	}
	var r []string
	for _, g := range got {
		m, reason, _ := strings.Cut(g, "/")
		r = append(r, "msg="+m+" reason="+reason)
	}
	return strings.Join(r, "; ")
}

// summary lists, from the outcomes, where ftpalg and the kernel helper
// differ most.
func summary(cases []*hostileCase, ft, kh map[string]outcome) string {
	var fails, kOpened, kStalled, kRewroteBad []string
	for _, c := range cases {
		f, ok := ft[c.name]
		k, ok2 := kh[c.name]
		if ok && f.failed {
			fails = append(fails, "`"+c.name+"`")
		}
		if !ok2 || c.cat == "exhaustion" || c.cat == "control" {
			continue
		}
		if ok && f.pinholes == "none" && k.pinholes != "none" {
			kOpened = append(kOpened, "`"+c.name+"` ("+k.pinholes+")")
		}
		if strings.Contains(k.session, "stalled") || strings.Contains(k.session, "never got `200 NOOP ok`") {
			kStalled = append(kStalled, "`"+c.name+"`")
		}
	}
	_ = kRewroteBad
	var b strings.Builder
	b.WriteString("\n## Summary of this run\n\n")
	if len(fails) == 0 {
		b.WriteString("- ftpalg: every case held.\n")
	} else {
		fmt.Fprintf(&b, "- ftpalg **failed %d cases**: %s (see their rows).\n", len(fails), strings.Join(fails, ", "))
	}
	fmt.Fprintf(&b, "- The kernel helper created an expectation where ftpalg opened nothing in %d cases: %s.\n", len(kOpened), strings.Join(kOpened, ", "))
	fmt.Fprintf(&b, "- The kernel helper stalled the control connection (dropped the line and every retransmission) in %d cases: %s.\n", len(kStalled), strings.Join(kStalled, ", "))
	return b.String()
}

// runLinePrefix starts the line of SECURITY.md that records when and from
// which tree the table was generated (TestSecurityTableCurrent reads it).
const runLinePrefix = "This run:"

// treeVersion names the tree the suite runs from: the commit (git
// describe --always, 12 hex digits) and "-dirty" when tracked files other
// than SECURITY.md differ from it.
func treeVersion() string {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	root := strings.TrimSpace(string(top))
	desc, err := exec.Command("git", "-C", root, "describe", "--always", "--abbrev=12").Output()
	if err != nil {
		return "unknown"
	}
	v := strings.TrimSpace(string(desc))
	st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)SECURITY.md").Output()
	if err != nil || len(bytes.TrimSpace(st)) > 0 {
		v += "-dirty"
	}
	return v
}

// leftOver waits up to within for ftpalg's sets to hold nothing that was
// not there before (an earlier case's elements), and returns what is left.
func (h *hostileLab) leftOver(before map[string]bool, within time.Duration) []string {
	var left []string
	eventually(within, func() bool {
		left = left[:0]
		for _, e := range h.snapshot() {
			if !before[e] {
				left = append(left, e)
			}
		}
		return len(left) == 0
	})
	return left
}

// collect waits for ftpalg to end the sessions of the given client
// endpoints (so that its log is complete), then returns their session
// numbers, whether all ended, the kernel elements sampled since before
// that were not there before, and ftpalg's log entries of the sessions.
func (h *hostileLab) collect(mark int, poll *setsPoller, before map[string]bool, clients ...string) (sessions []string, ended bool, seen []string, entries []LogEntry) {
	ended = true
	if h.d != nil {
		for _, cl := range clients {
			e, ok := h.d.WaitSince(mark, 4*time.Second, msg("session start", "client", cl))
			if !ok {
				continue
			}
			sess := e.Field("session")
			sessions = append(sessions, sess)
			if _, ok := h.d.WaitSince(mark, 4*time.Second, func(e LogEntry) bool {
				return e.Msg == "session end" && e.Field("session") == sess
			}); !ok {
				ended = false
			}
		}
	} else {
		time.Sleep(150 * time.Millisecond)
	}
	for _, e := range poll.finish() {
		if !before[e] {
			seen = append(seen, e)
		}
	}
	if h.d != nil {
		for _, e := range h.d.Since(mark) {
			if s := e.Field("session"); s != "" && slices.Contains(sessions, s) {
				entries = append(entries, e)
			}
		}
	}
	return sessions, ended, seen, entries
}

// writeSecurityTable writes SECURITY.md's table when FTPALG_SECURITY_TABLE
// names a file: the intro from securityIntro, then one row per case that
// ran in both labs.
func writeSecurityTable(t *testing.T, path string, cases []*hostileCase, ft, kh map[string]outcome) {
	var b strings.Builder
	b.WriteString(securityIntro)
	b.WriteString(summary(cases, ft, kh))
	b.WriteString("\n| case | category | ftpalg pinholes | ftpalg session | ftpalg log | kernel helper expectations | kernel helper session |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	esc := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	n := 0
	for _, c := range cases {
		f, ok1 := ft[c.name]
		k, ok2 := kh[c.name]
		if !ok1 {
			continue
		}
		kp, ks := "(not run)", "(not run)"
		if ok2 {
			kp, ks = k.pinholes, k.session
		}
		if f.failed {
			f.session = "**FAILS**: " + strings.Join(f.errs, "; ")
		}
		if ok2 && k.failed {
			ks = "**FAILS**: " + strings.Join(k.errs, "; ")
		}
		if !ok2 && strings.Contains(c.cat, "reset policy") {
			kp, ks = "n/a", "n/a: the kernel helper has no violation policy"
		}
		if !ok2 && strings.Contains(c.cat, "tls: allow") {
			kp, ks = "n/a", "n/a: the kernel helper has no TLS policy (see the tls: block row)"
		}
		n++
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", c.name, c.cat, esc(f.pinholes), esc(f.session), esc(f.log), esc(kp), esc(ks))
	}
	fmt.Fprintf(&b, "\n%d cases. Generated by `FTPALG_SECURITY_TABLE=$PWD/SECURITY.md FTPALG_E2E=require go test ./e2e/ -run 'TestHostile' -count=1`; every cell is what the run observed and asserted.\n", n)
	fmt.Fprintf(&b, "\n%s %s, commit `%s`.\n", runLinePrefix, time.Now().UTC().Format("2006-01-02 15:04 MST"), treeVersion())
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("writing %s: %v", path, err)
	}
}
