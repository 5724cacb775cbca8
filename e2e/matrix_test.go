package e2e

import (
	"testing"
	"time"
)

// TestServerMatrix (issue 10): every server behind the DNAT gateway
// (client 198.51.100.10, server 10.0.0.2 published as 203.0.113.1,
// ftpalg on the gateway) with every passive client: a PASV download and
// upload, and an EPSV download where the client has EPSV over IPv4. Each
// transfer is byte-exact, and the 227/229 each client received is in the
// test log. ftpalg must never resize a session: every "rewrite" it logs
// keeps the line's byte length (the address's size difference goes into
// the free text of a 227; a 229's port keeps its digit count), and it logs
// no "session resized" (nor a debug "decision" of "resized").
//
// One lab per server; the pairs run one after another (pyftpdlib stalls
// under concurrent sessions).
func TestServerMatrix(t *testing.T) {
	servers := []struct {
		name  string
		start func(t *testing.T, g *gwLab) *FTPServer
	}{
		{"vsftpd", func(t *testing.T, g *gwLab) *FTPServer { return startVsftpd(t, g.Server, serverPriv, serverOpts{}) }},
		{"proftpd", func(t *testing.T, g *gwLab) *FTPServer { return startProftpd(t, g.Server, serverPriv, serverOpts{}) }},
		{"pure-ftpd", func(t *testing.T, g *gwLab) *FTPServer { return startPureftpd(t, g.Server, serverPriv, serverOpts{}) }},
		{"pyftpdlib", func(t *testing.T, g *gwLab) *FTPServer { return startPyftpdlib(t, g.Server, serverPriv, serverOpts{}) }},
	}
	var plan []xfer
	for _, tool := range []Tool{Curl, Lftp, Wget, Ftplib, GoLib} {
		plan = append(plan, xfer{Tool: tool, Mode: PASV, Big: true})
		if tool != Wget { // wget does not upload, and uses EPSV only over IPv6
			plan = append(plan, xfer{Tool: tool, Mode: PASV, Upload: true})
			plan = append(plan, xfer{Tool: tool, Mode: EPSV})
		}
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			start := time.Now()
			g := labDNAT(t, adminFtpalg)
			srv := s.start(t, g)
			d := startDaemon(t, g.GW, gatewayConfig())
			g.runPlan(t, d, srv, plan, func(x xfer) bool { return x.Mode == PASV })
			checkNoResize(t, d)
			t.Logf("%s: %d transfers in %v", s.name, len(plan), time.Since(start).Round(time.Millisecond))
		})
	}
}

// checkNoResize logs every rewrite ftpalg made and requires each to keep
// the line's byte length, and no "session resized" line (nor a "decision"
// line with decision "resized", conntrack's EffResized at debug level).
func checkNoResize(t *testing.T, d *Daemon) {
	t.Helper()
	n := 0
	for _, e := range d.Entries() {
		switch e.Msg {
		case "rewrite":
			n++
			from, to := e.Field("from"), e.Field("to")
			t.Logf("ftpalg rewrite (%s): %q -> %q (%d -> %d bytes)", e.Field("dir"), from, to, len(from), len(to))
			if len(from) != len(to) {
				t.Errorf("rewrite changed the line's length from %d to %d bytes: %q -> %q (the session is resized)", len(from), len(to), from, to)
			}
		case "session resized":
			t.Errorf("ftpalg resized a session: %s", e.Raw)
		case "decision": // the debug line of conntrack's EffResized
			if e.Field("decision") == "resized" {
				t.Errorf("ftpalg resized a session: %s", e.Raw)
			}
		}
	}
	if n == 0 {
		t.Errorf("ftpalg logged no rewrite: the PASV transfers behind DNAT need one each")
	}
}
