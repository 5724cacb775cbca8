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
// The message codec (codec.go) is pure and fuzzed; it follows
// include/uapi/linux/netfilter/nfnetlink_conntrack.h. Multi-byte values in
// ctnetlink attributes are in network byte order.
package ctnetlink
