// Command ftpalg is the FTP-aware firewall and ALG. This build provides
// "replay" (run a capture through the inspector and print its decisions)
// and "version".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ftpalg/ftpalg/replay"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  ftpalg replay [-ports 21,2121] [-summary] FILE.pcap...
        print one JSON line per decision the inspector makes on the capture
  ftpalg version`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "replay":
		return cmdReplay(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "ftpalg", version)
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "ftpalg: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ports := fs.String("ports", "21", "comma-separated control ports")
	summary := fs.Bool("summary", false, "print a summary table to stderr after each file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "ftpalg replay: no capture file given")
		return 2
	}
	ctl, err := parsePorts(*ports)
	if err != nil {
		fmt.Fprintln(stderr, "ftpalg replay:", err)
		return 2
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	status := 0
	for _, file := range fs.Args() {
		frames, err := replay.ReadFile(file)
		if err != nil {
			fmt.Fprintln(stderr, "ftpalg replay:", err)
			status = 1
			continue
		}
		rep, err := replay.Run(frames, replay.Options{ControlPorts: ctl}, func(r replay.Record) {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintln(stderr, "ftpalg replay:", err)
			}
		})
		if err != nil {
			fmt.Fprintln(stderr, "ftpalg replay:", err)
			return 1
		}
		if *summary {
			replay.TableHeader(stderr)
			rep.Table(stderr, file)
		}
	}
	return status
}

func parsePorts(s string) ([]uint16, error) {
	var out []uint16
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("bad control port %q", f)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}
