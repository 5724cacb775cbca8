// Command nopqueue is the do-nothing queue program of the e2e load
// benchmark (BenchmarkGatewayLoad, variant "nop-queue"): it binds one
// NFQUEUE queue the way ftpalg does (github.com/florianl/go-nfqueue/v2,
// copy mode packet, fail-open, no GSO flag, no conntrack attribute) and
// accepts every packet from inside the callback. What it costs is the
// cost of the queue alone.
//
// It prints "ready" once the queue is bound and, on SIGTERM or SIGINT,
// one line "stats received=N lost=N overruns=N recv_errors=N verdicts=N
// verdict_errors=N" before it exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func main() {
	num := flag.Uint("queue", 0, "queue number")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      uint16(*num),
		MaxPacketLen: 0xffff,
		MaxQueueLen:  4096,
		Copymode:     nfqueue.NfQnlCopyPacket,
		Flags:        nfqueue.NfQaCfgFlagFailOpen,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "nopqueue: open queue %d: %v\n", *num, err)
		os.Exit(1)
	}
	// As ftpalg: a 4 MiB receive buffer, ENOBUFS reported.
	if err := nf.Con.SetReadBuffer(4 << 20); err != nil {
		fmt.Fprintf(os.Stderr, "nopqueue: read buffer: %v\n", err)
		os.Exit(1)
	}
	_ = nf.Con.SetOption(netlink.NoENOBUFS, false)

	var received, lost, overruns, recvErrors, verdicts, verdictErrors atomic.Uint64
	var lastID uint32 // the reader goroutine's only
	hook := func(a nfqueue.Attribute) int {
		if a.PacketID == nil {
			return 0
		}
		id := *a.PacketID
		if lastID != 0 && id > lastID+1 {
			lost.Add(uint64(id - lastID - 1))
		}
		lastID = id
		received.Add(1)
		verdicts.Add(1)
		if err := nf.SetVerdict(id, nfqueue.NfAccept); err != nil {
			verdictErrors.Add(1)
		}
		return 0
	}
	errFn := func(err error) int {
		if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EBADF) {
			return 1
		}
		if errors.Is(err, unix.ENOBUFS) {
			overruns.Add(1)
		} else {
			recvErrors.Add(1)
			fmt.Fprintf(os.Stderr, "nopqueue: receive: %v\n", err)
		}
		return 0
	}
	if err := nf.RegisterWithErrorFunc(ctx, hook, errFn); err != nil {
		fmt.Fprintf(os.Stderr, "nopqueue: bind queue %d: %v\n", *num, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	<-ctx.Done()
	nf.Close()
	fmt.Printf("stats received=%d lost=%d overruns=%d recv_errors=%d verdicts=%d verdict_errors=%d\n",
		received.Load(), lost.Load(), overruns.Load(), recvErrors.Load(), verdicts.Load(), verdictErrors.Load())
}
