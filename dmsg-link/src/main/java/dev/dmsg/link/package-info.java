/**
 * The DMSG link layer: one connection between two nodes.
 *
 * <p>{@link Iocom} (libdmsg's name for the per-connection object, package-private) is the engine:
 * transactions in both directions on circuit 0 and on any circuit that ends here, the receive
 * rules of docs/REFERENCE.md §2.3 as docs/PROFILE.md §2 adjusts them, the reply helpers of §2.5, LNK_CONN, LNK_PING
 * keepalive and link-loss simulation (docs/PROFILE.md §3). It is sans-IO: bytes reach it as decoded
 * {@link dev.dmsg.wire.Message}s through a {@link Transport}, and time reaches it as
 * {@code nowNanos}. {@link dev.dmsg.link.netty} runs it over TCP. docs/LINK-INTERNALS.md draws
 * its classes and who calls whom.
 *
 * <p>The public API, by who uses it:
 * <ul>
 *   <li>users (services, the command line): {@link Link}, {@link Transaction},
 *       {@link TransactionHandler}, {@link Acceptor}, {@link OneWayHandler}, {@link Services},
 *       {@link LinkConfig}, {@link LinkListener}, {@link LinkState}, {@link LinkStats};</li>
 *   <li>the mesh layer: {@link LinkCircuits} (from {@link Link#circuits()}), {@link CircuitRelay},
 *       {@link CircuitSecurity}, {@link CircuitSeal};</li>
 *   <li>transports (Netty, the mesh simulator): {@link LinkDriver} and {@link Transport}.</li>
 * </ul>
 */
package dev.dmsg.link;
