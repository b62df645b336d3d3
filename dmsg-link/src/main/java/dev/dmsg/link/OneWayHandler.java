package dev.dmsg.link;

import dev.dmsg.wire.Message;

/**
 * Receives one-way messages (no CREATE, DELETE or ABORT) that are not inside an open transaction.
 * Never answered by the link layer: replying to a one-way message panicked the C kernel, and two C
 * peers could ping-pong LNK_ERRORs (docs/REFERENCE.md §2.6).
 */
@FunctionalInterface
public interface OneWayHandler {
    void onOneWay(Link link, Message msg);
}
