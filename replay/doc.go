// Package replay runs captured traffic through the inspector exactly as
// the daemon would, with an in-memory pinhole table standing in for the
// kernel's, and compares the pinholes it opens with the data connections
// the capture shows. It backs "ftpalg replay" and the corpus test.
//
// Captures are read by the package's own pcap and pcapng reader
// (pcap.go; link layers in link.go), so the daemon links no packet
// library: gopacket's layers package alone cost ftpalg about 2 MB of
// binary and 2.8 MB of resident tables filled at start-up. The tests
// check the reader against gopacket (a test-only dependency) on every
// capture of the corpus, and fuzz it (FuzzRead).
package replay
