package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.util.UUID;

/**
 * {@code struct dmsg_lnk_span}: 432 bytes, padded to 448, size byte 7 (docs/REFERENCE.md §1.5). An
 * advertisement: what a node is, how far away, through an open transaction on circuit 0.
 *
 * <pre>
 * 0x40 pfs_clid uuid     0x50 pfs_fsid uuid
 * 0x60 pfs_type u8       0x61 peer_type u8      0x62 proto_version u16   0x64 status u32
 * 0x68 reserved02[8]     0x70 dist u32          0x74 rnss u32
 * 0x78 media union, 56 bytes: for PEER_BLOCK bytes u64 at 0x78, blksize u32 at 0x80
 * 0xB0 cl_label[128]     0x130 fs_label[128]    0x1B0..0x1BF zero
 * </pre>
 *
 * {@code reserved02} is kept as an opaque u64 for later extensions (the mesh issue may carry
 * loop-freedom data there); the rest of the media union after blksize is sent as zeros.
 */
public record LnkSpan(
        UUID pfsClid, UUID pfsFsid, int pfsType, int peerType, int protoVersion, int status,
        long reserved02, int dist, int rnss, long mediaBytes, int mediaBlksize,
        String clLabel, String fsLabel) implements ExtHeader {

    public static final int PFS_CLID_OFFSET = 0x40;
    public static final int PFS_FSID_OFFSET = 0x50;
    public static final int PFS_TYPE_OFFSET = 0x60;
    public static final int PEER_TYPE_OFFSET = 0x61;
    public static final int PROTO_VERSION_OFFSET = 0x62;
    public static final int STATUS_OFFSET = 0x64;
    public static final int RESERVED02_OFFSET = 0x68;
    public static final int DIST_OFFSET = 0x70;
    public static final int RNSS_OFFSET = 0x74;
    public static final int MEDIA_BYTES_OFFSET = 0x78;
    public static final int MEDIA_BLKSIZE_OFFSET = 0x80;
    public static final int CL_LABEL_OFFSET = 0xB0;
    public static final int FS_LABEL_OFFSET = 0x130;
    public static final int LABEL_BYTES = 128;

    public LnkSpan {
        Checks.u8("pfs_type", pfsType);
        Checks.u8("peer_type", peerType);
        Checks.u16("proto_version", protoVersion);
        Bytes.utf8(clLabel, LABEL_BYTES, "cl_label");
        Bytes.utf8(fsLabel, LABEL_BYTES, "fs_label");
    }

    /** This span as a relay would send it: dist + 1 and rnss + {@code rnssAdd} (mod 2^32). */
    public LnkSpan relayed(int rnssAdd) {
        return new LnkSpan(pfsClid, pfsFsid, pfsType, peerType, protoVersion, status, reserved02,
            dist + 1, rnss + rnssAdd, mediaBytes, mediaBlksize, clLabel, fsLabel);
    }

    static LnkSpan decode(ByteBuf b, int base, boolean le) {
        return new LnkSpan(
            Bytes.uuid(b, base + PFS_CLID_OFFSET, le),
            Bytes.uuid(b, base + PFS_FSID_OFFSET, le),
            Bytes.u8(b, base + PFS_TYPE_OFFSET),
            Bytes.u8(b, base + PEER_TYPE_OFFSET),
            Bytes.u16(b, base + PROTO_VERSION_OFFSET, le),
            Bytes.i32(b, base + STATUS_OFFSET, le),
            Bytes.i64(b, base + RESERVED02_OFFSET, le),
            Bytes.i32(b, base + DIST_OFFSET, le),
            Bytes.i32(b, base + RNSS_OFFSET, le),
            Bytes.i64(b, base + MEDIA_BYTES_OFFSET, le),
            Bytes.i32(b, base + MEDIA_BLKSIZE_OFFSET, le),
            Bytes.str(b, base + CL_LABEL_OFFSET, LABEL_BYTES),
            Bytes.str(b, base + FS_LABEL_OFFSET, LABEL_BYTES));
    }

    @Override
    public void encode(ByteBuf b, int base) {
        Bytes.putUuid(b, base + PFS_CLID_OFFSET, pfsClid);
        Bytes.putUuid(b, base + PFS_FSID_OFFSET, pfsFsid);
        b.setByte(base + PFS_TYPE_OFFSET, pfsType);
        b.setByte(base + PEER_TYPE_OFFSET, peerType);
        b.setShortLE(base + PROTO_VERSION_OFFSET, protoVersion);
        b.setIntLE(base + STATUS_OFFSET, status);
        b.setLongLE(base + RESERVED02_OFFSET, reserved02);
        b.setIntLE(base + DIST_OFFSET, dist);
        b.setIntLE(base + RNSS_OFFSET, rnss);
        b.setLongLE(base + MEDIA_BYTES_OFFSET, mediaBytes);
        b.setIntLE(base + MEDIA_BLKSIZE_OFFSET, mediaBlksize);
        Bytes.putStr(b, base + CL_LABEL_OFFSET, LABEL_BYTES, clLabel);
        Bytes.putStr(b, base + FS_LABEL_OFFSET, LABEL_BYTES, fsLabel);
    }

    @Override
    public boolean fits(int cmd) {
        return (cmd & Dmsg.BASECMDMASK) == Dmsg.LNK_SPAN;
    }

    @Override
    public String describe() {
        String s = String.format(
            "pfs_clid=%s pfs_fsid=%s pfs_type=%s peer_type=%s proto_version=%d status=%d dist=%d rnss=%08x"
                + " cl_label=\"%s\" fs_label=\"%s\"",
            pfsClid, pfsFsid, PfsType.nameOf(pfsType), PeerType.nameOf(peerType), protoVersion, status,
            Integer.toUnsignedLong(dist), rnss, clLabel, fsLabel);
        if (mediaBytes != 0 || mediaBlksize != 0) {
            s += String.format(" media.bytes=%d media.blksize=%d", mediaBytes, Integer.toUnsignedLong(mediaBlksize));
        }
        if (reserved02 != 0) {
            s += String.format(" reserved02=%016x", reserved02);
        }
        return s;
    }
}
