package dev.dmsg.link;

import io.netty.util.collection.LongObjectHashMap;

/** Both transaction tables of one circuit (libdmsg: staterd_tree / statewr_tree). */
final class Circuit {
    final long id;
    /** Transactions we opened, found by received messages with REPLY (statewr). */
    final LongObjectHashMap<Txn> opened = new LongObjectHashMap<>();
    /** Transactions the peer opened, found by received messages without REPLY (staterd). */
    final LongObjectHashMap<Txn> accepted = new LongObjectHashMap<>();
    /** Who is at the far end, the seal, the budget (docs/IDENTITY.md §4); null: not authenticated. */
    CircuitSecurity security;

    Circuit(long id) {
        this.id = id;
    }

    LongObjectHashMap<Txn> table(boolean local) {
        return local ? opened : accepted;
    }
}
