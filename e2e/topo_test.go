package e2e

import (
	"net/netip"
	"strings"
	"testing"
)

// Topologies and the administrator's rulesets.
//
// Addresses: "public" 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32;
// "private" 10.0.0.0/8. Nothing leaves the lab's namespaces.

var (
	clientPub   = netip.MustParseAddr("198.51.100.10")
	clientPub2  = netip.MustParseAddr("198.51.100.11")
	gwPub       = netip.MustParseAddr("198.51.100.1")
	serverPubIP = netip.MustParseAddr("203.0.113.1") // the published server address (on the gateway)
	serverPriv  = netip.MustParseAddr("10.0.0.2")
	clientPriv  = netip.MustParseAddr("10.0.1.2")
	serverPub20 = netip.MustParseAddr("198.51.100.20")

	client6 = netip.MustParseAddr("2001:db8:1::10")
	server6 = netip.MustParseAddr("2001:db8:2::20")

	// Double NAT for case 6: the rewrites grow and shrink the lines.
	dnServer  = netip.MustParseAddr("10.100.100.100") // published as 203.0.113.1 (227 shrinks)
	dnSNAT    = netip.MustParseAddr("198.51.100.100") // client 10.0.1.2 appears as this (PORT grows)
	adminMark = "0x2000"
)

// gwLab is client — gateway — server.
type gwLab struct {
	*Lab
	Client, GW, Server *Netns
	ClientAddr         netip.Addr // the client's own address
	ClientAddr2        netip.Addr // a second address in the client namespace (if any)
	Dial               netip.Addr // the server address the client dials
	ServerAddr         netip.Addr // the server's own address
}

// adminKind selects what opens data connections on the gateway.
type adminKind int

const (
	adminFtpalg       adminKind = iota // ct mark set by ftpalg; no helper anywhere
	adminKernelHelper                  // the kernel's ftp helper (baseline only)
)

// gatewayAdmin is the administrator's ruleset on the gateway: the forward
// chain is closed except for control connections, established traffic,
// and what ftpalg (or, for the baseline, the kernel helper) admits. The
// nat chains do only what an administrator would write by hand: DNAT of
// port 21, masquerade/SNAT of the client network.
func gatewayAdmin(kind adminKind, prerouting, postrouting []string) string {
	var b strings.Builder
	b.WriteString("table inet admin {\n")
	if kind == adminKernelHelper {
		b.WriteString(`	ct helper ftp-std {
		type "ftp" protocol tcp
	}
	chain helpers {
		type filter hook prerouting priority filter; policy accept;
		tcp dport 21 ct helper set "ftp-std"
	}
`)
	}
	b.WriteString(`	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state invalid counter drop
		ct state established,related accept
		tcp dport 21 accept
`)
	if kind == adminFtpalg {
		b.WriteString("\t\tct mark & " + adminMark + " == " + adminMark + " accept\n")
	}
	// Neighbour discovery is link-local and never forwarded; the last
	// rule only counts what the policy drops, for the diagnostics.
	b.WriteString("\t\tcounter comment \"policy drop\"\n\t}\n")
	b.WriteString("\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
	for _, r := range prerouting {
		b.WriteString("\t\t" + r + "\n")
	}
	b.WriteString("\t}\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	for _, r := range postrouting {
		b.WriteString("\t\t" + r + "\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

func newGwLab(t testing.TB) *gwLab {
	t.Helper()
	l := newLab(t)
	g := &gwLab{Lab: l, Client: l.NS("c"), GW: l.NS("gw"), Server: l.NS("s")}
	l.Link(g.Client, "eth0", g.GW, "cl")
	l.Link(g.GW, "sv", g.Server, "eth0")
	g.GW.Sysctl(t, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	return g
}

// labDNAT: case 1. Server 10.0.0.2 published as 203.0.113.1 on the
// gateway (DNAT of tcp/21 only), client 198.51.100.10 (and .11).
func labDNAT(t testing.TB, kind adminKind) *gwLab {
	t.Helper()
	g := newGwLab(t)
	g.ClientAddr, g.ClientAddr2, g.Dial, g.ServerAddr = clientPub, clientPub2, serverPubIP, serverPriv
	g.Client.Addr(t, "eth0", "198.51.100.10/24")
	g.Client.Addr(t, "eth0", "198.51.100.11/24")
	g.Client.Route(t, "default", "198.51.100.1")
	g.GW.Addr(t, "cl", "198.51.100.1/24")
	g.GW.Addr(t, "cl", "203.0.113.1/32")
	g.GW.Addr(t, "sv", "10.0.0.1/24")
	g.Server.Addr(t, "eth0", "10.0.0.2/24")
	g.Server.Route(t, "default", "10.0.0.1")
	g.GW.Nft(t, gatewayAdmin(kind,
		[]string{"ip daddr 203.0.113.1 tcp dport 21 dnat ip to 10.0.0.2"},
		nil))
	return g
}

// labMasq: case 2. Client 10.0.1.2 masqueraded on the gateway's public
// interface; server 198.51.100.20, public.
func labMasq(t *testing.T) *gwLab {
	t.Helper()
	g := newGwLab(t)
	g.ClientAddr, g.Dial, g.ServerAddr = clientPriv, serverPub20, serverPub20
	g.Client.Addr(t, "eth0", "10.0.1.2/24")
	g.Client.Route(t, "default", "10.0.1.1")
	g.GW.Addr(t, "cl", "10.0.1.1/24")
	g.GW.Addr(t, "sv", "198.51.100.1/24")
	g.Server.Addr(t, "eth0", "198.51.100.20/24")
	g.GW.Nft(t, gatewayAdmin(adminFtpalg, nil,
		[]string{`oifname "sv" ip saddr 10.0.1.0/24 masquerade`}))
	return g
}

// labDoubleNAT: case 6. Client 10.0.1.2 leaves as 198.51.100.100 (its
// PORT/EPRT lines grow when rewritten); server 10.100.100.100 is
// published as 203.0.113.1 (its 227 lines shrink).
func labDoubleNAT(t *testing.T) *gwLab {
	t.Helper()
	g := newGwLab(t)
	g.ClientAddr, g.Dial, g.ServerAddr = clientPriv, serverPubIP, dnServer
	g.Client.Addr(t, "eth0", "10.0.1.2/24")
	g.Client.Route(t, "default", "10.0.1.1")
	g.GW.Addr(t, "cl", "10.0.1.1/24")
	g.GW.Addr(t, "cl", "203.0.113.1/32")
	g.GW.Addr(t, "sv", "10.100.100.1/24")
	g.Server.Addr(t, "eth0", "10.100.100.100/24")
	g.Server.Route(t, "default", "10.100.100.1")
	g.GW.Nft(t, gatewayAdmin(adminFtpalg,
		[]string{"ip daddr 203.0.113.1 tcp dport 21 dnat ip to 10.100.100.100"},
		[]string{`oifname "sv" ip saddr 10.0.1.0/24 snat ip to 198.51.100.100`}))
	return g
}

// labIPv6: case 4. No NAT; the gateway forwards IPv6 under the same policy.
func labIPv6(t *testing.T) *gwLab {
	t.Helper()
	g := newGwLab(t)
	g.ClientAddr, g.Dial, g.ServerAddr = client6, server6, server6
	g.Client.Addr(t, "eth0", "2001:db8:1::10/64")
	g.Client.Route(t, "default", "2001:db8:1::1")
	g.GW.Addr(t, "cl", "2001:db8:1::1/64")
	g.GW.Addr(t, "sv", "2001:db8:2::1/64")
	g.Server.Addr(t, "eth0", "2001:db8:2::20/64")
	g.Server.Route(t, "default", "2001:db8:2::1")
	g.GW.Nft(t, gatewayAdmin(adminFtpalg, nil, nil))
	return g
}

// hostLab is client — server, with ftpalg on the server itself.
type hostLab struct {
	*Lab
	Client, Server         *Netns
	ClientAddr, ServerAddr netip.Addr
}

// hostAdmin is the FTP host's own ruleset: input closed but for control
// connections, established traffic and ftpalg's mark. With strictOutput
// the output chain is closed the same way, so that an active-mode data
// connection (the server connecting out) needs ftpalg too.
func hostAdmin(strictOutput bool) string {
	s := `table inet admin {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state invalid counter drop
		ct state established,related accept
		tcp dport 21 accept
		ct mark & 0x2000 == 0x2000 accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		counter comment "policy drop"
	}
`
	if strictOutput {
		s += `	chain output {
		type filter hook output priority filter; policy drop;
		oif "lo" accept
		ct state invalid counter drop
		ct state established,related accept
		ct mark & 0x2000 == 0x2000 accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		counter comment "policy drop"
	}
`
	}
	return s + "}\n"
}

// labHost: case 3. Client 198.51.100.10, server 198.51.100.20.
func labHost(t *testing.T, strictOutput bool) *hostLab {
	t.Helper()
	l := newLab(t)
	h := &hostLab{Lab: l, Client: l.NS("c"), Server: l.NS("s"), ClientAddr: clientPub, ServerAddr: serverPub20}
	l.Link(h.Client, "eth0", h.Server, "eth0")
	h.Client.Addr(t, "eth0", "198.51.100.10/24")
	h.Server.Addr(t, "eth0", "198.51.100.20/24")
	h.Server.Nft(t, hostAdmin(strictOutput))
	return h
}
