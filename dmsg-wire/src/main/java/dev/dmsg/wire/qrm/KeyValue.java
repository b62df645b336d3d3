package dev.dmsg.wire.qrm;

import java.util.Objects;

/** A key as the store holds it (docs/QUORUM.md §2): its value and etcd-style counters. */
public record KeyValue(Blob key, Blob value, long createRevision, long modRevision, long version) {
    public KeyValue {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
    }
}
