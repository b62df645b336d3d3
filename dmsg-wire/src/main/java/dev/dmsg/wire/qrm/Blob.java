package dev.dmsg.wire.qrm;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Immutable bytes: a key or a value of the quorum store (docs/QUORUM.md §2). Ordered as unsigned
 * bytes, lexicographically (etcd's order), so a sorted map of blobs iterates a prefix in one run.
 */
public final class Blob implements Comparable<Blob> {
    public static final Blob EMPTY = new Blob(new byte[0]);

    private final byte[] bytes;
    private int hash;

    private Blob(byte[] bytes) {
        this.bytes = bytes;
    }

    /** A copy of {@code b}. */
    public static Blob of(byte[] b) {
        return b.length == 0 ? EMPTY : new Blob(b.clone());
    }

    /** Takes {@code b} without a copy: the caller must not change it afterwards. */
    public static Blob wrap(byte[] b) {
        return b.length == 0 ? EMPTY : new Blob(b);
    }

    public static Blob utf8(String s) {
        return wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    public int length() {
        return bytes.length;
    }

    /** A copy of the bytes. */
    public byte[] toByteArray() {
        return bytes.clone();
    }

    /** The bytes themselves, for codecs: never change them. */
    public byte[] unsafeBytes() {
        return bytes;
    }

    public boolean startsWith(Blob prefix) {
        return Arrays.equals(bytes, 0, Math.min(prefix.bytes.length, bytes.length), prefix.bytes, 0, prefix.bytes.length)
            && bytes.length >= prefix.bytes.length;
    }

    public String utf8() {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    @Override
    public int compareTo(Blob o) {
        return Arrays.compareUnsigned(bytes, o.bytes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Blob b && Arrays.equals(bytes, b.bytes);
    }

    @Override
    public int hashCode() {
        int h = hash;
        if (h == 0) {
            h = Arrays.hashCode(bytes);
            hash = h;
        }
        return h;
    }

    /** Printable UTF-8 as is, anything else as {@code 0x…} hex. */
    @Override
    public String toString() {
        for (byte b : bytes) {
            if (b < 0x20 || b == 0x7f) {
                StringBuilder sb = new StringBuilder("0x");
                for (byte x : bytes) {
                    sb.append(String.format("%02x", x));
                }
                return sb.toString();
            }
        }
        return utf8();
    }
}
