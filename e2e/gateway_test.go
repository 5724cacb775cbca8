package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Cases 1, 2, 4 and 6: transfers through a gateway running ftpalg.

// runPlan runs each transfer as a subtest and checks that ftpalg logged a
// pinhole for it; at the end, nothing may be left in ftpalg's sets.
// client dials dial from local; fw is where ftpalg runs.
func runPlan(t *testing.T, client *Netns, local, dial netip.Addr, fw *Netns, d *Daemon, srv *FTPServer, plan []xfer, rewrite func(xfer) bool) {
	t.Helper()
	for _, x := range plan {
		t.Run(x.String(), func(t *testing.T) {
			mark := d.Mark()
			x.run(t, client, local, dial, srv)
			expectLogged(t, d, mark, 2*time.Second, `"pinhole open"`, msg("pinhole open"))
			if rewrite != nil && rewrite(x) {
				expectLogged(t, d, mark, 2*time.Second, `"rewrite"`, msg("rewrite"))
			}
		})
	}
	expectNothingLeft(t, fw, d.Cfg.Table, 3*time.Second, "after all sessions ended")
	// Ordinary clients and servers: nothing to refuse.
	for _, e := range d.Entries() {
		switch {
		case e.Msg == "refuse":
			t.Errorf("ftpalg refused something in an ordinary session: %s", e.Raw)
		case e.Field("level") == "WARN":
			t.Logf("ftpalg warned: %s", e.Raw)
		}
	}
	noDaemonErrors(t, d)
}

func (g *gwLab) runPlan(t *testing.T, d *Daemon, srv *FTPServer, plan []xfer, rewrite func(xfer) bool) {
	t.Helper()
	runPlan(t, g.Client, g.ClientAddr, g.Dial, g.GW, d, srv, plan, rewrite)
}

// TestGatewayDNAT is case 1: the server 10.0.0.2 is published as
// 203.0.113.1 by a DNAT of tcp/21 only; the client 198.51.100.10 is
// public. Every mode, downloads and uploads, with vsftpd and pyftpdlib,
// with curl, lftp and the Go client.
func TestGatewayDNAT(t *testing.T) {
	passiveRewritten := func(x xfer) bool { return x.Mode == PASV }
	t.Run("vsftpd", func(t *testing.T) {
		g := labDNAT(t, adminFtpalg)
		srv := startVsftpd(t, g.Server, serverPriv, serverOpts{})
		d := startDaemon(t, g.GW, gatewayConfig())
		g.runPlan(t, d, srv, []xfer{
			{Tool: Curl, Mode: PASV, Big: true},
			{Tool: Curl, Mode: EPSV, Upload: true},
			{Tool: Curl, Mode: EPRT},
			{Tool: Curl, Mode: PORT, Upload: true, Big: true},
			{Tool: Lftp, Mode: PASV, Upload: true, Big: true},
			{Tool: Lftp, Mode: PORT},
			{Tool: Lftp, Mode: EPSV},
			{Tool: GoFTP, Mode: PORT, Upload: true},
			{Tool: GoFTP, Mode: EPRT, Upload: true, Big: true},
			{Tool: GoFTP, Mode: EPSV, Big: true},
			{Tool: GoFTP, Mode: PASV, Upload: true},
		}, passiveRewritten)
	})
	// pyftpdlib stalls under concurrent active sessions (it connects
	// before answering PORT): its transfers run one after another.
	t.Run("pyftpdlib", func(t *testing.T) {
		g := labDNAT(t, adminFtpalg)
		srv := startPyftpdlib(t, g.Server, serverPriv, serverOpts{})
		d := startDaemon(t, g.GW, gatewayConfig())
		g.runPlan(t, d, srv, []xfer{
			{Tool: Curl, Mode: PORT, Upload: true},
			{Tool: Curl, Mode: PASV},
			{Tool: Curl, Mode: EPRT, Upload: true},
			{Tool: Lftp, Mode: EPSV, Upload: true},
			{Tool: Lftp, Mode: PORT, Big: true},
			{Tool: GoFTP, Mode: EPRT, Big: true},
			{Tool: GoFTP, Mode: PASV, Big: true, Upload: true},
			{Tool: GoFTP, Mode: EPSV, Upload: true},
		}, passiveRewritten)
	})
}

// TestGatewayMasquerade is case 2: the client 10.0.1.2 is masqueraded on
// the gateway's public interface; the server 198.51.100.20 is public.
// PORT and EPRT must be rewritten to the masqueraded address (vsftpd
// refuses a PORT naming another address than the control peer's).
func TestGatewayMasquerade(t *testing.T) {
	g := labMasq(t)
	srv := startVsftpd(t, g.Server, serverPub20, serverOpts{})
	d := startDaemon(t, g.GW, gatewayConfig())
	g.runPlan(t, d, srv, []xfer{
		{Tool: GoFTP, Mode: PORT, Big: true},
		{Tool: GoFTP, Mode: EPRT, Upload: true},
		{Tool: Curl, Mode: PORT, Upload: true, Big: true},
		{Tool: Curl, Mode: EPRT},
		{Tool: Lftp, Mode: PORT, Upload: true},
		{Tool: GoFTP, Mode: PASV},
		{Tool: Curl, Mode: EPSV, Upload: true},
		{Tool: Lftp, Mode: PASV, Big: true},
	}, func(x xfer) bool { return x.Mode.Active() })
}

// TestGatewayIPv6 is case 4: IPv6 without NAT, client 2001:db8:1::10,
// server 2001:db8:2::20 (vsftpd with listen_ipv6), EPSV and EPRT.
func TestGatewayIPv6(t *testing.T) {
	g := labIPv6(t)
	srv := startVsftpd(t, g.Server, server6, serverOpts{IPv6: true})
	d := startDaemon(t, g.GW, gatewayConfig())
	g.runPlan(t, d, srv, []xfer{
		{Tool: GoFTP, Mode: EPSV, Big: true},
		{Tool: GoFTP, Mode: EPRT, Upload: true, Big: true},
		{Tool: Curl, Mode: EPSV, Upload: true},
		{Tool: Curl, Mode: EPRT},
		{Tool: Lftp, Mode: EPSV},
		{Tool: Lftp, Mode: EPRT, Upload: true},
	}, nil)
	// Every pinhole was an IPv6 one.
	for _, e := range d.Entries() {
		if e.Msg == "pinhole open" {
			if ap, err := netip.ParseAddrPort(e.Field("dst")); err != nil || !ap.Addr().Is6() {
				t.Errorf("IPv6 session opened a pinhole with dst %q", e.Field("dst"))
			}
		}
	}
}

// TestManyRewrites is case 6: one control session, 100 transfers in
// alternating modes, where the rewrite makes PORT/EPRT lines grow
// (10.0.1.2 -> 198.51.100.100) and 227 lines keep their length though the
// address shrinks (10.100.100.100 -> 203.0.113.1). Every transfer must be byte-exact, and the gateway's
// conntrack must not see one INVALID packet (the admin ruleset drops
// them; nf_conntrack_tcp_be_liberal stays as it is).
func TestManyRewrites(t *testing.T) {
	g := labDoubleNAT(t)
	srv := startVsftpd(t, g.Server, dnServer, serverOpts{})
	d := startDaemon(t, g.GW, gatewayConfig())
	liberal := g.GW.MustRun(t, "sysctl", "-n", "net.netfilter.nf_conntrack_tcp_be_liberal")
	if strings.TrimSpace(liberal) != "0" {
		t.Fatalf("nf_conntrack_tcp_be_liberal is %q in the fresh gateway namespace; the case needs the default 0", liberal)
	}

	invalid0 := g.GW.ConntrackInvalid(t)
	drops0 := adminInvalidDrops(t, g.GW, "forward")
	c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
	small, big := testFiles()
	const n = 100
	start := time.Now()
	for i := 0; i < n; i++ {
		mode := allModes[i%4]
		data, path := small, smallPath
		if i%25 == 7 {
			data, path = big, bigPath
		}
		if (i/4)%2 == 1 { // upload every other round of four modes
			up := fmt.Sprintf("/upload/many-%03d-%s.bin", i, mode)
			if err := c.Stor(mode, up, data); err != nil {
				t.Fatalf("transfer %d (%s upload): %v", i, mode, err)
			}
			srv.CheckUpload(t, up, data)
		} else {
			got, err := c.Retr(mode, path)
			if err != nil {
				t.Fatalf("transfer %d (%s download): %v", i, mode, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("transfer %d (%s download): got %d bytes (sha256 %s), want %d (sha256 %s)",
					i, mode, len(got), digest(got), len(data), digest(data))
			}
		}
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d transfers in one session in %v", n, time.Since(start).Round(time.Millisecond))

	if got := g.GW.ConntrackInvalid(t); got != invalid0 {
		t.Errorf("gateway conntrack invalid counter moved from %d to %d during the session", invalid0, got)
	}
	if got := adminInvalidDrops(t, g.GW, "forward"); got != drops0 {
		t.Errorf("admin ruleset dropped %d ct-invalid packets during the session", got-drops0)
	}
	if now := g.GW.MustRun(t, "sysctl", "-n", "net.netfilter.nf_conntrack_tcp_be_liberal"); now != liberal {
		t.Errorf("nf_conntrack_tcp_be_liberal changed from %q to %q", liberal, now)
	}
	// The topology must really have exercised both directions of change.
	grow, shrink, same := 0, 0, 0
	for _, e := range d.Entries() {
		if e.Msg != "rewrite" {
			continue
		}
		from, to := e.Field("from"), e.Field("to")
		switch {
		case len(to) > len(from):
			grow++
		case len(to) < len(from):
			shrink++
		default:
			same++
		}
	}
	// 25 PORT + 25 EPRT grow (10.0.1.2 -> 198.51.100.100 is 6 bytes more
	// than a port's digits can give back), 25 PASV keep their length (the
	// free text absorbs 10.100.100.100 -> 203.0.113.1); EPSV carries no
	// address. So the session is resized, and its seq/ack machinery runs.
	if grow < 50 || shrink != 0 || same < 25 {
		t.Errorf("ftpalg logged %d growing, %d shrinking and %d same-length rewrites, want at least 50, 0 and 25", grow, shrink, same)
	}
	expectNothingLeft(t, g.GW, d.Cfg.Table, 3*time.Second, "after QUIT")
	noDaemonErrors(t, d)
}
