package dev.dmsg.wire;

/**
 * Constants of the seed {@code sys/sys/dmsg.h}, name for name (without the {@code DMSG_} or
 * {@code DMSGF_} prefix).
 *
 * <p>The core header, {@code struct dmsg_hdr}, 64 bytes, every field in the sender's byte order
 * (we always send little-endian):
 *
 * <pre>
 *  0x00  +-----------+------------+------------------------+
 *        | magic u16 | resv02 u16 | salt u32               |
 *  0x08  +-----------+------------+------------------------+
 *        | msgid u64                                       |
 *  0x10  +-------------------------------------------------+
 *        | circuit u64                                     |
 *  0x18  +-------------------------------------------------+
 *        | reserved18 u64                                  |
 *  0x20  +------------------------+------------------------+
 *        | cmd u32                | aux_crc u32            |
 *  0x28  +------------------------+------------------------+
 *        | aux_bytes u32          | error u32              |
 *  0x30  +------------------------+------------------------+
 *        | aux_descr u64                                   |
 *  0x38  +------------------------+------------------------+
 *        | reserved38 u32         | hdr_crc u32            |
 *  0x40  +------------------------+------------------------+
 * </pre>
 *
 * <p>The {@code cmd} word: bits 31..24 flags, 23..20 protocol, 19..8 command number, 7..0 the
 * extended-header size in <b>64-byte</b> units (the seed's "N*32" comment is wrong; reference
 * §1.3). The size byte is part of the command's identity.
 */
public final class Dmsg {
    private Dmsg() {}

    // ---- core header offsets (struct dmsg_hdr) ----
    public static final int MAGIC_OFFSET = 0x00;
    public static final int RESERVED02_OFFSET = 0x02;
    public static final int SALT_OFFSET = 0x04;
    public static final int MSGID_OFFSET = 0x08;
    public static final int CIRCUIT_OFFSET = 0x10;
    public static final int RESERVED18_OFFSET = 0x18;
    public static final int CMD_OFFSET = 0x20;
    public static final int AUX_CRC_OFFSET = 0x24;
    public static final int AUX_BYTES_OFFSET = 0x28;
    public static final int ERROR_OFFSET = 0x2C;
    public static final int AUX_DESCR_OFFSET = 0x30;
    public static final int RESERVED38_OFFSET = 0x38;
    public static final int HDR_CRC_OFFSET = 0x3C;

    /** {@code sizeof(struct dmsg_hdr)}. */
    public static final int HDR_SIZE = 64;

    public static final int HDR_MAGIC = 0x4832;
    /** The magic as read by a receiver of the opposite byte order. */
    public static final int HDR_MAGIC_REV = 0x3248;

    /** Largest extended header, bytes. */
    public static final int HDR_MAX = 2048;
    /** Largest padded aux data, bytes (2013 value; the 1 MiB limit came in 2015). */
    public static final int AUX_MAX = 65536;
    public static final int ALIGN = 64;
    public static final int ALIGNMASK = ALIGN - 1;

    // ---- cmd flags ----
    public static final int CREATE = 0x80000000;
    public static final int DELETE = 0x40000000;
    public static final int REPLY = 0x20000000;
    public static final int ABORT = 0x10000000;
    /** Declared by the seed, never used: out-of-band aux was never implemented. */
    public static final int AUXOOB = 0x08000000;
    public static final int FLAG2 = 0x04000000;
    public static final int FLAG1 = 0x02000000;
    public static final int FLAG0 = 0x01000000;

    public static final int FLAGS = 0xFF000000;
    public static final int PROTOS = 0x00F00000;
    public static final int CMDS = 0x000FFF00;
    public static final int SIZE = 0x000000FF;

    public static final int CMDSWMASK = CMDS | SIZE | PROTOS | REPLY;
    public static final int BASECMDMASK = CMDS | SIZE | PROTOS;
    /** ABORT is deliberately not part of TRANSMASK (docs/REFERENCE.md §1.3). */
    public static final int TRANSMASK = CMDS | SIZE | PROTOS | REPLY | CREATE | DELETE;

    // ---- protocols ----
    public static final int PROTO_LNK = 0x00000000;
    public static final int PROTO_DBG = 0x00100000;
    public static final int PROTO_DOM = 0x00200000;
    public static final int PROTO_CAC = 0x00300000;
    public static final int PROTO_QRM = 0x00400000;
    public static final int PROTO_BLK = 0x00500000;
    public static final int PROTO_VOP = 0x00600000;

    // ---- commands (sans flags), sizes from docs/REFERENCE.md §1.4 ----
    public static final int LNK_PAD = 0x00000001;
    public static final int LNK_PING = 0x00000101;
    public static final int LNK_AUTH = 0x00001002;
    public static final int LNK_CONN = 0x00001108;
    public static final int LNK_SPAN = 0x00001207;
    public static final int LNK_CIRC = 0x00001302;
    public static final int LNK_VOLCONF = 0x00002008;
    public static final int LNK_ERROR = 0x000FFF01;
    public static final int DBG_SHELL = 0x00100101;
    // CAC_LOCK and QRM_COMMIT name structs the seed never defines (docs/REFERENCE.md §8); we
    // define them: docs/CAC.md §7 (struct dmsg_cac_lock, 192 bytes, size byte 3) and
    // docs/QUORUM.md §3 (struct dmsg_qrm_commit, 128 bytes, size byte 2).
    public static final int CAC_LOCK = 0x00300103;
    public static final int QRM_COMMIT = 0x00400102;
    public static final int QRM_READ = 0x00400202;
    public static final int QRM_WATCH = 0x00400302;
    public static final int QRM_ADMIN = 0x00400402;
    public static final int QRM_RAFT = 0x00401002;
    /** BLK numbering follows the seed, not DragonFly's renumbering of 2012-12-02 (docs/PROFILE.md §1). */
    public static final int BLK_OPEN = 0x00500102;
    public static final int BLK_READ = 0x00500202;
    public static final int BLK_WRITE = 0x00500302;
    public static final int BLK_FLUSH = 0x00500402;
    public static final int BLK_FREEBLKS = 0x00500502;
    public static final int BLK_ERROR = 0x005FFF03;

    public static final int BLKOPEN_RD = 0x0001;
    public static final int BLKOPEN_WR = 0x0002;

    // ---- error codes: 0x00..0x1F local (never on the wire from us), 0x20.. global ----
    public static final int ERR_NOSUPP = 0x20;
    public static final int ERR_LOSTLINK = 0x21;
    public static final int ERR_IO = 0x22;
    public static final int ERR_PARAM = 0x23;
    public static final int ERR_CANTCIRC = 0x24;
    /**
     * Not ours (docs/SECURITY.md §5): the peer's role does not allow the request. Next to
     * DragonFly's later global codes 0x22..0x24; a 2013 C peer never sees it (it never
     * authenticates, so it is never refused by role).
     */
    public static final int ERR_PERM = 0x25;
    /** Not ours (docs/SECURITY.md §7): a per-link or per-peer limit refused the request. */
    public static final int ERR_LIMIT = 0x26;
    /** Not ours (docs/QUORUM.md §3.2): a key is reserved by another prepared batch. */
    public static final int ERR_CONFLICT = 0x27;
    /** Not ours (docs/QUORUM.md §3.2): COMMIT for a batch that is not (or no longer) prepared. */
    public static final int ERR_NOTPREPARED = 0x28;
    /** Not ours (docs/QUORUM.md §3.2): no leader reachable within the request's wait. */
    public static final int ERR_NOLEADER = 0x29;
    /** Not ours (docs/QUORUM.md §3.2): a watch from a revision no longer kept. */
    public static final int ERR_COMPACTED = 0x2A;
    /** Not ours (docs/CAC.md §4): the lock request would close a cycle of waiters. */
    public static final int ERR_DEADLOCK = 0x2B;
    /** Not ours (docs/CAC.md §2): a lock request's wait_ms passed before the grant. */
    public static final int ERR_TIMEOUT = 0x2C;
    /** Not ours (docs/CAC.md §3): the lock was taken away after its lease. */
    public static final int ERR_REVOKED = 0x2D;
    /** Not ours (docs/CAC.md §6): a fenced write carried a token older than the resource's. */
    public static final int ERR_FENCED = 0x2E;

    // ---- PFS and peer types ----
    public static final int PFSTYPE_NONE = 0;
    public static final int PFSTYPE_ADMIN = 1;
    public static final int PFSTYPE_CLIENT = 2;
    public static final int PFSTYPE_CACHE = 3;
    public static final int PFSTYPE_COPY = 4;
    public static final int PFSTYPE_SLAVE = 5;
    public static final int PFSTYPE_SOFT_SLAVE = 6;
    public static final int PFSTYPE_SOFT_MASTER = 7;
    public static final int PFSTYPE_MASTER = 8;
    public static final int PFSTYPE_SERVER = 9;
    public static final int PFSTYPE_MAX = 10;

    public static final int PEER_NONE = 0;
    public static final int PEER_CLUSTER = 1;
    public static final int PEER_BLOCK = 2;
    public static final int PEER_HAMMER2 = 3;

    public static final int SPAN_PROTO_1 = 1;
    /** SPANs whose dist exceeds this are not relayed (libdmsg msg_lnk.c). */
    public static final int SPAN_MAXDIST = 16;

    // ---- dmsg_vol_data ----
    public static final int VOLF_ENABLED = 0x0001;
    public static final int VOLF_INPROG = 0x0002;
    public static final int VOLF_CONN_RR = 0x80;
    public static final int VOLF_CONN_EF = 0x40;
    public static final int VOLF_CONN_PRI = 0x0F;
    public static final int COPYID_COUNT = 256;

    /** The protocol's TCP port. */
    public static final int PORT = 987;

    /** Rounds {@code bytes} up to a multiple of {@link #ALIGN}. */
    public static long align(long bytes) {
        return (bytes + ALIGNMASK) & ~(long) ALIGNMASK;
    }

    /** Extended-header size in bytes encoded in a cmd word. */
    public static int hdrBytes(int cmd) {
        return (cmd & SIZE) * ALIGN;
    }
}
