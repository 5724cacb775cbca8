package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/gateway"
)

// Issue 11, items 3 and 4: "ftpalg status" and reload on SIGHUP, with
// vsftpd behind the DNAT gateway and a control connection driven by the
// test.

// ftpalgStatus runs "ftpalg status -config FILE [args]" in the daemon's
// namespace, as an administrator would.
func ftpalgStatus(t *testing.T, d *Daemon, args ...string) string {
	t.Helper()
	out, err := d.ns.Run(append([]string{ftpalgBinary(t), "status", "-config", d.ConfigPath}, args...)...)
	if err != nil {
		t.Fatalf("ftpalg status %v: %v\n%s", args, err, out)
	}
	return out
}

// TestStatus: between the 227 and the RETR, "ftpalg status" shows the
// session (both NAT views, its state, its rewrite) and its pinhole with
// the time left; -json parses and says the same.
func TestStatus(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	srv := startVsftpd(t, g.Server, serverPriv, serverOpts{})
	d := startDaemon(t, g.GW, gatewayConfig())
	if fi, err := os.Stat(d.Cfg.StatusSocket); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("status socket %s: %v %v, want a socket with mode 0600", d.Cfg.StatusSocket, fi, err)
	}
	c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
	ds, err := c.Prepare(PASV)
	if err != nil {
		t.Fatal(err)
	}
	client, public := c.ControlLocal(), netip.AddrPortFrom(g.Dial, 21)
	serverReal := netip.AddrPortFrom(g.ServerAddr, 21)

	text := ftpalgStatus(t, d)
	t.Logf("ftpalg status:\n%s", text)
	for _, want := range []string{
		"1 session, 1 pinhole",
		client.String() + " -> " + public.String(),     // the client's view (orig)
		serverReal.String() + " -> " + client.String(), // the server's view (reply)
		"greeted",
		g.ClientAddr.String() + "  ", // pinhole from
		"dnat " + ds.announced.String() + " -> " + g.ServerAddr.String() + ":", // the announced endpoint, sent to the server
	} {
		if !strings.Contains(text, want) {
			t.Errorf("ftpalg status lacks %q", want)
		}
	}

	js := ftpalgStatus(t, d, "-json")
	var r gateway.StatusReply
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("ftpalg status -json does not parse: %v\n%s", err, js)
	}
	if len(r.Sessions) != 1 {
		t.Fatalf("-json: %d sessions, want 1:\n%s", len(r.Sessions), js)
	}
	s := r.Sessions[0]
	if s.Client != client || s.Server != serverReal || !s.NATKnown || s.Orig.Dst != public || s.Reply.Src != serverReal || s.Reply.Dst != client {
		t.Errorf("-json session %+v: want client %v, server %v, orig to %v", s, client, serverReal, public)
	}
	if strings.Join(s.State, ",") != "greeted" || s.Rewrites != 1 || s.TLS != "block" {
		t.Errorf("-json session state %v rewrites %d tls %s; want greeted, 1, block", s.State, s.Rewrites, s.TLS)
	}
	if len(s.Pinholes) != 1 {
		t.Fatalf("-json pinholes %+v, want 1", s.Pinholes)
	}
	p := s.Pinholes[0]
	if p.Src != g.ClientAddr || p.Dst.Addr() != g.ServerAddr || p.Mapping == nil || p.Mapping.Dst != ds.announced || p.Mapping.ToDst != p.Dst ||
		p.RemainingSeconds <= 20 || p.RemainingSeconds > 30 || p.Attached {
		t.Errorf("-json pinhole %+v (mapping %+v): want %v -> %v, dnat to %v, 20-30 s left, not in use", p, p.Mapping, g.ClientAddr, ds.announced, g.ServerAddr)
	}
	if r.Totals.Sessions != 1 || r.Totals.Pinholes != 1 || len(r.Queues) != 1 || r.Queues[0].Received == 0 || r.Queues[0].Sessions != 1 {
		t.Errorf("-json totals %+v queues %+v", r.Totals, r.Queues)
	}

	// The transfer goes through; the pinhole is gone afterwards.
	var got []byte
	if err := c.Transfer(ds, "RETR "+smallPath, func(conn net.Conn) error {
		var err error
		got, err = io.ReadAll(conn)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, srv.Files[smallPath]) {
		t.Fatalf("RETR: got %d bytes, want %d", len(got), len(srv.Files[smallPath]))
	}
	if !eventually(3*time.Second, func() bool {
		return strings.Contains(ftpalgStatus(t, d), "1 session, 0 pinholes")
	}) {
		t.Errorf("after the transfer:\n%s", ftpalgStatus(t, d))
	}

	// Not root: refused.
	out, err := d.ns.Run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ftpalgBinary(t), "status", "-config", d.ConfigPath)
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("ftpalg status as uid 65534: %v\n%s", err, out)
	}
	noDaemonErrors(t, d)
	d.StopClean(t)
	if _, err := os.Lstat(d.Cfg.StatusSocket); !os.IsNotExist(err) {
		t.Errorf("status socket left after a clean stop: %v", err)
	}
}

// TestReload: a SIGHUP that raises policy.min_data_port above the
// server's passive range applies to the next PASV of a session already
// running (refused, reason low-port) while the session goes on; a file
// that fails validation, and one that changes the table name, are refused
// with the key and keep the config in force; the daemon keeps working.
func TestReload(t *testing.T) {
	g := labDNAT(t, adminFtpalg)
	srv := startVsftpd(t, g.Server, serverPriv, serverOpts{}) // passive ports 30000-30999
	cfg := gatewayConfig()
	d := startDaemon(t, g.GW, cfg)
	c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
	if got, err := c.Retr(PASV, smallPath); err != nil || !bytes.Equal(got, srv.Files[smallPath]) {
		t.Fatalf("RETR before reload: %v (%d bytes)", err, len(got))
	}

	write := func(yaml string) {
		t.Helper()
		if err := os.WriteFile(d.ConfigPath, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hup := func() int {
		t.Helper()
		mark := d.Mark()
		if err := d.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		return mark
	}

	// 1. Raise min_data_port above the passive range.
	raised := d.Cfg
	raised.MinDataPort = 31000
	write(raised.YAML())
	mark := hup()
	expectLogged(t, d, mark, 5*time.Second, "reloaded", msg("reloaded", "min_data_port", "31000"))
	mark = d.Mark()
	code, text, err := c.Cmd("PASV")
	if err != nil {
		t.Fatal(err)
	}
	if code != 425 {
		t.Fatalf("PASV after the reload: %d %s, want the refused 227 as 425", code, text)
	}
	expectLogged(t, d, mark, 3*time.Second, "refuse reason=low-port", msg("refuse", "reason", "low-port"))
	if _, err := c.Expect("NOOP", 200); err != nil {
		t.Fatalf("the session did not go on after the refusal: %v", err)
	}
	if st := ftpalgStatus(t, d); !strings.Contains(st, "1 session, 0 pinholes") {
		t.Errorf("status after the refusal:\n%s", st)
	}

	// 2. A file that fails validation: refused with its key, nothing changes.
	invalid := strings.Replace(raised.YAML(), "max_pinholes: 4", "max_pinholes: 0", 1)
	if invalid == raised.YAML() {
		t.Fatal("test bug: no max_pinholes in the config")
	}
	write(invalid)
	mark = hup()
	e := expectLogged(t, d, mark, 5*time.Second, "reload refused (invalid)", msg("reload refused: the config is not valid; the old one stays"))
	if e.Field("key") != "policy.max_pinholes" || !strings.Contains(e.Field("err"), "max pinholes 0") {
		t.Errorf("invalid file: logged key %q err %q, want policy.max_pinholes", e.Field("key"), e.Field("err"))
	}

	// 3. A change of the table name (with a live change beside it): refused.
	renamed := raised
	renamed.Table = "ftpalg2"
	renamed.MinDataPort = 1024
	write(renamed.YAML())
	mark = hup()
	e = expectLogged(t, d, mark, 5*time.Second, "reload refused (table)", msg("reload refused; the old config stays"))
	if e.Field("key") != "table" || !strings.Contains(e.Field("err"), "cannot change while ftpalg runs") {
		t.Errorf("table change: logged key %q err %q, want table", e.Field("key"), e.Field("err"))
	}
	if n := len(d.Since(mark)); d.Count(msg("reloaded")) != 1 {
		t.Errorf("a refused reload was applied (%d entries since)", n)
	}
	if !tableExists(g.GW, cfg.Table) || tableExists(g.GW, "ftpalg2") {
		t.Error("the table changed after a refused reload")
	}

	// The config in force is still the raised one: PASV still refused.
	mark = d.Mark()
	if code, text, err := c.Cmd("PASV"); err != nil || code != 425 {
		t.Fatalf("PASV after the refused reloads: %d %s %v, want 425", code, text, err)
	}
	expectLogged(t, d, mark, 3*time.Second, "refuse reason=low-port", msg("refuse", "reason", "low-port"))

	// 4. Back to 1024: the same session transfers again.
	write(d.Cfg.YAML())
	mark = hup()
	expectLogged(t, d, mark, 5*time.Second, "reloaded", msg("reloaded", "min_data_port", "1024"))
	if got, err := c.Retr(PASV, smallPath); err != nil || !bytes.Equal(got, srv.Files[smallPath]) {
		t.Fatalf("RETR after reloading 1024: %v (%d bytes)", err, len(got))
	}
	if _, err := c.Expect("NOOP", 200); err != nil {
		t.Fatal(err)
	}

	// 5. A new control port: the table is rebuilt with its pins, so a
	// pinhole announced before the reload still admits its transfer.
	ds, err := c.Prepare(PASV)
	if err != nil {
		t.Fatal(err)
	}
	more := d.Cfg
	more.ControlPorts = "[21, {port: 2121, tls: allow}]"
	write(more.YAML())
	mark = hup()
	expectLogged(t, d, mark, 5*time.Second, "reloaded with port 2121", msg("reloaded", "control_ports_changed", "true", "tls", "2121:allow"))
	if out, err := g.GW.Run("nft", "list", "set", "inet", cfg.Table, "ctlports"); err != nil || !strings.Contains(out, "2121") {
		t.Fatalf("ctlports after the reload: %v\n%s", err, out)
	}
	var got []byte
	if err := c.Transfer(ds, "RETR "+smallPath, func(conn net.Conn) error {
		var err error
		got, err = io.ReadAll(conn)
		return err
	}); err != nil || !bytes.Equal(got, srv.Files[smallPath]) {
		t.Fatalf("RETR over the pinhole opened before the rebuild: %v (%d bytes)", err, len(got))
	}
	if n := d.Count(msg("session start")); n != 1 {
		t.Errorf("%d sessions started, want the one", n)
	}
	noDaemonErrorsExcept(t, d, "reload refused")
	d.StopClean(t)
}

// noDaemonErrorsExcept is noDaemonErrors, but errors whose message starts
// with prefix are expected.
func noDaemonErrorsExcept(t testing.TB, d *Daemon, prefix string) {
	t.Helper()
	if d.Exited() {
		t.Errorf("ftpalg exited during the test; output:\n%s", tail(d.Output(), 30))
	}
	for _, e := range d.Errors() {
		if !strings.HasPrefix(e.Msg, prefix) {
			t.Errorf("ftpalg logged an error: %s", e.Raw)
		}
	}
}
