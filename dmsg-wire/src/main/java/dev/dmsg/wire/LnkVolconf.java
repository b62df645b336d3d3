package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.util.UUID;

/**
 * {@code struct dmsg_lnk_volconf}: 472 bytes, padded to 512, size byte 8. Sent one-way inside an
 * open LNK_CONN to change one slot of a node's connection table (docs/REFERENCE.md §3.6).
 *
 * <pre>
 * 0x40 copy (dmsg_vol_data, 128 bytes)   0xC0 index i32   0xC4 unused01 i32
 * 0xC8 mediaid uuid                       0xD8 reserved02 i64[32]  (sent as zeros)
 * </pre>
 */
public record LnkVolconf(VolData copy, int index, UUID mediaid) implements ExtHeader {
    public static final int COPY_OFFSET = 0x40;
    public static final int INDEX_OFFSET = 0xC0;
    public static final int UNUSED01_OFFSET = 0xC4;
    public static final int MEDIAID_OFFSET = 0xC8;

    static LnkVolconf decode(ByteBuf b, int base, boolean le) {
        return new LnkVolconf(
            VolData.decode(b, base + COPY_OFFSET, le),
            Bytes.i32(b, base + INDEX_OFFSET, le),
            Bytes.uuid(b, base + MEDIAID_OFFSET, le));
    }

    @Override
    public void encode(ByteBuf b, int base) {
        copy.encode(b, base + COPY_OFFSET);
        b.setIntLE(base + INDEX_OFFSET, index);
        Bytes.putUuid(b, base + MEDIAID_OFFSET, mediaid);
    }

    @Override
    public boolean fits(int cmd) {
        return (cmd & Dmsg.BASECMDMASK) == Dmsg.LNK_VOLCONF;
    }

    @Override
    public String describe() {
        return "index=" + index + " mediaid=" + mediaid + " copy={" + copy.describe() + "}";
    }
}
