package dev.dmsg.wire;

/**
 * The commands of the seed, by base cmd word (protocol, command number and size byte; no flags).
 *
 * <p>A closed set with O(1) lookup. An unknown cmd word is not an error at this layer: {@link
 * #of(int)} returns {@code null} and {@link #nameOf(int)} still names it.
 */
public enum Command {
    LNK_PAD(Dmsg.LNK_PAD, Layout.HEADER_ONLY),
    LNK_PING(Dmsg.LNK_PING, Layout.HEADER_ONLY),
    LNK_AUTH(Dmsg.LNK_AUTH, Layout.LNK_AUTH),
    LNK_CONN(Dmsg.LNK_CONN, Layout.LNK_CONN),
    LNK_SPAN(Dmsg.LNK_SPAN, Layout.LNK_SPAN),
    LNK_CIRC(Dmsg.LNK_CIRC, Layout.LNK_CIRC),
    LNK_VOLCONF(Dmsg.LNK_VOLCONF, Layout.LNK_VOLCONF),
    LNK_ERROR(Dmsg.LNK_ERROR, Layout.HEADER_ONLY),
    DBG_SHELL(Dmsg.DBG_SHELL, Layout.HEADER_ONLY),
    BLK_OPEN(Dmsg.BLK_OPEN, Layout.BLK_OPEN),
    BLK_READ(Dmsg.BLK_READ, Layout.BLK_IO),
    BLK_WRITE(Dmsg.BLK_WRITE, Layout.BLK_IO),
    BLK_FLUSH(Dmsg.BLK_FLUSH, Layout.BLK_IO),
    BLK_FREEBLKS(Dmsg.BLK_FREEBLKS, Layout.BLK_IO),
    BLK_ERROR(Dmsg.BLK_ERROR, Layout.BLK_ERROR),
    CAC_LOCK(Dmsg.CAC_LOCK, Layout.CAC),
    QRM_COMMIT(Dmsg.QRM_COMMIT, Layout.QRM),
    QRM_READ(Dmsg.QRM_READ, Layout.QRM),
    QRM_WATCH(Dmsg.QRM_WATCH, Layout.QRM),
    QRM_ADMIN(Dmsg.QRM_ADMIN, Layout.QRM),
    QRM_RAFT(Dmsg.QRM_RAFT, Layout.QRM);

    /** The extended-header layout a command carries. */
    public enum Layout {
        HEADER_ONLY(64), LNK_AUTH(128), LNK_CONN(456), LNK_SPAN(432), LNK_CIRC(80),
        LNK_VOLCONF(472), BLK_OPEN(72), BLK_IO(96), BLK_ERROR(144), QRM(128), CAC(192);

        /** {@code sizeof} the C struct, before padding to 64. */
        public final int structBytes;

        Layout(int structBytes) {
            this.structBytes = structBytes;
        }
    }

    /** The base cmd word, e.g. 0x00001207 for LNK_SPAN. */
    public final int code;
    public final Layout layout;

    Command(int code, Layout layout) {
        this.code = code;
        this.layout = layout;
    }

    /** Extended-header bytes on the wire (the padded struct). */
    public int hdrBytes() {
        return Dmsg.hdrBytes(code);
    }

    /** The command of a cmd word (flags are ignored), or {@code null} if it is not one we know. */
    public static Command of(int cmd) {
        switch (cmd & Dmsg.BASECMDMASK) {
            case Dmsg.LNK_PAD: return LNK_PAD;
            case Dmsg.LNK_PING: return LNK_PING;
            case Dmsg.LNK_AUTH: return LNK_AUTH;
            case Dmsg.LNK_CONN: return LNK_CONN;
            case Dmsg.LNK_SPAN: return LNK_SPAN;
            case Dmsg.LNK_CIRC: return LNK_CIRC;
            case Dmsg.LNK_VOLCONF: return LNK_VOLCONF;
            case Dmsg.LNK_ERROR: return LNK_ERROR;
            case Dmsg.DBG_SHELL: return DBG_SHELL;
            case Dmsg.BLK_OPEN: return BLK_OPEN;
            case Dmsg.BLK_READ: return BLK_READ;
            case Dmsg.BLK_WRITE: return BLK_WRITE;
            case Dmsg.BLK_FLUSH: return BLK_FLUSH;
            case Dmsg.BLK_FREEBLKS: return BLK_FREEBLKS;
            case Dmsg.BLK_ERROR: return BLK_ERROR;
            case Dmsg.CAC_LOCK: return CAC_LOCK;
            case Dmsg.QRM_COMMIT: return QRM_COMMIT;
            case Dmsg.QRM_READ: return QRM_READ;
            case Dmsg.QRM_WATCH: return QRM_WATCH;
            case Dmsg.QRM_ADMIN: return QRM_ADMIN;
            case Dmsg.QRM_RAFT: return QRM_RAFT;
            default: return null;
        }
    }

    private static final String[] PROTO_NAMES = {"LNK", "DBG", "DOM", "CAC", "QRM", "BLK", "VOP"};

    /**
     * A name for any cmd word, flags ignored: {@code LNK_SPAN} for known commands, otherwise the
     * protocol, command number and size, e.g. {@code DBG_0FE/1} for 0x0010fe01.
     */
    public static String nameOf(int cmd) {
        Command c = of(cmd);
        if (c != null) {
            return c.name();
        }
        int proto = (cmd & Dmsg.PROTOS) >>> 20;
        String p = proto < PROTO_NAMES.length ? PROTO_NAMES[proto] : "P" + proto;
        return String.format("%s_%03X/%d", p, (cmd & Dmsg.CMDS) >>> 8, cmd & Dmsg.SIZE);
    }

    /** {@code CREATE|DELETE|REPLY|ABORT} spelled out for a cmd word; empty when none is set. */
    public static String flagsOf(int cmd) {
        StringBuilder sb = new StringBuilder();
        if ((cmd & Dmsg.CREATE) != 0) sb.append("|CREATE");
        if ((cmd & Dmsg.DELETE) != 0) sb.append("|DELETE");
        if ((cmd & Dmsg.REPLY) != 0) sb.append("|REPLY");
        if ((cmd & Dmsg.ABORT) != 0) sb.append("|ABORT");
        if ((cmd & Dmsg.AUXOOB) != 0) sb.append("|AUXOOB");
        return sb.toString();
    }
}
