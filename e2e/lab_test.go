package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The lab: network namespaces joined by veth pairs, processes started in
// them, and everything torn down in t.Cleanup.

var labSeq atomic.Int32

// Lab owns a set of namespaces and the processes started in them.
type Lab struct {
	t   testing.TB
	id  string // fte-<pid>-<n>
	dir string // scratch files (configs, server roots, logs)
	// diagTail, when set, cuts every diagnostic to its last diagTail
	// lines: a load run's logs and conntrack tables are long.
	diagTail int

	mu    sync.Mutex
	nss   []*Netns
	procs []*Proc
	diags []diag
}

type diag struct {
	title string
	fn    func() string
}

// Netns is one named network namespace (/run/netns/<Name>).
type Netns struct {
	Name string
	Role string
	lab  *Lab
}

func newLab(t testing.TB) *Lab {
	t.Helper()
	needLab(t)
	n := labSeq.Add(1)
	id := fmt.Sprintf("fte-%d-%d", os.Getpid(), n)
	dir, err := os.MkdirTemp(tmpRoot, id+"-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	l := &Lab{t: t, id: id, dir: dir}
	// Cleanups run last-registered first: diagnostics, then teardown.
	t.Cleanup(l.teardown)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("FTPALG_E2E_VERBOSE") != "" {
			l.dumpDiagnostics()
		}
	})
	return l
}

// AddDiag registers a diagnostic printed when the test fails.
func (l *Lab) AddDiag(title string, fn func() string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.diags = append(l.diags, diag{title, fn})
}

func (l *Lab) dumpDiagnostics() {
	l.mu.Lock()
	diags := append([]diag(nil), l.diags...)
	nss := append([]*Netns(nil), l.nss...)
	l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\n======== diagnostics for lab %s ========\n", l.id)
	for _, d := range diags {
		fmt.Fprintf(&b, "---- %s ----\n%s\n", d.title, l.cut(d.fn()))
	}
	for _, ns := range nss {
		for _, c := range [][]string{
			{"ip", "-br", "addr"},
			{"nft", "list", "ruleset"},
			{"conntrack", "-L", "-f", "ipv4"},
			{"conntrack", "-L", "-f", "ipv6"},
			{"conntrack", "-S"},
		} {
			out, err := ns.Run(c...)
			if err != nil {
				out += "\n(" + err.Error() + ")"
			}
			fmt.Fprintf(&b, "---- %s (%s): %s ----\n%s\n", ns.Role, ns.Name, strings.Join(c, " "), l.cut(out))
		}
	}
	l.t.Log(b.String())
}

// cut trims a diagnostic's trailing newlines and, with diagTail, keeps
// only its last lines.
func (l *Lab) cut(s string) string {
	if l.diagTail > 0 {
		return tail(s, l.diagTail)
	}
	return strings.TrimRight(s, "\n")
}

func (l *Lab) teardown() {
	l.mu.Lock()
	procs := append([]*Proc(nil), l.procs...)
	nss := append([]*Netns(nil), l.nss...)
	l.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(2 * time.Second)
	}
	for _, ns := range nss {
		// Whatever is still running in the namespace was started by this
		// lab (a server's session children, say): end it by pid.
		out, _ := exec.Command("ip", "netns", "pids", ns.Name).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			l.t.Logf("teardown: ip netns del %s: %v: %s", ns.Name, err, out)
		}
	}
	if !(l.t.Failed() && os.Getenv("FTPALG_E2E_KEEP") != "") {
		os.RemoveAll(l.dir)
	} else {
		l.t.Logf("kept lab files in %s", l.dir)
	}
}

// NS creates a namespace with loopback up. role is a short tag ("c", "gw").
func (l *Lab) NS(role string) *Netns {
	l.t.Helper()
	name := l.id + "-" + role
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		l.t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &Netns{Name: name, Role: role, lab: l}
	l.mu.Lock()
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	ns.MustRun(l.t, "ip", "link", "set", "lo", "up")
	// No router advertisements or DAD delays inside the lab.
	ns.MustRun(l.t, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0")
	return ns
}

// Link joins a and b with a veth pair named aif (in a) and bif (in b).
func (l *Lab) Link(a *Netns, aif string, b *Netns, bif string) {
	l.t.Helper()
	a.MustRun(l.t, "ip", "link", "add", aif, "type", "veth", "peer", "name", bif, "netns", b.Name)
	a.MustRun(l.t, "ip", "link", "set", aif, "up")
	b.MustRun(l.t, "ip", "link", "set", bif, "up")
}

// Path returns a path inside the lab's scratch directory.
func (l *Lab) Path(name string) string { return filepath.Join(l.dir, name) }

// Run runs a command inside the namespace and returns its combined output.
func (n *Netns) Run(args ...string) (string, error) {
	return n.RunInput(nil, args...)
}

func (n *Netns) RunInput(stdin []byte, args ...string) (string, error) {
	return n.RunTimeout(30*time.Second, stdin, args...)
}

func (n *Netns) RunTimeout(d time.Duration, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
	cmd.WaitDelay = time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%v (timed out after %v)", err, d)
	}
	return string(out), err
}

func (n *Netns) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.Run(args...)
	if err != nil {
		t.Fatalf("[%s] %s: %v\n%s", n.Role, strings.Join(args, " "), err, out)
	}
	return out
}

// Addr adds an address (CIDR) to an interface; IPv6 without DAD.
func (n *Netns) Addr(t testing.TB, ifname, cidr string) {
	t.Helper()
	args := []string{"ip", "addr", "add", cidr, "dev", ifname}
	if strings.Contains(cidr, ":") {
		args = append(args, "nodad")
	}
	n.MustRun(t, args...)
}

// Route adds a route ("default" or a prefix) via a gateway.
func (n *Netns) Route(t testing.TB, dst, via string) {
	t.Helper()
	args := []string{"ip", "route", "add", dst, "via", via}
	if strings.Contains(via, ":") {
		args = []string{"ip", "-6", "route", "add", dst, "via", via}
	}
	n.MustRun(t, args...)
}

func (n *Netns) Sysctl(t testing.TB, kv ...string) {
	t.Helper()
	n.MustRun(t, append([]string{"sysctl", "-qw"}, kv...)...)
}

// Nft loads a ruleset with nft -f.
func (n *Netns) Nft(t testing.TB, ruleset string) {
	t.Helper()
	if out, err := n.RunInput([]byte(ruleset), "nft", "-f", "-"); err != nil {
		t.Fatalf("[%s] nft -f: %v\n%s\nruleset:\n%s", n.Role, err, out, numbered(ruleset))
	}
}

func numbered(s string) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, line)
	}
	return b.String()
}

// Do runs f on an OS thread that has joined the namespace. Sockets created
// inside f stay in the namespace after f returns. f must not start
// goroutines that create sockets.
func (n *Netns) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it is discarded when this
			// goroutine exits, so no other goroutine runs in the
			// wrong namespace.
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Dial opens a TCP connection from inside the namespace. laddr may be the
// zero value.
func (n *Netns) Dial(laddr netip.Addr, raddr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		d := net.Dialer{Timeout: timeout}
		if laddr.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: laddr.AsSlice()}
		}
		var err error
		c, err = d.Dial("tcp", raddr.String())
		return err
	})
	return c, err
}

// Listen opens a TCP listener inside the namespace.
func (n *Netns) Listen(addr netip.AddrPort) (*net.TCPListener, error) {
	var ln net.Listener
	err := n.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// ---- processes ----

// Proc is a process started in a namespace. Its output is kept.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  *lineLog
	done chan struct{}
	err  error
}

// Start starts a long-running process in the namespace, in its own
// process group. The lab stops it at teardown.
func (n *Netns) Start(name string, onLine func(string), args ...string) (*Proc, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &lineLog{onLine: onLine}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l := n.lab
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	l.AddDiag(fmt.Sprintf("output of %s (%s)", name, n.Role), p.out.String)
	return p, nil
}

func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to d for the process to end and returns its exit code
// (-1 when killed by a signal).
func (p *Proc) Wait(d time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(d):
		return 0, fmt.Errorf("%s still running after %v", p.Name, d)
	}
}

func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return errors.New("already exited")
	}
	return p.cmd.Process.Signal(sig)
}

// Stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
}

// Output returns everything the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// lineLog keeps output and hands each complete line to onLine.
type lineLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	onLine  func(string)
}

func (w *lineLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(b)
	var lines []string
	if w.onLine != nil {
		w.partial = append(w.partial, b...)
		for {
			i := bytes.IndexByte(w.partial, '\n')
			if i < 0 {
				break
			}
			lines = append(lines, string(w.partial[:i]))
			w.partial = w.partial[i+1:]
		}
	}
	w.mu.Unlock()
	for _, l := range lines {
		w.onLine(l)
	}
	return len(b), nil
}

func (w *lineLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// ---- kernel state ----

// NftElem is one element of an nft set or map as `nft -j` shows it.
type NftElem struct {
	Key        []string // concatenation parts, as strings
	Value      []string // for maps
	HasTimeout bool
	Timeout    float64 // seconds
	Expires    float64 // seconds
}

func (e NftElem) String() string {
	s := strings.Join(e.Key, " . ")
	if e.Value != nil {
		s += " : " + strings.Join(e.Value, " . ")
	}
	if e.HasTimeout {
		s += fmt.Sprintf(" timeout %gs expires %gs", e.Timeout, e.Expires)
	}
	return s
}

// NftSets lists every set and map of a table: name -> elements. ok is
// false when the table does not exist.
func (n *Netns) NftSets(family, table string) (sets map[string][]NftElem, ok bool, err error) {
	out, err := n.Run("nft", "-j", "list", "table", family, table)
	if err != nil {
		if strings.Contains(out, "No such file or directory") {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("nft -j list table %s %s: %v: %s", family, table, err, out)
	}
	sets, err = parseNftSets([]byte(nftJSONOnly(out)))
	return sets, err == nil, err
}

// nftJSONOnly drops what nft printed before its JSON document: nft 1.0.6
// warns "stmt ops map have no json callback" on stderr for each of
// ftpalg's consuming NAT rules (a delete from a map), and about the
// compat target.
func nftJSONOnly(out string) string {
	if i := strings.Index(out, `{"nftables"`); i > 0 {
		return out[i:]
	}
	return out
}

func parseNftSets(js []byte) (map[string][]NftElem, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("nft json: %v", err)
	}
	sets := map[string][]NftElem{}
	for _, obj := range doc.Nftables {
		for kind, raw := range obj {
			if kind != "set" && kind != "map" {
				continue
			}
			var s struct {
				Name string            `json:"name"`
				Elem []json.RawMessage `json:"elem"`
			}
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, err
			}
			elems := []NftElem{}
			for _, r := range s.Elem {
				e, err := parseNftElem(r)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %v", kind, s.Name, err)
				}
				elems = append(elems, e)
			}
			sets[s.Name] = elems
		}
	}
	return sets, nil
}

func parseNftElem(r json.RawMessage) (NftElem, error) {
	var e NftElem
	var pair []json.RawMessage
	if json.Unmarshal(r, &pair) == nil && len(pair) == 2 { // map: [key, value]
		var err error
		e, err = parseNftElem(pair[0])
		if err != nil {
			return e, err
		}
		e.Value = nftValue(pair[1])
		if e.Value == nil {
			e.Value = []string{}
		}
		return e, nil
	}
	var wrapped struct {
		Elem *struct {
			Val     json.RawMessage `json:"val"`
			Timeout *float64        `json:"timeout"`
			Expires *float64        `json:"expires"`
		} `json:"elem"`
	}
	if json.Unmarshal(r, &wrapped) == nil && wrapped.Elem != nil {
		e.Key = nftValue(wrapped.Elem.Val)
		if wrapped.Elem.Timeout != nil {
			e.HasTimeout = true
			e.Timeout = *wrapped.Elem.Timeout
		}
		if wrapped.Elem.Expires != nil {
			e.HasTimeout = true
			e.Expires = *wrapped.Elem.Expires
		}
		return e, nil
	}
	e.Key = nftValue(r)
	return e, nil
}

// nftValue flattens a value ("1.2.3.4", 21, {"concat": [...]}) to strings.
func nftValue(r json.RawMessage) []string {
	var c struct {
		Concat []json.RawMessage `json:"concat"`
	}
	if json.Unmarshal(r, &c) == nil && c.Concat != nil {
		var out []string
		for _, p := range c.Concat {
			out = append(out, nftValue(p)...)
		}
		return out
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return []string{s}
	}
	return []string{strings.TrimSpace(string(r))}
}

// ConntrackInvalid sums invalid= over the lines of conntrack -S.
func (n *Netns) ConntrackInvalid(t testing.TB) int {
	t.Helper()
	out := n.MustRun(t, "conntrack", "-S")
	sum := 0
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "invalid="); ok {
			i, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("conntrack -S: %q", f)
			}
			sum += i
		}
	}
	return sum
}

// eventually polls cond every 50ms until it returns true or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
