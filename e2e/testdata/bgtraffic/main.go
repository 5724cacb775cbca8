// Command bgtraffic is the background traffic of the e2e benchmark
// BenchmarkBackgroundTraffic: short TCP connections that are not FTP.
//
//	bgtraffic -listen ADDR
//
// accepts connections, reads -size bytes from each and closes it (the
// server closes first, so that TIME_WAIT stays on its side and the
// client's ports are free again at once). It prints "ready" once it
// listens.
//
//	bgtraffic -dial ADDR -rate N -duration D [-from A,B,...]
//
// opens N connections per second for D, from the local addresses A, B,
// ... in turn: connect, send -size bytes, wait for the server's close,
// close. It prints one line "done started=N ok=N failed=N seconds=S
// first_error=..." and exits 0.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "", "serve on this address")
	dial := flag.String("dial", "", "connect to this address")
	rate := flag.Int("rate", 2000, "connections per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to open connections")
	from := flag.String("from", "", "comma-separated local addresses to connect from, in turn")
	size := flag.Int("size", 16, "bytes sent on each connection")
	flag.Parse()
	switch {
	case *listen != "":
		serve(*listen, *size)
	case *dial != "":
		run(*dial, *from, *rate, *duration, *size)
	default:
		fmt.Fprintln(os.Stderr, "bgtraffic: -listen or -dial")
		os.Exit(2)
	}
}

func serve(addr string, size int) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgtraffic:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bgtraffic: accept:", err)
			continue
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, size)
			io.ReadFull(c, buf)
		}()
	}
}

func run(addr, from string, rate int, duration time.Duration, size int) {
	var locals []net.Addr
	if from != "" {
		for _, a := range strings.Split(from, ",") {
			ip := net.ParseIP(a)
			if ip == nil {
				fmt.Fprintf(os.Stderr, "bgtraffic: -from %q: not an address\n", a)
				os.Exit(2)
			}
			locals = append(locals, &net.TCPAddr{IP: ip})
		}
	}
	payload := make([]byte, size)
	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	one := func(i int) {
		defer wg.Done()
		d := net.Dialer{Timeout: 5 * time.Second}
		if len(locals) > 0 {
			d.LocalAddr = locals[i%len(locals)]
		}
		err := func() error {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(payload); err != nil {
				return err
			}
			// The server closes after reading: wait for its FIN.
			if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				return fmt.Errorf("read after sending: %d bytes, %v", n, err)
			}
			return nil
		}()
		if err != nil {
			failed.Add(1)
			s := err.Error()
			firstErr.CompareAndSwap(nil, &s)
			return
		}
		ok.Add(1)
	}
	start := time.Now()
	started := 0
	tick := time.NewTicker(time.Millisecond)
	for now := range tick.C {
		elapsed := now.Sub(start)
		if elapsed >= duration {
			break
		}
		for due := int(elapsed.Seconds() * float64(rate)); started < due; started++ {
			wg.Add(1)
			go one(started)
		}
	}
	tick.Stop()
	wg.Wait()
	first := ""
	if p := firstErr.Load(); p != nil {
		first = *p
	}
	fmt.Printf("done started=%d ok=%d failed=%d seconds=%.3f first_error=%q\n", started, ok.Load(), failed.Load(), time.Since(start).Seconds(), first)
}
