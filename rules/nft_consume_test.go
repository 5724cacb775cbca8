//go:build linux

package rules

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
)

// serveEcho accepts connections on addr in the server namespace, writes
// each peer's address as the server sees it, then echoes lines until the
// peer closes.
func (l *lab) serveEcho(t *testing.T, addr string) {
	l.serveWith(t, addr, func(c net.Conn) {
		go func() {
			defer c.Close()
			fmt.Fprintf(c, "%s\n", c.RemoteAddr())
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				fmt.Fprint(c, "echo "+line)
			}
		}()
	})
}

// conntrackList is "conntrack -L" for TCP connections to dport in the
// firewall namespace, one line per entry.
func (l *lab) conntrackList(t *testing.T, family string, dport uint16) string {
	t.Helper()
	out, err := l.fw.Try("conntrack", "-L", "-f", family, "-p", "tcp", "--dport", fmt.Sprint(dport))
	if err != nil && !strings.Contains(out, "0 flow entries") {
		t.Fatalf("conntrack -L: %v\n%s", err, out)
	}
	return out
}

// 7d. The NAT maps are one-shot, like the pinholes: the first SYN of the
// data connection consumes its dnat and snat elements (and the pin), the
// connection itself stays translated and established (conntrack keeps
// the NAT binding), and a second SYN to the same public address and port
// is not translated any more: with a fresh pinhole for the private
// server waiting, it still does not get there, and leaves that pinhole
// unused (the firewall has no route to the public address, so an
// untranslated SYN never gets a conntrack entry to look at).
func TestNATMapsConsumed(t *testing.T) {
	l := newLab(t)
	tb := openIn(t, l.fw, testSpec(HookForward))
	l.adminTable(t)
	for _, tc := range []struct {
		name          string
		family        string
		cli, fw       netip.Addr
		pub, srv      netip.AddrPort
		other, other2 netip.AddrPort // a second mapping, left alone by the first connection
	}{
		{"ipv4", "ipv4", netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("10.0.0.1"),
			netip.MustParseAddrPort("203.0.113.10:6100"), netip.MustParseAddrPort("10.0.0.2:5100"),
			netip.MustParseAddrPort("203.0.113.10:6101"), netip.MustParseAddrPort("10.0.0.2:5101")},
		{"ipv6", "ipv6", netip.MustParseAddr("2001:db8:a::1"), netip.MustParseAddr("2001:db8:b::1"),
			netip.MustParseAddrPort("[2001:db8:c::10]:6100"), netip.MustParseAddrPort("[2001:db8:b::2]:5100"),
			netip.MustParseAddrPort("[2001:db8:c::10]:6101"), netip.MustParseAddrPort("[2001:db8:b::2]:5101")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.serveEcho(t, tc.srv.String())
			apply(t, tb, Change{Add: []Pin{natPin(1, tc.cli, tc.pub, tc.srv, tc.fw, ttl30), natPin(2, tc.cli, tc.other, tc.other2, tc.fw, ttl30)}})
			if e := elements(t, tb); len(e.Pinholes) != 2 || len(e.DNAT) != 2 || len(e.SNAT) != 2 {
				t.Fatalf("before the connection: %+v", e)
			}

			c, err := l.cli.dial(t, tc.pub.String(), dialOK)
			if err != nil {
				t.Fatalf("connect to %s: %v", tc.pub, err)
			}
			r := bufio.NewReader(c)
			c.SetDeadline(time.Now().Add(dialOK))
			peer, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read the server's greeting: %v", err)
			}
			if ap, err := netip.ParseAddrPort(strings.TrimSpace(peer)); err != nil || ap.Addr() != tc.fw {
				t.Errorf("server saw the client as %q, want the SNAT address %s", peer, tc.fw)
			}

			// The elements of pin 1 are gone, those of pin 2 are not.
			e := elements(t, tb)
			if len(e.Pinholes) != 1 || e.Pinholes[0].Pinhole.Dst != tc.other2 {
				t.Errorf("pin4/6 after the connection: %+v, want only the other pinhole", e.Pinholes)
			}
			if len(e.DNAT) != 1 || e.DNAT[0].Dst != tc.other {
				t.Errorf("dnat map after the connection: %+v, want only %v", e.DNAT, tc.other)
			}
			if len(e.SNAT) != 1 || e.SNAT[0].Dst != tc.other2 {
				t.Errorf("snat map after the connection: %+v, want only the one for %v", e.SNAT, tc.other2)
			}

			// The connection lives on, translated, in conntrack.
			for i := range 3 {
				fmt.Fprintf(c, "line %d\n", i)
				got, err := r.ReadString('\n')
				if err != nil || got != fmt.Sprintf("echo line %d\n", i) {
					t.Fatalf("after the maps emptied: read %q, %v", got, err)
				}
			}
			ct := l.conntrackList(t, tc.family, tc.pub.Port())
			if !strings.Contains(ct, "ESTABLISHED") || !strings.Contains(ct, "src="+tc.srv.Addr().String()) ||
				!strings.Contains(ct, "dst="+tc.fw.String()) || !strings.Contains(ct, fmt.Sprintf("sport=%d", tc.srv.Port())) {
				t.Errorf("conntrack entry of the data connection, want ESTABLISHED with the reply from %v to %v:\n%s", tc.srv, tc.fw, ct)
			}
			c.Close()

			// A second SYN to the same public address and port: a fresh
			// pinhole for the private server is there, so it would be
			// admitted if it were still translated.
			apply(t, tb, Change{Add: []Pin{{ID: 3, Pinhole: conntrack.Pinhole{Src: tc.cli, Dst: tc.srv}, Timeout: ttl30}}})
			l.mustFail(t, tc.pub.String(), "the mapping was used up by the first connection")
			e = elements(t, tb)
			var fresh bool
			for _, p := range e.Pinholes {
				fresh = fresh || p.Pinhole.Dst == tc.srv
			}
			if !fresh {
				t.Errorf("the second SYN consumed the fresh pinhole for %v: it was translated (%+v)", tc.srv, e.Pinholes)
			}
			apply(t, tb, Change{Remove: []Pin{{ID: 2}, {ID: 3}}})
		})
	}
}

// 7e. Forget only drops the bookkeeping: Apply commits nothing (the
// ruleset generation, which every committed batch bumps, stays), Live
// no longer lists the pin, and its elements are left to the kernel. A
// Change that also adds or removes still goes out, forgetting first;
// the forgetting holds even when that batch fails.
func TestForgetSendsNothing(t *testing.T) {
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward))
	c := connIn(t, n)
	gen := func() uint32 {
		t.Helper()
		g, err := c.GetGen()
		if err != nil {
			t.Fatal(err)
		}
		return g.ID
	}
	plain := Pin{ID: 3, Pinhole: conntrack.Pinhole{Src: cli4, Dst: netip.MustParseAddrPort("10.0.0.5:50001")}, Timeout: ttl30}
	apply(t, tb, Change{Add: []Pin{natPin(1, cli4, pub4, srv4, fw4, ttl30), natPin(2, cli6, pub6, srv6, fw6, ttl30), plain}})
	before := gen()
	apply(t, tb, Change{Forget: []uint64{1}})
	if after := gen(); after != before {
		t.Errorf("a Change with only Forget sent a batch: generation %d -> %d", before, after)
	}
	if live := tb.Live(); len(live) != 2 || live[0].ID != 2 || live[1].ID != 3 {
		t.Errorf("live after forgetting pin 1: %+v", live)
	}
	if e := elements(t, tb); len(e.Pinholes) != 3 || len(e.DNAT) != 2 || len(e.SNAT) != 2 {
		t.Errorf("forgetting touched the kernel's elements: %+v", e)
	}
	// Removing by ID a pin forgotten is a no-op: its elements are not
	// ours any more (the kernel consumed them, or times them out).
	before = gen()
	apply(t, tb, Change{Remove: []Pin{{ID: 1}}, Forget: []uint64{3}})
	if e := elements(t, tb); len(e.Pinholes) != 3 {
		t.Errorf("remove of a forgotten pin by ID destroyed something: %+v", e.Pinholes)
	}
	if live := tb.Live(); len(live) != 1 || live[0].ID != 2 {
		t.Errorf("live after forgetting pin 3 with a remove: %+v", live)
	}
	// The control: a real remove is a batch.
	apply(t, tb, Change{Remove: []Pin{{ID: 2}}})
	if after := gen(); after == before {
		t.Errorf("removing pin 2 sent no batch (generation %d)", after)
	}
	if e := elements(t, tb); len(e.DNAT) != 1 || e.DNAT[0].Src != cli4 {
		t.Errorf("after removing pin 2: dnat %+v, want only pin 1's, left to the kernel", e.DNAT)
	}
	// A failed batch (the table is gone) does not bring a forgotten pin
	// back.
	apply(t, tb, Change{Add: []Pin{natPin(4, cli4, netip.MustParseAddrPort("203.0.113.10:50002"), netip.MustParseAddrPort("10.0.0.5:50002"), fw4, ttl30)}})
	n.nft(t, "", "flush", "ruleset")
	if err := tb.Apply(Change{Add: []Pin{natPin(5, cli6, pub6, srv6, fw6, ttl30)}, Forget: []uint64{4}}); err == nil {
		t.Fatal("Apply to a flushed table succeeded")
	}
	if live := tb.Live(); len(live) != 0 {
		t.Errorf("live after a failed batch that forgot pin 4: %+v", live)
	}
}
