package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;

/**
 * {@code struct dmsg_lnk_circ}: 80 bytes, padded to 128, size byte 2. {@code reserved01} u64 at
 * 0x40; {@code target} u64 at 0x48 = the msgid of a LNK_SPAN transaction that the receiver of this
 * CIRC sent to its sender (docs/REFERENCE.md §3.5).
 */
public record LnkCirc(long reserved01, long target) implements ExtHeader {
    public static final int RESERVED01_OFFSET = 0x40;
    public static final int TARGET_OFFSET = 0x48;

    static LnkCirc decode(ByteBuf b, int base, boolean le) {
        return new LnkCirc(Bytes.i64(b, base + RESERVED01_OFFSET, le), Bytes.i64(b, base + TARGET_OFFSET, le));
    }

    @Override
    public void encode(ByteBuf b, int base) {
        b.setLongLE(base + RESERVED01_OFFSET, reserved01);
        b.setLongLE(base + TARGET_OFFSET, target);
    }

    @Override
    public boolean fits(int cmd) {
        return (cmd & Dmsg.BASECMDMASK) == Dmsg.LNK_CIRC;
    }

    @Override
    public String describe() {
        return String.format("target=%016x", target) + (reserved01 != 0 ? String.format(" reserved01=%016x", reserved01) : "");
    }
}
