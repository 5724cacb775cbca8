package e2e

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// How real servers answer ftpalg's same-length refusals (issue 10).
//
// A refusal keeps the line's length: a refused PORT/EPRT argument, or a
// blocked AUTH argument, of n bytes becomes the first n bytes of
// "refused-by-ftpalg-refused-by-ftpalg-...". The server then gets a
// command it must reject, and the session's byte counts never change.
// TestServerRefusals sends those lines straight to each server (no ftpalg
// in the path) and requires a 4xx/5xx rejection, never 200 (PORT/EPRT
// accepted) nor 234 (AUTH accepted). FTPALG_REFUSALS_MD=path writes the
// observed answers as markdown (REFUSALS.md at the repository root).

const refusalUnit = "refused-by-ftpalg-"

// refusalText is the first n bytes of the repeated refusal unit.
func refusalText(n int) string {
	return strings.Repeat(refusalUnit, n/len(refusalUnit)+1)[:n]
}

func TestRefusalText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"AUTH TLS", "AUTH ref"},
		{"AUTH TLS-C", "AUTH refus"},
		{"PORT 198,51,100,7,200,10", "PORT refused-by-ftpalg-r"},
	} {
		verb, arg, _ := strings.Cut(c.in, " ")
		if got := verb + " " + refusalText(len(arg)); got != c.want {
			t.Errorf("%q -> %q, want %q", c.in, got, c.want)
		}
	}
	if got := refusalText(40); got != "refused-by-ftpalg-refused-by-ftpalg-refu" {
		t.Errorf("refusalText(40) = %q", got)
	}
}

// refusalAnswer is one command sent and the server's answer.
type refusalAnswer struct {
	Server string
	Verb   string // PORT, EPRT, AUTH
	N      int    // argument length
	Line   string // the command sent
	// Control marks the genuine AUTH TLS sent to the TLS-capable
	// variants: it must be accepted (234), which shows that there a
	// refused AUTH is really told apart from an accepted one.
	Control bool
	Code    int
	Reply   string // the reply as received (lines joined with " | ")
	After   string // what the next command got (NOOP or USER): is the session still usable?
}

// refusalServer starts one server kind in ns, listening on addr.
type refusalServer struct {
	name  string
	start func(t *testing.T, ns *Netns, addr netip.Addr) *FTPServer
	// authOnly: only the AUTH lines (the TLS-capable variants).
	authOnly bool
}

func refusalServers() []refusalServer {
	plain := func(f func(testing.TB, *Netns, netip.Addr, serverOpts) *FTPServer) func(*testing.T, *Netns, netip.Addr) *FTPServer {
		return func(t *testing.T, ns *Netns, a netip.Addr) *FTPServer { return f(t, ns, a, serverOpts{}) }
	}
	return []refusalServer{
		{name: "vsftpd", start: plain(startVsftpd)},
		{name: "proftpd", start: plain(startProftpd)},
		{name: "pure-ftpd", start: plain(func(t testing.TB, ns *Netns, a netip.Addr, o serverOpts) *FTPServer {
			return startPureftpd(t, ns, a, o)
		})},
		{name: "pyftpdlib", start: plain(startPyftpdlib)},
		// The same servers with TLS on: there AUTH TLS is accepted (234),
		// so a refused AUTH argument really has to be told apart.
		{name: "vsftpd-tls", authOnly: true, start: func(t *testing.T, ns *Netns, a netip.Addr) *FTPServer {
			return startVsftpdTLS(t, ns, a, ftpsOpts{})
		}},
		{name: "proftpd-tls", authOnly: true, start: func(t *testing.T, ns *Netns, a netip.Addr) *FTPServer {
			return startProftpdTLS(t, ns, a, ftpsOpts{})
		}},
		{name: "pure-ftpd-tls", authOnly: true, start: func(t *testing.T, ns *Netns, a netip.Addr) *FTPServer {
			dir, err := os.MkdirTemp(ns.lab.dir, "pure-ftpd-cert-")
			if err != nil {
				t.Fatal(err)
			}
			cert, key := writeTestCert(t, dir)
			return startPureftpd(t, ns, a, serverOpts{}, "-Y", "1", "-2", cert+","+key)
		}},
	}
}

// The AUTH arguments in use (RFC 4217 and older drafts) and their lengths.
var authArgs = []string{"TLS", "SSL", "TLS-C", "TLS-P"}

func TestServerRefusals(t *testing.T) {
	l := newLab(t)
	c, s := l.NS("c"), l.NS("s")
	l.Link(c, "eth0", s, "eth0")
	c.Addr(t, "eth0", "198.51.100.10/24")
	s.Addr(t, "eth0", "198.51.100.20/24")

	var all []refusalAnswer
	for _, rs := range refusalServers() {
		t.Run(rs.name, func(t *testing.T) {
			srv := rs.start(t, s, serverPub20)
			ans := probeRefusals(t, c, srv.Addr, rs.name, rs.authOnly)
			for _, a := range ans {
				t.Logf("%-13s %-55q -> %s   (then %s)", a.Server, a.Line, a.Reply, a.After)
				switch {
				case a.Control:
					if a.Code != 234 {
						t.Errorf("%s: control %q: %s, want 234 (is TLS on?)", a.Server, a.Line, a.Reply)
					}
				case a.Code == 0:
					t.Errorf("%s: %q: no reply: %s", a.Server, a.Line, a.Reply)
				case a.Code == 200 || a.Code == 234 || a.Code/100 < 4:
					t.Errorf("%s accepted the refusal %q: %s", a.Server, a.Line, a.Reply)
				}
			}
			all = append(all, ans...)
			srv.Proc.Stop(2 * time.Second)
		})
	}
	md := refusalsMarkdown(all)
	t.Logf("summary:\n%s", md)
	if p := os.Getenv("FTPALG_REFUSALS_MD"); p != "" {
		if err := os.WriteFile(p, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// probeRefusals sends the refusal lines to one server: PORT with n 11..40,
// EPRT with n 13..50 (after logging in), and AUTH with the lengths of
// authArgs (before logging in, as clients send it), each followed by a
// NOOP or USER to see whether the session goes on.
func probeRefusals(t *testing.T, ns *Netns, server netip.AddrPort, name string, authOnly bool) []refusalAnswer {
	t.Helper()
	var out []refusalAnswer
	var c *FTPClient
	dial := func() {
		var err error
		if c, err = DialFTP(ns, netip.Addr{}, server); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ns.lab.AddDiag(name+" refusal transcript", c.Transcript)
	}
	send := func(verb string, n int, line string, after func(*FTPClient) string) {
		a := refusalAnswer{Server: name, Verb: verb, N: n, Line: line}
		code, text, err := c.Cmd(line)
		a.Code, a.Reply = code, fmt.Sprintf("%d %s", code, strings.ReplaceAll(text, "\n", " | "))
		if err != nil {
			a.Code, a.Reply = 0, "error: "+err.Error()
		}
		if err == nil {
			a.After = after(c)
		}
		out = append(out, a)
		if err != nil || !strings.HasPrefix(a.After, "2") && !strings.HasPrefix(a.After, "3") {
			// The server closed or broke the session: go on with a new one.
			c.Close()
			c = nil
		}
	}
	noop := func(c *FTPClient) string {
		code, text, err := c.Cmd("NOOP")
		if err != nil {
			return "NOOP: " + err.Error()
		}
		return fmt.Sprintf("%d %s", code, strings.SplitN(text, "\n", 2)[0])
	}
	if !authOnly {
		for _, verb := range []string{"PORT", "EPRT"} {
			lo, hi := 11, 40
			if verb == "EPRT" {
				lo, hi = 13, 50
			}
			for n := lo; n <= hi; n++ {
				if c == nil {
					dial()
				}
				send(verb, n, verb+" "+refusalText(n), noop)
			}
		}
		if c != nil {
			c.Quit()
		}
	}
	// AUTH before USER, each on a fresh control connection; on the TLS
	// variants a genuine AUTH TLS first, as the control.
	seen := map[int]bool{}
	lines := []string{}
	if authOnly {
		lines = append(lines, "AUTH TLS")
	}
	for _, arg := range authArgs {
		if n := len(arg); !seen[n] {
			seen[n] = true
			lines = append(lines, "AUTH "+refusalText(n))
		}
	}
	for i, line := range lines {
		control := authOnly && i == 0
		n := len(line) - len("AUTH ")
		conn, err := ns.Dial(netip.Addr{}, server, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c = &FTPClient{ns: ns, conn: conn, Timeout: 10 * time.Second}
		c.r = bufio.NewReader(conn)
		if code, text, err := c.Reply(); err != nil || code != 220 {
			t.Fatalf("%s: greeting %d %q: %v", name, code, text, err)
		}
		ns.lab.AddDiag(fmt.Sprintf("%s AUTH %d transcript", name, n), c.Transcript)
		if control {
			code, text, err := c.Cmd(line)
			a := refusalAnswer{Server: name, Verb: "AUTH", N: n, Line: line, Control: true, Code: code,
				Reply: fmt.Sprintf("%d %s", code, text), After: controlAfter}
			if err != nil {
				a.Code, a.Reply = 0, "error: "+err.Error()
			}
			out = append(out, a)
			c.Close()
			c = nil
			continue
		}
		send("AUTH", n, line, func(c *FTPClient) string {
			code, text, err := c.Cmd("USER anonymous")
			if err != nil {
				return "USER: " + err.Error()
			}
			return fmt.Sprintf("%d %s", code, strings.SplitN(text, "\n", 2)[0])
		})
		if c != nil {
			c.Close()
			c = nil
		}
	}
	return out
}

const controlAfter = "(control: TLS handshake expected, not continued)"

// refusalsMarkdown groups the answers by server and command: each
// distinct reply with the argument lengths that got it.
func refusalsMarkdown(all []refusalAnswer) string {
	type key struct{ server, verb, reply, after string }
	groups := map[key][]int{}
	var order []key
	for _, a := range all {
		k := key{a.Server, a.Verb, a.Reply, a.After}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], a.N)
	}
	var b strings.Builder
	b.WriteString("| server | command | argument lengths | reply | next command got |\n|---|---|---|---|---|\n")
	for _, k := range order {
		ns := groups[k]
		sort.Ints(ns)
		example := k.verb + " " + refusalText(ns[0])
		if k.after == controlAfter {
			example = "AUTH TLS"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | `%s` | `%s` |\n", k.server, example, ranges(ns), k.reply, k.after)
	}
	return b.String()
}

// ranges writes sorted numbers as "11-40" or "3, 5".
func ranges(ns []int) string {
	var parts []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ns[i], ns[j]))
		} else {
			parts = append(parts, fmt.Sprint(ns[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
