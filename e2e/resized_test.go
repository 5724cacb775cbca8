package e2e

import (
	"errors"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Resized sessions (issue 10): only a control session whose length
// ftpalg changed depends on it for its sequence numbers. Such a session,
// and only such a session, is be_liberal in conntrack and carries the
// resized bit of the ct mark (default 0x4000), which makes the divert
// rules queue all its packets; a later ftpalg resets it.
//
// Both tests use the double-NAT lab: client 10.0.1.2 leaves as
// 198.51.100.100, so its PORT argument grows by 6 bytes, more than a
// shorter public port can absorb (the session is resized); server
// 10.100.100.100 is published as 203.0.113.1, so its 227 address shrinks
// and the free text absorbs it (rewritten, same length, not resized);
// EPSV is never rewritten.

const resizedMark = 0x4000

// TestLiberalOnlyWhenResized: for every control connection in the
// gateway's conntrack table, be_liberal is set exactly when the resized
// bit is, and that is exactly the PORT session; the EPSV and PASV
// sessions have neither.
func TestLiberalOnlyWhenResized(t *testing.T) {
	g := labDoubleNAT(t)
	srv := startVsftpd(t, g.Server, g.ServerAddr, serverOpts{})
	d := startDaemon(t, g.GW, gatewayConfig())
	dial := netip.AddrPortFrom(g.Dial, 21)
	small, _ := testFiles()

	sessions := map[Mode]*FTPClient{}
	for _, mode := range []Mode{EPSV, PASV, PORT} {
		c := dialGo(t, g.Client, g.ClientAddr, dial)
		defer c.Close()
		got, err := c.Retr(mode, smallPath)
		if err != nil || string(got) != string(small) {
			t.Fatalf("%s download: %d bytes, %v", mode, len(got), err)
		}
		if _, err := c.Expect("NOOP", 200); err != nil {
			t.Fatalf("%s session after its transfer: %v", mode, err)
		}
		sessions[mode] = c
	}
	_ = srv
	byPort := map[uint16]Mode{}
	for mode, c := range sessions {
		byPort[c.ControlLocal().Port()] = mode
	}
	ents := controlEntries(t, g.GW, 21)
	seen := map[Mode]bool{}
	for _, e := range ents {
		resized := e.Mark&resizedMark != 0
		if e.Liberal() != resized {
			t.Errorf("control entry %v -> %v: be_liberal %v but resized bit %v (mark %#x)", e.Orig.Src, e.Orig.Dst, e.Liberal(), resized, e.Mark)
		}
		mode, ok := byPort[e.Orig.Src.Port()]
		if !ok {
			continue
		}
		seen[mode] = true
		if want := mode == PORT; resized != want {
			t.Errorf("%s session: resized bit %v (mark %#x), be_liberal %v; want %v", mode, resized, e.Mark, e.Liberal(), want)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("found the conntrack entries of %v among %d control entries, want all three sessions", seen, len(ents))
	}
	if n := d.Count(msg("session resized")); n != 1 {
		t.Errorf("ftpalg logged %d \"session resized\", want 1 (the PORT session)", n)
	}
	if n := d.Count(msg("session resized", "client", sessions[PORT].ControlLocal().String())); n != 1 {
		t.Errorf("no \"session resized\" for the PORT session %v", sessions[PORT].ControlLocal())
	}
	for _, c := range sessions {
		if err := c.Quit(); err != nil {
			t.Errorf("QUIT: %v", err)
		}
	}
	noDaemonErrors(t, d)
	st := stopAndStats(t, d)
	if r, m := st.sum("resized"), st.sum("marked_resized"); r != 1 || m != 1 {
		t.Errorf("exit stats: resized=%d marked_resized=%d, want 1 and 1", r, m)
	}
}

// TestResizedSessionAcrossRestart: ftpalg stops while a resized and an
// unresized session are open. The new ftpalg finds the resized one by
// its ct mark, logs it and resets it at its next packet (its sequence
// offsets died with the old process); the unresized one goes on, and new
// sessions work. When conntrack drops the reset connection, its reset
// elements go too.
func TestResizedSessionAcrossRestart(t *testing.T) {
	g := labDoubleNAT(t)
	startVsftpd(t, g.Server, g.ServerAddr, serverOpts{})
	cfg := gatewayConfig()
	d1 := startDaemon(t, g.GW, cfg)
	dial := netip.AddrPortFrom(g.Dial, 21)
	small, _ := testFiles()

	r := dialGo(t, g.Client, g.ClientAddr, dial) // resized: PORT
	defer r.Close()
	u := dialGo(t, g.Client, g.ClientAddr, dial) // unresized: PASV, rewritten to the same length
	defer u.Close()
	for c, mode := range map[*FTPClient]Mode{r: PORT, u: PASV} {
		if got, err := c.Retr(mode, smallPath); err != nil || string(got) != string(small) {
			t.Fatalf("%s download: %d bytes, %v", mode, len(got), err)
		}
	}
	if _, ok := d1.WaitFor(2*time.Second, msg("session resized", "client", r.ControlLocal().String())); !ok {
		t.Fatal("the PORT session was not resized; the case needs one")
	}
	if n := d1.Count(msg("session resized")); n != 1 {
		t.Fatalf("%d sessions resized, want only the PORT one", n)
	}
	d1.StopClean(t)

	d2 := startDaemon(t, g.GW, cfg)
	e, ok := d2.WaitFor(2*time.Second, msg("resized session from an earlier run: reset"))
	if !ok {
		t.Fatal("the new ftpalg did not report the resized session of the earlier run")
	}
	if e.Field("client") != r.ControlLocal().String() {
		t.Errorf("reset %s, want the resized session %v", e.Field("client"), r.ControlLocal())
	}
	if n := d2.Count(msg("resized session from an earlier run: reset")); n != 1 {
		t.Errorf("%d earlier-run sessions reset, want 1", n)
	}

	// The resized session gets a reset at its next command.
	r.Timeout = 3 * time.Second
	_, _, err := r.Cmd("NOOP")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("NOOP on the earlier run's resized session: %v, want a connection reset", err)
	}
	// The unresized one goes on, picked up mid-stream, and is not
	// resized by the new ftpalg either.
	if _, err := u.Expect("NOOP", 200); err != nil {
		t.Fatalf("unresized session after the restart: %v", err)
	}
	if got, err := u.Retr(PASV, smallPath); err != nil || string(got) != string(small) {
		t.Fatalf("unresized session after the restart: %d bytes, %v", len(got), err)
	}
	xfer{Tool: GoFTP, Mode: PORT}.run(t, g.Client, g.ClientAddr, g.Dial, nil)
	if err := u.Quit(); err != nil {
		t.Errorf("QUIT on the unresized session: %v", err)
	}

	// While the connection's conntrack entry lives, its reset elements
	// stay; when it goes (here deleted at once: the CLOSE state would
	// take 10 s and the kernel's garbage collection more), they go too.
	sets, ok, err := g.GW.NftSets("inet", cfg.Table)
	if err != nil || !ok || len(sets["reset4"]) != 2 {
		t.Fatalf("reset4 before the entry goes: %v (table there %v, err %v), want both directions", sets["reset4"], ok, err)
	}
	port := strconv.Itoa(int(r.ControlLocal().Port()))
	if out, err := g.GW.Run("conntrack", "-D", "-p", "tcp", "--orig-port-src", port, "--orig-port-dst", "21"); err != nil {
		t.Fatalf("conntrack -D: %v: %s", err, out)
	}
	if _, ok := d2.WaitFor(3*time.Second, msg("resized session from an earlier run: gone")); !ok {
		t.Errorf("the reset connection's elements were not removed after its conntrack entry went")
	}
	if !eventually(2*time.Second, func() bool {
		sets, _, _ := g.GW.NftSets("inet", cfg.Table)
		return len(sets["reset4"]) == 0
	}) {
		sets, _, _ := g.GW.NftSets("inet", cfg.Table)
		t.Errorf("reset4 after the entry went: %v, want empty", sets["reset4"])
	}
	noDaemonErrors(t, d2)
	d2.StopClean(t)
}
