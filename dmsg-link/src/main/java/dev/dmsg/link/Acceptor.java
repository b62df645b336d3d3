package dev.dmsg.link;

import dev.dmsg.wire.Message;

/**
 * Accepts transactions the peer opens with one command ({@code icmd}). Registered in {@link
 * Services}; a transactional command with no acceptor is answered NOSUPP (docs/PROFILE.md §2).
 */
@FunctionalInterface
public interface Acceptor {
    /**
     * Returns the handler for a new transaction; the CREATE message itself is then delivered to it.
     * Called on the link's event loop.
     */
    TransactionHandler accept(Transaction txn, Message create);
}
