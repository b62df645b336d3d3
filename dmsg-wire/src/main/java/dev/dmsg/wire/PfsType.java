package dev.dmsg.wire;

import java.util.Arrays;
import java.util.Locale;

/** {@code DMSG_PFSTYPE_*}. */
public enum PfsType {
    NONE, ADMIN, CLIENT, CACHE, COPY, SLAVE, SOFT_SLAVE, SOFT_MASTER, MASTER, SERVER;

    private static final PfsType[] BY_CODE = values();

    /** The wire code; equal to the ordinal, as in the seed (NONE 0 .. SERVER 9). */
    public int code() {
        return ordinal();
    }

    /** The type for a wire code, or {@code null} when unknown. */
    public static PfsType of(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    /** A name ({@code MASTER}, case-insensitive) or a wire code, as a wire code. */
    public static int parse(String s) {
        try {
            int code = Integer.parseInt(s.trim());
            if (code < 0 || code > 255) {
                throw new IllegalArgumentException("PfsType code " + code + " is not 0..255");
            }
            return code;
        } catch (NumberFormatException e) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT)).code();
            } catch (IllegalArgumentException e2) {
                throw new IllegalArgumentException("unknown PfsType '" + s + "'; one of "
                    + Arrays.toString(values()) + " or a number 0..255");
            }
        }
    }

    public static String nameOf(int code) {
        PfsType t = of(code);
        return t != null ? t.name() : "PFSTYPE_" + code;
    }
}
