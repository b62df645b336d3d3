package dev.dmsg.wire;

import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import io.netty.buffer.ByteBuf;

/**
 * {@code struct dmsg_qrm_commit} (docs/QUORUM.md §3.2), the extended header of every QRM command:
 * 128 bytes, size byte 2. {@code version} u8 at 0x40, {@code phase} u8 at 0x41, {@code flags} u16
 * at 0x42, {@code lease_ms} u32 at 0x44, {@code index} u64 at 0x48, {@code term} u64 at 0x50,
 * {@code revision} u64 at 0x58, {@code group} char[32] at 0x60.
 *
 * <p>Decoding keeps whatever the bytes say (a version or flag this code does not know included):
 * {@link #problem()} names what a receiver must refuse.
 */
public record QrmHeader(int version, int phase, int flags, int leaseMs, long index, long term, long revision,
                        String group) implements ExtHeader {
    public static final int VERSION = 1;

    public static final int PREPARE = 1;
    public static final int PREPARED = 2;
    public static final int COMMIT = 3;
    public static final int COMMITTED = 4;
    public static final int READ = 5;
    public static final int WATCHING = 6;
    public static final int EVENTS = 7;
    public static final int ADMIN = 8;
    public static final int RAFT = 9;

    public static final int ONE_PHASE = 0x0001;
    public static final int SERIALIZABLE = 0x0002;
    public static final int MORE = 0x0004;
    static final int KNOWN_FLAGS = ONE_PHASE | SERIALIZABLE | MORE;

    public static final int GROUP_BYTES = 32;
    public static final int MAX_LEASE_MS = 60_000;

    static final int VERSION_OFFSET = 0x40;
    static final int PHASE_OFFSET = 0x41;
    static final int FLAGS_OFFSET = 0x42;
    static final int LEASE_OFFSET = 0x44;
    static final int INDEX_OFFSET = 0x48;
    static final int TERM_OFFSET = 0x50;
    static final int REVISION_OFFSET = 0x58;
    static final int GROUP_OFFSET = 0x60;

    private static final String[] PHASES = {"0", "PREPARE", "PREPARED", "COMMIT", "COMMITTED", "READ", "WATCHING",
        "EVENTS", "ADMIN", "RAFT"};

    public QrmHeader {
        Checks.u8("version", version);
        Checks.u8("phase", phase);
        Checks.u16("flags", flags);
        Bytes.utf8(group, GROUP_BYTES, "group");
    }

    /** A version-1 header of {@code phase} for {@code group}, other fields zero. */
    public static QrmHeader of(int phase, String group) {
        return new QrmHeader(VERSION, phase, 0, 0, 0, 0, 0, group);
    }

    public QrmHeader withFlags(int f) {
        return new QrmHeader(version, phase, f, leaseMs, index, term, revision, group);
    }

    public QrmHeader withLease(int ms) {
        return new QrmHeader(version, phase, flags, ms, index, term, revision, group);
    }

    public QrmHeader withLog(long idx, long trm) {
        return new QrmHeader(version, phase, flags, leaseMs, idx, trm, revision, group);
    }

    public QrmHeader withRevision(long rev) {
        return new QrmHeader(version, phase, flags, leaseMs, index, term, rev, group);
    }

    public boolean has(int flag) {
        return (flags & flag) != 0;
    }

    /** What a receiver must refuse with PARAM, or {@code null}: version, reserved flag bits, lease bound. */
    public String problem() {
        if (version != VERSION) {
            return "QRM header version " + version + " (this node speaks " + VERSION + ")";
        }
        if ((flags & ~KNOWN_FLAGS) != 0) {
            return String.format("QRM header flags 0x%04x: reserved bits set", flags);
        }
        if (Integer.toUnsignedLong(leaseMs) > MAX_LEASE_MS) {
            return "QRM lease_ms " + Integer.toUnsignedLong(leaseMs) + " is over " + MAX_LEASE_MS;
        }
        return null;
    }

    public static String phaseName(int phase) {
        return phase >= 0 && phase < PHASES.length ? PHASES[phase] : "phase" + phase;
    }

    /**
     * The aux of a QRM message decoded as its phase and direction say (docs/QUORUM.md §3.2–3.4),
     * for {@link FrameLog#fields}: {@code aux: compares=[...] ...}; {@code null} when the aux is
     * not one of our binary layouts (an error's reason, ADMIN's JSON, RAFT's protobuf chunks) or
     * there is none. An aux that does not parse is shown with the reason a member would give.
     */
    static String describeAux(Message m) {
        if (!(m.ext() instanceof QrmHeader h) || m.auxBytes() == 0 || m.error() != 0) {
            return null;
        }
        boolean reply = (m.cmd() & Dmsg.REPLY) != 0;
        boolean watch = (m.cmd() & Dmsg.BASECMDMASK) == Dmsg.QRM_WATCH;
        ByteBuf aux = m.aux();
        String layout;
        if (!reply && (h.phase == PREPARE || h.phase == READ || watch)) {
            layout = "batch";
        } else if (reply && (h.phase == COMMITTED || h.phase == READ)) {
            layout = "results";
        } else if (reply && h.phase == EVENTS) {
            layout = "events";
        } else if (reply && h.phase == PREPARED && m.auxBytes() == 1) {
            return "aux: held=" + aux.getUnsignedByte(aux.readerIndex());
        } else {
            return null;
        }
        try {
            return "aux: " + switch (layout) {
                case "batch" -> QrmCodec.describe(QrmCodec.decodeBatch(aux));
                case "results" -> QrmCodec.describe(QrmCodec.decodeResults(aux));
                default -> QrmCodec.describeEvents(QrmCodec.decodeEvents(aux));
            };
        } catch (QrmFormatException e) {
            return "aux: " + m.auxBytes() + " bytes, not " + layout + ": " + e.getMessage();
        }
    }

    static QrmHeader decode(ByteBuf b, int base, boolean le) {
        return new QrmHeader(Bytes.u8(b, base + VERSION_OFFSET), Bytes.u8(b, base + PHASE_OFFSET),
            Bytes.u16(b, base + FLAGS_OFFSET, le), Bytes.i32(b, base + LEASE_OFFSET, le),
            Bytes.i64(b, base + INDEX_OFFSET, le), Bytes.i64(b, base + TERM_OFFSET, le),
            Bytes.i64(b, base + REVISION_OFFSET, le), Bytes.str(b, base + GROUP_OFFSET, GROUP_BYTES));
    }

    @Override
    public void encode(ByteBuf b, int base) {
        b.setByte(base + VERSION_OFFSET, version);
        b.setByte(base + PHASE_OFFSET, phase);
        b.setShortLE(base + FLAGS_OFFSET, flags);
        b.setIntLE(base + LEASE_OFFSET, leaseMs);
        b.setLongLE(base + INDEX_OFFSET, index);
        b.setLongLE(base + TERM_OFFSET, term);
        b.setLongLE(base + REVISION_OFFSET, revision);
        Bytes.putStr(b, base + GROUP_OFFSET, GROUP_BYTES, group);
    }

    @Override
    public boolean fits(int cmd) {
        Command c = Command.of(cmd);
        return c != null && c.layout == Command.Layout.QRM;
    }

    @Override
    public String describe() {
        return String.format("version=%d phase=%s flags=0x%04x lease_ms=%d index=%d term=%d revision=%d group=\"%s\"",
            version, phaseName(phase), flags, Integer.toUnsignedLong(leaseMs), index, term, revision, group);
    }
}
