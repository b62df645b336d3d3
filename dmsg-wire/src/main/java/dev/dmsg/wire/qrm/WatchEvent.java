package dev.dmsg.wire.qrm;

import java.util.Objects;

/**
 * One change a watch delivers (docs/QUORUM.md §3.4): a PUT with the key as it now is, or a DELETE
 * with the key (value empty, counters 0), at {@code revision}.
 */
public record WatchEvent(Kind kind, long revision, KeyValue kv) {
    public WatchEvent {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(kv, "kv");
    }

    /** {@code kv} as it is after being put at {@code revision}. */
    public static WatchEvent put(long revision, KeyValue kv) {
        return new WatchEvent(Kind.PUT, revision, kv);
    }

    /** {@code key} deleted at {@code revision}: value empty, counters 0, as the wire carries it. */
    public static WatchEvent delete(long revision, Blob key) {
        return new WatchEvent(Kind.DELETE, revision, new KeyValue(key, Blob.EMPTY, 0, 0, 0));
    }

    public enum Kind {
        PUT(1), DELETE(2);

        public final int code;

        Kind(int code) {
            this.code = code;
        }

        /** The kind with wire code {@code c}, or {@code null}. */
        public static Kind of(int c) {
            return c == 1 ? PUT : c == 2 ? DELETE : null;
        }
    }
}
