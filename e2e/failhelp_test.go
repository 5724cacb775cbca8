package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/internal/pktfuzz"
	"golang.org/x/sys/unix"
)

// Helpers for the failure cases (failure_test.go) and the soak
// (soak_test.go).

// inFlight is a download that has started and is paused after its first
// bytes. The data socket's receive buffer is small, so most of the file
// is still on the server's side: it crosses the gateway only once reading
// resumes, i.e. after whatever the test does in between.
type inFlight struct {
	c    *FTPClient
	mode Mode
	conn net.Conn
	got  []byte
	want []byte
}

// inFlightHead is how much is read before the pause.
const inFlightHead = 64 << 10

// startInFlight runs a passive (PASV or EPSV) download of the big file
// on c and pauses it after inFlightHead bytes.
func startInFlight(t testing.TB, c *FTPClient, mode Mode) *inFlight {
	t.Helper()
	_, big := testFiles()
	d, err := c.Prepare(mode)
	if err != nil {
		t.Fatalf("in-flight %s: %v", mode, err)
	}
	conn, err := dialSmallWindow(c.ns, c.local, d.announced, 5*time.Second)
	if err != nil {
		t.Fatalf("in-flight %s: connect to announced %v: %v", mode, d.announced, err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := c.Expect("RETR "+bigPath, 150, 125); err != nil {
		t.Fatalf("in-flight %s: %v", mode, err)
	}
	f := &inFlight{c: c, mode: mode, conn: conn, want: big, got: make([]byte, inFlightHead)}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conn, f.got); err != nil {
		t.Fatalf("in-flight %s: first %d bytes: %v", mode, inFlightHead, err)
	}
	return f
}

// finishData reads the rest of the file and checks it byte for byte.
func (f *inFlight) finishData(t testing.TB) {
	t.Helper()
	f.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(f.conn)
	f.conn.Close()
	f.got = append(f.got, rest...)
	if err != nil {
		t.Errorf("in-flight %s download: after %d bytes: %v", f.mode, len(f.got), err)
		return
	}
	if !bytes.Equal(f.got, f.want) {
		t.Errorf("in-flight %s download: got %d bytes (sha256 %s), want %d (sha256 %s)",
			f.mode, len(f.got), digest(f.got), len(f.want), digest(f.want))
	}
}

// dialSmallWindow connects from ns with a 16 KiB receive buffer (set
// before the SYN, so the window is small from the start).
func dialSmallWindow(ns *Netns, local netip.Addr, to netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: timeout, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<10)
			}); err != nil {
				return err
			}
			return serr
		}}
		if local.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
		}
		var err error
		c, err = d.Dial("tcp", to.String())
		return err
	})
	return c, err
}

// sessionOf waits for the "session start" of the control connection whose
// client end (as the gateway's forward hook sees it) is client and
// returns ftpalg's session id.
func sessionOf(t testing.TB, d *Daemon, client netip.AddrPort) string {
	t.Helper()
	e, ok := d.WaitFor(3*time.Second, msg("session start", "client", client.String()))
	if !ok {
		t.Fatalf("ftpalg logged no \"session start\" for client %v", client)
	}
	return e.Field("session")
}

// sessionRewrites counts the "rewrite" lines of one session.
func sessionRewrites(d *Daemon, session string) int {
	return d.Count(func(e LogEntry) bool { return e.Msg == "rewrite" && e.Field("session") == session })
}

// replyOutcome reads one reply and describes it, for a control session
// whose fate is recorded rather than asserted.
func replyOutcome(c *FTPClient, timeout time.Duration) string {
	c.Timeout = timeout
	code, text, err := c.Reply()
	var ne net.Error
	switch {
	case err != nil && errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("stalled: no reply within %v", timeout)
	case err != nil:
		return fmt.Sprintf("broken: %v (text %q)", err, text)
	default:
		return fmt.Sprintf("reply %d %s", code, text)
	}
}

// pinElem finds the pin4 element for client and port.
func pinElem(t testing.TB, ns *Netns, table string, client netip.Addr, port uint16) []NftElem {
	t.Helper()
	return findElem(requireSets(t, ns, table, "pin4")["pin4"], client.String(), strconv.Itoa(int(port)))
}

// nfqKernelStats is one line of /proc/net/netfilter/nfnetlink_queue (per
// network namespace): what the kernel counted for a queue.
type nfqKernelStats struct {
	Total, Dropped, UserDropped, IDSeq uint64
}

// readNfqKernelStats returns the kernel's counters for queue num in ns
// (ok false when the queue is not bound).
func readNfqKernelStats(t testing.TB, ns *Netns, num int) (nfqKernelStats, bool) {
	t.Helper()
	out, err := ns.Run("cat", "/proc/net/netfilter/nfnetlink_queue")
	if err != nil {
		t.Fatalf("read nfnetlink_queue: %v: %s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		// queue_number peer_portid queue_total copy_mode copy_range
		// queue_dropped queue_user_dropped id_sequence 1
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		if n, err := strconv.Atoi(f[0]); err != nil || n != num {
			continue
		}
		var v [8]uint64
		for i := range v {
			v[i], err = strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				t.Fatalf("nfnetlink_queue line %q: %v", sc.Text(), err)
			}
		}
		return nfqKernelStats{Total: v[2], Dropped: v[5], UserDropped: v[6], IDSeq: v[7]}, true
	}
	return nfqKernelStats{}, false
}

// exitStats collects the per-queue "queue stats" and the "conntrack
// stats" ftpalg logs when it stops (after mark).
type exitStats struct {
	queues []LogEntry
	ct     LogEntry
}

func (s exitStats) sum(field string) int64 {
	var n int64
	for _, q := range s.queues {
		v, _ := strconv.ParseInt(q.Field(field), 10, 64)
		n += v
	}
	return n
}

func stopAndStats(t testing.TB, d *Daemon) exitStats {
	t.Helper()
	// The exit stats are the workers' copies from their last tick
	// (every 50 ms): let one pass after the last thing the test did.
	time.Sleep(200 * time.Millisecond)
	mark := d.Mark()
	d.StopClean(t)
	var s exitStats
	for _, e := range d.Since(mark) {
		switch e.Msg {
		case "queue stats":
			s.queues = append(s.queues, e)
		case "conntrack stats":
			s.ct = e
		}
	}
	if len(s.queues) == 0 || s.ct.Msg == "" {
		t.Fatalf("ftpalg logged no \"queue stats\"/\"conntrack stats\" on exit; its last lines:\n%s", tail(d.Output(), 10))
	}
	return s
}

// ---- a raw TCP burst ----

// tcpBurst sends, for each of n flows from src (source ports from
// firstPort on) to dst, a SYN immediately followed by an RST, through a
// raw socket in ns: 2n packets as fast as the sender can write them.
// Nothing answers them if the far side drops them.
func tcpBurst(ns *Netns, src netip.Addr, firstPort uint16, dst netip.AddrPort, n int) (time.Duration, error) {
	var took time.Duration
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		defer unix.Close(fd)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		to := &unix.SockaddrInet4{Addr: dst.Addr().As4()}
		start := time.Now()
		for i := 0; i < n; i++ {
			sport := firstPort + uint16(i)
			seq := uint32(0x1000_0000 + i*7919)
			for _, fl := range []struct {
				flags byte
				seq   uint32
			}{{0x02, seq}, {0x04, seq + 1}} {
				pkt := pktfuzz.Build(netip.AddrPortFrom(src, sport), dst, fl.seq, 0, fl.flags, nil)
				for {
					err := unix.Sendto(fd, pkt, 0, to)
					if err == unix.ENOBUFS || err == unix.EAGAIN {
						time.Sleep(100 * time.Microsecond)
						continue
					}
					if err != nil {
						return fmt.Errorf("sendto after %d flows: %w", i, err)
					}
					break
				}
			}
		}
		took = time.Since(start)
		return nil
	})
	return took, err
}

// nftCounter reads the packets of the first counter in a chain whose rule
// text contains comment (nft list chain).
func nftCounter(t testing.TB, ns *Netns, family, table, chain, comment string) uint64 {
	t.Helper()
	out := ns.MustRun(t, "nft", "list", "chain", family, table, chain)
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `comment "`+comment+`"`) {
			continue
		}
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "packets" {
				n, err := strconv.ParseUint(f[i+1], 10, 64)
				if err != nil {
					t.Fatalf("counter %q: %q", comment, line)
				}
				return n
			}
		}
	}
	t.Fatalf("no counter with comment %q in %s %s %s:\n%s", comment, family, table, chain, out)
	return 0
}

// rssKiB is a process's resident set (VmRSS), 0 if it is gone.
func rssKiB(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// talker is a control session that sends NOOPs in a loop (every 2 ms)
// until finish, recording whether every one was answered.
type talker struct {
	name string
	c    *FTPClient
	stop chan struct{}
	done chan string
}

// startTalkers opens two sessions, runs one transfer on each (EPSV:
// nothing rewritten; PASV behind DNAT: the 227 rewritten, at the same
// length) and starts their NOOP loops.
func startTalkers(t testing.TB, g *gwLab, dial netip.AddrPort) []*talker {
	t.Helper()
	var out []*talker
	for _, mode := range []Mode{EPSV, PASV} {
		c := dialGo(t, g.Client, g.ClientAddr, dial)
		if _, err := c.Retr(mode, smallPath); err != nil {
			t.Fatal(err)
		}
		out = append(out, startTalker(map[Mode]string{EPSV: "EPSV", PASV: "rewritten PASV"}[mode], c))
	}
	return out
}

// startTalker starts the NOOP loop of an open session.
func startTalker(name string, c *FTPClient) *talker {
	tk := &talker{name: name, c: c, stop: make(chan struct{}), done: make(chan string, 1)}
	go tk.loop()
	return tk
}

func (tk *talker) loop() {
	n := 0
	var worst time.Duration
	for {
		select {
		case <-tk.stop:
			tk.done <- fmt.Sprintf("ok: %d NOOPs, slowest %v", n, worst.Round(time.Millisecond))
			return
		default:
		}
		t0 := time.Now()
		tk.c.Timeout = 15 * time.Second
		if _, err := tk.c.Expect("NOOP", 200); err != nil {
			tk.done <- fmt.Sprintf("failed after %d NOOPs: %v", n, err)
			return
		}
		worst = max(worst, time.Since(t0))
		n++
		time.Sleep(2 * time.Millisecond)
	}
}

// finish stops the loop and returns "ok: ..." or "failed ...".
func (tk *talker) finish() string {
	close(tk.stop)
	return <-tk.done
}

// finishTalkers stops the loops and requires every NOOP answered.
func finishTalkers(t testing.TB, talkers []*talker, when string) {
	t.Helper()
	for _, tk := range talkers {
		if out := tk.finish(); strings.HasPrefix(out, "ok") {
			t.Logf("%s session %s: %s", tk.name, when, out)
		} else {
			t.Errorf("the %s session did not get %s: %s", tk.name, when, out)
		}
	}
}

// linkRxDropped is an interface's receive drop counter (ip -s link).
func linkRxDropped(t testing.TB, ns *Netns, ifname string) uint64 {
	t.Helper()
	out := ns.MustRun(t, "ip", "-s", "-j", "link", "show", ifname)
	var links []struct {
		Stats64 struct {
			Rx struct {
				Dropped uint64 `json:"dropped"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s -j link show %s: %v: %s", ifname, err, out)
	}
	return links[0].Stats64.Rx.Dropped
}
