package e2e

import (
	"os"
	"testing"

	"github.com/ftpalg/ftpalg/ctnetlink"
)

// controlEntries lists the gateway's conntrack entries of TCP connections
// to port (the server's own port, as the reply tuple shows it), with
// their mark and TCP flags, read over ctnetlink.
func controlEntries(t testing.TB, ns *Netns, port uint16) []ctnetlink.Info {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ctnetlink.Dial(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []ctnetlink.Info
	for _, fam := range []uint8{2, 10} {
		got, err := c.Dump(fam, func(i ctnetlink.Info) bool { return i.Reply.Src.Port() == port })
		if err != nil {
			t.Fatalf("conntrack dump in %s: %v", ns.Name, err)
		}
		out = append(out, got...)
	}
	return out
}
