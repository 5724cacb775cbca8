// Package conntrack holds ftpalg's FTP control-session logic: it follows
// each control connection as two reassembled byte streams, pairs client
// commands with server replies, parses the data-connection announcements
// (PORT and EPRT from the client, 227 and 229 from the server), applies the
// policy, decides the NAT rewrite and returns what must happen as values: a
// verdict per packet and effects (open pinhole, map data connection, close
// pinhole, session opaque, violation, reset, passive range).
//
// A refused announcement is either written so that its receiver rejects
// it (Policy.Violation refuse) or turns the session into a reset (reset).
// A Budget shared by the Trackers of one table bounds the pinholes per
// client address and in total; TLSRule says per control port whether AUTH
// is blocked, allowed, or allowed with a passive-range pinhole.
//
// It does no I/O. Time is an argument, the kernel is reached by whoever
// carries the effects out (package rules for nftables, package nfq for the
// queue), and the only non-standard-library import is ftpalg's own rewrite
// package for packet views and sequence adjustment.
//
// Standards followed:
//   - RFC 959 (FTP): command and reply syntax, PORT, PASV, REIN, QUIT,
//     multi-line replies (section 4.2).
//   - RFC 1123 section 4.1.2.6: 227 text is scanned from its first digit.
//   - RFC 2428: EPRT, EPSV, 229 and EPSV ALL.
//   - RFC 2577: bounce protection (announced address must be the
//     announcing side's own address).
//   - RFC 4217: AUTH TLS/SSL (234) makes the channel opaque, CCC clears it.
//   - RFC 9293: sequence-number space for reassembly.
package conntrack
