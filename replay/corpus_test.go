package replay

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/internal/pktfuzz"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// corpusDir holds real FTP captures collected from other projects (see its
// SOURCES.md): $FTPALG_CORPUS, or ../shared/corpus/ftp-pcaps beside the
// repository. It returns the directory it looked in, and an error if it is
// not there.
func corpusDir() (string, error) {
	dir := os.Getenv("FTPALG_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus", "ftp-pcaps")
	}
	if _, err := os.Stat(dir); err != nil {
		return dir, fmt.Errorf("capture corpus not found at %s (set FTPALG_CORPUS): %w", dir, err)
	}
	return dir, nil
}

// dataEndpoints is an independent count of what Report.Unseen is about:
// every address and port of a TCP packet in the capture that is not on a
// control port, decoded with gopacket (not rewrite.Decode, which replay
// itself uses).
func dataEndpoints(frames []Frame, ports []uint16) map[netip.AddrPort]bool {
	seen := map[netip.AddrPort]bool{}
	for _, f := range frames {
		if len(f.Data) == 0 {
			continue
		}
		first := gopacket.LayerType(layers.LayerTypeIPv4)
		if f.Data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
		pkt := gopacket.NewPacket(f.Data, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || pkt.NetworkLayer() == nil {
			continue
		}
		if slices.Contains(ports, uint16(tcp.SrcPort)) || slices.Contains(ports, uint16(tcp.DstPort)) {
			continue
		}
		src, ok1 := netip.AddrFromSlice(pkt.NetworkLayer().NetworkFlow().Src().Raw())
		dst, ok2 := netip.AddrFromSlice(pkt.NetworkLayer().NetworkFlow().Dst().Raw())
		if !ok1 || !ok2 {
			continue
		}
		seen[netip.AddrPortFrom(src.Unmap(), uint16(tcp.SrcPort))] = true
		seen[netip.AddrPortFrom(dst.Unmap(), uint16(tcp.DstPort))] = true
	}
	return seen
}

// checkCapture runs one capture and checks the report against ex and
// against counts made here from the capture itself.
func checkCapture(t *testing.T, name string, frames []Frame, ports []uint16, ex exception) Report {
	t.Helper()
	rep, err := Run(frames, Options{ControlPorts: ports}, nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(rep.Missed) != ex.missed {
		t.Errorf("%s: %d data connections no announcement explains, %d expected (%s): %v", name, len(rep.Missed), ex.missed, ex.why, rep.Missed)
	}
	// Unused pinholes split by whether their endpoint shows up in the
	// capture at all, counted here rather than taken from rep.Unseen.
	endpoints := dataEndpoints(frames, ports)
	var seenExtra, unseen int
	for _, e := range rep.Extra {
		if endpoints[e.Pinhole.Dst] {
			seenExtra++
		} else {
			unseen++
		}
	}
	if seenExtra != ex.extra {
		t.Errorf("%s: %d unused pinholes whose data connection the capture shows traffic for, %d expected (%s): %v", name, seenExtra, ex.extra, ex.why, rep.Extra)
	}
	if rep.Unseen != unseen {
		t.Errorf("%s: report counts %d unused pinholes whose endpoint never appears, the capture shows %d (of %d unused)", name, rep.Unseen, unseen, len(rep.Extra))
	}
	return rep
}

// exception explains data connections a capture shows that no announcement
// accounts for (missed), and pinholes whose data connection the capture does
// show traffic for but that were never used (extra). Pinholes whose
// endpoint never appears in the capture at all are explained by that fact
// (Report.Unseen) and need no entry here.
type exception struct {
	missed, extra int
	why           string
}

var exceptions = map[string]exception{
	"amerck__ftp-vsftpd-2.3.4-backdoor.pcap": {missed: 1,
		why: "the connection to tcp/6200 is the vsftpd 2.3.4 backdoor's bind shell, not an FTP data connection; nothing announced it, so ftpalg rightly opens nothing"},
	"markofu-hackeire__2011-c2__ftp-subset.pcap": {missed: 22,
		why: "the subset was filtered with 'tcp.port==21 || tcp.port==1026': the 22 connections to tcp/1026 are an attack on another service between the same hosts, not FTP data"},
	"PcapPlusPlus__Ftp.pcap": {missed: 1,
		why: "a collection of single packets from unrelated sessions: the data packet from port 20 belongs to a session whose PORT is not in the file"},
	"nDPI__fuzz-2006-06-26-2594.pcap": {missed: 2,
		why: "bit-mutated fuzz capture: the PASV session's addresses are corrupted (192.112.1.2 for 192.168.1.2), so the announcements that led to these connections are not intact in the file"},
	"samuelito1218__ftps2-authtls.pcap": {missed: 5,
		why: "AUTH TLS: the PASV/227 exchanges are encrypted, so no inspector can see them; the passthrough-range FTPS policy (a later issue) is the answer"},
	"zeek__globus-url-copy-gridftp.pcap": {missed: 1,
		why: "GridFTP with GSSAPI: every command and reply is wrapped in ENC/632, so the data port is never visible in clear text"},
}

func TestCorpus(t *testing.T) {
	dir, err := corpusDir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in %s: %v", dir, err)
	}
	var table bytes.Buffer
	TableHeader(&table)
	var total Report
	for _, path := range files {
		name := filepath.Base(path)
		ports := []uint16{21}
		switch {
		case strings.HasPrefix(name, "junkie__ftp-on-alt-port-2121"):
			ports = []uint16{2121}
		case strings.HasPrefix(name, "zeek__globus-url-copy"):
			ports = []uint16{2811}
		}
		frames, err := ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		rep := checkCapture(t, name, frames, ports, exceptions[name])
		rep.Table(&table, name)
		total.Sessions += rep.Sessions
		total.Announcements += rep.Announcements
		total.Predicted += rep.Predicted
		total.Observed += rep.Observed
		total.Matched += rep.Matched
	}
	t.Logf("corpus: %d files, %d sessions, %d announcements, %d pinholes predicted, %d data connections observed, %d matched\n%s",
		len(files), total.Sessions, total.Announcements, total.Predicted, total.Observed, total.Matched, table.String())
}

// In the corpus every unused pinhole's endpoint is absent from its capture,
// so it cannot tell "unseen" from "unused". This capture, built here, has
// one of each kind: a PASV whose port a third host connects to (the
// endpoint appears; the pinhole, for the client only, stays unused) and a
// PASV nobody connects to.
func TestCaptureExtraPinholes(t *testing.T) {
	cli := netip.MustParseAddrPort("192.0.2.1:40000")
	srv := netip.MustParseAddrPort("192.0.2.2:21")
	third := netip.MustParseAddrPort("192.0.2.9:50001")
	const syn, ack, psh = 0x02, 0x10, 0x08
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var frames []Frame
	cseq, sseq := uint32(1000), uint32(5000)
	add := func(src, dst netip.AddrPort, seq, ackN uint32, flags uint8, payload string) {
		frames = append(frames, Frame{Index: len(frames) + 1, Time: t0.Add(time.Duration(len(frames)) * time.Millisecond),
			Data: pktfuzz.Build(src, dst, seq, ackN, flags, []byte(payload))})
	}
	client := func(line string) {
		add(cli, srv, cseq, sseq, ack|psh, line)
		cseq += uint32(len(line))
	}
	server := func(line string) {
		add(srv, cli, sseq, cseq, ack|psh, line)
		sseq += uint32(len(line))
	}
	add(cli, srv, cseq, 0, syn, "")
	cseq++
	add(srv, cli, sseq, cseq, syn|ack, "")
	sseq++
	add(cli, srv, cseq, sseq, ack, "")
	server("220 ready\r\n")
	client("PASV\r\n")
	server("227 Entering Passive Mode (192,0,2,2,195,80).\r\n") // port 50000
	add(cli, srv, cseq, sseq, ack, "")
	add(third, netip.AddrPortFrom(srv.Addr(), 50000), 7, 0, syn, "") // not the client: not admitted
	client("PASV\r\n")
	server("227 Entering Passive Mode (192,0,2,2,195,81).\r\n") // port 50001, never connected to
	add(cli, srv, cseq, sseq, ack, "")

	rep := checkCapture(t, "built", frames, []uint16{21}, exception{extra: 1, why: "a third host connects to the first PASV port"})
	if rep.Predicted != 2 || len(rep.Extra) != 2 {
		t.Errorf("built capture: %d pinholes predicted, %d unused, want 2 and 2: %+v", rep.Predicted, len(rep.Extra), rep.Extra)
	}
}
