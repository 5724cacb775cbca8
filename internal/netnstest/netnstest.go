// Package netnstest gives privileged tests a throwaway network namespace:
// created with iproute2, entered by file descriptor, removed in t.Cleanup
// even when the test fails. Tests that need it skip when not root, unless
// FTPALG_E2E=require makes a missing prerequisite a failure.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ftpalg/ftpalg/internal/testmode"
	"golang.org/x/sys/unix"
)

var seq atomic.Uint64

// NS is a network namespace made for one test.
type NS struct {
	Name string
	t    testing.TB
	fd   int
}

// Require skips (or, under FTPALG_E2E=require, fails) the test when it
// cannot run privileged namespace tests or a tool is missing.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	testmode.Check(t)
	strict := testmode.Strict()
	miss := func(why string) {
		if strict {
			t.Fatalf("prerequisite missing (FTPALG_E2E=require): %s", why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		miss("needs root")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			miss(tool + " not installed")
		}
	}
}

// New creates a namespace with loopback up.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{Name: name, t: t, fd: -1}
	t.Cleanup(ns.remove)
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	ns.fd = fd
	ns.Run("ip", "link", "set", "lo", "up")
	return ns
}

func (ns *NS) remove() {
	if ns.fd >= 0 {
		unix.Close(ns.fd)
	}
	exec.Command("ip", "netns", "pids", ns.Name).Run()
	if out, err := exec.Command("ip", "netns", "pids", ns.Name).Output(); err == nil {
		for _, pid := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", pid).Run()
		}
	}
	exec.Command("ip", "netns", "del", ns.Name).Run()
}

// FD is the namespace's file descriptor, for netlink.Config.NetNS.
func (ns *NS) FD() int { return ns.fd }

// Run runs a command inside the namespace and fails the test on error.
func (ns *NS) Run(name string, args ...string) string {
	ns.t.Helper()
	out, err := ns.Try(name, args...)
	if err != nil {
		ns.t.Fatalf("in %s: %s %s: %v: %s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs a command inside the namespace and returns its output.
func (ns *NS) Try(name string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Do runs f on an OS thread switched into the namespace. Sockets opened by
// f stay in the namespace after f returns.
func (ns *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked: if switching back fails it must die
		// with the goroutine rather than serve others in the wrong
		// namespace.
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Veth joins two namespaces with a veth pair named a/b, each end up.
func Veth(t testing.TB, x *NS, a string, y *NS, b string) {
	t.Helper()
	x.Run("ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", y.Name)
	x.Run("ip", "link", "set", a, "up")
	y.Run("ip", "link", "set", b, "up")
}
