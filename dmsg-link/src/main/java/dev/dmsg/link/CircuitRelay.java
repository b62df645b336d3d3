package dev.dmsg.link;

import dev.dmsg.wire.Message;

/**
 * Receives the messages of a circuit that only passes through this node (docs/REFERENCE.md §3.5,
 * "Forwarding"): they are not tracked here, only handed on — typically to {@link LinkCircuits#forward}
 * on the paired link. Called on the receiving link's event loop; the message is the callee's
 * to release.
 */
@FunctionalInterface
public interface CircuitRelay {
    void onMessage(Link from, Message m);
}
