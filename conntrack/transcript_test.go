package conntrack

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTranscripts replays the seed documents' control-channel transcripts
// (testdata/transcripts) and checks each pinhole where the file expects it.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "transcripts", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var client, server netip.AddrPort
			var l *lab
			seen := 0
			sc := bufio.NewScanner(f)
			for n := 1; sc.Scan(); n++ {
				line := sc.Text()
				key, rest, _ := strings.Cut(line, " ")
				switch {
				case line == "" || strings.HasPrefix(line, "#"):
				case key == "client":
					client = netip.MustParseAddrPort(rest)
				case key == "server":
					server = netip.MustParseAddrPort(rest)
				case key == "C:" || key == "S:":
					if l == nil {
						l = newLab(t, Config{}, client, server)
						l.handshake()
					}
					dir := FromClient
					if key == "S:" {
						dir = FromServer
					}
					l.send(dir, rest+"\r\n")
				case key == "expect":
					opens := l.effects(EffOpenPinhole)
					if rest == "none" {
						if len(opens) != seen {
							t.Fatalf("line %d: unexpected pinhole %v", n, opens[seen:])
						}
						continue
					}
					want := netip.MustParseAddrPort(rest)
					if len(opens) != seen+1 || opens[seen].Pinhole.Dst != want {
						t.Fatalf("line %d: want one new pinhole to %v, have %+v", n, want, opens[seen:])
					}
					seen++
				default:
					t.Fatalf("line %d: cannot read %q", n, line)
				}
			}
			if got := len(l.effects(EffOpenPinhole)); got != seen {
				t.Fatalf("%d pinholes opened, the transcript expects %d", got, seen)
			}
		})
	}
}
