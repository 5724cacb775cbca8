package ctnetlink

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/internal/netnstest"
)

// TestKernelFilter subscribes with the event filter in a throwaway
// namespace, next to a subscription without one, and makes connections
// of every kind: a DNATed control connection (IPv4) and a direct one
// (IPv6), a connection with the pinhole mark, others without it or with
// other bits, UDP to the control port, ICMP echo. The filtered
// subscription must get exactly the control connections' NEW and
// DESTROY events and the marked connection's NEW event; the unfiltered
// one shows that the kernel sent the rest. Then the filter is replaced,
// and removed.
func TestKernelFilter(t *testing.T) {
	netnstest.Require(t, "nft", "conntrack")
	ns := netnstest.New(t, "ftf")
	ns.Run("ip", "addr", "add", "10.0.0.2/32", "dev", "lo")
	ns.Run("ip", "addr", "add", "203.0.113.1/32", "dev", "lo")
	// 203.0.113.1:2121 is served by 10.0.0.2:2100, the control port;
	// connections to port 5000 get the pinhole mark's bit, to 5002
	// another one.
	ns.Run("nft", "add table inet t; "+
		"add chain inet t out { type nat hook output priority -100; }; "+
		"add rule inet t out ip daddr 203.0.113.1 tcp dport 2121 dnat ip to 10.0.0.2:2100; "+
		"add chain inet t f { type filter hook output priority 0; }; "+
		"add rule inet t f tcp dport 5000 ct state new ct mark set ct mark or 0x2001; "+
		"add rule inet t f tcp dport 5002 ct state new ct mark set 0x1000")

	filtered := listen(t, ns, &Filter{ControlPorts: []uint16{2100}, Mark: 0x2000})
	all := listen(t, ns, nil)

	var keepMu sync.Mutex // guards keep
	var keep []net.Conn
	hold := func(c net.Conn) {
		keepMu.Lock()
		keep = append(keep, c)
		keepMu.Unlock()
	}
	defer func() {
		keepMu.Lock()
		defer keepMu.Unlock()
		for _, c := range keep {
			c.Close()
		}
	}()
	lns := map[string]net.Listener{}
	dial := func(laddr, addr string) {
		t.Helper()
		if err := ns.Do(func() error {
			if _, ok := lns[laddr]; !ok {
				ln, err := net.Listen("tcp", laddr)
				if err != nil {
					return err
				}
				lns[laddr] = ln
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						hold(c)
					}
				}()
			}
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return err
			}
			hold(c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	dial("10.0.0.2:2100", "203.0.113.1:2121") // control, DNAT
	dial("[::1]:2100", "[::1]:2100")          // control, IPv6
	dial("127.0.0.1:5000", "127.0.0.1:5000")  // pinhole mark
	dial("127.0.0.1:5001", "127.0.0.1:5001")  // nothing
	dial("127.0.0.1:5002", "127.0.0.1:5002")  // another mark
	dial("[::1]:5001", "[::1]:5001")          // nothing, IPv6
	if err := ns.Do(func() error {
		u, err := net.Dial("udp", "127.0.0.1:2100") // the control port, UDP
		if err != nil {
			return err
		}
		defer u.Close()
		if _, err := u.Write([]byte("x")); err != nil {
			return err
		}
		ic, err := net.ListenPacket("ip4:icmp", "127.0.0.1")
		if err != nil {
			return err
		}
		defer ic.Close()
		echo := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1}
		sum := ^uint16(8<<8 + 0x1234 + 1)
		echo[2], echo[3] = byte(sum>>8), byte(sum)
		_, err = ic.WriteTo(echo, &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ns.Run("conntrack", "-F")
	// A last control connection: once its NEW event is in, everything
	// before it is too.
	dial("10.0.0.2:2100", "10.0.0.2:2100")
	sentinel := "new tcp :2100->10.0.0.2:2100"
	filtered.wait(t, sentinel)
	all.wait(t, sentinel)

	want := []string{
		"new tcp :2100->203.0.113.1:2121", "new tcp :2100->[::1]:2100", "new tcp :5000->127.0.0.1:5000",
		"destroy tcp :2100->203.0.113.1:2121", "destroy tcp :2100->[::1]:2100",
		sentinel,
	}
	got := filtered.take()
	if !sameSet(got, want) {
		t.Errorf("filtered subscription got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	// Without the filter, the kernel's other events arrive (the test
	// would prove nothing otherwise).
	seen := all.take()
	for _, e := range []string{"new tcp :5001->127.0.0.1:5001", "new tcp :5002->127.0.0.1:5002", "new tcp :5001->[::1]:5001",
		"destroy tcp :5000->127.0.0.1:5000"} {
		if !slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, e) }) {
			t.Errorf("the unfiltered subscription did not get %q; got\n\t%s", e, strings.Join(seen, "\n\t"))
		}
	}
	// Run hands over TCP events only: the UDP and ICMP ones (NEW and
	// DESTROY) are counted as ignored.
	if n := all.stats.Ignored.Load(); n < 4 {
		t.Errorf("the unfiltered subscription ignored %d events, want the UDP and ICMP ones (4)", n)
	}
	if n := filtered.stats.Ignored.Load(); n != 0 {
		t.Errorf("the filtered subscription ignored %d events", n)
	}

	// Replace the filter: port 5001 is the control port now.
	if err := filtered.sub.SetFilter(&Filter{ControlPorts: []uint16{5001}, Mark: 0x2000}); err != nil {
		t.Fatal(err)
	}
	dial("127.0.0.1:5001", "127.0.0.1:5001")
	dial("10.0.0.2:2100", "203.0.113.1:2121")
	dial("127.0.0.1:5000", "127.0.0.1:5000")
	filtered.wait(t, "new tcp :5000->127.0.0.1:5000")
	want = []string{"new tcp :5001->127.0.0.1:5001", "new tcp :5000->127.0.0.1:5000"}
	if got := filtered.take(); !sameSet(got, want) {
		t.Errorf("after SetFilter: got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	// Remove it: everything arrives.
	if err := filtered.sub.SetFilter(nil); err != nil {
		t.Fatal(err)
	}
	dial("127.0.0.1:5002", "127.0.0.1:5002")
	filtered.wait(t, "new tcp :5002->127.0.0.1:5002")
}

// listener collects a subscription's events as "type proto :replySrcPort->origDst".
type listener struct {
	sub   *Events
	stats ListenStats
	mu    sync.Mutex
	got   []string
}

func listen(t *testing.T, ns *netnstest.NS, f *Filter) *listener {
	t.Helper()
	sub, err := Subscribe(ns.FD(), f)
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{sub: sub}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sub.Run(ctx, &l.stats, func(e Event) bool {
			l.add(fmt.Sprintf("%v tcp :%d->%v", e.Type, e.Info.Reply.Src.Port(), e.Info.Orig.Dst))
			return true
		}, nil)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func (l *listener) add(s string) {
	l.mu.Lock()
	l.got = append(l.got, s)
	l.mu.Unlock()
}

func (l *listener) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

func (l *listener) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		ok := slices.Contains(l.got, want)
		l.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no event %q; got\n\t%s", want, strings.Join(l.take(), "\n\t"))
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b)) && len(a) == len(b)
}
