package dev.dmsg.wire;

/** {@code DMSG_PEER_*}: what kind of node an LNK_CONN or LNK_SPAN describes. */
public enum PeerType {
    NONE(Dmsg.PEER_NONE), CLUSTER(Dmsg.PEER_CLUSTER), BLOCK(Dmsg.PEER_BLOCK), HAMMER2(Dmsg.PEER_HAMMER2);

    public final int code;
    private static final PeerType[] BY_CODE = values();

    PeerType(int code) {
        this.code = code;
    }

    /** The type for a wire code, or {@code null} when unknown (unknown codes stay representable as ints). */
    public static PeerType of(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    public static String nameOf(int code) {
        PeerType t = of(code);
        return t != null ? t.name() : "PEER_" + code;
    }
}
