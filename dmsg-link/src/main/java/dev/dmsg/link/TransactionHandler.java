package dev.dmsg.link;

import dev.dmsg.wire.Message;

/**
 * Receives the messages of one transaction: the peer's CREATE (for a transaction it opened),
 * streaming elements, one-way messages sent inside the transaction, ABORTs and the final DELETE.
 *
 * <p>Called on the link's event loop, never concurrently for one link; must not block. The
 * message is released when the call returns; retain it to keep its aux longer.
 *
 * <p>Exactly one message with DELETE reaches the handler of every transaction, whatever happens:
 * the peer's own, or when the link dies a simulated {@code LNK_ERROR|ABORT|DELETE} (with REPLY
 * and CREATE as docs/REFERENCE.md §2.7 computes them) carrying {@code LOSTLINK} (docs/PROFILE.md §3).
 */
@FunctionalInterface
public interface TransactionHandler {
    void onMessage(Transaction txn, Message msg);

    /** A handler that ignores everything but answers the peer's DELETE with our own. */
    TransactionHandler CLOSE_ON_DELETE = (txn, msg) -> {
        if (msg.isDelete()) {
            txn.reply(0);
        }
    };
}
