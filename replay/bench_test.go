package replay

import (
	"path/filepath"
	"testing"
)

// BenchmarkReplayCapture runs a whole real capture (vsftpd, 5 PASV/227,
// data included) through the inspector and the in-memory pinhole table.
func BenchmarkReplayCapture(b *testing.B) {
	for _, name := range []string{"zeek__pe__pe-single.pcap", "markofu__EvilFingers__nmap-FTP_BOUNCE_SCAN.pcap"} {
		b.Run(name, func(b *testing.B) {
			dir := filepath.Join("..", "..", "shared", "corpus", "ftp-pcaps")
			frames, err := ReadFile(filepath.Join(dir, name))
			if err != nil {
				b.Skip(err) // the corpus sits outside the repository
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
