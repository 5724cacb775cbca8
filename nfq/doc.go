// Package nfq is ftpalg's intake: it binds NFQUEUE queues with
// github.com/florianl/go-nfqueue/v2, hands every queued control packet to
// the caller, and sends the caller's verdicts back.
//
// One Queue reads one queue number on its own goroutine (the library's
// callback goroutine). The callback only decodes the netlink message and
// passes the packet on; it never waits for a verdict, for nftables or for
// conntrack. Verdicts are sent by whoever decided them, from any goroutine
// (the netlink socket serialises sends).
//
// Errors on the queue socket (ENOBUFS when the reader falls behind, and
// any other receive error) are counted and reported through a callback,
// never fatal. Packet IDs are sequential per queue, so a jump in IDs tells
// how many packets the kernel could not hand over: with fail-open they
// passed uninspected, without it they were dropped (see the kernel's
// __nfqnl_enqueue_packet); either way none is left waiting for a verdict.
//
// Where the kernel can attach conntrack data to queued packets
// (NFQA_CFG_F_CONNTRACK, CONFIG_NETFILTER_NETLINK_GLUE_CT), Open asks for
// it and Packet.Ct carries the raw CTA_* attributes; where it cannot
// (EOPNOTSUPP, as on the project machines), the queue works without.
package nfq
