// Command greeter is the minimal FTP server of the e2e footprint
// benchmark (BenchmarkFootprint): it listens on -listen, answers every
// connection with "220 ready" and holds it open until it is killed. It
// raises its open-file limit to the hard limit, since it holds one
// descriptor per connection.
//
// It prints "ready" once it listens.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

func main() {
	addr := flag.String("listen", "", "address:port to listen on")
	flag.Parse()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintln(os.Stderr, "greeter: RLIMIT_NOFILE:", err)
			os.Exit(1)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	var held []net.Conn
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "greeter: accept:", err)
			os.Exit(1)
		}
		if _, err := io.WriteString(c, "220 ready\r\n"); err != nil {
			c.Close()
			continue
		}
		held = append(held, c)
	}
}
