package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;

/** {@code struct dmsg_blk_open}: {@code modes} u32 at 0x40, {@code reserved01} u32 at 0x44; 72 bytes, padded to 128. */
public record BlkOpen(int modes, int reserved01) implements ExtHeader {
    public static final int MODES_OFFSET = 0x40;
    public static final int RESERVED01_OFFSET = 0x44;

    public BlkOpen(int modes) {
        this(modes, 0);
    }

    static BlkOpen decode(ByteBuf b, int base, boolean le) {
        return new BlkOpen(Bytes.i32(b, base + MODES_OFFSET, le), Bytes.i32(b, base + RESERVED01_OFFSET, le));
    }

    @Override
    public void encode(ByteBuf b, int base) {
        b.setIntLE(base + MODES_OFFSET, modes);
        b.setIntLE(base + RESERVED01_OFFSET, reserved01);
    }

    @Override
    public boolean fits(int cmd) {
        return (cmd & Dmsg.BASECMDMASK) == Dmsg.BLK_OPEN;
    }

    @Override
    public String describe() {
        String m = ((modes & Dmsg.BLKOPEN_RD) != 0 ? "RD" : "") + ((modes & Dmsg.BLKOPEN_WR) != 0 ? "WR" : "");
        return String.format("modes=%x(%s)", modes, m.isEmpty() ? "-" : m);
    }
}
