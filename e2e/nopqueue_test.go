package e2e

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// The do-nothing queue program of BenchmarkGatewayLoad's "nop-queue"
// variant: e2e/testdata/nopqueue, and the gateway rules that send it
// every control packet.

// nopQueueTable is the table of the nop-queue divert rules. Its chain is
// named divert-forward so that divertPackets counts it like ftpalg's.
const nopQueueTable = "nopqueue"

// installNopDivert adds table inet nopqueue to ns: a forward chain at
// ftpalg's divert priority (-10) that counts and queues every TCP packet
// to or from port 21 to queue 0, with bypass (ftpalg's default
// fail_open). The queue is the xtables NFQUEUE target (revision 3)
// through nft_compat, as ftpalg uses on this machine's kernel, which has
// no native nft queue expression; nft(8) cannot write that target, so the
// rules go in through google/nftables.
func installNopDivert(t testing.TB, ns *Netns) {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	tab := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: nopQueueTable})
	prio := nftables.ChainPriority(-10)
	ch := c.AddChain(&nftables.Chain{
		Name: "divert-forward", Table: tab, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: &prio,
	})
	info := make([]byte, 8) // struct xt_NFQ_info_v3: queuenum, queues_total, flags
	binary.NativeEndian.PutUint16(info[0:], 0)
	binary.NativeEndian.PutUint16(info[2:], 1)
	binary.NativeEndian.PutUint16(info[4:], 0x01) // NFQ_FLAG_BYPASS
	for _, off := range []uint32{0, 2} {          // tcp sport 21, tcp dport 21
		x := xt.Unknown(append([]byte(nil), info...))
		c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 21}},
			&expr.Counter{},
			&expr.Target{Name: "NFQUEUE", Rev: 3, Info: &x},
		}})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("[%s] nopqueue divert rules: %v", ns.Role, err)
	}
}

// nopQueue is a running nopqueue program.
type nopQueue struct {
	proc  *Proc
	pid   int
	ready chan struct{}

	mu    sync.Mutex
	stats string // its "stats ..." line, once it exited
}

// startNopQueue installs the divert rules in ns, starts nopqueue there
// and waits for its "ready".
func startNopQueue(t testing.TB, ns *Netns) *nopQueue {
	t.Helper()
	bin := nopQueueBinary(t)
	q := &nopQueue{ready: make(chan struct{})}
	var once sync.Once
	p, err := ns.Start("nopqueue", func(line string) {
		switch {
		case line == "ready":
			once.Do(func() { close(q.ready) })
		case strings.HasPrefix(line, "stats "):
			q.mu.Lock()
			q.stats = line
			q.mu.Unlock()
		}
	}, bin, "-queue", "0")
	if err != nil {
		t.Fatal(err)
	}
	q.proc = p
	select {
	case <-q.ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("nopqueue did not print \"ready\" within 10s; its output:\n%s", tail(p.Output(), 30))
	}
	q.pid = mainPID(t, p, "nopqueue")
	// The rules only once the queue is bound: with bypass, packets sent
	// to an unbound queue would pass uncounted by the program.
	installNopDivert(t, ns)
	return q
}

// stop ends nopqueue with SIGTERM and fails on anything its stats line
// reports lost.
func (q *nopQueue) stop(t testing.TB) {
	t.Helper()
	if err := q.proc.Signal(unix.SIGTERM); err != nil {
		t.Fatalf("SIGTERM nopqueue: %v (output:\n%s)", err, tail(q.proc.Output(), 30))
	}
	if code, err := q.proc.Wait(5 * time.Second); err != nil || code != 0 {
		t.Fatalf("nopqueue after SIGTERM: code %d, %v; output:\n%s", code, err, tail(q.proc.Output(), 30))
	}
	q.mu.Lock()
	stats := q.stats
	q.mu.Unlock()
	if stats == "" {
		t.Fatalf("nopqueue printed no stats line; output:\n%s", tail(q.proc.Output(), 30))
	}
	t.Logf("nopqueue over its life (warm-up included): %s", stats)
	for _, f := range strings.Fields(stats)[1:] {
		k, v, _ := strings.Cut(f, "=")
		if n, err := strconv.ParseUint(v, 10, 64); k != "received" && k != "verdicts" && (err != nil || n != 0) {
			t.Errorf("nopqueue: %s=%s", k, v)
		}
	}
}

var nopQueueBuild = goBuild{pkg: "./e2e/testdata/nopqueue", name: "nopqueue"}

// nopQueueBinary builds ./e2e/testdata/nopqueue once per test binary run.
func nopQueueBinary(t testing.TB) string { return nopQueueBuild.binary(t) }
