package dev.dmsg.wire.qrm;

import java.util.List;
import java.util.Objects;

/**
 * The result of one op (docs/QUORUM.md §3.3): PUT the key's new mod revision; DELETE how many
 * keys went; GET the keys found, {@code more} if the limit (or the reply size) cut them.
 */
public record OpResult(Op.Type type, long revision, long deleted, List<KeyValue> kvs, boolean more) {
    public OpResult {
        Objects.requireNonNull(type, "type");
        kvs = List.copyOf(kvs);
        boolean shaped = switch (type) {
            case PUT -> deleted == 0 && kvs.isEmpty() && !more;
            case DELETE -> revision == 0 && kvs.isEmpty() && !more;
            case GET -> revision == 0 && deleted == 0;
        };
        if (!shaped) {
            throw new IllegalArgumentException("a " + type + " result with revision=" + revision + " deleted="
                + deleted + " kvs=" + kvs.size() + " more=" + more);
        }
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
