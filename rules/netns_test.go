//go:build linux

package rules

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/internal/netnstest"
	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Test helpers: throwaway network namespaces named ftr-<pid>-<n>, always
// deleted in t.Cleanup.

var nsSeq atomic.Int32

type netns struct {
	name string
	fd   int
}

func needRoot(t *testing.T) {
	t.Helper()
	// Skips, or fails under FTPALG_E2E=require (the default of scripts/test).
	netnstest.Require(t, "nft")
}

// newNetns creates a namespace with lo up.
func newNetns(t *testing.T) *netns {
	t.Helper()
	needRoot(t)
	name := fmt.Sprintf("ftr-%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	n := &netns{name: name, fd: fd}
	n.ip(t, "link", "set", "lo", "up")
	return n
}

// exec runs a command inside the namespace and returns its output.
func (n *netns) exec(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (n *netns) ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v\n%s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out)
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

// do runs fn on an OS thread that has joined the namespace. The thread is
// never unlocked, so the runtime throws it away afterwards.
func (n *netns) do(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
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
func openIn(t *testing.T, n *netns, spec Spec) *Table {
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
