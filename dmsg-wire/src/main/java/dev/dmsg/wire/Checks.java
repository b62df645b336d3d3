package dev.dmsg.wire;

/** Range checks for fields narrower than their Java type: our callers' mistakes, not wire errors. */
final class Checks {
    private Checks() {}

    static void u8(String field, int v) {
        if (v < 0 || v > 0xFF) {
            throw new IllegalArgumentException(field + " " + v + " is not a u8");
        }
    }

    static void u16(String field, int v) {
        if (v < 0 || v > 0xFFFF) {
            throw new IllegalArgumentException(field + " " + v + " is not a u16");
        }
    }
}
