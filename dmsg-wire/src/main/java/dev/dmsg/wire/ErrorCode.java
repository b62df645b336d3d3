package dev.dmsg.wire;

/**
 * Error codes carried in {@code dmsg_hdr.error}. 0x01..0x1F are local iocom errors and are never
 * put on the wire by us (docs/PROFILE.md §1); they are still named when a legacy peer leaks them
 * (docs/REFERENCE.md §2.7).
 */
public enum ErrorCode {
    OK(0),
    NOSUPP(Dmsg.ERR_NOSUPP),
    LOSTLINK(Dmsg.ERR_LOSTLINK),
    IO(Dmsg.ERR_IO),
    PARAM(Dmsg.ERR_PARAM),
    CANTCIRC(Dmsg.ERR_CANTCIRC),
    PERM(Dmsg.ERR_PERM),
    LIMIT(Dmsg.ERR_LIMIT),
    CONFLICT(Dmsg.ERR_CONFLICT),
    NOTPREPARED(Dmsg.ERR_NOTPREPARED),
    NOLEADER(Dmsg.ERR_NOLEADER),
    COMPACTED(Dmsg.ERR_COMPACTED),
    DEADLOCK(Dmsg.ERR_DEADLOCK),
    TIMEOUT(Dmsg.ERR_TIMEOUT),
    REVOKED(Dmsg.ERR_REVOKED),
    FENCED(Dmsg.ERR_FENCED);

    public final int code;

    ErrorCode(int code) {
        this.code = code;
    }

    public static ErrorCode of(int code) {
        switch (code) {
            case 0: return OK;
            case Dmsg.ERR_NOSUPP: return NOSUPP;
            case Dmsg.ERR_LOSTLINK: return LOSTLINK;
            case Dmsg.ERR_IO: return IO;
            case Dmsg.ERR_PARAM: return PARAM;
            case Dmsg.ERR_CANTCIRC: return CANTCIRC;
            case Dmsg.ERR_PERM: return PERM;
            case Dmsg.ERR_LIMIT: return LIMIT;
            case Dmsg.ERR_CONFLICT: return CONFLICT;
            case Dmsg.ERR_NOTPREPARED: return NOTPREPARED;
            case Dmsg.ERR_NOLEADER: return NOLEADER;
            case Dmsg.ERR_COMPACTED: return COMPACTED;
            case Dmsg.ERR_DEADLOCK: return DEADLOCK;
            case Dmsg.ERR_TIMEOUT: return TIMEOUT;
            case Dmsg.ERR_REVOKED: return REVOKED;
            case Dmsg.ERR_FENCED: return FENCED;
            default: return null;
        }
    }

    /** libdmsg's local DMSG_IOQ_ERROR_* names, index = code (docs/REFERENCE.md §2.8). */
    private static final String[] LOCAL = {
        "OK", "SYNC", "EOF", "SOCK", "FIELD", "HCRC", "XCRC", "ACRC", "STATE", "NOPEER", "NORKEY",
        "NOLKEY", "KEYXCHGFAIL", "KEYFMT", "BADURANDOM", "MSGSEQ", "EALREADY", "TRANS", "IVWRAP",
        "MACFAIL", "ALGO", "ROUTED", "BAD_CIRCUIT", "LOCAL_23", "ASSYM"
    };

    /** {@code LOSTLINK(0x21)}, {@code local EOF(0x02)}, {@code UNKNOWN(0x7f)}. */
    public static String nameOf(int code) {
        ErrorCode e = of(code);
        if (e != null) {
            return code == 0 ? "0" : String.format("%s(0x%02x)", e.name(), code);
        }
        if (code > 0 && code < LOCAL.length) {
            return String.format("local %s(0x%02x)", LOCAL[code], code);
        }
        return String.format("UNKNOWN(0x%x)", code);
    }
}
