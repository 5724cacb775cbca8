package e2e

import (
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Cases 7 and 8: how ftpalg starts, stops, dies and recovers.

// TestExit is case 7. SIGTERM: exit code 0 and the table is gone. kill -9:
// the table stays, but every element in it times out on its own; a new
// ftpalg starts over it and works.
func TestExit(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	srv := startVsftpd(t, g.Server, serverPriv, serverOpts{})
	cfg := gatewayConfig()

	t.Run("SIGTERM", func(t *testing.T) {
		d := startDaemon(t, g.GW, cfg)
		if !tableExists(g.GW, cfg.Table) {
			t.Fatalf("ftpalg logged ready, but table inet %s does not exist", cfg.Table)
		}
		// With a session and an open pinhole, to make the clean-up real.
		c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
		if _, err := c.Prepare(PASV); err != nil {
			t.Fatal(err)
		}
		d.StopClean(t)
		if out, err := g.GW.Run("nft", "list", "table", "inet", cfg.Table); err == nil {
			t.Errorf("table inet %s still exists after a clean exit:\n%s", cfg.Table, out)
		}
		c.Close()
	})

	t.Run("SIGKILL", func(t *testing.T) {
		d := startDaemon(t, g.GW, cfg)
		// Leave state behind: an unused PASV pinhole (pin4 + dnat4), and
		// an unused PORT pinhole.
		c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
		mark := d.Mark()
		if _, err := c.Prepare(PASV); err != nil {
			t.Fatal(err)
		}
		c2 := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
		if _, err := c2.Prepare(PORT); err != nil {
			t.Fatal(err)
		}
		if !eventually(2*time.Second, func() bool { return d.Count(msg("pinhole open")) >= 2 }) {
			expectLogged(t, d, mark, 0, "two \"pinhole open\"", func(LogEntry) bool { return false })
		}
		if err := d.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		d.Wait(5 * time.Second)
		sets, ok, err := g.GW.NftSets("inet", cfg.Table)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("table inet %s is gone after kill -9 (expected to stay, with timeouts)", cfg.Table)
		}
		// Every element of the per-session sets and maps must time out by
		// itself. Other sets (the configured control ports, say) are
		// configuration and may stay.
		total := 0
		for _, name := range dynamicSets {
			for _, e := range sets[name] {
				total++
				if !e.HasTimeout {
					t.Errorf("after kill -9, %s holds an element without timeout: %v", name, e)
				} else if e.Expires > 30 || e.Timeout > 30 {
					t.Errorf("after kill -9, %s element %v outlives the 30s pinhole timeout", name, e)
				}
			}
		}
		if total == 0 {
			t.Errorf("no elements in any set after kill -9 with two open pinholes; sets: %v", sets)
		}
		t.Logf("%d elements left in the per-session sets after kill -9, all with timeouts", total)
		for name, elems := range sets {
			if !slices.Contains(dynamicSets, name) {
				t.Logf("configuration set %s: %v", name, elems)
			}
		}
		c.Close()
		c2.Close()

		// A new ftpalg starts over the leftover table and works.
		d2 := startDaemon(t, g.GW, cfg)
		xfer{Tool: GoFTP, Mode: PASV}.run(t, g.Client, g.ClientAddr, g.Dial, srv)
		xfer{Tool: GoFTP, Mode: PORT, Upload: true}.run(t, g.Client, g.ClientAddr, g.Dial, srv)
		noDaemonErrors(t, d2)
		d2.StopClean(t)
		if tableExists(g.GW, cfg.Table) {
			t.Errorf("table inet %s still exists after the restarted ftpalg's clean exit", cfg.Table)
		}
	})
}

// TestTableRestored is case 8: an administrator's `nft delete table` or
// `nft flush table` under a running ftpalg is repaired within a second,
// and transfers work afterwards.
func TestTableRestored(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	srv := startVsftpd(t, g.Server, serverPriv, serverOpts{})
	cfg := gatewayConfig()
	d := startDaemon(t, g.GW, cfg)
	rules0, err := nftRuleCount(g.GW, cfg.Table)
	if err != nil {
		t.Fatal(err)
	}
	if rules0 == 0 {
		t.Fatalf("table inet %s has no rules", cfg.Table)
	}
	for _, op := range []string{"delete", "flush"} {
		t.Run(op, func(t *testing.T) {
			mark := d.Mark()
			g.GW.MustRun(t, "nft", op, "table", "inet", cfg.Table)
			start := time.Now()
			restored := eventually(3*time.Second, func() bool {
				n, err := nftRuleCount(g.GW, cfg.Table)
				return err == nil && n >= rules0
			})
			took := time.Since(start)
			if !restored {
				t.Fatalf("table inet %s not restored 3s after nft %s table", cfg.Table, op)
			}
			t.Logf("restored after %v", took.Round(time.Millisecond))
			if took > 1200*time.Millisecond {
				t.Errorf("table restored after %v, want within 1s", took.Round(time.Millisecond))
			}
			expectLogged(t, d, mark, time.Second, `"table restored"`, msg("table restored"))
			xfer{Tool: GoFTP, Mode: PASV, Big: true}.run(t, g.Client, g.ClientAddr, g.Dial, srv)
			xfer{Tool: Curl, Mode: EPRT, Upload: true}.run(t, g.Client, g.ClientAddr, g.Dial, srv)
		})
	}
	noDaemonErrors(t, d)
}
