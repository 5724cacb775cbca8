//go:build linux

package rules

import (
	"bufio"
	"fmt"
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
	ln := l.srv.listen(t, addr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
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
		}
	}()
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
