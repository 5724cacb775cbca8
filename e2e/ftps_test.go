package e2e

import (
	"fmt"
	"strings"
	"testing"
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
	t.Run("proftpd-ccc", func(t *testing.T) {
		g := labDNAT(t, adminFtpalg)
		g.openWide(t)
		srv := startProftpdTLS(t, g.Server, serverPriv, ftpsOpts{TLS12: true})
		for _, r := range []ftpsRun{
			{Tool: Curl, TLS: tlsForce, CCC: true, TLS12: true, Mode: PASV, Steps: []ftpsStep{download(bigPath), upload("curl-ccc", false)}},
			{Tool: Lftp, TLS: tlsForce, CCC: true, TLS12: true, Mode: PASV, Steps: []ftpsStep{download(smallPath), upload("lftp-ccc", true)}},
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
