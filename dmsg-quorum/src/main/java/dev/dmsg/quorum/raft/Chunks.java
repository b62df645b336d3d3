package dev.dmsg.quorum.raft;

import dev.dmsg.wire.Message;
import java.io.ByteArrayOutputStream;

/**
 * One QRM_RAFT request or reply being put back together from its chunks (docs/QUORUM.md §5):
 * refuses to grow past its bound, and a chunk after the last. Not thread-safe: its transaction's
 * event loop only.
 */
final class Chunks {
    private final int maxBytes;
    private ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private boolean complete;

    Chunks(int maxBytes) {
        this.maxBytes = maxBytes;
    }

    /** Adds {@code m}'s aux; {@code more}: further chunks follow. Returns what is wrong, or {@code null}. */
    String add(Message m, boolean more) {
        if (complete) {
            return "QRM_RAFT chunk after the last one";
        }
        int n = m.auxBytes();
        if (bytes.size() + (long) n > maxBytes) {
            return "QRM_RAFT message of more than " + maxBytes + " bytes (" + (bytes.size() + (long) n) + " so far)";
        }
        if (n > 0) {
            byte[] b = new byte[n];
            m.aux().readBytes(b);
            bytes.write(b, 0, n);
        }
        complete = !more;
        return null;
    }

    boolean complete() {
        return complete;
    }

    /** Bytes held now (counted against the originator's budget until {@link #forget}). */
    int held() {
        return bytes == null ? 0 : bytes.size();
    }

    byte[] bytes() {
        return bytes.toByteArray();
    }

    void forget() {
        bytes = null;
    }
}
