package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Assertions shared by the cases.

// dynamicSets are ftpalg's per-session sets and maps.
var dynamicSets = []string{"pin4", "pin6", "dnat4", "dnat6", "snat4", "snat6"}

// leftovers lists the elements of ftpalg's dynamic sets; ok is false when
// the table is missing.
func leftovers(ns *Netns, table string) (left []string, ok bool, err error) {
	sets, ok, err := ns.NftSets("inet", table)
	if err != nil || !ok {
		return nil, ok, err
	}
	for _, name := range dynamicSets {
		for _, e := range sets[name] {
			left = append(left, name+": "+e.String())
		}
	}
	return left, true, nil
}

// expectNothingLeft polls until ftpalg's dynamic sets and maps are empty.
func expectNothingLeft(t testing.TB, ns *Netns, table string, within time.Duration, when string) {
	t.Helper()
	var left []string
	var ok bool
	var err error
	if !eventually(within, func() bool {
		left, ok, err = leftovers(ns, table)
		return err == nil && ok && len(left) == 0
	}) {
		switch {
		case err != nil:
			t.Errorf("%s: %v", when, err)
		case !ok:
			t.Errorf("%s: table inet %s is missing", when, table)
		default:
			t.Errorf("%s: still in ftpalg's sets after %v:\n  %s", when, within, strings.Join(left, "\n  "))
		}
	}
}

// requireSets checks that the table has the sets the contract names.
func requireSets(t testing.TB, ns *Netns, table string, names ...string) map[string][]NftElem {
	t.Helper()
	sets, ok, err := ns.NftSets("inet", table)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("table inet %s does not exist", table)
	}
	for _, n := range names {
		if _, ok := sets[n]; !ok {
			var have []string
			for k := range sets {
				have = append(have, k)
			}
			t.Fatalf("table inet %s has no set/map %q (has %v)", table, n, have)
		}
	}
	return sets
}

// findElem returns the elements of a set whose key mentions every string.
func findElem(elems []NftElem, parts ...string) []NftElem {
	var out []NftElem
	for _, e := range elems {
		all := true
		for _, p := range parts {
			found := false
			for _, k := range e.Key {
				if k == p {
					found = true
				}
			}
			if !found {
				all = false
			}
		}
		if all {
			out = append(out, e)
		}
	}
	return out
}

// noDaemonErrors fails on ERROR-level lines and ftpalg exiting early.
func noDaemonErrors(t testing.TB, d *Daemon) {
	t.Helper()
	if d.Exited() {
		t.Errorf("ftpalg exited during the test; output:\n%s", tail(d.Output(), 30))
	}
	for _, e := range d.Errors() {
		t.Errorf("ftpalg logged an error: %s", e.Raw)
	}
}

// expectLogged fails unless an entry after mark matches.
func expectLogged(t testing.TB, d *Daemon, mark int, within time.Duration, what string, f func(LogEntry) bool) LogEntry {
	t.Helper()
	e, ok := d.WaitSince(mark, within, f)
	if !ok {
		var recent []string
		for _, e := range d.Since(mark) {
			recent = append(recent, e.Raw)
		}
		t.Errorf("ftpalg did not log %s within %v; its log since the step began:\n%s", what, within, tail(strings.Join(recent, "\n"), 30))
	}
	return e
}

// nftRuleCount counts the rules in a table.
func nftRuleCount(ns *Netns, table string) (int, error) {
	out, err := ns.Run("nft", "-j", "list", "table", "inet", table)
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(nftJSONOnly(out)), &doc); err != nil {
		return 0, err
	}
	n := 0
	for _, o := range doc.Nftables {
		if _, ok := o["rule"]; ok {
			n++
		}
	}
	return n, nil
}

// tableExists reports whether nft list table succeeds.
func tableExists(ns *Netns, table string) bool {
	_, err := ns.Run("nft", "list", "table", "inet", table)
	return err == nil
}

// adminInvalidDrops reads the admin forward chain's invalid counter.
func adminInvalidDrops(t testing.TB, ns *Netns, chain string) int {
	t.Helper()
	out := ns.MustRun(t, "nft", "list", "chain", "inet", "admin", chain)
	m := regexp.MustCompile(`ct state invalid counter packets (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no invalid counter in chain %s:\n%s", chain, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// expectNoConnect dials and requires that no connection is established.
func expectNoConnect(t testing.TB, ns *Netns, local netip.Addr, to netip.AddrPort, timeout time.Duration, why string) {
	t.Helper()
	c, err := ns.Dial(local, to, timeout)
	if err == nil {
		c.Close()
		t.Errorf("%s: %v -> %v was established; it must be blocked", why, local, to)
		return
	}
	t.Logf("%s: %v -> %v blocked as expected (%v)", why, local, to, err)
}
