package ctnetlink

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/internal/netnstest"
)

// TestKernel runs the queries, the update and the event listener against
// the kernel's conntrack table in a throwaway namespace, with a real TCP
// connection that is DNATed, so that the original and reply tuples differ.
func TestKernel(t *testing.T) {
	netnstest.Require(t, "nft")
	ns := netnstest.New(t, "ftc")
	ns.Run("ip", "addr", "add", "10.0.0.2/32", "dev", "lo")
	ns.Run("ip", "addr", "add", "203.0.113.1/32", "dev", "lo")
	// Conntrack runs only where a ruleset uses it; the DNAT makes the
	// tuples differ: 203.0.113.1:2121 is served by 10.0.0.2:2100.
	ns.Run("nft", "add table ip t; "+
		"add chain ip t out { type nat hook output priority -100; }; "+
		"add rule ip t out ip daddr 203.0.113.1 tcp dport 2121 dnat to 10.0.0.2:2100; "+
		"add chain ip t f { type filter hook output priority 0; }; "+
		"add rule ip t f ct state new ct mark set 0x2001 counter accept")

	events := make(chan Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stats ListenStats
	listenDone := make(chan struct{})
	sub, err := Subscribe(ns.FD(), nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(listenDone)
		sub.Run(ctx, &stats, func(e Event) bool {
			select {
			case events <- e:
			default:
			}
			return true
		}, nil)
	}()

	var ln net.Listener
	var cl net.Conn
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "10.0.0.2:2100")
		if err != nil {
			return err
		}
		cl, err = net.DialTimeout("tcp4", "203.0.113.1:2121", 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	client := cl.LocalAddr().(*net.TCPAddr).AddrPort()
	flow := conntrack.Flow{Client: client, Server: netip.MustParseAddrPort("10.0.0.2:2100")}

	c, err := Dial(ns.FD())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The original tuple is addressed to the public endpoint, the reply
	// comes from the private one.
	info, err := c.Get(conntrack.Tuple{Src: client, Dst: netip.MustParseAddrPort("203.0.113.1:2121")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if info.Flow() != flow || info.Reply.Src != flow.Server || info.Orig.Dst.Port() != 2121 {
		t.Fatalf("get: %+v, want flow %v", info, flow)
	}
	// Resolve knows only the flow as the filter sees it.
	got, err := c.Resolve(flow)
	if err != nil {
		t.Fatal(err)
	}
	if got.Orig != info.Orig || got.Reply != info.Reply {
		t.Fatalf("resolve: %+v, want %+v", got, info)
	}
	if _, err := c.Resolve(conntrack.Flow{Client: netip.MustParseAddrPort("10.9.9.9:1"), Server: flow.Server}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("resolve of a missing flow: %v", err)
	}

	if got.Liberal() {
		t.Fatal("entry is liberal before SetLiberal")
	}
	if err := c.SetLiberal(got.Orig); err != nil {
		t.Fatal(err)
	}
	after, err := c.Get(got.Orig, false)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Liberal() {
		t.Fatalf("flags after SetLiberal: %x", after.TCPFlags)
	}
	// SetResized: be_liberal again (idempotent) and the resized bit OR-ed
	// into the mark; the bits the ruleset set (0x2001) stay.
	if got.Mark != 0x2001 {
		t.Fatalf("mark %#x before SetResized, want the ruleset's 0x2001", got.Mark)
	}
	if err := c.SetResized(got.Orig, 0x4000); err != nil {
		t.Fatal(err)
	}
	after, err = c.Get(got.Orig, false)
	if err != nil {
		t.Fatal(err)
	}
	if after.Mark != 0x6001 || !after.Liberal() {
		t.Fatalf("after SetResized: mark %#x liberal %v, want 0x6001 and true", after.Mark, after.Liberal())
	}
	if err := c.SetResized(got.Orig, 0x4000); err != nil { // again: no change
		t.Fatal(err)
	}
	if after, _ = c.Get(got.Orig, false); after.Mark != 0x6001 {
		t.Fatalf("after a second SetResized: mark %#x", after.Mark)
	}
	missing := conntrack.Tuple{Src: netip.MustParseAddrPort("10.9.9.9:1"), Dst: netip.MustParseAddrPort("10.9.9.8:21")}
	if err := c.SetResized(missing, 0x4000); err == nil {
		t.Fatal("SetResized of a missing entry succeeded")
	}
	// The connection still works and is still established.
	if _, err := cl.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	srv.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := srv.Read(buf); err != nil {
		t.Fatal(err)
	}

	// Events: NEW for the connection, DESTROY after it is deleted.
	waitEvent(t, events, EventNew, flow)
	ns.Run("conntrack", "-D", "-p", "tcp", "--orig-port-dst", "2121")
	waitEvent(t, events, EventDestroy, flow)
	cl.Close()
	srv.Close()

	cancel()
	select {
	case <-listenDone:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func waitEvent(t *testing.T, events <-chan Event, typ EventType, flow conntrack.Flow) {
	t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Type == typ && e.Info.Flow() == flow {
				return
			}
		case <-deadline:
			t.Fatalf("no %v event for %v", typ, flow)
		}
	}
}
