/**
 * The DMSG link layer: one connection between two nodes.
 *
 * <p>{@link dev.dmsg.link.Iocom} (libdmsg's name for the per-connection object) is the engine:
 * transactions in both directions on circuit 0 and on any circuit that ends here, the receive
 * rules of docs/REFERENCE.md §2.3 as docs/PROFILE.md §2 adjusts them, the reply helpers of §2.5, LNK_CONN, LNK_PING
 * keepalive and link-loss simulation (docs/PROFILE.md §3). It is sans-IO: bytes reach it as decoded
 * {@link dev.dmsg.wire.Message}s through a {@link dev.dmsg.link.Transport}, and time reaches it as
 * {@code nowNanos}. {@link dev.dmsg.link.netty} runs it over TCP.
 *
 * <p>The public API is small: {@link dev.dmsg.link.Link}, {@link dev.dmsg.link.Transaction},
 * {@link dev.dmsg.link.TransactionHandler}, {@link dev.dmsg.link.Services} and
 * {@link dev.dmsg.link.LinkConfig}.
 */
package dev.dmsg.link;
