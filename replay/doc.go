// Package replay runs captured traffic through the inspector exactly as
// the daemon would, with an in-memory pinhole table standing in for the
// kernel's, and compares the pinholes it opens with the data connections
// the capture shows. It backs "ftpalg replay" and the corpus test.
//
// Captures are read with gopacket's pcapgo (pcap and pcapng, no cgo).
package replay
