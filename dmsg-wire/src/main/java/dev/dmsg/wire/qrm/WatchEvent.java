package dev.dmsg.wire.qrm;

/**
 * One change a watch delivers (docs/QUORUM.md §3.4): a PUT with the key as it now is, or a DELETE
 * with the key (value empty, counters 0), at {@code revision}.
 */
public record WatchEvent(Kind kind, long revision, KeyValue kv) {
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
