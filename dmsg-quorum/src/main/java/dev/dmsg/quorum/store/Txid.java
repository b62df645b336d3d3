package dev.dmsg.quorum.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.SecureRandom;

/**
 * A two-phase transaction's id: 16 random bytes chosen by the member that proposes its PREPARE
 * (docs/QUORUM.md §4). Held as two longs so that the prepared table hashes it cheaply.
 */
public record Txid(long hi, long lo) {
    public static final int BYTES = 16;
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A fresh id (the member's job, never the state machine's: applies must stay deterministic). */
    public static Txid random() {
        return new Txid(RANDOM.nextLong(), RANDOM.nextLong());
    }

    /** The id in {@code b}, which must be exactly 16 bytes. */
    public static Txid of(byte[] b) {
        if (b.length != BYTES) {
            throw new IllegalArgumentException("txid length " + b.length + " != " + BYTES);
        }
        ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.BIG_ENDIAN);
        return new Txid(buf.getLong(), buf.getLong());
    }

    /** The 16 bytes, in the order {@link #of} reads them. */
    public byte[] toBytes() {
        return ByteBuffer.allocate(BYTES).order(ByteOrder.BIG_ENDIAN).putLong(hi).putLong(lo).array();
    }

    @Override
    public String toString() {
        return String.format("%016x%016x", hi, lo);
    }
}
