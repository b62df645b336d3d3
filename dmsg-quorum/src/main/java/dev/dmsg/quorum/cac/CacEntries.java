package dev.dmsg.quorum.cac;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The bytes of lock entries (docs/CAC.md §5), little-endian, after the kind and version bytes every
 * log entry starts with (docs/QUORUM.md §4.1):
 *
 * <pre>
 * 10 ACQUIRE  u64 nonce ; u64 owner ; str holder ; str home ; u64 incarnation ;
 *             u8 state ; u8 domain ; u16 flags ; u32 lease_ms ; str key
 * 11 CHANGE   u64 lock ; u8 state
 * 12 RELEASE  u64 lock
 * 13 CANCEL   u64 lock ; u8 why (1 aborted, 2 wait passed, 3 home restarted)
 * 14 LOST     u64 lock
 * 15 EXPIRE   u64 lock ; u8 why (1 downgrade unmet, 2 lost)
 * 16 HOME     str home ; u64 incarnation
 * str = u16 length ; UTF-8
 * </pre>
 *
 * Decoding refuses anything else with a {@link CacFormatException} naming the field.
 */
public final class CacEntries {
    private CacEntries() {}

    public static final int VERSION = 1;
    public static final int ACQUIRE = 10;
    public static final int CHANGE = 11;
    public static final int RELEASE = 12;
    public static final int CANCEL = 13;
    public static final int LOST = 14;
    public static final int EXPIRE = 15;
    public static final int HOME = 16;
    /** A holder's or home's name: a node label (at most 63 bytes) and some room. */
    static final int MAX_NAME_BYTES = 255;

    /** Whether {@code kind} is a lock entry's. */
    public static boolean isCac(int kind) {
        return kind >= ACQUIRE && kind <= HOME;
    }

    public static byte[] encode(CacEntry e) {
        ByteBuffer b = ByteBuffer.allocate(2 + 8 + 8 + 2 + 2 * (MAX_NAME_BYTES + 2) + 8 + 8 + CacKey.MAX_BYTES + 2)
            .order(ByteOrder.LITTLE_ENDIAN);
        if (e instanceof CacEntry.Acquire a) {
            LockTable.Acquire r = a.request();
            head(b, ACQUIRE).putLong(a.nonce()).putLong(r.owner().id());
            str(b, r.owner().name(), "holder");
            str(b, r.home().name(), "home");
            b.putLong(r.home().incarnation()).put((byte) r.state().wire()).put((byte) r.domain().wire())
                .putShort((short) r.flags()).putInt(r.leaseMs());
            str(b, r.key().path(), "key");
        } else if (e instanceof CacEntry.Change c) {
            head(b, CHANGE).putLong(c.lock()).put((byte) c.state().wire());
        } else if (e instanceof CacEntry.Release r) {
            head(b, RELEASE).putLong(r.lock());
        } else if (e instanceof CacEntry.Cancel c) {
            head(b, CANCEL).putLong(c.lock()).put((byte) c.why());
        } else if (e instanceof CacEntry.Lost l) {
            head(b, LOST).putLong(l.lock());
        } else if (e instanceof CacEntry.Expire x) {
            head(b, EXPIRE).putLong(x.lock()).put((byte) x.why());
        } else if (e instanceof CacEntry.HomeUp h) {
            head(b, HOME);
            str(b, h.home().name(), "home");
            b.putLong(h.home().incarnation());
        }
        byte[] out = new byte[b.position()];
        b.flip().get(out);
        return out;
    }

    private static ByteBuffer head(ByteBuffer b, int kind) {
        return b.put((byte) kind).put((byte) VERSION);
    }

    private static void str(ByteBuffer b, String s, String what) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        int max = what.equals("key") ? CacKey.MAX_BYTES : MAX_NAME_BYTES;
        if (u.length > max) {
            throw new IllegalArgumentException(what + " is " + u.length + " bytes; max " + max);
        }
        b.putShort((short) u.length).put(u);
    }

    /** The lock entry in {@code data} (kind and version first), exactly, no trailing bytes. */
    public static CacEntry decode(byte[] data) throws CacFormatException {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        try {
            int kind = b.get() & 0xFF;
            int version = b.get() & 0xFF;
            if (version != VERSION) {
                throw new CacFormatException("lock entry: version " + version + "; want " + VERSION);
            }
            CacEntry e = switch (kind) {
                case ACQUIRE -> acquire(b);
                case CHANGE -> new CacEntry.Change(b.getLong(), state(b.get() & 0xFF));
                case RELEASE -> new CacEntry.Release(b.getLong());
                case CANCEL -> new CacEntry.Cancel(b.getLong(), why(b.get() & 0xFF, 3, "CANCEL"));
                case LOST -> new CacEntry.Lost(b.getLong());
                case EXPIRE -> new CacEntry.Expire(b.getLong(), why(b.get() & 0xFF, 2, "EXPIRE"));
                case HOME -> new CacEntry.HomeUp(new LockTable.Home(str(b, MAX_NAME_BYTES, "home"), b.getLong()));
                default -> throw new CacFormatException("lock entry: kind " + kind + "; want " + ACQUIRE + ".." + HOME);
            };
            if (b.hasRemaining()) {
                throw new CacFormatException("lock entry kind " + kind + ": " + b.remaining() + " trailing bytes");
            }
            return e;
        } catch (BufferUnderflowException ex) {
            throw new CacFormatException("lock entry: " + data.length + " bytes, cut short");
        }
    }

    private static CacEntry acquire(ByteBuffer b) throws CacFormatException {
        long nonce = b.getLong();
        long owner = b.getLong();
        String holder = str(b, MAX_NAME_BYTES, "holder");
        String home = str(b, MAX_NAME_BYTES, "home");
        long incarnation = b.getLong();
        CacState s = state(b.get() & 0xFF);
        int d = b.get() & 0xFF;
        CacDomain domain = CacDomain.of(d);
        if (domain == null) {
            throw new CacFormatException("ACQUIRE: domain " + d + "; want 1..4");
        }
        int flags = b.getShort() & 0xFFFF;
        long lease = b.getInt() & 0xFFFF_FFFFL;
        if (lease > LockTable.MAX_LEASE_MS) {
            throw new CacFormatException("ACQUIRE: lease_ms " + lease + "; max " + LockTable.MAX_LEASE_MS);
        }
        String key = str(b, CacKey.MAX_BYTES, "key");
        String why = CacKey.problem(key);
        if (why != null) {
            throw new CacFormatException("ACQUIRE: " + why);
        }
        return new CacEntry.Acquire(nonce, new LockTable.Acquire(new LockTable.Owner(holder, owner),
            new LockTable.Home(home, incarnation), CacKey.of(key), domain, s, flags, (int) lease));
    }

    private static CacState state(int v) throws CacFormatException {
        CacState s = CacState.of(v);
        if (s == null) {
            throw new CacFormatException("lock entry: state " + v + "; want 0..3");
        }
        return s;
    }

    private static int why(int v, int max, String what) throws CacFormatException {
        if (v < 1 || v > max) {
            throw new CacFormatException(what + ": why " + v + "; want 1.." + max);
        }
        return v;
    }

    private static String str(ByteBuffer b, int max, String what) throws CacFormatException {
        int n = b.getShort() & 0xFFFF;
        if (n > max) {
            throw new CacFormatException("lock entry: " + what + " of " + n + " bytes; max " + max);
        }
        byte[] u = new byte[n];
        b.get(u);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(u)).toString();
        } catch (CharacterCodingException e) {
            throw new CacFormatException("lock entry: " + what + " is not UTF-8");
        }
    }

    /** The most bytes one lock takes in a snapshot. */
    public static final int MAX_LOCK_BYTES = 8 + 2 * (2 + MAX_NAME_BYTES) + 8 + 8 + 2 + CacKey.MAX_BYTES + 1 + 2 + 4 + 1 + 1
        + 8 + 8 + 1 + 1;

    /**
     * One lock of a snapshot (docs/CAC.md §5): u64 id ; str holder ; u64 owner ; str home ;
     * u64 incarnation ; str key ; u8 domain ; u16 flags ; u32 lease_ms ; u8 held ; u8 wanted
     * (0xFF none) ; u64 seq ; u64 token ; u8 downgrade_to (0xFF none) ; u8 lost.
     */
    public static byte[] encodeLock(LockTable.LockView v) {
        ByteBuffer b = ByteBuffer.allocate(MAX_LOCK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(v.id());
        str(b, v.owner().name(), "holder");
        b.putLong(v.owner().id());
        str(b, v.home().name(), "home");
        b.putLong(v.home().incarnation());
        str(b, v.key().path(), "key");
        b.put((byte) v.domain().wire()).putShort((short) v.flags()).putInt(v.leaseMs()).put((byte) v.held().wire())
            .put((byte) (v.wanted() == null ? 0xFF : v.wanted().wire())).putLong(v.seq()).putLong(v.token())
            .put((byte) (v.downgradeTo() == null ? 0xFF : v.downgradeTo().wire())).put((byte) (v.lost() ? 1 : 0));
        byte[] out = new byte[b.position()];
        b.flip().get(out);
        return out;
    }

    /** A lock as {@link #encodeLock} wrote it. */
    public static LockTable.LockView decodeLock(byte[] data) throws CacFormatException {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        try {
            long id = b.getLong();
            LockTable.Owner owner = new LockTable.Owner(str(b, MAX_NAME_BYTES, "holder"), b.getLong());
            LockTable.Home home = new LockTable.Home(str(b, MAX_NAME_BYTES, "home"), b.getLong());
            String key = str(b, CacKey.MAX_BYTES, "key");
            if (CacKey.problem(key) != null) {
                throw new CacFormatException("lock " + id + ": " + CacKey.problem(key));
            }
            int d = b.get() & 0xFF;
            CacDomain domain = CacDomain.of(d);
            if (domain == null) {
                throw new CacFormatException("lock " + id + ": domain " + d);
            }
            int flags = b.getShort() & 0xFFFF;
            int lease = b.getInt();
            CacState held = state(b.get() & 0xFF);
            int w = b.get() & 0xFF;
            CacState wanted = w == 0xFF ? null : state(w);
            long seq = b.getLong();
            long token = b.getLong();
            int dt = b.get() & 0xFF;
            CacState downgradeTo = dt == 0xFF ? null : state(dt);
            int lost = b.get() & 0xFF;
            if (lost > 1 || b.hasRemaining()) {
                throw new CacFormatException("lock " + id + ": lost " + lost + ", " + b.remaining() + " trailing bytes");
            }
            return new LockTable.LockView(id, owner, home, CacKey.of(key), domain, flags, lease, held, wanted, seq, token,
                downgradeTo, lost == 1);
        } catch (BufferUnderflowException e) {
            throw new CacFormatException("lock: " + data.length + " bytes, cut short");
        }
    }
}
