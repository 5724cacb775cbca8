//go:build linux

package rules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// Integration tests against the running kernel, each in fresh network
// namespaces (ftr-<pid>-<n>), skipped when not root.

const (
	testMark    = 0x100
	testResized = 0x200
)

func testSpec(hooks ...string) Spec {
	return Spec{Table: "ftpalg", Hooks: hooks, ControlPorts: []uint16{21, 2121}, QueueNum: 3, QueueCount: 1, FailOpen: true, Mark: testMark, ResizedMark: testResized}
}

var (
	cli4  = netip.MustParseAddr("198.51.100.7")
	srv4  = netip.MustParseAddrPort("10.0.0.5:50000")
	pub4  = netip.MustParseAddrPort("203.0.113.10:50000")
	fw4   = netip.MustParseAddr("10.0.0.1")
	cli6  = netip.MustParseAddr("2001:db8:a::7")
	srv6  = netip.MustParseAddrPort("[2001:db8:b::5]:50000")
	pub6  = netip.MustParseAddrPort("[2001:db8:c::10]:50000")
	fw6   = netip.MustParseAddr("2001:db8:b::1")
	ttl30 = 30 * time.Second
)

func natPin(id uint64, cli netip.Addr, pub, srv netip.AddrPort, fw netip.Addr, timeout time.Duration) Pin {
	return Pin{ID: id, Pinhole: conntrack.Pinhole{Src: cli, Dst: srv}, HasMap: true, Timeout: timeout,
		Mapping: conntrack.Mapping{Src: cli, Dst: pub, ToDst: srv, ToSrc: fw}}
}

func elements(t *testing.T, tb *Table) Elements {
	t.Helper()
	e, err := tb.Elements()
	if err != nil {
		t.Fatalf("Elements: %v", err)
	}
	return e
}

func apply(t *testing.T, tb *Table, ch Change) {
	t.Helper()
	if err := tb.Apply(ch); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func present(t *testing.T, tb *Table) bool {
	t.Helper()
	ok, err := tb.Present()
	if err != nil {
		t.Fatalf("Present: %v", err)
	}
	return ok
}

// 1. Open builds the table, with the divert mode the kernel supports:
// native where the nft CLI can add a queue rule, compat otherwise
// (kernelDivert; the project machines lack CONFIG_NFT_QUEUE, so only the
// compat branch has run there).
func TestOpenBuildsTable(t *testing.T) {
	want := kernelDivert(t)
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward, HookInput, HookOutput))
	if tb.Divert() != want {
		t.Errorf("divert mode %v, want %v (what the kernel probe found)", tb.Divert(), want)
	}
	if !present(t, tb) {
		t.Error("Present false right after Open")
	}
	if !present(t, tb) { // the cached path
		t.Error("Present false on the second call")
	}
	list := n.nft(t, "", "list", "table", "inet", "ftpalg")
	for _, want := range []string{
		"set ctlports {\n\t\ttype inet_service\n\t\tflags constant\n\t\telements = { 21, 2121 }",
		"set pin4 {\n\t\ttype ipv4_addr . ipv4_addr . inet_service\n",
		"set pin6 {\n\t\ttype ipv6_addr . ipv6_addr . inet_service\n",
		// A dynset (natRule's delete) gives a set without a size the
		// kernel's default of 65535 elements, as it does for pin4/6.
		"map dnat4 {\n\t\ttype ipv4_addr . ipv4_addr . inet_service : ipv4_addr . inet_service\n\t\tsize 65535\n\t\tflags timeout",
		"map dnat6 {\n\t\ttype ipv6_addr . ipv6_addr . inet_service : ipv6_addr . inet_service\n\t\tsize 65535\n\t\tflags timeout",
		"map snat4 {\n\t\ttype ipv4_addr . ipv4_addr . inet_service : ipv4_addr\n\t\tsize 65535\n\t\tflags timeout",
		"map snat6 {\n\t\ttype ipv6_addr . ipv6_addr . inet_service : ipv6_addr\n\t\tsize 65535\n\t\tflags timeout",
		"chain pinhole-forward {\n\t\ttype filter hook forward priority filter - 5; policy accept;\n" +
			"\t\tct state new ip saddr . ip daddr . tcp dport @pin4 delete @pin4 { ip saddr . ip daddr . tcp dport } counter packets 0 bytes 0 ct mark set ct mark | 0x00000100\n" +
			"\t\tct state new ip6 saddr . ip6 daddr . tcp dport @pin6 delete @pin6 { ip6 saddr . ip6 daddr . tcp dport } counter packets 0 bytes 0 ct mark set ct mark | 0x00000100\n",
		"chain pinhole-input {\n\t\ttype filter hook input priority filter - 5; policy accept;",
		"chain pinhole-output {\n\t\ttype filter hook output priority filter - 5; policy accept;",
		"chain divert-forward {\n\t\ttype filter hook forward priority filter - 10; policy accept;\n" +
			"\t\tip saddr . ip daddr . tcp sport . tcp dport @reset4 counter packets 0 bytes 0 reject with tcp reset\n" +
			"\t\tip6 saddr . ip6 daddr . tcp sport . tcp dport @reset6 counter packets 0 bytes 0 reject with tcp reset\n" +
			"\t\ttcp dport @ctlports ct mark & 0x00000200 == 0x00000200 counter packets 0 bytes 0",
		"\t\ttcp dport @ctlports @ih,0,8 & 0x0 == 0x0 counter packets 0 bytes 0",
		"\t\ttcp dport @ctlports tcp flags fin,syn,rst counter packets 0 bytes 0",
		"\t\ttcp sport @ctlports ct mark & 0x00000200 == 0x00000200 counter packets 0 bytes 0",
		"\t\ttcp sport @ctlports @ih,0,8 & 0x0 == 0x0 counter packets 0 bytes 0",
		"\t\ttcp sport @ctlports tcp flags fin,syn,rst counter packets 0 bytes 0",
		"\t\tct state new ip saddr . ip daddr . tcp dport @range4 counter packets 0 bytes 0 ct mark set ct mark | 0x00000100\n",
		"\t\tct state new ip6 saddr . ip6 daddr . tcp dport @range6 counter packets 0 bytes 0 ct mark set ct mark | 0x00000100\n",
		"\t\tdnat ip to ip saddr . ip daddr . tcp dport map @rdnat4\n",
		"\t\tdnat ip6 to ip6 saddr . ip6 daddr . tcp dport map @rdnat6\n",
		"chain divert-input {\n\t\ttype filter hook input priority filter - 10; policy accept;",
		"chain divert-output {\n\t\ttype filter hook output priority filter - 10; policy accept;",
		// The NAT maps are consumed like the pinholes (natRule: nft
		// prints the delete first, though the lookup runs before it).
		"chain nat-pre {\n\t\ttype nat hook prerouting priority dstnat - 10; policy accept;\n" +
			"\t\tdelete @dnat4 { ip saddr . ip daddr . tcp dport : ip daddr . tcp dport } dnat ip to ip saddr . ip daddr . tcp dport map @dnat4\n" +
			"\t\tdelete @dnat6 { ip6 saddr . ip6 daddr . tcp dport : ip6 daddr . tcp dport } dnat ip6 to ip6 saddr . ip6 daddr . tcp dport map @dnat6\n",
		"chain nat-post {\n\t\ttype nat hook postrouting priority srcnat - 10; policy accept;\n" +
			"\t\tdelete @snat4 { ip saddr . ip daddr . tcp dport : ip daddr } snat ip to ip saddr . ip daddr . tcp dport map @snat4\n" +
			"\t\tdelete @snat6 { ip6 saddr . ip6 daddr . tcp dport : ip6 daddr } snat ip6 to ip6 saddr . ip6 daddr . tcp dport map @snat6\n",
		"chain nat-output {\n\t\ttype nat hook output priority -110; policy accept;\n" +
			"\t\tdelete @dnat4 { ip saddr . ip daddr . tcp dport : ip daddr . tcp dport } dnat ip to ip saddr . ip daddr . tcp dport map @dnat4\n",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("nft list table inet ftpalg lacks\n%s\n--- got:\n%s", want, list)
		}
	}
	// nft 1.0.6 cannot print the xt target in an inet table, so read the
	// divert rules back through netlink: tcp dport, then tcp sport, each
	// to NFQUEUE rev 3 with our info (compat) or to the queue expression
	// (native).
	c := connIn(t, n)
	tbl := &nftables.Table{Family: nftables.TableFamilyINet, Name: "ftpalg"}
	rules, err := c.GetRules(tbl, &nftables.Chain{Name: "divert-input", Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 8 {
		t.Fatalf("divert-input has %d rules, want 8 (reset4, reset6, then resized, data, flags for dport and for sport)", len(rules))
	}
	for i := range 6 {
		off := []uint32{2, 0}[i/3]
		ex := rules[2+i].Exprs
		if p, ok := ex[2].(*expr.Payload); !ok || p.Offset != off || p.Base != expr.PayloadBaseTransportHeader {
			t.Errorf("rule %d: expression 2 is %#v, want a load of the TCP port at offset %d", i, ex[2], off)
		}
		// What the kernel gives back matches what ftpalg sent, the
		// match expressions included.
		if sent := divertRule(testSpec(), want, &nftables.Set{Name: setCtlPorts}, off, divertMatches[i%3]); len(sent) != len(ex) {
			t.Errorf("rule %d: %d expressions in the kernel, %d sent", i, len(ex), len(sent))
		} else {
			for j := 4; j < len(ex)-2; j++ {
				if fmt.Sprintf("%+v", ex[j]) != fmt.Sprintf("%+v", sent[j]) {
					t.Errorf("rule %d expression %d: kernel has %+v, sent %+v", i, j, ex[j], sent[j])
				}
			}
		}
		if want == DivertNative {
			q, ok := ex[len(ex)-1].(*expr.Queue)
			if !ok || q.Num != 3 || (q.Total != 1 && q.Total != 0) || q.Flag != expr.QueueFlagBypass {
				t.Errorf("rule %d ends in %#v, want queue num 3 bypass", i, ex[len(ex)-1])
			}
			continue
		}
		tg, ok := ex[len(ex)-1].(*expr.Target)
		if !ok || tg.Name != "NFQUEUE" || tg.Rev != 3 {
			t.Fatalf("rule %d ends in %#v, want target NFQUEUE rev 3", i, ex[len(ex)-1])
		}
		info, ok := tg.Info.(*xt.Unknown)
		if !ok || !bytes.Equal(*info, nfqInfoV3(hostOrder, 3, 1, nfqFlagBypass)) {
			t.Errorf("rule %d: NFQUEUE info %v, want %v", i, tg.Info, nfqInfoV3(hostOrder, 3, 1, nfqFlagBypass))
		}
	}
}

// 1b. Detection agrees with the kernel probe, and what happens with a
// forced mode.
func TestDivertDetection(t *testing.T) {
	want := kernelDivert(t)
	n := newNetns(t)
	c := connIn(t, n)
	d, err := detectDivert(c, "ftr-probe")
	if err != nil {
		t.Fatal(err)
	}
	if d != want {
		t.Errorf("detected %v, want %v (what the kernel probe found)", d, want)
	}
	if out := n.nft(t, "", "list", "tables"); strings.TrimSpace(out) != "" {
		t.Errorf("probe left tables behind:\n%s", out)
	}
	// The probe must never touch an existing table of its name.
	n.nft(t, "", "add", "table", "inet", "ftr-probe")
	if _, err := detectDivert(c, "ftr-probe"); err == nil {
		t.Error("detection succeeded over an existing table of the probe's name")
	}
	n.nft(t, "", "list", "table", "inet", "ftr-probe") // still there
	n.nft(t, "", "delete", "table", "inet", "ftr-probe")

	spec := testSpec(HookForward)
	spec.Divert = DivertNative
	if want == DivertNative {
		tb := openIn(t, n, spec)
		if tb.Divert() != DivertNative {
			t.Errorf("forced native: divert %v", tb.Divert())
		}
		tb.Close()
	} else {
		if _, err := open(spec, nftables.WithNetNSFd(n.fd)); err == nil || !strings.Contains(err.Error(), "rules: create table inet ftpalg (divert native)") {
			t.Errorf("Open with native divert on a kernel without it: %v", err)
		}
		if out := n.nft(t, "", "list", "tables"); strings.TrimSpace(out) != "" {
			t.Errorf("failed Open left tables behind:\n%s", out)
		}
	}
	// Compat (nft_compat with xt_NFQUEUE) is expected on every kernel
	// ftpalg supports; distribution kernels load xt_NFQUEUE on demand.
	spec.Divert = DivertCompat
	tb := openIn(t, n, spec)
	if tb.Divert() != DivertCompat {
		t.Errorf("divert %v", tb.Divert())
	}
}

// 2. Apply adds and removes elements.
func TestApplyAddRemove(t *testing.T) {
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward))
	p4 := natPin(1, cli4, pub4, srv4, fw4, ttl30)
	p6 := natPin(2, cli6, pub6, srv6, fw6, ttl30)
	p6.Mapping.ToSrc = netip.Addr{} // DNAT only
	plain := Pin{ID: 3, Pinhole: conntrack.Pinhole{Src: cli4, Dst: netip.MustParseAddrPort("10.0.0.5:50001")}, Timeout: ttl30}
	apply(t, tb, Change{Add: []Pin{p4, p6, plain}})

	e := elements(t, tb)
	wantPins := []conntrack.Pinhole{p4.Pinhole, plain.Pinhole, p6.Pinhole}
	var gotPins []conntrack.Pinhole
	for _, p := range e.Pinholes {
		gotPins = append(gotPins, p.Pinhole)
		checkLife(t, p.Life, ttl30)
	}
	if !slices.Equal(gotPins, wantPins) {
		t.Errorf("pinholes %v, want %v", gotPins, wantPins)
	}
	if len(e.DNAT) != 2 || e.DNAT[0].Src != cli4 || e.DNAT[0].Dst != pub4 || e.DNAT[0].ToDst != srv4 ||
		e.DNAT[1].Src != cli6 || e.DNAT[1].Dst != pub6 || e.DNAT[1].ToDst != srv6 {
		t.Errorf("DNAT %+v", e.DNAT)
	}
	if len(e.SNAT) != 1 || e.SNAT[0].Src != cli4 || e.SNAT[0].Dst != srv4 || e.SNAT[0].ToSrc != fw4 {
		t.Errorf("SNAT %+v", e.SNAT)
	}
	for _, d := range e.DNAT {
		checkLife(t, d.Life, ttl30)
	}

	// The nft CLI decodes our key layout independently.
	for _, tc := range []struct{ kind, name, want string }{
		{"set", "pin4", "198.51.100.7 . 10.0.0.5 . 50000 timeout 30s expires"},
		{"set", "pin6", "2001:db8:a::7 . 2001:db8:b::5 . 50000 timeout 30s expires"},
		{"map", "dnat4", "198.51.100.7 . 203.0.113.10 . 50000 timeout 30s expires"},
		{"map", "dnat4", ": 10.0.0.5 . 50000"},
		{"map", "dnat6", "2001:db8:a::7 . 2001:db8:c::10 . 50000 timeout 30s expires"},
		{"map", "dnat6", ": 2001:db8:b::5 . 50000"},
		{"map", "snat4", "198.51.100.7 . 10.0.0.5 . 50000 timeout 30s expires"},
		{"map", "snat4", ": 10.0.0.1"},
	} {
		if out := n.nft(t, "", "list", tc.kind, "inet", "ftpalg", tc.name); !strings.Contains(out, tc.want) {
			t.Errorf("nft list %s %s lacks %q:\n%s", tc.kind, tc.name, tc.want, out)
		}
	}

	apply(t, tb, Change{Remove: []Pin{p4, p6, plain}})
	if e := elements(t, tb); len(e.Pinholes)+len(e.DNAT)+len(e.SNAT) != 0 {
		t.Errorf("after Remove: %+v", e)
	}
	apply(t, tb, Change{Remove: []Pin{p4, p6, plain}}) // twice: no error
	// A pin never added, with a mapping: destroying what is not there is fine.
	apply(t, tb, Change{Remove: []Pin{natPin(99, cli4, pub4, srv4, fw4, 0)}})
	// By ID only, for a pin that is not (any more) ours: nothing to do.
	apply(t, tb, Change{Remove: []Pin{{ID: 12345}}})
}

// 2b. Shared keys, replacement, bad pins.
func TestApplySharedAndReplaced(t *testing.T) {
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward))
	a := natPin(1, cli4, pub4, srv4, fw4, ttl30)
	b := natPin(2, cli4, pub4, srv4, fw4, ttl30)
	apply(t, tb, Change{Add: []Pin{a, b}}) // one key twice in one batch
	apply(t, tb, Change{Remove: []Pin{a}})
	if e := elements(t, tb); len(e.Pinholes) != 1 || len(e.DNAT) != 1 || len(e.SNAT) != 1 {
		t.Fatalf("pin 2 lost its elements when pin 1 went: %+v", e)
	}
	apply(t, tb, Change{Remove: []Pin{b}})
	if e := elements(t, tb); len(e.Pinholes)+len(e.DNAT)+len(e.SNAT) != 0 {
		t.Fatalf("after both removed: %+v", e)
	}

	// A new pin for a mapping key that is taken: the new target wins.
	other := netip.MustParseAddrPort("10.0.0.6:50000")
	apply(t, tb, Change{Add: []Pin{a}})
	c := natPin(3, cli4, pub4, other, fw4, 2*ttl30)
	apply(t, tb, Change{Add: []Pin{c}})
	e := elements(t, tb)
	if len(e.DNAT) != 1 || e.DNAT[0].ToDst != other || e.DNAT[0].Timeout != 2*ttl30 {
		t.Errorf("DNAT after replacement: %+v", e.DNAT)
	}
	// Removing by ID removes what was installed, whatever the Pin says now.
	apply(t, tb, Change{Remove: []Pin{{ID: 3}}})
	if e := elements(t, tb); len(e.DNAT) != 0 || len(e.Pinholes) != 1 {
		t.Errorf("after removing pin 3 by ID: %+v", e)
	}

	// A bad pin fails the whole change, and nothing is sent.
	bad := Pin{ID: 4, Pinhole: conntrack.Pinhole{Src: cli4, Dst: srv6}, Timeout: ttl30}
	d := Pin{ID: 5, Pinhole: conntrack.Pinhole{Src: cli4, Dst: other}, Timeout: ttl30}
	err := tb.Apply(Change{Add: []Pin{d, bad}})
	if err == nil || !strings.Contains(err.Error(), "rules: apply to table inet ftpalg: add pin 4:") {
		t.Errorf("Apply with a mixed-family pin: %v", err)
	}
	if e := elements(t, tb); len(e.Pinholes) != 1 {
		t.Errorf("a failed Apply changed the table: %+v", e.Pinholes)
	}
	short := Pin{ID: 6, Pinhole: conntrack.Pinhole{Src: cli4, Dst: other}, Timeout: 500 * time.Millisecond}
	if err := tb.Apply(Change{Add: []Pin{short}}); err == nil {
		t.Error("Apply took a timeout below 1s")
	}
}

func checkLife(t *testing.T, l Life, timeout time.Duration) {
	t.Helper()
	if l.Timeout != timeout || l.Remaining <= 0 || l.Remaining > timeout || l.Remaining < timeout-5*time.Second {
		t.Errorf("life %+v, want timeout %v with most of it left", l, timeout)
	}
}

// 3. Elements expire by themselves.
func TestElementTimeout(t *testing.T) {
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward))
	p := natPin(1, cli4, pub4, srv4, fw4, time.Second)
	apply(t, tb, Change{Add: []Pin{p}})
	if e := elements(t, tb); len(e.Pinholes) != 1 || len(e.DNAT) != 1 || len(e.SNAT) != 1 {
		t.Fatalf("just added: %+v", e)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		e := elements(t, tb)
		if len(e.Pinholes)+len(e.DNAT)+len(e.SNAT) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("1s elements still there after 2s: %+v", e)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The same ID again, after expiry: a fresh add.
	apply(t, tb, Change{Add: []Pin{p}})
	if e := elements(t, tb); len(e.Pinholes) != 1 {
		t.Fatalf("re-added after expiry: %+v", e)
	}
}

// 4. Open takes over an existing table of its name.
func TestTakeover(t *testing.T) {
	n := newNetns(t)
	n.nft(t, `table inet ftpalg {
	set pin4 { type ipv4_addr . ipv4_addr . inet_service; flags timeout; elements = { 198.51.100.9 . 10.0.0.9 . 9999 timeout 1h } }
	chain stale { type filter hook forward priority 0; policy drop; }
}
`, "-f", "-")
	tb := openIn(t, n, testSpec(HookForward))
	if e := elements(t, tb); len(e.Pinholes) != 0 {
		t.Errorf("stale pinholes survived: %+v", e.Pinholes)
	}
	if list := n.nft(t, "", "list", "table", "inet", "ftpalg"); strings.Contains(list, "stale") || strings.Contains(list, "policy drop") {
		t.Errorf("stale chain survived:\n%s", list)
	}
	apply(t, tb, Change{Add: []Pin{natPin(1, cli4, pub4, srv4, fw4, ttl30)}})

	// A second daemon (or a restart without Close) takes over a live table.
	tb2 := openIn(t, n, testSpec(HookForward, HookInput))
	if e := elements(t, tb2); len(e.Pinholes)+len(e.DNAT)+len(e.SNAT) != 0 {
		t.Errorf("elements survived the takeover: %+v", e)
	}
	if !present(t, tb2) {
		t.Error("taken-over table not present")
	}
	if list := n.nft(t, "", "list", "table", "inet", "ftpalg"); !strings.Contains(list, "chain divert-input") {
		t.Errorf("new table lacks the new hook:\n%s", list)
	}
}

// 5. Present notices a flushed ruleset; Rebuild restores table and pins.
func TestPresentAndRebuild(t *testing.T) {
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward))
	pins := []Pin{natPin(1, cli4, pub4, srv4, fw4, ttl30), natPin(2, cli6, pub6, srv6, fw6, ttl30)}
	apply(t, tb, Change{Add: pins})
	for _, damage := range [][]string{
		{"flush", "ruleset"},
		{"delete", "table", "inet", "ftpalg"},
		{"flush", "chain", "inet", "ftpalg", "pinhole-forward"},
		{"flush", "table", "inet", "ftpalg"},
	} {
		if !present(t, tb) {
			t.Fatalf("before nft %v: not present", damage)
		}
		n.nft(t, "", damage...)
		if present(t, tb) {
			t.Errorf("Present true after nft %s", strings.Join(damage, " "))
		}
		if err := tb.Rebuild(pins); err != nil {
			t.Fatalf("Rebuild after nft %v: %v", damage, err)
		}
		if !present(t, tb) {
			t.Errorf("Present false after Rebuild (nft %v)", damage)
		}
		if e := elements(t, tb); len(e.Pinholes) != 2 || len(e.DNAT) != 2 || len(e.SNAT) != 2 {
			t.Errorf("after Rebuild (nft %v): %+v", damage, e)
		}
	}
	n.nft(t, "", "flush", "ruleset")
	if err := tb.Apply(Change{Add: pins[:1]}); err == nil || !strings.Contains(err.Error(), "rules: apply to table inet ftpalg:") {
		t.Errorf("Apply to a deleted table: %v", err)
	}
	// The failed Apply left the bookkeeping alone: removing pin 1 after
	// a Rebuild still destroys its elements.
	if err := tb.Rebuild(pins); err != nil {
		t.Fatal(err)
	}
	apply(t, tb, Change{Remove: []Pin{{ID: 1}}})
	if e := elements(t, tb); len(e.Pinholes) != 1 || e.Pinholes[0].Pinhole.Src != cli6 {
		t.Errorf("after removing pin 1 by ID: %+v", e)
	}
}

// 6. Close removes the table.
func TestClose(t *testing.T) {
	n := newNetns(t)
	tb, err := open(testSpec(HookForward), nftables.WithNetNSFd(n.fd))
	if err != nil {
		t.Fatal(err)
	}
	apply(t, tb, Change{Add: []Pin{natPin(1, cli4, pub4, srv4, fw4, ttl30)}})
	if err := tb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if out := n.nft(t, "", "list", "tables"); strings.Contains(out, "ftpalg") {
		t.Errorf("table still there after Close:\n%s", out)
	}
	if err := tb.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tb.Apply(Change{Add: []Pin{natPin(1, cli4, pub4, srv4, fw4, ttl30)}}); err == nil {
		t.Error("Apply after Close succeeded")
	}
	// Close of a table someone else already deleted.
	tb2, err := open(testSpec(HookForward), nftables.WithNetNSFd(n.fd))
	if err != nil {
		t.Fatal(err)
	}
	n.nft(t, "", "flush", "ruleset")
	if err := tb2.Close(); err != nil {
		t.Errorf("Close of a deleted table: %v", err)
	}
}

// Apply, Present and Elements from many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				id := uint64(g*100 + i)
				p := Pin{ID: id, Pinhole: conntrack.Pinhole{Src: cli4, Dst: netip.AddrPortFrom(srv4.Addr(), uint16(10000+id))}, Timeout: ttl30}
				if err := tb.Apply(Change{Add: []Pin{p}}); err != nil {
					errs <- err
					return
				}
				if i%2 == 1 {
					if err := tb.Apply(Change{Remove: []Pin{p}}); err != nil {
						errs <- err
						return
					}
				}
				if _, err := tb.Present(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if e := elements(t, tb); len(e.Pinholes) != 8*10 {
		t.Errorf("%d pinholes, want 80", len(e.Pinholes))
	}
}

// lab is client -- firewall -- server, in three namespaces:
//
//	client a0 198.51.100.1/24 2001:db8:a::1/64
//	firewall f0 198.51.100.2/24 2001:db8:a::2/64, f1 10.0.0.1/24 2001:db8:b::1/64 (forwarding)
//	server s0 10.0.0.2/24 2001:db8:b::2/64
//
// The client routes 10.0.0.0/24, 203.0.113.0/24 (the "public" addresses
// the firewall DNATs), 2001:db8:b::/64 and 2001:db8:c::/64 via the
// firewall.
type lab struct {
	cli, fw, srv *netns
}

func newLab(t *testing.T) *lab {
	l := &lab{cli: newNetns(t), fw: newNetns(t), srv: newNetns(t)}
	veth(t, l.cli, "a0", l.fw, "f0")
	veth(t, l.fw, "f1", l.srv, "s0")
	for _, c := range [][]string{
		{"addr", "add", "198.51.100.1/24", "dev", "a0"},
		{"addr", "add", "2001:db8:a::1/64", "dev", "a0", "nodad"},
		{"route", "add", "10.0.0.0/24", "via", "198.51.100.2"},
		{"route", "add", "203.0.113.0/24", "via", "198.51.100.2"},
		{"route", "add", "2001:db8:b::/64", "via", "2001:db8:a::2"},
		{"route", "add", "2001:db8:c::/64", "via", "2001:db8:a::2"},
	} {
		l.cli.ip(t, c...)
	}
	for _, c := range [][]string{
		{"addr", "add", "198.51.100.2/24", "dev", "f0"},
		{"addr", "add", "10.0.0.1/24", "dev", "f1"},
		{"addr", "add", "2001:db8:a::2/64", "dev", "f0", "nodad"},
		{"addr", "add", "2001:db8:b::1/64", "dev", "f1", "nodad"},
	} {
		l.fw.ip(t, c...)
	}
	l.fw.exec(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	for _, c := range [][]string{
		{"addr", "add", "10.0.0.2/24", "dev", "s0"},
		{"addr", "add", "2001:db8:b::2/64", "dev", "s0", "nodad"},
		{"route", "add", "default", "via", "10.0.0.1"},
		{"route", "add", "default", "via", "2001:db8:b::1"},
	} {
		l.srv.ip(t, c...)
	}
	return l
}

// adminTable is the admin's own ruleset: forward drops what is not
// established, related or marked by a pinhole.
func (l *lab) adminTable(t *testing.T) {
	l.fw.nft(t, fmt.Sprintf(`table inet admin {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		ct mark & 0x%x == 0x%x accept
	}
}
`, testMark, testMark), "-f", "-")
}

// serve accepts connections on addr in the server namespace and writes
// each peer's address, as the server sees it, to it.
func (l *lab) serve(t *testing.T, addr string) {
	l.serveWith(t, addr, func(c net.Conn) {
		fmt.Fprintf(c, "%s\n", c.RemoteAddr())
		c.Close()
	})
}

// serveWith accepts connections on addr in the server namespace and hands
// each to handle, one after another.
func (l *lab) serveWith(t *testing.T, addr string, handle func(net.Conn)) {
	ln := l.srv.listen(t, addr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
}

const (
	dialOK   = 2 * time.Second
	dialFail = 600 * time.Millisecond // long enough for a SYN on veth to be answered
)

// connect dials from the client and returns the server's view of the
// client's address, or the error.
func (l *lab) connect(t *testing.T, addr string, timeout time.Duration) (string, error) {
	t.Helper()
	c, err := l.cli.dial(t, addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(dialOK))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read from %s: %w", addr, err)
	}
	return strings.TrimSpace(line), nil
}

func (l *lab) mustConnect(t *testing.T, addr string) string {
	t.Helper()
	peer, err := l.connect(t, addr, dialOK)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	return peer
}

func (l *lab) mustFail(t *testing.T, addr, why string) {
	t.Helper()
	if peer, err := l.connect(t, addr, dialFail); err == nil {
		t.Errorf("connect to %s succeeded (server saw %s), want it dropped: %s", addr, peer, why)
	}
}

// 7. A pinhole admits exactly one connection, to exactly its port.
func TestPinholeIsOneShot(t *testing.T) {
	l := newLab(t)
	tb := openIn(t, l.fw, testSpec(HookForward))
	l.adminTable(t)
	for _, tc := range []struct {
		name     string
		cli, srv netip.Addr
	}{
		{"ipv4", netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("10.0.0.2")},
		{"ipv6", netip.MustParseAddr("2001:db8:a::1"), netip.MustParseAddr("2001:db8:b::2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := netip.AddrPortFrom(tc.srv, 5000)
			next := netip.AddrPortFrom(tc.srv, 5001)
			l.serve(t, port.String())
			l.serve(t, next.String())
			l.mustFail(t, port.String(), "no pinhole yet")
			apply(t, tb, Change{Add: []Pin{{ID: 1, Pinhole: conntrack.Pinhole{Src: tc.cli, Dst: port}, Timeout: ttl30}}})
			l.mustFail(t, next.String(), "the neighbouring port has no pinhole")
			if peer := l.mustConnect(t, port.String()); !strings.Contains(peer, tc.cli.String()) {
				t.Errorf("server saw %s, want %s", peer, tc.cli)
			}
			if e := elements(t, tb); len(e.Pinholes) != 0 {
				t.Errorf("pinhole not consumed by the connection: %+v", e.Pinholes)
			}
			l.mustFail(t, port.String(), "the pinhole was used up")
		})
	}
}

// 7b. The DNAT and SNAT maps: the client connects to the public address,
// reaches the private server, which sees the firewall's address.
func TestNATMaps(t *testing.T) {
	l := newLab(t)
	tb := openIn(t, l.fw, testSpec(HookForward))
	l.adminTable(t)
	for _, tc := range []struct {
		name          string
		cli, fw       netip.Addr
		pub, srv, off netip.AddrPort
	}{
		{"ipv4", netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("10.0.0.1"),
			netip.MustParseAddrPort("203.0.113.10:6000"), netip.MustParseAddrPort("10.0.0.2:5002"), netip.MustParseAddrPort("203.0.113.10:6001")},
		{"ipv6", netip.MustParseAddr("2001:db8:a::1"), netip.MustParseAddr("2001:db8:b::1"),
			netip.MustParseAddrPort("[2001:db8:c::10]:6000"), netip.MustParseAddrPort("[2001:db8:b::2]:5002"), netip.MustParseAddrPort("[2001:db8:c::10]:6001")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.serve(t, tc.srv.String())
			apply(t, tb, Change{Add: []Pin{natPin(1, tc.cli, tc.pub, tc.srv, tc.fw, ttl30)}})
			l.mustFail(t, tc.off.String(), "no mapping for the neighbouring public port")
			peer := l.mustConnect(t, tc.pub.String())
			if ap, err := netip.ParseAddrPort(peer); err != nil || ap.Addr() != tc.fw {
				t.Errorf("server saw the client as %q, want the SNAT address %s", peer, tc.fw)
			}
			if e := elements(t, tb); len(e.Pinholes)+len(e.DNAT)+len(e.SNAT) != 0 {
				t.Errorf("after the connection: %+v, want the pinhole and both mappings consumed (TestNATMapsConsumed)", e)
			}
			l.mustFail(t, tc.pub.String(), "pinhole and mapping used up")

			// DNAT without SNAT: the server sees the client itself.
			apply(t, tb, Change{Remove: []Pin{{ID: 1}}})
			p := natPin(2, tc.cli, tc.pub, tc.srv, netip.Addr{}, ttl30)
			apply(t, tb, Change{Add: []Pin{p}})
			peer = l.mustConnect(t, tc.pub.String())
			if ap, err := netip.ParseAddrPort(peer); err != nil || ap.Addr() != tc.cli {
				t.Errorf("server saw the client as %q, want %s (no SNAT)", peer, tc.cli)
			}
			apply(t, tb, Change{Remove: []Pin{p}})
		})
	}
}

// 7c. The divert chains send control packets of both directions to the
// configured queue (the divert mode Open chose), honour BYPASS, and spread a
// queue range by flow.
func TestDivertQueues(t *testing.T) {
	l := newLab(t)
	spec := testSpec(HookForward)
	spec.QueueNum, spec.FailOpen = 5, false
	tb := openIn(t, l.fw, spec)
	l.serve(t, "10.0.0.2:21")
	l.serve(t, "10.0.0.2:2121")
	l.serve(t, "10.0.0.2:22")
	l.mustConnect(t, "10.0.0.2:22") // not a control port: not queued
	l.mustFail(t, "10.0.0.2:21", "queued without BYPASS and nobody listens on queue 5")

	q := bindQueues(t, l.fw, 5)
	l.mustConnect(t, "10.0.0.2:21")
	l.mustConnect(t, "10.0.0.2:2121")
	var toSrv, fromSrv int
	for _, p := range q.packets() {
		if p.queue != 5 {
			t.Errorf("packet %v -> %v on queue %d, want 5", p.src, p.dst, p.queue)
		}
		switch {
		case p.dst.Port() == 21 || p.dst.Port() == 2121:
			toSrv++
		case p.src.Port() == 21 || p.src.Port() == 2121:
			fromSrv++
		default:
			t.Errorf("packet %v -> %v queued", p.src, p.dst)
		}
	}
	if toSrv == 0 || fromSrv == 0 {
		t.Errorf("queued %d packets to the server and %d from it, want both", toSrv, fromSrv)
	}
	// Only what must be seen: no connection is marked resized, so no
	// pure ACK was queued (the handshake's third packet is one), and
	// data, SYN and FIN were.
	var kinds [3]int // data, SYN, FIN
	for _, p := range q.packets() {
		if !spec.Queued(p.flags, p.payload, 0) {
			t.Errorf("pure ACK %v -> %v (flags %#x) queued from an unresized connection", p.src, p.dst, p.flags)
		}
		if p.payload > 0 {
			kinds[0]++
		}
		if p.flags&TCPFlagSYN != 0 {
			kinds[1]++
		}
		if p.flags&TCPFlagFIN != 0 {
			kinds[2]++
		}
	}
	if kinds[0] == 0 || kinds[1] < 4 || kinds[2] == 0 {
		t.Errorf("queued %d data segments, %d SYNs, %d FINs: want data, both SYNs of each connection and FINs", kinds[0], kinds[1], kinds[2])
	}
	// A connection marked resized (here by a rule of the admin's, at
	// its first packet) is queued whole, pure ACKs included; the mark's
	// other bits do not matter.
	l.fw.nft(t, fmt.Sprintf(`table inet resize {
	chain f {
		type filter hook forward priority -20; policy accept;
		tcp dport 2121 ct mark set ct mark | 0x%x | 0x1
	}
}
`, testResized), "-f", "-")
	before := len(q.packets())
	l.mustConnect(t, "10.0.0.2:2121")
	l.mustConnect(t, "10.0.0.2:21")
	acks := map[uint16]int{}
	for _, p := range q.packets()[before:] {
		if !spec.Queued(p.flags, p.payload, 0) {
			acks[min(p.src.Port(), p.dst.Port())]++
		}
	}
	if acks[2121] == 0 || acks[21] != 0 {
		t.Errorf("pure ACKs queued: %d of the resized connection (port 2121), %d of the other (port 21); want some and none", acks[2121], acks[21])
	}
	l.fw.nft(t, "", "delete", "table", "inet", "resize")
	tb.Close()

	// A range of two queues, with BYPASS.
	spec.QueueNum, spec.QueueCount, spec.FailOpen = 7, 2, true
	openIn(t, l.fw, spec)
	l.mustConnect(t, "10.0.0.2:21") // nobody listens: BYPASS lets it through
	q = bindQueues(t, l.fw, 7, 8)
	const clients = 16
	extra := map[netip.Addr]bool{}
	for i := range clients {
		a := fmt.Sprintf("198.51.100.%d", 100+i)
		extra[netip.MustParseAddr(a)] = true
		l.cli.ip(t, "addr", "add", a+"/24", "dev", "a0")
		var c net.Conn
		var err error
		l.cli.do(t, func() {
			d := net.Dialer{Timeout: dialOK, LocalAddr: &net.TCPAddr{IP: net.ParseIP(a)}}
			c, err = d.Dial("tcp", "10.0.0.2:21")
		})
		if err != nil {
			t.Fatalf("connect from %s: %v", a, err)
		}
		io.Copy(io.Discard, c)
		c.Close()
	}
	queueOf := map[netip.Addr]uint16{} // client address -> queue of its flow
	used := map[uint16]bool{}
	for _, p := range q.packets() {
		cli := p.src.Addr()
		if p.src.Port() == 21 {
			cli = p.dst.Addr()
		}
		if !extra[cli] {
			continue // the earlier connection's last packets
		}
		if p.queue != 7 && p.queue != 8 {
			t.Errorf("packet on queue %d, want 7 or 8", p.queue)
		}
		if q, ok := queueOf[cli]; ok && q != p.queue {
			t.Errorf("flow of %v on queues %d and %d: both directions of a flow must share one", cli, q, p.queue)
		}
		queueOf[cli] = p.queue
		used[p.queue] = true
	}
	if len(queueOf) != clients || len(used) != 2 {
		t.Errorf("%d client flows seen on queues %v; want %d spread over 7 and 8", len(queueOf), used, clients)
	}
}

// TestLiveListsWhatApplyAdded: the seam's Live, on the real table, lists
// exactly the pins added and not removed, with the time they have left.
func TestLiveListsWhatApplyAdded(t *testing.T) {
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward))
	p4 := natPin(1, cli4, pub4, srv4, fw4, ttl30)
	plain := Pin{ID: 3, Pinhole: conntrack.Pinhole{Src: cli4, Dst: netip.MustParseAddrPort("10.0.0.5:50001")}, Timeout: 2 * time.Second}
	apply(t, tb, Change{Add: []Pin{p4, plain}})
	live := tb.Live()
	if len(live) != 2 || live[0].ID != 1 || live[1].ID != 3 || live[0].Mapping != p4.Mapping || live[1].Pinhole != plain.Pinhole {
		t.Fatalf("live %+v", live)
	}
	if live[0].Timeout > ttl30 || live[0].Timeout < ttl30-5*time.Second || live[1].Timeout > 2*time.Second {
		t.Errorf("time left %v and %v", live[0].Timeout, live[1].Timeout)
	}
	apply(t, tb, Change{Remove: []Pin{{ID: 1}}})
	if live := tb.Live(); len(live) != 1 || live[0].ID != 3 {
		t.Fatalf("after remove: %+v", live)
	}
}
