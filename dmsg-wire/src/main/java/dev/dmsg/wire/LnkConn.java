package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.util.UUID;

/**
 * {@code struct dmsg_lnk_conn}: 456 bytes, padded to 512, size byte 8 (docs/REFERENCE.md §1.5). Opens the
 * SPAN protocol on a link; its masks and labels are the <em>sender's</em> filter for the SPANs the
 * receiver relays to it.
 *
 * <pre>
 * 0x40 mediaid uuid      0x50 pfs_clid uuid     0x60 pfs_fsid uuid
 * 0x70 peer_mask u64     0x78 peer_type u8      0x79 pfs_type u8    0x7A proto_version u16
 * 0x7C status u32        0x80 rnss u32          0x84 reserved02[8]  0x8C reserved03 u32[12]
 * 0xBC (4 bytes alignment padding)              0xC0 pfs_mask u64
 * 0xC8 cl_label[128]     0x148 fs_label[128]    0x1C8..0x1FF zero
 * </pre>
 *
 * {@code reserved02} is kept as an opaque u64 so that later protocol extensions can use it;
 * {@code reserved03} is sent as zeros.
 */
public record LnkConn(
        UUID mediaid, UUID pfsClid, UUID pfsFsid, long peerMask, int peerType, int pfsType,
        int protoVersion, int status, int rnss, long reserved02, long pfsMask,
        String clLabel, String fsLabel) implements ExtHeader {

    public static final int MEDIAID_OFFSET = 0x40;
    public static final int PFS_CLID_OFFSET = 0x50;
    public static final int PFS_FSID_OFFSET = 0x60;
    public static final int PEER_MASK_OFFSET = 0x70;
    public static final int PEER_TYPE_OFFSET = 0x78;
    public static final int PFS_TYPE_OFFSET = 0x79;
    public static final int PROTO_VERSION_OFFSET = 0x7A;
    public static final int STATUS_OFFSET = 0x7C;
    public static final int RNSS_OFFSET = 0x80;
    public static final int RESERVED02_OFFSET = 0x84;
    public static final int PFS_MASK_OFFSET = 0xC0;
    public static final int CL_LABEL_OFFSET = 0xC8;
    public static final int FS_LABEL_OFFSET = 0x148;
    public static final int LABEL_BYTES = 128;

    public LnkConn {
        Checks.u8("peer_type", peerType);
        Checks.u8("pfs_type", pfsType);
        Checks.u16("proto_version", protoVersion);
        Bytes.utf8(clLabel, LABEL_BYTES, "cl_label");
        Bytes.utf8(fsLabel, LABEL_BYTES, "fs_label");
    }

    static LnkConn decode(ByteBuf b, int base, boolean le) {
        return new LnkConn(
            Bytes.uuid(b, base + MEDIAID_OFFSET, le),
            Bytes.uuid(b, base + PFS_CLID_OFFSET, le),
            Bytes.uuid(b, base + PFS_FSID_OFFSET, le),
            Bytes.i64(b, base + PEER_MASK_OFFSET, le),
            Bytes.u8(b, base + PEER_TYPE_OFFSET),
            Bytes.u8(b, base + PFS_TYPE_OFFSET),
            Bytes.u16(b, base + PROTO_VERSION_OFFSET, le),
            Bytes.i32(b, base + STATUS_OFFSET, le),
            Bytes.i32(b, base + RNSS_OFFSET, le),
            Bytes.i64(b, base + RESERVED02_OFFSET, le),
            Bytes.i64(b, base + PFS_MASK_OFFSET, le),
            Bytes.str(b, base + CL_LABEL_OFFSET, LABEL_BYTES),
            Bytes.str(b, base + FS_LABEL_OFFSET, LABEL_BYTES));
    }

    @Override
    public void encode(ByteBuf b, int base) {
        Bytes.putUuid(b, base + MEDIAID_OFFSET, mediaid);
        Bytes.putUuid(b, base + PFS_CLID_OFFSET, pfsClid);
        Bytes.putUuid(b, base + PFS_FSID_OFFSET, pfsFsid);
        b.setLongLE(base + PEER_MASK_OFFSET, peerMask);
        b.setByte(base + PEER_TYPE_OFFSET, peerType);
        b.setByte(base + PFS_TYPE_OFFSET, pfsType);
        b.setShortLE(base + PROTO_VERSION_OFFSET, protoVersion);
        b.setIntLE(base + STATUS_OFFSET, status);
        b.setIntLE(base + RNSS_OFFSET, rnss);
        b.setLongLE(base + RESERVED02_OFFSET, reserved02);
        b.setLongLE(base + PFS_MASK_OFFSET, pfsMask);
        Bytes.putStr(b, base + CL_LABEL_OFFSET, LABEL_BYTES, clLabel);
        Bytes.putStr(b, base + FS_LABEL_OFFSET, LABEL_BYTES, fsLabel);
    }

    @Override
    public boolean fits(int cmd) {
        return (cmd & Dmsg.BASECMDMASK) == Dmsg.LNK_CONN;
    }

    @Override
    public String describe() {
        return String.format(
            "mediaid=%s pfs_clid=%s pfs_fsid=%s peer_mask=%016x peer_type=%s pfs_type=%s proto_version=%d"
                + " status=%d rnss=%08x pfs_mask=%016x cl_label=\"%s\" fs_label=\"%s\"",
            mediaid, pfsClid, pfsFsid, peerMask, PeerType.nameOf(peerType), PfsType.nameOf(pfsType),
            protoVersion, status, rnss, pfsMask, clLabel, fsLabel);
    }
}
