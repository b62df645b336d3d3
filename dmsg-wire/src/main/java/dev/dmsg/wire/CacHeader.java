package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;

/**
 * {@code struct dmsg_cac_lock} (docs/CAC.md §7), the extended header of CAC_LOCK: 192 bytes, size
 * byte 3. {@code version} u8 at 0x40, {@code phase} u8 at 0x41, {@code state} u8 at 0x42,
 * {@code domain} u8 at 0x43, {@code flags} u16 at 0x44, reserved u16 at 0x46, {@code wait_ms} u32
 * at 0x48, {@code lease_ms} u32 at 0x4C, {@code token} u64 at 0x50, {@code lock} u64 at 0x58,
 * {@code owner} u64 at 0x60, reserved 24 bytes at 0x68, {@code group} char[32] at 0x80, reserved
 * 32 bytes at 0xA0.
 *
 * <p>Decoding keeps whatever the bytes say; {@link #problem()} names what a receiver must refuse
 * (a version it does not speak, unknown flags, reserved bytes not zero). States and domains are
 * checked by the lock manager, which names the field.
 */
public record CacHeader(int version, int phase, int state, int domain, int flags, int waitMs, int leaseMs, long token,
                        long lock, long owner, String group, boolean reservedClear) implements ExtHeader {
    public static final int VERSION = 1;

    public static final int REQUEST = 1;
    public static final int WAITING = 2;
    public static final int GRANTED = 3;
    public static final int DOWNGRADE = 4;
    public static final int CHANGE = 5;
    public static final int CHANGED = 6;
    public static final int RELEASED = 7;
    public static final int LIST = 8;

    public static final int BROADER_OK = 0x0001;
    public static final int NOWAIT = 0x0002;
    static final int KNOWN_FLAGS = BROADER_OK | NOWAIT;

    public static final int GROUP_BYTES = 32;

    static final int VERSION_OFFSET = 0x40;
    static final int PHASE_OFFSET = 0x41;
    static final int STATE_OFFSET = 0x42;
    static final int DOMAIN_OFFSET = 0x43;
    static final int FLAGS_OFFSET = 0x44;
    static final int RESERVED1_OFFSET = 0x46;
    static final int WAIT_OFFSET = 0x48;
    static final int LEASE_OFFSET = 0x4C;
    static final int TOKEN_OFFSET = 0x50;
    static final int LOCK_OFFSET = 0x58;
    static final int OWNER_OFFSET = 0x60;
    static final int RESERVED2_OFFSET = 0x68;
    static final int GROUP_OFFSET = 0x80;
    static final int RESERVED3_OFFSET = 0xA0;
    static final int END = 0xC0;

    private static final String[] PHASES = {"0", "REQUEST", "WAITING", "GRANTED", "DOWNGRADE", "CHANGE", "CHANGED",
        "RELEASED", "LIST"};
    private static final String[] STATES = {"INVAL", "SHARED", "EXCLUSIVE", "MODIFIED"};
    private static final String[] DOMAINS = {"0", "TREE", "INUM", "ATTR", "DIRENT"};

    public CacHeader {
        Checks.u8("version", version);
        Checks.u8("phase", phase);
        Checks.u8("state", state);
        Checks.u8("domain", domain);
        Checks.u16("flags", flags);
        Bytes.utf8(group, GROUP_BYTES, "group");
    }

    /** A version-1 header of {@code phase} for {@code group}, other fields zero. */
    public static CacHeader of(int phase, String group) {
        return new CacHeader(VERSION, phase, 0, 0, 0, 0, 0, 0, 0, 0, group, true);
    }

    /** A REQUEST for {@code state} in {@code domain}. */
    public static CacHeader request(String group, int state, int domain, int flags, int waitMs, int leaseMs, long owner) {
        return new CacHeader(VERSION, REQUEST, state, domain, flags, waitMs, leaseMs, 0, 0, owner, group, true);
    }

    public CacHeader withPhase(int p) {
        return new CacHeader(version, p, state, domain, flags, waitMs, leaseMs, token, lock, owner, group, reservedClear);
    }

    public CacHeader withState(int s) {
        return new CacHeader(version, phase, s, domain, flags, waitMs, leaseMs, token, lock, owner, group, reservedClear);
    }

    public CacHeader withGrant(int s, long tok, long lk, int lease) {
        return new CacHeader(version, phase, s, domain, flags, waitMs, lease, tok, lk, owner, group, reservedClear);
    }

    public boolean has(int flag) {
        return (flags & flag) != 0;
    }

    /** What a receiver must refuse with PARAM, or {@code null}. */
    public String problem() {
        if (version != VERSION) {
            return "CAC header version " + version + " (this node speaks " + VERSION + ")";
        }
        if ((flags & ~KNOWN_FLAGS) != 0) {
            return String.format("CAC header flags 0x%04x: reserved bits set", flags);
        }
        if (!reservedClear) {
            return "CAC header reserved bytes are not zero";
        }
        return null;
    }

    public static String phaseName(int phase) {
        return phase >= 0 && phase < PHASES.length ? PHASES[phase] : "phase" + phase;
    }

    public static String stateName(int state) {
        return state >= 0 && state < STATES.length ? STATES[state] : "state" + state;
    }

    public static String domainName(int domain) {
        return domain >= 0 && domain < DOMAINS.length ? DOMAINS[domain] : "domain" + domain;
    }

    static CacHeader decode(ByteBuf b, int base, boolean le) {
        boolean clear = Bytes.u16(b, base + RESERVED1_OFFSET, le) == 0 && zero(b, base + RESERVED2_OFFSET, 24)
            && zero(b, base + RESERVED3_OFFSET, 32);
        return new CacHeader(Bytes.u8(b, base + VERSION_OFFSET), Bytes.u8(b, base + PHASE_OFFSET),
            Bytes.u8(b, base + STATE_OFFSET), Bytes.u8(b, base + DOMAIN_OFFSET), Bytes.u16(b, base + FLAGS_OFFSET, le),
            Bytes.i32(b, base + WAIT_OFFSET, le), Bytes.i32(b, base + LEASE_OFFSET, le),
            Bytes.i64(b, base + TOKEN_OFFSET, le), Bytes.i64(b, base + LOCK_OFFSET, le),
            Bytes.i64(b, base + OWNER_OFFSET, le), Bytes.str(b, base + GROUP_OFFSET, GROUP_BYTES), clear);
    }

    private static boolean zero(ByteBuf b, int from, int n) {
        for (int i = 0; i < n; i++) {
            if (b.getByte(from + i) != 0) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void encode(ByteBuf b, int base) {
        b.setByte(base + VERSION_OFFSET, version);
        b.setByte(base + PHASE_OFFSET, phase);
        b.setByte(base + STATE_OFFSET, state);
        b.setByte(base + DOMAIN_OFFSET, domain);
        b.setShortLE(base + FLAGS_OFFSET, flags);
        b.setIntLE(base + WAIT_OFFSET, waitMs);
        b.setIntLE(base + LEASE_OFFSET, leaseMs);
        b.setLongLE(base + TOKEN_OFFSET, token);
        b.setLongLE(base + LOCK_OFFSET, lock);
        b.setLongLE(base + OWNER_OFFSET, owner);
        Bytes.putStr(b, base + GROUP_OFFSET, GROUP_BYTES, group);
    }

    @Override
    public boolean fits(int cmd) {
        Command c = Command.of(cmd);
        return c != null && c.layout == Command.Layout.CAC;
    }

    @Override
    public String describe() {
        return String.format("version=%d phase=%s state=%s domain=%s flags=0x%04x wait_ms=%d lease_ms=%d token=%d lock=%d "
                + "owner=%x group=\"%s\"%s", version, phaseName(phase), stateName(state), domainName(domain), flags,
            Integer.toUnsignedLong(waitMs), Integer.toUnsignedLong(leaseMs), token, lock, owner, group,
            reservedClear ? "" : " reserved!=0");
    }
}
