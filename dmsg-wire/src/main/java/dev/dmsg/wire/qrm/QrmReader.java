package dev.dmsg.wire.qrm;

import io.netty.buffer.ByteBuf;

/**
 * Reads one QRM aux layout (docs/QUORUM.md §3.3–3.4), little-endian, from a view of the input:
 * the caller's buffer and its indices are left alone. Every length is checked against the rule
 * and then against the bytes left <em>before</em> anything is allocated, so a hostile length
 * costs nothing. Each failure names where it is ({@code success op 3}) and the rule.
 */
final class QrmReader {
    private final ByteBuf b;
    private final String layout;

    /**
     * @param layout the name of the whole ({@code batch}, {@code results}, {@code events}),
     *     which prefixes errors that are about the whole
     */
    QrmReader(ByteBuf in, String layout) throws QrmFormatException {
        this.layout = layout;
        if (in.readableBytes() > QrmCodec.MAX_MESSAGE_BYTES) {
            throw fail(layout, in.readableBytes() + " bytes; max " + QrmCodec.MAX_MESSAGE_BYTES);
        }
        this.b = in.duplicate();
    }

    static QrmFormatException fail(String where, String what) {
        return new QrmFormatException(where + ": " + what);
    }

    private void need(String where, String field, int n) throws QrmFormatException {
        if (b.readableBytes() < n) {
            throw fail(where, "cut short at " + field + " (" + n + "-byte field, " + b.readableBytes() + " bytes left)");
        }
    }

    int u8(String where, String field) throws QrmFormatException {
        need(where, field, 1);
        return b.readUnsignedByte();
    }

    int u16(String where, String field) throws QrmFormatException {
        need(where, field, 2);
        return b.readUnsignedShortLE();
    }

    long u32(String where, String field) throws QrmFormatException {
        need(where, field, 4);
        return b.readUnsignedIntLE();
    }

    long u64(String where, String field) throws QrmFormatException {
        need(where, field, 8);
        return b.readLongLE();
    }

    /** {@code u8 version}, which must be {@value QrmCodec#VERSION}: every layout starts with it. */
    void version() throws QrmFormatException {
        int version = u8(layout, "version");
        if (version != QrmCodec.VERSION) {
            throw fail(layout, "version " + version + "; this node reads " + QrmCodec.VERSION);
        }
    }

    /** {@code u8 reserved}, which must be 0. */
    void reserved() throws QrmFormatException {
        int reserved = u8(layout, "reserved");
        if (reserved != 0) {
            throw fail(layout, "reserved " + reserved + "; must be 0");
        }
    }

    /** {@code len} bytes, {@code len} already checked against its rule (so it is at most 64 KiB). */
    Blob bytes(String where, String lenField, long len) throws QrmFormatException {
        if (len > b.readableBytes()) {
            throw fail(where, lenField + " " + len + " but " + b.readableBytes() + " bytes left");
        }
        if (len == 0) {
            return Blob.EMPTY;
        }
        byte[] out = new byte[(int) len];
        b.readBytes(out);
        return Blob.wrap(out);
    }

    /** {@code u16 key_len ; key}, 1–1024 bytes (0–1024 with PREFIX). */
    Blob key(String where, boolean prefix) throws QrmFormatException {
        int len = u16(where, "key_len");
        String problem = QrmCodec.keyProblem(len, prefix);
        if (problem != null) {
            throw fail(where, problem);
        }
        return bytes(where, "key_len", len);
    }

    /** {@code u32 value_len ; value}, at most {@link QrmCodec#MAX_VALUE_BYTES}. */
    Blob value(String where) throws QrmFormatException {
        return checkedValue(where, u32(where, "value_len"));
    }

    /** A value whose u32 length was already read (a VALUE compare reads it to see "absent"). */
    Blob checkedValue(String where, long len) throws QrmFormatException {
        String problem = QrmCodec.valueProblem(len);
        if (problem != null) {
            throw fail(where, problem);
        }
        return bytes(where, "value_len", len);
    }

    /** {@code kv: u16 key_len ; key ; u32 value_len ; value ; u64 create_revision ; u64 mod_revision ; u64 version}. */
    KeyValue kv(String where) throws QrmFormatException {
        Blob key = key(where, false);
        Blob value = value(where);
        long create = u64(where, "create_revision");
        long mod = u64(where, "mod_revision");
        long version = u64(where, "version");
        return new KeyValue(key, value, create, mod, version);
    }

    /** A byte that must be 0 or 1. */
    boolean bool(String where, String field) throws QrmFormatException {
        int v = u8(where, field);
        if (v > 1) {
            throw fail(where, field + " " + v + "; must be 0 or 1");
        }
        return v == 1;
    }

    /** The input must end here: the counts said how much there is. */
    void end() throws QrmFormatException {
        if (b.isReadable()) {
            throw fail(layout, b.readableBytes() + " trailing bytes");
        }
    }
}
