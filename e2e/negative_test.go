package e2e

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Case 5: what must stay closed.

// failingTransfers runs transfers that must fail because no data
// connection can get through, while the control channel keeps working.
func failingTransfers(t *testing.T, client *Netns, local, dial netip.Addr, srv *FTPServer) {
	t.Helper()
	c := dialGo(t, client, local, netip.AddrPortFrom(dial, 21))
	c.AnyPasvAddr = true // nothing rewrites the 227 here
	c.DataTO = 4 * time.Second
	c.ConnectTO = 2 * time.Second
	for _, mode := range allModes {
		start := time.Now()
		_, err := c.Retr(mode, smallPath)
		if err == nil {
			t.Errorf("%s download succeeded; the data connection must be blocked", mode)
			continue
		}
		t.Logf("%s download failed as expected after %v: %v", mode, time.Since(start).Round(time.Millisecond), err)
		// Recover the control channel for the next mode: a failed
		// transfer leaves vsftpd's 425 (or nothing, if the client gave
		// up first) to read.
		c.Timeout = 6 * time.Second
		code, _, err := c.Cmd("NOOP")
		for err == nil && code != 200 {
			code, _, err = c.Reply()
		}
		if err != nil {
			t.Fatalf("control channel after failed %s: %v", mode, err)
		}
		c.Timeout = 10 * time.Second
	}
	// The control channel itself works throughout.
	if err := c.Quit(); err != nil {
		t.Errorf("control channel: %v", err)
	}
	// A stock client too, quickly.
	if err := cliTransfer(t, Curl, client, dial, EPSV, false, smallPath, nil); err == nil {
		t.Errorf("curl EPSV download succeeded; the data connection must be blocked")
	}
}

// TestClosedWithoutDaemon is case 5a: the lab's rulesets are really closed.
// Without ftpalg (never started, or killed with its queue left in place,
// which fail_open bypasses) the control channel works but no transfer does.
func TestClosedWithoutDaemon(t *testing.T) {
	t.Run("gateway-never-started", func(t *testing.T) {
		t.Parallel()
		g := labDNAT(t, adminFtpalg)
		srv := startVsftpd(t, g.Server, serverPriv, serverOpts{})
		failingTransfers(t, g.Client, g.ClientAddr, g.Dial, srv)
	})
	t.Run("gateway-killed", func(t *testing.T) {
		t.Parallel()
		g := labDNAT(t, adminFtpalg)
		srv := startVsftpd(t, g.Server, serverPriv, serverOpts{})
		d := startDaemon(t, g.GW, gatewayConfig())
		if err := d.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		d.Wait(5 * time.Second)
		if !tableExists(g.GW, d.Cfg.Table) {
			t.Fatalf("table inet %s gone after kill -9; this case needs its queue rule in place", d.Cfg.Table)
		}
		failingTransfers(t, g.Client, g.ClientAddr, g.Dial, srv)
	})
	t.Run("host-never-started", func(t *testing.T) {
		t.Parallel()
		h := labHost(t, true)
		srv := startVsftpd(t, h.Server, h.ServerAddr, serverOpts{})
		failingTransfers(t, h.Client, h.ClientAddr, h.ServerAddr, srv)
	})
}

// TestPinholeIsNarrow is case 5b: while client A's pinhole is open (A has
// read the 227 and not yet connected), nobody else gets in: not another
// client address to the announced endpoint or to the real one, not A to
// the neighbouring port. Then A's own connection works.
func TestPinholeIsNarrow(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	srv := startVsftpd(t, g.Server, serverPriv, serverOpts{})
	d := startDaemon(t, g.GW, gatewayConfig())
	_ = srv

	a := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
	setup, err := a.Prepare(PASV)
	if err != nil {
		t.Fatal(err)
	}
	announced := setup.announced
	port := strconv.Itoa(int(announced.Port()))
	// Wait until the pinhole is in the set (ftpalg may still be
	// committing its batch when the 227 arrives).
	var pins []NftElem
	if !eventually(2*time.Second, func() bool {
		sets := requireSets(t, g.GW, d.Cfg.Table, "pin4", "dnat4")
		pins = sets["pin4"]
		return len(findElem(pins, g.ClientAddr.String())) > 0
	}) {
		t.Fatalf("no pin4 element for client %v after its 227 (%v); pin4: %v", g.ClientAddr, announced, pins)
	}
	// Where the data connection really goes: the DNAT map's value.
	real := netip.AddrPortFrom(g.ServerAddr, announced.Port())
	sets := requireSets(t, g.GW, d.Cfg.Table, "dnat4")
	for _, e := range findElem(sets["dnat4"], g.ClientAddr.String(), port) {
		if len(e.Value) == 2 {
			if ip, err := netip.ParseAddr(e.Value[0]); err == nil {
				if p, err := strconv.Atoi(e.Value[1]); err == nil {
					real = netip.AddrPortFrom(ip, uint16(p))
				}
			}
		}
	}
	t.Logf("A=%v announced %v, real endpoint %v", g.ClientAddr, announced, real)

	// A listener on the real server's neighbouring port shows whether
	// anything got through to it.
	next := netip.AddrPortFrom(real.Addr(), real.Port()+1)
	ln, err := g.Server.Listen(next)
	if err != nil {
		t.Fatalf("listen on %v: %v", next, err)
	}
	defer ln.Close()
	leaked := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			leaked <- c.RemoteAddr().String()
			c.Close()
		}
	}()

	to := 1500 * time.Millisecond
	expectNoConnect(t, g.Client, g.ClientAddr2, announced, to, "second client to the announced endpoint")
	expectNoConnect(t, g.Client, g.ClientAddr2, real, to, "second client to the real endpoint")
	expectNoConnect(t, g.Client, g.ClientAddr, netip.AddrPortFrom(announced.Addr(), announced.Port()+1), to, "client A to announced port+1")
	expectNoConnect(t, g.Client, g.ClientAddr, next, to, "client A to the real endpoint's port+1")
	select {
	case from := <-leaked:
		t.Errorf("a connection from %s reached %v", from, next)
	default:
	}
	// The failed attempts must not have used up A's pinhole.
	if got := findElem(requireSets(t, g.GW, d.Cfg.Table, "pin4")["pin4"], g.ClientAddr.String()); len(got) == 0 {
		t.Errorf("client A's pinhole is gone after the other attempts")
	}

	// Now A connects as announced and the transfer works.
	small, _ := testFiles()
	var got []byte
	err = a.Transfer(setup, "RETR "+smallPath, func(c net.Conn) error {
		var err error
		got, err = io.ReadAll(c)
		return err
	})
	if err != nil {
		t.Fatalf("client A's own transfer: %v", err)
	}
	if string(got) != string(small) {
		t.Fatalf("client A's download: got %d bytes (sha256 %s), want %d (sha256 %s)", len(got), digest(got), len(small), digest(small))
	}
	if err := a.Quit(); err != nil {
		t.Fatal(err)
	}
	expectNothingLeft(t, g.GW, d.Cfg.Table, 3*time.Second, "after QUIT")
	noDaemonErrors(t, d)
}

// TestPinholeExpires is case 5c: an announced but unused pinhole is gone
// after its timeout (2s here), from the set and from the log's view.
func TestPinholeExpires(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	startVsftpd(t, g.Server, serverPriv, serverOpts{})
	cfg := gatewayConfig()
	cfg.Timeout = "2s"
	d := startDaemon(t, g.GW, cfg)

	a := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
	mark := d.Mark()
	setup, err := a.Prepare(PASV)
	if err != nil {
		t.Fatal(err)
	}
	announcedAt := time.Now()
	var elem []NftElem
	if !eventually(time.Second, func() bool {
		elem = findElem(requireSets(t, g.GW, cfg.Table, "pin4")["pin4"], g.ClientAddr.String())
		return len(elem) > 0
	}) {
		t.Fatalf("no pin4 element for %v after the 227", g.ClientAddr)
	}
	t.Logf("pinhole: %v", elem[0])
	if !elem[0].HasTimeout || elem[0].Timeout > 2.5 {
		t.Errorf("pin4 element %v: want a timeout of 2s", elem[0])
	}
	open := expectLogged(t, d, mark, time.Second, `"pinhole open"`, msg("pinhole open"))

	// Gone from the kernel after the timeout...
	if !eventually(5*time.Second, func() bool {
		return len(findElem(requireSets(t, g.GW, cfg.Table, "pin4")["pin4"], g.ClientAddr.String())) == 0
	}) {
		t.Fatalf("pin4 element for %v still there 5s after a 2s timeout", g.ClientAddr)
	}
	if gone := time.Since(announcedAt); gone < 1500*time.Millisecond {
		t.Errorf("pinhole disappeared after %v, before its 2s timeout", gone)
	}
	// ...and ftpalg knows it.
	closeMatch := msg("pinhole close", "reason", "expired")
	if id := open.Field("id"); id != "" {
		closeMatch = msg("pinhole close", "reason", "expired", "id", id)
	}
	expectLogged(t, d, mark, 3*time.Second, `"pinhole close" with reason expired`, closeMatch)
	expectNothingLeft(t, g.GW, cfg.Table, 3*time.Second, "after the pinhole expired")

	// The announced endpoint is closed now.
	expectNoConnect(t, g.Client, g.ClientAddr, setup.announced, 1500*time.Millisecond, "client A after expiry")
	noDaemonErrors(t, d)
}

// TestNothingLeftAfterSession is case 5d: after each transfer, and after
// QUIT, nothing of the session is left in ftpalg's sets and maps.
func TestNothingLeftAfterSession(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	startVsftpd(t, g.Server, serverPriv, serverOpts{})
	d := startDaemon(t, g.GW, gatewayConfig())
	small, _ := testFiles()
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
			got, err := c.Retr(mode, smallPath)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(small) {
				t.Fatalf("download: %d bytes, want %d", len(got), len(small))
			}
			expectNothingLeft(t, g.GW, d.Cfg.Table, 2*time.Second, fmt.Sprintf("after the %s transfer (session still open)", mode))
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
			expectNothingLeft(t, g.GW, d.Cfg.Table, 2*time.Second, "after QUIT")
		})
	}
	// An announcement never used, then QUIT: withdrawn with the session.
	t.Run("unused-then-QUIT", func(t *testing.T) {
		c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
		mark := d.Mark()
		if _, err := c.Prepare(PASV); err != nil {
			t.Fatal(err)
		}
		expectLogged(t, d, mark, 2*time.Second, `"pinhole open"`, msg("pinhole open"))
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
		expectNothingLeft(t, g.GW, d.Cfg.Table, 2*time.Second, "after QUIT with an unused pinhole")
		expectLogged(t, d, mark, 2*time.Second, `"pinhole close"`, msg("pinhole close"))
	})
	noDaemonErrors(t, d)
}
