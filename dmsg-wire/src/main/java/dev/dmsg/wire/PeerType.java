package dev.dmsg.wire;

import java.util.Arrays;
import java.util.Locale;

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

    /** A name ({@code MASTER}, case-insensitive) or a wire code, as a wire code. */
    public static int parse(String s) {
        try {
            int code = Integer.parseInt(s.trim());
            if (code < 0 || code > 255) {
                throw new IllegalArgumentException("PeerType code " + code + " is not 0..255");
            }
            return code;
        } catch (NumberFormatException e) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT)).code;
            } catch (IllegalArgumentException e2) {
                throw new IllegalArgumentException("unknown PeerType '" + s + "'; one of "
                    + Arrays.toString(values()) + " or a number 0..255");
            }
        }
    }

    public static String nameOf(int code) {
        PeerType t = of(code);
        return t != null ? t.name() : "PEER_" + code;
    }
}
