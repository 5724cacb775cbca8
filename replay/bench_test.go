package replay

import (
	"path/filepath"
	"testing"

	"github.com/ftpalg/ftpalg/internal/testmode"
)

// BenchmarkReplayCapture runs a whole real capture (vsftpd, 5 PASV/227,
// data included) through the inspector and the in-memory pinhole table.
// The corpus is found as TestCorpus finds it (FTPALG_CORPUS, or
// ../shared/corpus/ftp-pcaps); without it the benchmark fails under
// FTPALG_E2E=require or CI=true, and skips otherwise, saying where it
// looked.
func BenchmarkReplayCapture(b *testing.B) {
	testmode.Check(b)
	dir, err := corpusDir()
	if err != nil {
		if testmode.Strict() {
			b.Fatalf("%v (FTPALG_E2E=require or CI: a missing corpus is a failure)", err)
		}
		b.Skipf("%v; skipping (FTPALG_E2E=require makes this a failure)", err)
	}
	for _, name := range []string{"zeek__pe__pe-single.pcap", "markofu__EvilFingers__nmap-FTP_BOUNCE_SCAN.pcap"} {
		b.Run(name, func(b *testing.B) {
			frames, err := ReadFile(filepath.Join(dir, name))
			if err != nil {
				b.Fatal(err) // the corpus is there, the capture must be too
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Run(frames, Options{}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/packet")
		})
	}
}
