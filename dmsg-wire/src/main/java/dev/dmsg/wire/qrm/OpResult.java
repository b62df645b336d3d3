package dev.dmsg.wire.qrm;

import java.util.List;

/**
 * The result of one op (docs/QUORUM.md §3.3): PUT the key's new mod revision; DELETE how many
 * keys went; GET the keys found, {@code more} if the limit (or the reply size) cut them.
 */
public record OpResult(Op.Type type, long revision, long deleted, List<KeyValue> kvs, boolean more) {
    public OpResult {
        kvs = List.copyOf(kvs);
    }

    public static OpResult put(long revision) {
        return new OpResult(Op.Type.PUT, revision, 0, List.of(), false);
    }

    public static OpResult deleted(long n) {
        return new OpResult(Op.Type.DELETE, 0, n, List.of(), false);
    }

    public static OpResult got(List<KeyValue> kvs, boolean more) {
        return new OpResult(Op.Type.GET, 0, 0, kvs, more);
    }
}
