package e2e

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestViolationReset: with policy.violation reset, a bounce PORT resets
// the control connection at both ends, nothing is opened, the reset is
// logged, and the next session works.
func TestViolationReset(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	startVsftpd(t, g.Server, serverPriv, serverOpts{})
	cfg := gatewayConfig()
	cfg.Violation = "reset"
	d := startDaemon(t, g.GW, cfg)

	c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
	serverConns := func() int {
		out, err := g.Server.Run("ss", "-Htn", "state", "established", "( sport = :21 )")
		if err != nil {
			t.Fatalf("ss: %v: %s", err, out)
		}
		return len(strings.Fields(out)) / 4 // Recv-Q Send-Q Local Peer per line
	}
	if n := serverConns(); n != 1 {
		t.Fatalf("server has %d control connections before the test, want 1", n)
	}
	mark := d.Mark()
	// A PORT naming a third host (RFC 2577 bounce).
	if err := c.Send(FormatPORT(netip.MustParseAddrPort("192.0.2.1:5001"))); err != nil {
		t.Fatal(err)
	}
	code, text, err := c.Reply()
	if err == nil {
		t.Fatalf("after a bounce PORT the client got %d %q, want the connection reset", code, text)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after a bounce PORT: %v, want connection reset by peer", err)
	}
	e, ok := d.WaitSince(mark, 3*time.Second, msg("reset", "reason", "bounce"))
	if !ok {
		t.Fatalf("no reset log line; log since: %v", d.Since(mark))
	}
	t.Logf("logged: %s", e.Raw)
	sets := requireSets(t, g.GW, d.Cfg.Table, "pin4", "reset4")
	if len(sets["pin4"]) != 0 {
		t.Errorf("pin4 after a refused PORT: %v", sets["pin4"])
	}
	if n := len(findElem(sets["reset4"], g.ClientAddr.String())); n != 2 {
		t.Errorf("reset4 holds %d elements of the client, want both directions: %v", n, sets["reset4"])
	}
	// The server side was reset too: vsftpd's session process is gone, so
	// the server has no established control connection left.
	if !eventually(3*time.Second, func() bool { return serverConns() == 0 }) {
		out, _ := g.Server.Run("ss", "-tn")
		t.Errorf("server still has a control connection after the reset:\n%s", out)
	}
	// A new session is unaffected.
	c2 := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
	if _, err := c2.Expect("NOOP", 200); err != nil {
		t.Fatalf("new session after the reset: %v", err)
	}
	noDaemonErrors(t, d)
}
