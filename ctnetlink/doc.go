// Package ctnetlink is ftpalg's window on the kernel's connection
// tracking table, over ctnetlink (NETLINK_NETFILTER, subsystem
// NFNL_SUBSYS_CTNETLINK).
//
// It answers three questions and makes one change:
//   - How is a control connection translated? Queued packets carry no
//     conntrack data on kernels without CONFIG_NETFILTER_NETLINK_GLUE_CT,
//     so the original and reply tuples come from conntrack events (Listen)
//     kept in a Cache, from a direct query (Conn.Get) or, as a last resort,
//     from a dump. The Cache implements conntrack.NATLookup and never
//     blocks; queries happen on the worker goroutines, never on a queue
//     reader.
//   - Which data connection consumed a pinhole? The NEW event of a
//     connection that carries the pinhole mark.
//   - Which control connections ended? DESTROY events.
//   - The change: after a rewrite changes the length of a control segment
//     the kernel's TCP window tracking sees sequence numbers it cannot
//     place. SetLiberal sets IP_CT_TCP_FLAG_BE_LIBERAL on that one
//     connection, in both directions, before the first resized segment
//     leaves; nothing system-wide is touched.
//
// Events reach ftpalg only if it needs them. Subscribe attaches a
// classic BPF socket filter (filter.go, Filter.Program; SO_ATTACH_FILTER,
// replaced by Events.SetFilter) that the kernel runs on each event before
// it is queued on ftpalg's socket. It passes every event of a TCP
// connection whose reply tuple's source port is a control port and the
// NEW events of TCP connections whose ct mark has all the pinhole mark's
// bits; it drops the rest, but only after reading the message whole and
// finding exactly the layout the kernel sends (nfnetlink_conntrack.h,
// ctnetlink_conntrack_event: nlmsghdr and nlattr headers in host byte
// order, ports and mark big-endian; the two tuples first, then up to 24
// other attributes). Whatever it does not recognise it passes, and the
// decoder judges. Other listeners (conntrackd) are not affected. The
// kernel does not count filtered messages; ListenStats counts what
// arrived and what of it was ignored.
//
// The message codec (codec.go) is pure and fuzzed; it follows
// include/uapi/linux/netfilter/nfnetlink_conntrack.h. Multi-byte values in
// ctnetlink attributes are in network byte order.
package ctnetlink
