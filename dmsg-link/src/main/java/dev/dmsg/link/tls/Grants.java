package dev.dmsg.link.tls;

import java.util.ArrayList;
import java.util.List;

/**
 * Services granted to a {@link Role#CLIENT} (docs/SECURITY.md §5): bits of the {@code grants}
 * byte of LNK_AUTH, written {@code shell-ro,blk-read,blk-rw,kv-read,kv-write,lock,lock-read} in
 * the trust store.
 */
public final class Grants {
    private Grants() {}

    public static final int SHELL_RO = 0x01;
    public static final int BLK_READ = 0x02;
    public static final int BLK_RW = 0x04;
    /** Reads and watches of a quorum group's store (docs/QUORUM.md §6). */
    public static final int KV_READ = 0x08;
    /** Writes to a quorum group's store, one- and two-phase (docs/QUORUM.md §6). */
    public static final int KV_WRITE = 0x10;
    /** Taking cache-coherency locks of a quorum group (docs/CAC.md §8). */
    public static final int LOCK = 0x20;
    /** Listing a quorum group's locks (docs/CAC.md §8). */
    public static final int LOCK_READ = 0x40;

    /** Every grant this version knows; other bits are refused in the trust store. */
    public static final int KNOWN = SHELL_RO | BLK_READ | BLK_RW | KV_READ | KV_WRITE | LOCK | LOCK_READ;

    private static final String[] WORDS = {"shell-ro", "blk-read", "blk-rw", "kv-read", "kv-write", "lock", "lock-read"};

    /** {@code "shell-ro,blk-rw"} to bits; empty or "-" is none. */
    public static int parse(String s) {
        int bits = 0;
        if (s == null || s.isBlank() || s.trim().equals("-")) {
            return 0;
        }
        for (String w : s.split(",")) {
            String t = w.trim();
            int i = List.of(WORDS).indexOf(t);
            if (i < 0) {
                throw new IllegalArgumentException("unknown grant '" + t + "' (grants: " + String.join(", ", WORDS) + ")");
            }
            bits |= 1 << i;
        }
        return bits;
    }

    public static String format(int bits) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < WORDS.length; i++) {
            if ((bits & (1 << i)) != 0) {
                out.add(WORDS[i]);
            }
        }
        return out.isEmpty() ? "-" : String.join(",", out);
    }
}
