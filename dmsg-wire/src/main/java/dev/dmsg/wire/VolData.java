package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.util.UUID;

/**
 * {@code struct dmsg_vol_data}: exactly 128 bytes, one slot of a node's VOLCONF table (the same
 * record hammer2 keeps in its volume header's {@code copyinfo[256]}). Offsets are relative to the
 * record.
 *
 * <pre>
 * 0x00 copyid u8   0x01 inprog u8   0x02 chain_to u8   0x03 chain_from u8   0x04 flags u16
 * 0x06 error u8    0x07 priority u8 0x08 remote_pfs_type u8   0x09 reserved08[23]
 * 0x20 pfs_clid uuid   0x30 label[16]   0x40 path[64]
 * </pre>
 */
public record VolData(
        int copyid, int inprog, int chainTo, int chainFrom, int flags, int error, int priority,
        int remotePfsType, UUID pfsClid, String label, String path) {

    public static final int BYTES = 128;
    public static final int COPYID_OFFSET = 0x00;
    public static final int INPROG_OFFSET = 0x01;
    public static final int CHAIN_TO_OFFSET = 0x02;
    public static final int CHAIN_FROM_OFFSET = 0x03;
    public static final int FLAGS_OFFSET = 0x04;
    public static final int ERROR_OFFSET = 0x06;
    public static final int PRIORITY_OFFSET = 0x07;
    public static final int REMOTE_PFS_TYPE_OFFSET = 0x08;
    public static final int PFS_CLID_OFFSET = 0x20;
    public static final int LABEL_OFFSET = 0x30;
    public static final int LABEL_BYTES = 16;
    public static final int PATH_OFFSET = 0x40;
    public static final int PATH_BYTES = 64;

    public static final VolData EMPTY = new VolData(0, 0, 0, 0, 0, 0, 0, 0, new UUID(0, 0), "", "");

    public VolData {
        Checks.u8("copyid", copyid);
        Checks.u8("inprog", inprog);
        Checks.u8("chain_to", chainTo);
        Checks.u8("chain_from", chainFrom);
        Checks.u16("flags", flags);
        Checks.u8("error", error);
        Checks.u8("priority", priority);
        Checks.u8("remote_pfs_type", remotePfsType);
        Bytes.utf8(label, LABEL_BYTES, "label");
        Bytes.utf8(path, PATH_BYTES, "path");
    }

    static VolData decode(ByteBuf b, int at, boolean le) {
        return new VolData(
            Bytes.u8(b, at + COPYID_OFFSET), Bytes.u8(b, at + INPROG_OFFSET),
            Bytes.u8(b, at + CHAIN_TO_OFFSET), Bytes.u8(b, at + CHAIN_FROM_OFFSET),
            Bytes.u16(b, at + FLAGS_OFFSET, le), Bytes.u8(b, at + ERROR_OFFSET),
            Bytes.u8(b, at + PRIORITY_OFFSET), Bytes.u8(b, at + REMOTE_PFS_TYPE_OFFSET),
            Bytes.uuid(b, at + PFS_CLID_OFFSET, le),
            Bytes.str(b, at + LABEL_OFFSET, LABEL_BYTES),
            Bytes.str(b, at + PATH_OFFSET, PATH_BYTES));
    }

    /** Writes the record at {@code at} into a zeroed region. */
    void encode(ByteBuf b, int at) {
        b.setByte(at + COPYID_OFFSET, copyid);
        b.setByte(at + INPROG_OFFSET, inprog);
        b.setByte(at + CHAIN_TO_OFFSET, chainTo);
        b.setByte(at + CHAIN_FROM_OFFSET, chainFrom);
        b.setShortLE(at + FLAGS_OFFSET, flags);
        b.setByte(at + ERROR_OFFSET, error);
        b.setByte(at + PRIORITY_OFFSET, priority);
        b.setByte(at + REMOTE_PFS_TYPE_OFFSET, remotePfsType);
        Bytes.putUuid(b, at + PFS_CLID_OFFSET, pfsClid);
        Bytes.putStr(b, at + LABEL_OFFSET, LABEL_BYTES, label);
        Bytes.putStr(b, at + PATH_OFFSET, PATH_BYTES, path);
    }

    /** Decodes a record from a standalone 128-byte little-endian buffer (e.g. a persisted table). */
    public static VolData read(ByteBuf b, int at) {
        return decode(b, at, true);
    }

    /** Encodes this record little-endian into a zeroed 128-byte region at {@code at}. */
    public void write(ByteBuf b, int at) {
        encode(b, at);
    }

    public String describe() {
        return String.format(
            "copyid=%d inprog=%d chain_to=%d chain_from=%d flags=%04x error=%d priority=%02x remote_pfs_type=%s"
                + " pfs_clid=%s label=\"%s\" path=\"%s\"",
            copyid, inprog, chainTo, chainFrom, flags, error, priority, PfsType.nameOf(remotePfsType),
            pfsClid, label, path);
    }
}
