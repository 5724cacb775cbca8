// Command ftpalg is the FTP-aware firewall and ALG: "run" is the daemon
// (SIGHUP reloads its config), "status" asks the running daemon for its
// sessions and counters, "check" validates a config, "replay" runs a
// capture through the inspector and prints its decisions, "version"
// prints the version.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/ftpalg/ftpalg/config"
	"github.com/ftpalg/ftpalg/gateway"
	"github.com/ftpalg/ftpalg/replay"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  ftpalg run [-config /etc/ftpalg/ftpalg.yaml]
        run the daemon (without -config: gateway defaults, forward hook,
        control port 21, queue 0, fail-open); SIGHUP reloads -config
  ftpalg status [-config /etc/ftpalg/ftpalg.yaml] [-json]
        show the running daemon's sessions, pinholes and counters (root
        only; the socket is the config's status.socket)
  ftpalg check -config FILE [-print]
        validate a config file without touching the kernel
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
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
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

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "config file to validate")
	print := fs.Bool("print", false, "print the effective config")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "ftpalg check: usage: ftpalg check -config FILE [-print]")
		return 2
	}
	cfg, err := config.Load(*file)
	if err != nil {
		fmt.Fprintln(stderr, "ftpalg check:", err)
		return 1
	}
	if *print {
		stdout.Write(cfg.YAML())
		return 0
	}
	fmt.Fprintf(stdout, "%s: ok\n", *file)
	return 0
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "config file (default: built-in gateway defaults)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "ftpalg run: unexpected arguments:", fs.Args())
		return 2
	}
	cfg := config.Default()
	if *file != "" {
		var err error
		if cfg, err = config.Load(*file); err != nil {
			fmt.Fprintln(stderr, "ftpalg run:", err)
			return 1
		}
	}
	level := new(slog.LevelVar)
	level.Set(cfg.Log.Level)
	log := newLogger(stderr, cfg.Log, level)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("starting", "version", version, "config", *file)
	gateway.ApplyMemoryLimit(cfg.MemoryLimit, log)
	eng := gateway.New(cfg, log)
	eng.Level = level
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				reload(eng, *file, log)
			}
		}
	}()
	if err := eng.Run(ctx); err != nil {
		log.Error("ftpalg stopped on error", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// reload re-reads file and applies it (SIGHUP). A file that fails
// validation, or that changes what cannot change live, is refused with
// the key and the reason; the old configuration stays.
func reload(eng *gateway.Engine, file string, log *slog.Logger) {
	if file == "" {
		log.Warn("reload refused: ftpalg runs without -config, there is no file to re-read")
		return
	}
	log.Info("reloading", "config", file)
	cfg, err := config.Load(file)
	if err != nil {
		args := []any{"config", file, "err", err}
		var ce *config.Error
		if errors.As(err, &ce) {
			args = append(args, "key", ce.Key, "line", ce.Line)
		}
		log.Error("reload refused: the config is not valid; the old one stays", args...)
		return
	}
	if err := eng.Reload(cfg); err != nil {
		var re *gateway.ReloadError
		if errors.As(err, &re) {
			log.Error("reload refused; the old config stays", "config", file, "key", re.Key, "err", err)
			return
		}
		log.Error("reload failed", "config", file, "err", err)
	}
	gateway.ApplyMemoryLimit(cfg.MemoryLimit, log)
}

func newLogger(w io.Writer, c config.Log, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
