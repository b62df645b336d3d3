package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;

/**
 * The command-specific fields after the 64-byte core header: one record per struct of the seed.
 * Offsets are from the start of the message, as in docs/REFERENCE.md §1.5. Header-only commands (PAD,
 * PING, ERROR, DBG_SHELL) carry none; an unknown command with a larger header carries {@link RawExt}.
 */
public sealed interface ExtHeader
        permits LnkAuth, LnkConn, LnkSpan, LnkCirc, LnkVolconf, BlkOpen, BlkIo, BlkError, QrmHeader, CacHeader, RawExt {

    /**
     * Writes the fields into a message whose header starts at {@code base}. The region
     * {@code [base+64, base+hdrBytes)} is already zero, so reserved fields and padding need no write.
     */
    void encode(ByteBuf b, int base);

    /** The fields as {@code name=value} pairs for logs and {@code dmsg frame decode}. */
    String describe();

    /** Whether this record is the layout a command word carries. */
    boolean fits(int cmd);

    /**
     * Decodes the extended fields of a frame whose cmd is {@code cmd} and whose header starts at
     * {@code base} in {@code b}, in byte order {@code le}. The caller has checked that the buffer
     * holds the whole header. Returns {@code null} for header-only commands.
     */
    static ExtHeader decode(int cmd, ByteBuf b, int base, boolean le) {
        Command c = Command.of(cmd);
        if (c == null) {
            int bytes = Dmsg.hdrBytes(cmd) - Dmsg.HDR_SIZE;
            if (bytes == 0) {
                return null;
            }
            byte[] raw = new byte[bytes];
            b.getBytes(base + Dmsg.HDR_SIZE, raw);
            return new RawExt(raw);
        }
        switch (c.layout) {
            case HEADER_ONLY: return null;
            case LNK_AUTH: return LnkAuth.decode(b, base);
            case LNK_CONN: return LnkConn.decode(b, base, le);
            case LNK_SPAN: return LnkSpan.decode(b, base, le);
            case LNK_CIRC: return LnkCirc.decode(b, base, le);
            case LNK_VOLCONF: return LnkVolconf.decode(b, base, le);
            case BLK_OPEN: return BlkOpen.decode(b, base, le);
            case BLK_IO: return BlkIo.decode(b, base, le);
            case BLK_ERROR: return BlkError.decode(b, base, le);
            case QRM: return QrmHeader.decode(b, base, le);
            case CAC: return CacHeader.decode(b, base, le);
            default: throw new AssertionError(c.layout);
        }
    }
}
