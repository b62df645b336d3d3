package dev.dmsg.wire.qrm;

/**
 * One operation of a batch (docs/QUORUM.md §3.3). {@code prefix}: DELETE and GET act on every key
 * starting with {@code key}. {@code value}: PUT only. {@code limit}: GET only (0: the default).
 */
public record Op(Type type, boolean prefix, Blob key, Blob value, int limit) {
    public enum Type {
        PUT(1), DELETE(2), GET(3);

        public final int code;

        Type(int code) {
            this.code = code;
        }

        /** The type with wire code {@code c}, or {@code null}. */
        public static Type of(int c) {
            for (Type t : values()) {
                if (t.code == c) {
                    return t;
                }
            }
            return null;
        }
    }

    public static Op put(Blob key, Blob value) {
        return new Op(Type.PUT, false, key, value, 0);
    }

    public static Op delete(Blob key) {
        return new Op(Type.DELETE, false, key, null, 0);
    }

    public static Op deletePrefix(Blob prefix) {
        return new Op(Type.DELETE, true, prefix, null, 0);
    }

    public static Op get(Blob key) {
        return new Op(Type.GET, false, key, null, 0);
    }

    public static Op getPrefix(Blob prefix, int limit) {
        return new Op(Type.GET, true, prefix, null, limit);
    }

    /** Whether this op writes. */
    public boolean writes() {
        return type != Type.GET;
    }
}
