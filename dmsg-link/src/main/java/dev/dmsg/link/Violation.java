package dev.dmsg.link;

/**
 * A peer's breach of the transaction rules (docs/REFERENCE.md §2.3). Never fatal here (docs/PROFILE.md §2: the C
 * service asserted on these; we drop the message, count it, and log it). Scope: the message only.
 */
public enum Violation {
    /** CREATE for a msgid the peer already has open with us. */
    DUPLICATE_CREATE,
    /** DELETE or REPLY for a msgid with no open transaction (and no ABORT). */
    UNKNOWN_MSGID,
    /** DELETE in a direction that already sent DELETE (without ABORT). */
    DUPLICATE_DELETE,
    /** DELETE or a mid-stream message before that direction's CREATE (without ABORT). */
    DELETE_BEFORE_CREATE,
    /** CREATE with msgid 0, which only one-way messages may carry. */
    ZERO_MSGID,
    /** A message for a circuit that does not end at this node. */
    UNKNOWN_CIRCUIT,
    /** A second LNK_CONN on a link that already has one open. */
    SECOND_CONN,
    /** A one-way message with a command nobody serves. */
    UNKNOWN_ONE_WAY
}
