package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;

/**
 * {@code struct dmsg_blk_read}, {@code _write}, {@code _flush} and {@code _freeblks}, which share
 * one layout: 96 bytes, padded to 128.
 *
 * <pre>
 * 0x40 keyid u64   0x48 offset u64 (bytes)   0x50 bytes u32   0x54 flags u32
 * 0x58 fence u64 (the seed's reserved01 and reserved02)
 * </pre>
 *
 * {@code fence} is ours (docs/CAC.md §6): the fencing token a write to a fenced export carries;
 * 0, as the seed's reserved words are, when there is none. A 2013 C peer sends and reads zero.
 */
public record BlkIo(long keyid, long offset, int bytes, int flags, long fence) implements ExtHeader {
    public static final int KEYID_OFFSET = 0x40;
    public static final int OFFSET_OFFSET = 0x48;
    public static final int BYTES_OFFSET = 0x50;
    public static final int FLAGS_OFFSET = 0x54;
    public static final int FENCE_OFFSET = 0x58;

    /** Without a fencing token (what every request but a fenced write carries). */
    public BlkIo(long keyid, long offset, int bytes, int flags) {
        this(keyid, offset, bytes, flags, 0);
    }

    static BlkIo decode(ByteBuf b, int base, boolean le) {
        return new BlkIo(
            Bytes.i64(b, base + KEYID_OFFSET, le), Bytes.i64(b, base + OFFSET_OFFSET, le),
            Bytes.i32(b, base + BYTES_OFFSET, le), Bytes.i32(b, base + FLAGS_OFFSET, le),
            Bytes.i64(b, base + FENCE_OFFSET, le));
    }

    @Override
    public void encode(ByteBuf b, int base) {
        b.setLongLE(base + KEYID_OFFSET, keyid);
        b.setLongLE(base + OFFSET_OFFSET, offset);
        b.setIntLE(base + BYTES_OFFSET, bytes);
        b.setIntLE(base + FLAGS_OFFSET, flags);
        if (fence != 0) {
            b.setLongLE(base + FENCE_OFFSET, fence);
        }
    }

    @Override
    public boolean fits(int cmd) {
        Command c = Command.of(cmd);
        return c != null && c.layout == Command.Layout.BLK_IO;
    }

    @Override
    public String describe() {
        return String.format("keyid=%016x offset=%d bytes=%d flags=%x", keyid, offset, Integer.toUnsignedLong(bytes), flags)
            + (fence == 0 ? "" : " fence=" + fence);
    }
}
