//go:build linux

package rules

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/internal/netnstest"
	"github.com/google/nftables"
)

// Test helpers over internal/netnstest: throwaway network namespaces
// named ftr-<pid>-<n>, always deleted in t.Cleanup.

type netns struct {
	*netnstest.NS
	name string
	fd   int
}

func needRoot(t testing.TB) {
	t.Helper()
	// Skips, or fails under FTPALG_E2E=require (the default of scripts/test).
	netnstest.Require(t, "nft")
}

// newNetns creates a namespace with lo up.
func newNetns(t testing.TB) *netns {
	t.Helper()
	needRoot(t)
	ns := netnstest.New(t, "ftr")
	return &netns{NS: ns, name: ns.Name, fd: ns.FD()}
}

// exec runs a command inside the namespace and returns its output.
func (n *netns) exec(t *testing.T, args ...string) string {
	t.Helper()
	out, err := n.Try(args[0], args[1:]...)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", n.name, strings.Join(args, " "), err, out)
	}
	return out
}

func (n *netns) ip(t *testing.T, args ...string) string {
	t.Helper()
	return n.exec(t, append([]string{"ip"}, args...)...)
}

// nft runs the nft CLI in the namespace; with stdin if given.
func (n *netns) nft(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name, "nft"}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: nft %s: %v\n%s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// do runs fn on an OS thread that has joined the namespace.
func (n *netns) do(t *testing.T, fn func()) {
	t.Helper()
	if err := n.Do(func() error { fn(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// listen opens a TCP listener in the namespace.
func (n *netns) listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	var err error
	n.do(t, func() { l, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatalf("%s: listen %s: %v", n.name, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dial connects from the namespace; the error is the point of most calls.
func (n *netns) dial(t *testing.T, addr string, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var err error
	n.do(t, func() { c, err = net.DialTimeout("tcp", addr, timeout) })
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// openIn opens a Table in the namespace.
func openIn(t testing.TB, n *netns, spec Spec) *Table {
	t.Helper()
	tb, err := open(spec, nftables.WithNetNSFd(n.fd))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

// connIn is a plain nftables connection in the namespace.
func connIn(t *testing.T, n *netns) *nftables.Conn {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(n.fd), nftables.AsLasting())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseLasting() })
	return c
}

// veth links two namespaces with a veth pair named a and b, both up.
func veth(t *testing.T, na *netns, a string, nb *netns, b string) {
	t.Helper()
	na.ip(t, "link", "add", a, "type", "veth", "peer", "name", b, "netns", nb.name)
	na.ip(t, "link", "set", a, "up")
	nb.ip(t, "link", "set", b, "up")
}
