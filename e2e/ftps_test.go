package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FTPS through the gateway: the per-control-port TLS policies (block,
// allow, passthrough-range) and CCC, with vsftpd and proftpd as servers and
// curl and lftp as clients. The lab is case 1's: server 10.0.0.2 published
// as 203.0.113.1 by a DNAT of tcp/21 only.

// The servers' passive range in these tests.
const ftpsPasvMin, ftpsPasvMax = 30000, 30031

// openWide adds what an administrator without ftpalg would write for FTPS
// behind DNAT: the whole passive range forwarded and published. Only the
// lab baseline uses it.
func (g *gwLab) openWide(t testing.TB) {
	t.Helper()
	rng := fmt.Sprintf("%d-%d", ftpsPasvMin, ftpsPasvMax)
	g.GW.MustRun(t, "nft", "insert", "rule", "inet", "admin", "forward",
		"ip", "daddr", g.ServerAddr.String(), "tcp", "dport", rng, "accept")
	g.GW.MustRun(t, "nft", "add", "rule", "inet", "admin", "prerouting",
		"ip", "daddr", g.Dial.String(), "tcp", "dport", rng, "dnat", "ip", "to", g.ServerAddr.String())
}

// requireTLS checks a trace for a completed AUTH TLS (234) and, with
// version, the TLS version used.
func requireTLS(t testing.TB, trace, version string) {
	t.Helper()
	if r := replyTo(trace, "AUTH"); !strings.HasPrefix(r, "234") {
		t.Fatalf("AUTH TLS answered %q, want 234\n%s", r, tail(trace, 40))
	}
	if version != "" {
		if v := tlsVersion(trace); v != "" && !strings.Contains(v, version) {
			t.Errorf("TLS version %q, want %s", v, version)
		}
	}
}

// requireCCC checks that the client sent CCC and the server accepted it.
func requireCCC(t testing.TB, trace string) {
	t.Helper()
	if r := replyTo(trace, "CCC"); !strings.HasPrefix(r, "200") {
		t.Fatalf("CCC answered %q, want 200\n%s", r, tail(trace, 60))
	}
}

// TestFTPSLabBaseline runs the FTPS servers and clients without ftpalg,
// through a gateway whose administrator opened the whole passive range.
// If this fails, the lab (certificate, TLS servers, clients) is broken,
// not ftpalg.
func TestFTPSLabBaseline(t *testing.T) {
	t.Run("vsftpd", func(t *testing.T) {
		g := labDNAT(t, adminFtpalg)
		g.openWide(t)
		srv := startVsftpdTLS(t, g.Server, serverPriv, ftpsOpts{PasvAddr: serverPubIP})
		for _, r := range []ftpsRun{
			{Tool: Curl, TLS: tlsForce, Mode: PASV, Steps: []ftpsStep{download(bigPath), upload("curl-tls", false), download(smallPath)}},
			{Tool: Lftp, TLS: tlsForce, Mode: PASV, Steps: []ftpsStep{download(smallPath), upload("lftp-tls", true)}},
			{Tool: Lftp, TLS: tlsTry, Mode: EPSV, Steps: []ftpsStep{download(bigPath)}},
		} {
			t.Run(fmt.Sprintf("%s-%s-%s", r.Tool, r.TLS, r.Mode), func(t *testing.T) {
				trace := r.run(t, g.Client, g.Dial, srv)
				requireTLS(t, trace, "")
				t.Logf("TLS version %q", tlsVersion(trace))
			})
		}
	})
	// CCC with curl only: lftp 4.9.2 (GnuTLS) fails about every other
	// session against proftpd with "Peer closed connection" right after
	// "200 Clearing control channel protection", without any firewall in
	// the path (the server's close_notify is taken for the end of the
	// connection).
	t.Run("proftpd-ccc", func(t *testing.T) {
		g := labDNAT(t, adminFtpalg)
		g.openWide(t)
		srv := startProftpdTLS(t, g.Server, serverPriv, ftpsOpts{TLS12: true})
		for _, r := range []ftpsRun{
			{Tool: Curl, TLS: tlsForce, CCC: true, TLS12: true, Mode: PASV, Steps: []ftpsStep{download(bigPath), upload("curl-ccc", false)}},
		} {
			t.Run(fmt.Sprintf("%s-%s-ccc", r.Tool, r.TLS), func(t *testing.T) {
				trace := r.run(t, g.Client, g.Dial, srv)
				requireTLS(t, trace, "1.2")
				requireCCC(t, trace)
				t.Logf("TLS version %q", tlsVersion(trace))
			})
		}
	})
}

// ftpsDaemon starts ftpalg on the gateway with one TLS policy on port 21.
func ftpsDaemon(t testing.TB, g *gwLab, tls string) *Daemon {
	t.Helper()
	cfg := gatewayConfig()
	cfg.ControlPorts = "[{port: 21, tls: " + tls + "}]"
	if tls == "passthrough-range" {
		cfg.ControlPorts = fmt.Sprintf("[{port: 21, tls: passthrough-range, passive_ports: %d-%d}]", ftpsPasvMin, ftpsPasvMax)
	}
	return startDaemon(t, g.GW, cfg)
}

// policyDrops reads the packets counted by the admin forward chain's
// final "policy drop" counter.
func policyDrops(t testing.TB, ns *Netns) int {
	t.Helper()
	out := ns.MustRun(t, "nft", "list", "chain", "inet", "admin", "forward")
	m := regexp.MustCompile(`counter packets (\d+) bytes \d+ comment "policy drop"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no policy drop counter in the admin forward chain:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// noneLogged fails if an entry after mark matches.
func noneLogged(t testing.TB, d *Daemon, mark int, what string, f func(LogEntry) bool) {
	t.Helper()
	for _, e := range d.Since(mark) {
		if f(e) {
			t.Errorf("ftpalg logged %s, which must not happen here: %s", what, e.Raw)
		}
	}
}

// countSince counts entries after mark matching f.
func countSince(d *Daemon, mark int, f func(LogEntry) bool) int {
	n := 0
	for _, e := range d.Since(mark) {
		if f(e) {
			n++
		}
	}
	return n
}

// rangeSets are ftpalg's passive-range set and map.
var rangeSets = []string{"range4", "range6", "rdnat4", "rdnat6"}

// expectNoRange polls until the passive-range sets are empty.
func expectNoRange(t testing.TB, ns *Netns, table string, within time.Duration, when string) {
	t.Helper()
	var left []string
	if !eventually(within, func() bool {
		left = nil
		sets := requireSets(t, ns, table, rangeSets...)
		for _, name := range rangeSets {
			for _, e := range sets[name] {
				left = append(left, name+": "+e.String())
			}
		}
		return len(left) == 0
	}) {
		t.Errorf("%s: still in ftpalg's range sets after %v:\n  %s", when, within, strings.Join(left, "\n  "))
	}
}

// failedFast requires a client run that failed, within limit, and
// returns its trace.
func failedFast(t testing.TB, s *ftpsSession, limit time.Duration) string {
	t.Helper()
	trace, took, err := s.Wait()
	if err == nil {
		t.Fatalf("%s (%s) succeeded; it must fail here\n%s", s.run.Tool, s.run.TLS, tail(trace, 40))
	}
	if took > limit {
		t.Errorf("%s took %v to fail, want under %v (a clear refusal, not a timeout)\n%s", s.run.Tool, took.Round(time.Millisecond), limit, tail(trace, 30))
	}
	t.Logf("%s failed as expected after %v: %v", s.run.Tool, took.Round(time.Millisecond), err)
	return trace
}

// TestFTPSBlock is FTPS case 1, tls: block. AUTH is rewritten so that the
// server refuses it: curl --ssl-reqd gives up at once with an SSL error,
// lftp with ssl-allow (not forced) falls back to plain FTP and gets its
// ordinary pinholes and rewrites.
func TestFTPSBlock(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	// No pasv_address: the plain-FTP fallback's 227 is rewritten by ftpalg.
	srv := startVsftpdTLS(t, g.Server, serverPriv, ftpsOpts{})
	d := ftpsDaemon(t, g, "block")

	t.Run("curl-ssl-reqd-fails", func(t *testing.T) {
		mark := d.Mark()
		s := ftpsRun{Tool: Curl, TLS: tlsForce, Mode: PASV, Steps: []ftpsStep{download(smallPath)}}.start(t, g.Client, g.Dial)
		trace := failedFast(t, s, 5*time.Second)
		if r := replyTo(trace, "AUTH"); !strings.HasPrefix(r, "5") {
			t.Errorf("AUTH answered %q, want a 5xx refusal\n%s", r, tail(trace, 30))
		}
		if !strings.Contains(trace, "SSL") {
			t.Errorf("curl's error does not name SSL/TLS:\n%s", tail(trace, 10))
		}
		if strings.Contains(trace, "> USER") || strings.Contains(trace, "> PASV") {
			t.Errorf("curl went on past the refused AUTH:\n%s", tail(trace, 30))
		}
		expectLogged(t, d, mark, 2*time.Second, `"refuse" reason=tls-blocked`, msg("refuse", "reason", "tls-blocked"))
		noneLogged(t, d, mark, `"pinhole open"`, msg("pinhole open"))
		expectNothingLeft(t, g.GW, d.Cfg.Table, 2*time.Second, "after the refused AUTH")
	})

	t.Run("lftp-falls-back", func(t *testing.T) {
		mark := d.Mark()
		r := ftpsRun{Tool: Lftp, TLS: tlsTry, Mode: PASV, Steps: []ftpsStep{download(bigPath), upload("lftp-fallback", false)}}
		s := r.start(t, g.Client, g.Dial)
		trace := s.Check(t, srv)
		if rep := replyTo(trace, "AUTH"); !strings.HasPrefix(rep, "5") {
			t.Errorf("AUTH answered %q, want a 5xx refusal\n%s", rep, tail(trace, 30))
		}
		if err := checkTrace227(trace, g.Dial); err != nil {
			t.Errorf("plain fallback: %v", err)
		}
		expectLogged(t, d, mark, 2*time.Second, `"refuse" reason=tls-blocked`, msg("refuse", "reason", "tls-blocked"))
		if n := countSince(d, mark, msg("pinhole open")); n != 2 {
			t.Errorf("ftpalg logged %d \"pinhole open\" for two plain transfers, want 2", n)
		}
		expectLogged(t, d, mark, time.Second, `"rewrite" of the 227`, msg("rewrite"))
		noneLogged(t, d, mark, "an opaque channel", func(e LogEntry) bool { return strings.Contains(e.Msg, "opaque") })
		expectNothingLeft(t, g.GW, d.Cfg.Table, 3*time.Second, "after the fallback session")
	})
	noDaemonErrors(t, d)
}

// TestFTPSAllow is FTPS case 2, tls: allow: AUTH passes, the channel is
// opaque, ftpalg opens nothing, and a passive transfer fails because the
// administrator's ruleset drops its data connection (the documented
// behaviour: allow is for ports whose data connections are admitted some
// other way).
func TestFTPSAllow(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	startVsftpdTLS(t, g.Server, serverPriv, ftpsOpts{})
	d := ftpsDaemon(t, g, "allow")
	mark := d.Mark()
	drops := policyDrops(t, g.GW)
	s := ftpsRun{Tool: Curl, TLS: tlsForce, Mode: PASV, Steps: []ftpsStep{download(smallPath)}}.start(t, g.Client, g.Dial)
	trace := failedFast(t, s, 10*time.Second)
	requireTLS(t, trace, "")
	// Nobody could rewrite the 227 inside TLS: it names the private
	// address, and the connection there is dropped.
	if err := checkTrace227(trace, serverPriv); err != nil {
		t.Errorf("227 inside TLS: %v", err)
	}
	if !strings.Contains(trace, "Failed to connect") && !strings.Contains(trace, "timed out") {
		t.Errorf("curl failed, but not on the data connection:\n%s", tail(trace, 20))
	}
	if got := policyDrops(t, g.GW); got <= drops {
		t.Errorf("the admin ruleset's policy drop counted %d packets during the attempt, want some (the data SYNs)", got-drops)
	}
	expectLogged(t, d, mark, 2*time.Second, `the channel becoming opaque`, func(e LogEntry) bool { return strings.Contains(e.Msg, "opaque") })
	noneLogged(t, d, mark, `"pinhole open"`, msg("pinhole open"))
	noneLogged(t, d, mark, `"range open"`, msg("range open"))
	noneLogged(t, d, mark, `"rewrite"`, msg("rewrite"))
	noneLogged(t, d, mark, `"refuse"`, msg("refuse"))
	expectNothingLeft(t, g.GW, d.Cfg.Table, 2*time.Second, "after the TLS session")
	noDaemonErrors(t, d)
}

// acceptLog accepts connections on a listener in the background and
// records who connected.
type acceptLog struct {
	ln   *net.TCPListener
	from chan netip.AddrPort
}

func listenLog(t testing.TB, ns *Netns, at netip.AddrPort) *acceptLog {
	t.Helper()
	ln, err := ns.Listen(at)
	if err != nil {
		t.Fatalf("listen on %v: %v", at, err)
	}
	a := &acceptLog{ln: ln, from: make(chan netip.AddrPort, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case a.from <- c.RemoteAddr().(*net.TCPAddr).AddrPort():
			default:
			}
			c.Close()
		}
	}()
	return a
}

// drain returns the peers accepted so far.
func (a *acceptLog) drain() []netip.AddrPort {
	var out []netip.AddrPort
	for {
		select {
		case p := <-a.from:
			out = append(out, p)
		default:
			return out
		}
	}
}

// oneRangeElem reports whether elems is exactly one element keyed
// src . dst . ftpsPasvMin-ftpsPasvMax (with value val, for a map).
func oneRangeElem(elems []NftElem, src, dst netip.Addr, val []string) bool {
	if len(elems) != 1 {
		return false
	}
	e := elems[0]
	rng := fmt.Sprintf(`{"range":[%d,%d]}`, ftpsPasvMin, ftpsPasvMax)
	if len(e.Key) != 3 || e.Key[0] != src.String() || e.Key[1] != dst.String() || strings.ReplaceAll(e.Key[2], " ", "") != rng {
		return false
	}
	return val == nil || strings.Join(e.Value, " . ") == strings.Join(val, " . ")
}

// TestFTPSPassthroughRange is FTPS case 3, tls: passthrough-range. After
// the server's 234, one pinhole admits the client to the server's passive
// range (and the DNAT map publishes the range on 203.0.113.1) until the
// session ends. The server announces the published address itself
// (pasv_address), since nobody can rewrite a 227 inside TLS.
func TestFTPSPassthroughRange(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	srv := startVsftpdTLS(t, g.Server, serverPriv, ftpsOpts{PasvAddr: serverPubIP, ForceTLS: true})
	d := ftpsDaemon(t, g, "passthrough-range")
	table := d.Cfg.Table

	t.Run("lftp-held-session", func(t *testing.T) {
		// Listeners on the server: one inside the passive range (vsftpd
		// picks another port if it wants this one), one outside it.
		inside := listenLog(t, g.Server, netip.AddrPortFrom(serverPriv, ftpsPasvMax))
		outside := listenLog(t, g.Server, netip.AddrPortFrom(serverPriv, ftpsPasvMax+9))
		mark := d.Mark()
		r := ftpsRun{Tool: Lftp, TLS: tlsForce, Mode: PASV, Hold: 3, Steps: []ftpsStep{
			download(bigPath), upload("lftp-range-1", false), download(smallPath), upload("lftp-range-2", true),
		}}
		s := r.start(t, g.Client, g.Dial)
		s.WaitHeld(t, 10*time.Second)

		open := expectLogged(t, d, mark, 2*time.Second, `"range open"`, msg("range open"))
		t.Logf("range open: %s", open.Raw)
		sets := requireSets(t, g.GW, table, "range4", "rdnat4", "pin4")
		// range4: client . server . passive range; rdnat4: client .
		// published address . passive range -> server.
		if !oneRangeElem(sets["range4"], g.ClientAddr, g.ServerAddr, nil) {
			t.Errorf("range4 during the session: %v; want exactly %v . %v . %d-%d", sets["range4"], g.ClientAddr, g.ServerAddr, ftpsPasvMin, ftpsPasvMax)
		}
		if !oneRangeElem(sets["rdnat4"], g.ClientAddr, g.Dial, []string{g.ServerAddr.String()}) {
			t.Errorf("rdnat4 during the session: %v; want exactly %v . %v . %d-%d : %v", sets["rdnat4"], g.ClientAddr, g.Dial, ftpsPasvMin, ftpsPasvMax, g.ServerAddr)
		}
		for _, e := range append(sets["range4"], sets["rdnat4"]...) {
			t.Logf("range element: %v", e)
		}
		if len(sets["pin4"]) != 0 {
			t.Errorf("pin4 holds %v in a TLS session; want nothing but the range", sets["pin4"])
		}

		to := 1500 * time.Millisecond
		in := netip.AddrPortFrom(g.Dial, ftpsPasvMax)
		// The client itself reaches any port of the range...
		if c, err := g.Client.Dial(g.ClientAddr, in, 3*time.Second); err != nil {
			t.Errorf("client %v -> %v (inside the passive range): %v; the range must admit it", g.ClientAddr, in, err)
		} else {
			c.Close()
		}
		// ...a second client address reaches none...
		expectNoConnect(t, g.Client, g.ClientAddr2, in, to, "second client to the published range")
		expectNoConnect(t, g.Client, g.ClientAddr2, netip.AddrPortFrom(g.ServerAddr, ftpsPasvMax), to, "second client to the server's range")
		// ...and the client reaches nothing outside the range.
		expectNoConnect(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, ftpsPasvMax+9), to, "client to the published address outside the range")
		expectNoConnect(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.ServerAddr, ftpsPasvMax+9), to, "client to the server outside the range")
		expectNoConnect(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.ServerAddr, ftpsPasvMin-1), to, "client to the server below the range")
		if got := inside.drain(); len(got) != 1 || got[0].Addr() != g.ClientAddr {
			t.Errorf("the listener inside the range was reached by %v; want the client %v once", got, g.ClientAddr)
		}
		if got := outside.drain(); len(got) != 0 {
			t.Errorf("the listener outside the range was reached by %v", got)
		}

		s.Release(t)
		trace := s.Check(t, srv)
		requireTLS(t, trace, "")
		if err := checkTrace227(trace, g.Dial); err != nil {
			t.Errorf("227 inside TLS: %v (pasv_address must be the published address)", err)
		}
		closed := expectLogged(t, d, mark, 3*time.Second, `"range close"`, msg("range close"))
		t.Logf("range close: %s", closed.Raw)
		expectNoRange(t, g.GW, table, 3*time.Second, "after the session ended")
		noneLogged(t, d, mark, `"pinhole open"`, msg("pinhole open"))
	})

	for _, r := range []ftpsRun{
		{Tool: Curl, TLS: tlsForce, Mode: PASV, Steps: []ftpsStep{download(bigPath), upload("curl-range", true), download(smallPath)}},
		{Tool: Curl, TLS: tlsForce, Mode: EPSV, Steps: []ftpsStep{upload("curl-range-epsv", false), download(smallPath)}},
		{Tool: Lftp, TLS: tlsForce, Mode: EPSV, Steps: []ftpsStep{download(smallPath), upload("lftp-range-epsv", true)}},
	} {
		t.Run(fmt.Sprintf("%s-%s", r.Tool, r.Mode), func(t *testing.T) {
			mark := d.Mark()
			trace := r.run(t, g.Client, g.Dial, srv)
			requireTLS(t, trace, "")
			if r.Tool == Curl && strings.Count(trace, "Re-using existing connection") < len(r.Steps)-1 {
				t.Errorf("curl did not keep one control session for its %d transfers", len(r.Steps))
			}
			if n := countSince(d, mark, msg("range open")); n != 1 {
				t.Errorf("ftpalg logged %d \"range open\" for one session, want 1", n)
			}
			expectLogged(t, d, mark, 3*time.Second, `"range close"`, msg("range close"))
			expectNoRange(t, g.GW, table, 3*time.Second, "after the session ended")
			noneLogged(t, d, mark, `"pinhole open"`, msg("pinhole open"))
		})
	}
	expectNothingLeft(t, g.GW, table, 2*time.Second, "after all sessions")
	noDaemonErrors(t, d)
}

// TestFTPSCCC is FTPS case 4: proftpd (mod_tls, capped at TLS 1.2) and
// curl --ftp-ssl-ccc. Both ends send close_notify after the 200 to CCC;
// ftpalg sees the alert records and parses the clear-text rest of the
// session, so PASV gets its ordinary rewrite and pinhole. With TLS 1.3
// the alerts are encrypted like everything else and the channel stays
// opaque.
func TestFTPSCCC(t *testing.T) {
	needProftpd(t)
	for _, tc := range []struct {
		tls     string
		passive bool // curl's default CCC mode: only the server sends close_notify
	}{{"allow", false}, {"passthrough-range", false}, {"allow", true}} {
		tls := tc.tls
		name := tls
		if tc.passive {
			name += "-passive-ccc"
		}
		t.Run(name, func(t *testing.T) {
			g := labDNAT(t, adminFtpalg)
			srv := startProftpdTLS(t, g.Server, serverPriv, ftpsOpts{TLS12: true})
			d := ftpsDaemon(t, g, tls)
			mark := d.Mark()
			r := ftpsRun{Tool: Curl, TLS: tlsForce, CCC: true, CCCPassive: tc.passive, TLS12: true, Mode: PASV, ConnectTimeout: 15,
				Steps: []ftpsStep{download(bigPath), upload("curl-ccc", false)}}
			trace := r.run(t, g.Client, g.Dial, srv)
			requireTLS(t, trace, "1.2")
			requireCCC(t, trace)
			// The 227s came after CCC, in clear text, and were rewritten.
			if err := checkTrace227(trace, g.Dial); err != nil {
				t.Errorf("after CCC: %v", err)
			}
			expectLogged(t, d, mark, time.Second, "the channel becoming opaque", func(e LogEntry) bool { return strings.Contains(e.Msg, "opaque") })
			expectLogged(t, d, mark, time.Second, "the channel clear again", func(e LogEntry) bool {
				return strings.Contains(e.Msg, "clear") || e.Field("decision") == "clear"
			})
			if n := countSince(d, mark, msg("pinhole open")); n != 2 {
				t.Errorf("ftpalg logged %d \"pinhole open\" after CCC for two transfers, want 2", n)
			}
			if n := countSince(d, mark, msg("rewrite")); n < 2 {
				t.Errorf("ftpalg logged %d \"rewrite\" after CCC for two PASV transfers, want 2", n)
			}
			if tls == "passthrough-range" {
				expectLogged(t, d, mark, time.Second, `"range open"`, msg("range open"))
				expectLogged(t, d, mark, time.Second, `"range close" reason=tls-cleared`, msg("range close", "reason", "tls-cleared"))
			}
			expectNothingLeft(t, g.GW, d.Cfg.Table, 3*time.Second, "after the session")
			noDaemonErrors(t, d)
		})
	}
	t.Run("tls13-stays-opaque", func(t *testing.T) {
		g := labDNAT(t, adminFtpalg)
		startProftpdTLS(t, g.Server, serverPriv, ftpsOpts{})
		d := ftpsDaemon(t, g, "allow")
		mark := d.Mark()
		s := ftpsRun{Tool: Curl, TLS: tlsForce, CCC: true, Mode: PASV, Steps: []ftpsStep{download(smallPath)}}.start(t, g.Client, g.Dial)
		trace := failedFast(t, s, 10*time.Second)
		requireTLS(t, trace, "1.3")
		requireCCC(t, trace)
		// The clear-text 227 was not rewritten: ftpalg never saw the
		// (encrypted) close_notify and kept the channel opaque.
		if err := checkTrace227(trace, serverPriv); err != nil {
			t.Errorf("after CCC under TLS 1.3: %v", err)
		}
		noneLogged(t, d, mark, "the channel clear again", func(e LogEntry) bool {
			return strings.Contains(e.Msg, "clear") || e.Field("decision") == "clear"
		})
		noneLogged(t, d, mark, `"pinhole open"`, msg("pinhole open"))
		expectNothingLeft(t, g.GW, d.Cfg.Table, 2*time.Second, "after the session")
		noDaemonErrors(t, d)
	})
}

// TestRangeElemFromNftJSON checks oneRangeElem against what nft 1.0.6
// prints for a concatenated interval set and map (captured from nft -j).
func TestRangeElemFromNftJSON(t *testing.T) {
	const js = `{"nftables": [{"set": {"family": "inet", "name": "range4", "table": "t", "type": ["ipv4_addr", "ipv4_addr", "inet_service"], "flags": ["interval", "timeout"], "elem": [{"elem": {"val": {"concat": ["198.51.100.10", "10.0.0.2", {"range": [30000, 30031]}]}, "timeout": 30, "expires": 29}}]}}, {"map": {"family": "inet", "name": "rdnat4", "table": "t", "type": ["ipv4_addr", "ipv4_addr", "inet_service"], "map": "ipv4_addr", "flags": ["interval", "timeout"], "elem": [[{"elem": {"val": {"concat": ["198.51.100.10", "203.0.113.1", {"range": [30000, 30031]}]}, "timeout": 30, "expires": 29}}, "10.0.0.2"]]}}]}`
	sets, err := parseNftSets([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		set      string
		src, dst netip.Addr
		val      []string
		want     bool
	}{
		{"range4", "range4", clientPub, serverPriv, nil, true},
		{"range4 other client", "range4", clientPub2, serverPriv, nil, false},
		{"range4 public address", "range4", clientPub, serverPubIP, nil, false},
		{"rdnat4", "rdnat4", clientPub, serverPubIP, []string{"10.0.0.2"}, true},
		{"rdnat4 wrong target", "rdnat4", clientPub, serverPubIP, []string{"10.0.0.3"}, false},
		{"empty", "none", clientPub, serverPriv, nil, false},
	} {
		if got := oneRangeElem(sets[c.set], c.src, c.dst, c.val); got != c.want {
			t.Errorf("%s: oneRangeElem(%v) = %v, want %v", c.name, sets[c.set], got, c.want)
		}
	}
}
