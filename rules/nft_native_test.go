//go:build linux

package rules

import (
	"encoding/binary"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
)

// Which divert mode the running kernel supports, found without the code
// under test: the nft CLI adds a rule with the native queue statement in a
// throwaway namespace. It works where the kernel has CONFIG_NFT_QUEUE
// (distribution kernels: then ftpalg must choose native) and fails with
// ENOENT where it does not (the project machines, kernel 6.18 without
// CONFIG_NFT_QUEUE: then compat). Only the compat outcome has been seen on
// the project machines; the native branches of the tests below are
// written for distribution kernels and have not run here.
func kernelDivert(t *testing.T) Divert {
	t.Helper()
	n := newNetns(t)
	n.nft(t, "", "add", "table", "inet", "qprobe")
	n.nft(t, "", "add", "chain", "inet", "qprobe", "c")
	out, err := exec.Command("ip", "netns", "exec", n.name, "nft", "add", "rule", "inet", "qprobe", "c", "queue", "num", "0", "bypass").CombinedOutput()
	switch {
	case err == nil:
		t.Logf("kernel probe (nft CLI): native queue statement accepted: expecting divert=native")
		return DivertNative
	case strings.Contains(string(out), "No such file or directory"):
		t.Logf("kernel probe (nft CLI): native queue statement refused with ENOENT (no CONFIG_NFT_QUEUE): expecting divert=compat")
		return DivertCompat
	}
	t.Fatalf("kernel probe: nft add rule ... queue: %v\n%s", err, out)
	return DivertAuto
}

// nftDebugRules runs "nft --debug=netlink -c -f -" on ruleset in namespace
// n and returns the expression lines nft prints for each rule it would
// send, in order. nft prints them while it builds the batch, before the
// kernel answers, so this works on a kernel that refuses the rule
// (CONFIG_NFT_QUEUE missing): the exit status is not looked at, only that
// every rule was printed.
func nftDebugRules(t *testing.T, n *netns, ruleset string) [][]string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.name, "nft", "--debug=netlink", "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	var rules [][]string
	var cur []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "[ ") && strings.HasSuffix(line, " ]"):
			cur = append(cur, strings.TrimSuffix(strings.TrimPrefix(line, "[ "), " ]"))
		case len(cur) > 0:
			rules, cur = append(rules, cur), nil
		}
	}
	if len(cur) > 0 {
		rules = append(rules, cur)
	}
	if len(rules) == 0 {
		t.Fatalf("nft --debug=netlink printed no rule\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	return rules
}

// renderExpr decodes what google/nftables marshals for e (the netlink
// attributes the kernel gets) and prints it the way libnftnl prints
// --debug=netlink, for the expressions a divert rule uses.
func renderExpr(t *testing.T, e expr.Any) string {
	t.Helper()
	b, err := expr.Marshal(byte(nftables.TableFamilyINet), e)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var data []byte
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatal(err)
	}
	for ad.Next() {
		switch ad.Type() {
		case 1: // NFTA_EXPR_NAME
			name = ad.String()
		case 2: // NFTA_EXPR_DATA
			data = ad.Bytes()
		}
	}
	attrs := map[uint16][]byte{}
	if data != nil {
		dd, err := netlink.NewAttributeDecoder(data)
		if err != nil {
			t.Fatal(err)
		}
		for dd.Next() {
			attrs[dd.Type()&^netlink.Nested] = dd.Bytes()
		}
	}
	u32 := func(k uint16) uint32 {
		if len(attrs[k]) != 4 {
			t.Fatalf("%s: attribute %d is % x, want 4 bytes", name, k, attrs[k])
		}
		return binary.BigEndian.Uint32(attrs[k])
	}
	u16 := func(k uint16) uint16 {
		if len(attrs[k]) != 2 {
			t.Fatalf("%s: attribute %d is % x, want 2 bytes", name, k, attrs[k])
		}
		return binary.BigEndian.Uint16(attrs[k])
	}
	switch name {
	case "meta": // NFTA_META_DREG 1, NFTA_META_KEY 2
		keys := map[uint32]string{16: "l4proto", 15: "nfproto"}
		return fmt.Sprintf("meta load %s => reg %d", keys[u32(2)], u32(1))
	case "cmp": // NFTA_CMP_SREG 1, NFTA_CMP_OP 2, NFTA_CMP_DATA 3 { NFTA_DATA_VALUE 1 }
		ops := map[uint32]string{0: "eq", 1: "neq"}
		vd, err := netlink.NewAttributeDecoder(attrs[3])
		if err != nil {
			t.Fatal(err)
		}
		var v []byte
		for vd.Next() {
			if vd.Type() == 1 {
				v = vd.Bytes()
			}
		}
		s := fmt.Sprintf("cmp %s reg %d", ops[u32(2)], u32(1))
		for i := 0; i < len(v); i += 4 { // 32-bit words in host order, as libnftnl prints them
			w := make([]byte, 4)
			copy(w, v[i:])
			s += fmt.Sprintf(" 0x%08x", binary.NativeEndian.Uint32(w))
		}
		return s
	case "payload": // DREG 1, BASE 2, OFFSET 3, LEN 4
		bases := map[uint32]string{0: "link", 1: "network", 2: "transport", 3: "inner"}
		return fmt.Sprintf("payload load %db @ %s header + %d => reg %d", u32(4), bases[u32(2)], u32(3), u32(1))
	case "ct": // NFTA_CT_DREG 1, NFTA_CT_KEY 2
		keys := map[uint32]string{3: "mark"}
		return fmt.Sprintf("ct load %s => reg %d", keys[u32(2)], u32(1))
	case "bitwise": // SREG 1, DREG 2, LEN 3, MASK 4 { VALUE 1 }, XOR 5 { VALUE 1 }
		value := func(k uint16) string {
			vd, err := netlink.NewAttributeDecoder(attrs[k])
			if err != nil {
				t.Fatal(err)
			}
			var v []byte
			for vd.Next() {
				if vd.Type() == 1 {
					v = vd.Bytes()
				}
			}
			var out []string
			for i := 0; i < len(v); i += 4 {
				w := make([]byte, 4)
				copy(w, v[i:])
				out = append(out, fmt.Sprintf("0x%08x", binary.NativeEndian.Uint32(w)))
			}
			return strings.Join(out, " ")
		}
		return fmt.Sprintf("bitwise reg %d = ( reg %d & %s ) ^ %s", u32(2), u32(1), value(4), value(5))
	case "lookup": // NFTA_LOOKUP_SET 1, NFTA_LOOKUP_SREG 2, NFTA_LOOKUP_DREG 3, NFTA_LOOKUP_FLAGS 5
		s := fmt.Sprintf("lookup reg %d set %s", u32(2), strings.TrimRight(string(attrs[1]), "\x00"))
		if _, ok := attrs[3]; ok {
			s += fmt.Sprintf(" dreg %d", u32(3))
		}
		if _, ok := attrs[5]; ok {
			s += fmt.Sprintf(" 0x%x", u32(5))
		}
		return s
	case "dynset": // SET_NAME 1, OP 3, SREG_KEY 4, SREG_DATA 5, TIMEOUT 6 (be64, ms), FLAGS 9
		ops := map[uint32]string{0: "add", 1: "update", 2: "delete"}
		s := fmt.Sprintf("dynset %s reg_key %d set %s", ops[u32(3)], u32(4), strings.TrimRight(string(attrs[1]), "\x00"))
		if _, ok := attrs[5]; ok {
			s += fmt.Sprintf(" sreg_data %d", u32(5))
		}
		if v, ok := attrs[6]; ok && len(v) == 8 && binary.BigEndian.Uint64(v) != 0 {
			s += fmt.Sprintf(" timeout %dms", binary.BigEndian.Uint64(v))
		}
		if _, ok := attrs[9]; ok && u32(9) != 0 {
			s += fmt.Sprintf(" flags 0x%x", u32(9)) // libnftnl prints no flags; none are expected
		}
		return s
	case "nat": // TYPE 1, FAMILY 2, REG_ADDR_MIN 3, REG_ADDR_MAX 4, REG_PROTO_MIN 5, REG_PROTO_MAX 6, FLAGS 7
		types := map[uint32]string{0: "snat", 1: "dnat"}
		fams := map[uint32]string{2: "ip", 10: "ip6"}
		s := fmt.Sprintf("nat %s %s", types[u32(1)], fams[u32(2)])
		for _, a := range []struct {
			k    uint16
			name string
		}{{3, "addr_min"}, {4, "addr_max"}, {5, "proto_min"}, {6, "proto_max"}} {
			if _, ok := attrs[a.k]; ok {
				s += fmt.Sprintf(" %s reg %d", a.name, u32(a.k))
			}
		}
		if _, ok := attrs[7]; ok {
			s += fmt.Sprintf(" flags 0x%x", u32(7))
		}
		return s
	case "counter":
		return "counter pkts 0 bytes 0"
	case "queue": // NFTA_QUEUE_NUM 1, NFTA_QUEUE_TOTAL 2, NFTA_QUEUE_FLAGS 3 (all be16)
		num, total := u16(1), u16(2)
		s := fmt.Sprintf("queue num %d", num)
		if total > 1 {
			s += fmt.Sprintf("-%d", num+total-1)
		}
		if _, ok := attrs[3]; ok {
			f := u16(3)
			if f&1 != 0 { // NFT_QUEUE_FLAG_BYPASS
				s += " bypass"
			}
			if f&2 != 0 { // NFT_QUEUE_FLAG_CPU_FANOUT
				s += " fanout"
			}
			if f&^3 != 0 {
				s += fmt.Sprintf(" flags %#x", f)
			}
		}
		return s
	}
	return name + " (not rendered)"
}

// The native divert rule (tried first by Open) is encoded as the nft tool
// encodes the same rule: google/nftables' marshalling of divertRule with
// DivertNative, decoded and printed like libnftnl, equals what
// "nft --debug=netlink" prints for the rule written in nft syntax, for a
// single queue and a range, with and without bypass, for both ports. No
// kernel support for the queue expression is needed (nft prints before the
// kernel answers), so this runs on the project machines too.
func TestNativeDivertEncodingMatchesNft(t *testing.T) {
	n := newNetns(t)
	ctl := &nftables.Set{Name: setCtlPorts}
	for _, tc := range []struct {
		num, total uint16
		failOpen   bool
		nft        string
	}{
		{3, 1, true, "queue num 3 bypass"},
		{0, 1, false, "queue num 0"},
		{7, 2, true, "queue num 7-8 bypass"},
		{65534, 2, false, "queue num 65534-65535"},
	} {
		var rules strings.Builder
		for _, port := range []string{"dport", "sport"} {
			for _, m := range []string{"ct mark & 0x4000 == 0x4000", "@ih,0,8 & 0x0 == 0x0", "tcp flags & (fin | syn | rst) != 0"} {
				fmt.Fprintf(&rules, "\t\tmeta l4proto tcp tcp %s @%s %s counter %s\n", port, setCtlPorts, m, tc.nft)
			}
		}
		ruleset := fmt.Sprintf(`table inet ftr-enc {
	set %s { type inet_service; flags constant; elements = { 21 } }
	chain c {
%s	}
}
`, setCtlPorts, rules.String())
		got := nftDebugRules(t, n, ruleset)
		if len(got) != 6 {
			t.Fatalf("%s: nft printed %d rules, want 6: %q", tc.nft, len(got), got)
		}
		spec := Spec{QueueNum: tc.num, QueueCount: tc.total, FailOpen: tc.failOpen, ResizedMark: 0x4000}
		for i := range 6 {
			off, m := []uint32{2, 0}[i/3], divertMatches[i%3]
			var ours []string
			for _, e := range divertRule(spec, DivertNative, ctl, off, m) {
				ours = append(ours, renderExpr(t, e))
			}
			if strings.Join(ours, "\n") != strings.Join(got[i], "\n") {
				t.Errorf("%s, port offset %d, match %d:\nftpalg encodes\n  %s\nnft encodes\n  %s", tc.nft, off, m,
					strings.Join(ours, "\n  "), strings.Join(got[i], "\n  "))
			}
		}
	}
}

// The consuming NAT rules (natRule) against nft's own encodings. nft
// 1.0.6 has no syntax for the whole rule: a map lookup whose result feeds
// both a delete and a nat statement (written as "delete @m { k : d } dnat
// to k map @m", nft deletes first and then looks up, which finds
// nothing). So each expression is compared with nft's encoding of a rule
// that has it, with the registers renamed where ours differ:
//
//   - everything up to the lookup, the lookup and the nat expression:
//     nft's "meta nfproto F meta l4proto tcp dnat|snat F to K map @m" (the
//     rule ftpalg had before), the lookup's dreg and the nat's registers
//     renamed from nft's (reg 1, port in 9 or 2) to ours (the data
//     registers, clear of the key);
//   - the dynset: nft's "delete @m { K : D }" for IPv4, D being the key's
//     daddr (. tcp dport), which has the map data's type; its sreg_data
//     renamed from where nft loads D afresh (reg 2) to where the key
//     already holds it. nft 1.0.6 aborts on that rule for IPv6
//     ("netlink_gen_expr: Assertion `dreg < ctx->reg_low' failed": it
//     runs out of 16-byte registers), so the IPv6 dynset is compared with
//     the IPv4 line, set name and registers renamed.
//
// The kernel side (the rules are accepted, consume their element and
// translate the connection) is TestNATMapsConsumed; "nft list" printing
// them is TestOpenBuildsTable.
func TestNATConsumeEncodingMatchesNft(t *testing.T) {
	n := newNetns(t)
	for _, tc := range []struct {
		f       family
		nat     expr.NATType
		hook    string
		fam     string // nft's family keyword
		key     string
		data    string // the map data as key fields (IPv4; "" for IPv6)
		setName string
		// nft's registers in the lookup/nat lines and ours, and the
		// data register of nft's dynset line and ours.
		natFrom, natTo   string
		lookFrom, lookTo string
		dynFrom, dynTo   string
	}{
		{families[0], expr.NATTypeDestNAT, "prerouting priority -110", "ip", "ip saddr . ip daddr . tcp dport", "ip daddr . tcp dport", mapDNAT4,
			"addr_min reg 1 proto_min reg 9", "addr_min reg 2 proto_min reg 13", "dreg 1", "dreg 2", "sreg_data 2", "sreg_data 9"},
		{families[0], expr.NATTypeSourceNAT, "postrouting priority 90", "ip", "ip saddr . ip daddr . tcp dport", "ip daddr", mapSNAT4,
			"addr_min reg 1", "addr_min reg 2", "dreg 1", "dreg 2", "sreg_data 2", "sreg_data 9"},
		{families[1], expr.NATTypeDestNAT, "prerouting priority -110", "ip6", "ip6 saddr . ip6 daddr . tcp dport", "", mapDNAT6,
			"addr_min reg 1 proto_min reg 2", "addr_min reg 17 proto_min reg 21", "dreg 1", "dreg 17", "sreg_data 2", "sreg_data 2"},
		{families[1], expr.NATTypeSourceNAT, "postrouting priority 90", "ip6", "ip6 saddr . ip6 daddr . tcp dport", "", mapSNAT6,
			"addr_min reg 1", "addr_min reg 17", "dreg 1", "dreg 17", "sreg_data 2", "sreg_data 2"},
	} {
		stmt := map[expr.NATType]string{expr.NATTypeDestNAT: "dnat", expr.NATTypeSourceNAT: "snat"}[tc.nat]
		chain := func(rule string) string {
			return fmt.Sprintf(`table inet ftr-enc {
	map dnat4 { type ipv4_addr . ipv4_addr . inet_service : ipv4_addr . inet_service; flags timeout; }
	map snat4 { type ipv4_addr . ipv4_addr . inet_service : ipv4_addr; flags timeout; }
	map dnat6 { type ipv6_addr . ipv6_addr . inet_service : ipv6_addr . inet_service; flags timeout; }
	map snat6 { type ipv6_addr . ipv6_addr . inet_service : ipv6_addr; flags timeout; }
	chain c {
		type nat hook %s; policy accept;
		%s
	}
}
`, tc.hook, rule)
		}
		plain := nftDebugRules(t, n, chain(fmt.Sprintf("meta nfproto %s meta l4proto tcp %s %s to %s map @%s", fam6(tc.fam), stmt, tc.fam, tc.key, tc.setName)))
		if len(plain) != 1 || len(plain[0]) != 9 {
			t.Fatalf("%s: nft printed %q, want one rule of 9 expressions", tc.setName, plain)
		}
		p := plain[0]
		// nft's dynset: for IPv4 the map's own delete; for IPv6 the
		// IPv4 snat4 delete, renamed to the IPv6 map (see above).
		delSet, data := tc.setName, tc.data
		if data == "" {
			delSet, data = mapSNAT4, "ip daddr"
		}
		del := nftDebugRules(t, n, chain(fmt.Sprintf("meta nfproto ipv4 meta l4proto tcp delete @%s { ip saddr . ip daddr . tcp dport : %s }", delSet, data)))
		last := del[0][len(del[0])-1]
		if !strings.HasPrefix(last, "dynset delete reg_key 1 set "+delSet+" ") || !strings.HasSuffix(last, " "+tc.dynFrom) {
			t.Fatalf("%s: nft's delete ends in %q, want a dynset delete of %s with %s", tc.setName, last, delSet, tc.dynFrom)
		}
		dyn := strings.Replace(strings.Replace(last, "set "+delSet, "set "+tc.setName, 1), tc.dynFrom, tc.dynTo, 1)
		want := append([]string(nil), p[:7]...)
		want = append(want,
			strings.Replace(p[7], tc.lookFrom, tc.lookTo, 1),
			dyn,
			strings.Replace(p[8], tc.natFrom, tc.natTo, 1))
		var ours []string
		for _, e := range natRule(tc.f, tc.nat, &nftables.Set{Name: tc.setName}) {
			ours = append(ours, renderExpr(t, e))
		}
		if strings.Join(ours, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\nftpalg encodes\n  %s\nnft's parts, renamed\n  %s\nnft's plain rule was\n  %s", tc.setName,
				strings.Join(ours, "\n  "), strings.Join(want, "\n  "), strings.Join(p, "\n  "))
		}
	}
}

// fam6 is the meta nfproto keyword of an nft family keyword.
func fam6(fam string) string {
	if fam == "ip6" {
		return "ipv6"
	}
	return "ipv4"
}
