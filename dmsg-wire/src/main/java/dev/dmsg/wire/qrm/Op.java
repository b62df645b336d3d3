package dev.dmsg.wire.qrm;

import java.util.Objects;

/**
 * One operation of a batch (docs/QUORUM.md §3.3). {@code prefix}: DELETE and GET act on every key
 * starting with {@code key}. {@code value}: PUT only ({@code null} otherwise). {@code limit}: GET
 * only (0: the default; the wire's u32 held as a non-negative int). The constructor checks the
 * shape; sizes are the wire's business ({@link QrmCodec} refuses what a peer must refuse).
 */
public record Op(Type type, boolean prefix, Blob key, Blob value, int limit) {
    public Op {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(key, "key");
        if ((type == Type.PUT) != (value != null)) {
            throw new IllegalArgumentException(type == Type.PUT ? "a PUT needs a value" : type + " carries no value");
        }
        if (prefix && type == Type.PUT) {
            throw new IllegalArgumentException("PREFIX on a PUT");
        }
        if (limit < 0 || (limit != 0 && type != Type.GET)) {
            throw new IllegalArgumentException("limit " + limit + " on a " + type + " (GET only, >= 0)");
        }
    }

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

    /** A GET of one key; {@code limit} 0 is the default. */
    public static Op get(Blob key, int limit) {
        return new Op(Type.GET, false, key, null, limit);
    }

    public static Op getPrefix(Blob prefix, int limit) {
        return new Op(Type.GET, true, prefix, null, limit);
    }

    /** Whether this op writes. */
    public boolean writes() {
        return type != Type.GET;
    }
}
