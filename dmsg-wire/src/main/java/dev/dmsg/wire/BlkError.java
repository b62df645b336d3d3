package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;

/**
 * {@code struct dmsg_blk_error}: 144 bytes, padded to 192, size byte 3. {@code keyid} u64 at 0x40,
 * {@code resid} u32 at 0x48 (bytes not transferred), {@code reserved02} u32 at 0x4C, {@code buf}
 * char[64] at 0x50 (never filled by the 2013 C code; we carry a short text).
 */
public record BlkError(long keyid, int resid, String buf) implements ExtHeader {
    public static final int KEYID_OFFSET = 0x40;
    public static final int RESID_OFFSET = 0x48;
    public static final int BUF_OFFSET = 0x50;
    public static final int BUF_BYTES = 64;

    public BlkError {
        Bytes.utf8(buf, BUF_BYTES, "buf");
    }

    static BlkError decode(ByteBuf b, int base, boolean le) {
        return new BlkError(
            Bytes.i64(b, base + KEYID_OFFSET, le), Bytes.i32(b, base + RESID_OFFSET, le),
            Bytes.str(b, base + BUF_OFFSET, BUF_BYTES));
    }

    @Override
    public void encode(ByteBuf b, int base) {
        b.setLongLE(base + KEYID_OFFSET, keyid);
        b.setIntLE(base + RESID_OFFSET, resid);
        Bytes.putStr(b, base + BUF_OFFSET, BUF_BYTES, buf);
    }

    @Override
    public boolean fits(int cmd) {
        return (cmd & Dmsg.BASECMDMASK) == Dmsg.BLK_ERROR;
    }

    @Override
    public String describe() {
        return String.format("keyid=%016x resid=%d buf=\"%s\"", keyid, Integer.toUnsignedLong(resid), buf);
    }
}
