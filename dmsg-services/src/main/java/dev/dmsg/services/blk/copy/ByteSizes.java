package dev.dmsg.services.blk.copy;

import java.util.Locale;

/** Byte counts as the block tools read and print them (docs/BLK.md "Tools"): binary units. */
public final class ByteSizes {
    private ByteSizes() {
    }

    /** {@code 24.0 MiB}: binary units, one decimal; plain bytes below 1 KiB. */
    public static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /**
     * Byte counts like {@code 1048576}, {@code 512K}, {@code 24M}, {@code 2G} (binary; {@code KiB},
     * {@code KB}, {@code B} accepted too).
     *
     * @throws IllegalArgumentException naming {@code s} when it is not one, negative or too large
     */
    public static long parse(String s) {
        String t = s.trim().toUpperCase(Locale.ROOT).replace("IB", "").replace("B", "");
        long mult = 1;
        if (!t.isEmpty() && "KMGT".indexOf(t.charAt(t.length() - 1)) >= 0) {
            mult = 1L << (10 * ("KMGT".indexOf(t.charAt(t.length() - 1)) + 1));
            t = t.substring(0, t.length() - 1);
        }
        try {
            long v = Math.multiplyExact(Long.parseLong(t.trim()), mult);
            if (v < 0) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("expected a byte count like 1048576, 512K or 24M, got '" + s + "'");
        }
    }
}
