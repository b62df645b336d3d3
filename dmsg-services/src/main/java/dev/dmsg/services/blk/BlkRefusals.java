package dev.dmsg.services.blk;

import dev.dmsg.link.Transaction;
import dev.dmsg.services.Access;
import dev.dmsg.wire.BlkError;
import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a {@link BlkServer} says no (docs/BLK.md "The wire", "Refusals"): BLK_ERROR|DELETE with the
 * code and a reason of at most 63 bytes, counted per export and in total, and logged — the first
 * eight, then every power of two. The link stays up. Any event loop; the counter is atomic.
 */
final class BlkRefusals {
    /** The server's logger: refusals are what an operator reads of the BLK server. */
    private static final Logger log = LoggerFactory.getLogger(BlkServer.class);

    private final Access access;
    private final LongAdder refusals = new LongAdder();

    BlkRefusals(Access access) {
        this.access = access;
    }

    long count() {
        return refusals.sum();
    }

    /** A refusal counted but answered and logged elsewhere (a role refusal: the link logs it). */
    void counted() {
        refusals.increment();
    }

    /** Answers {@code t} with BLK_ERROR|DELETE {@code error}; counts it and logs the first few, then powers of two. */
    void refuse(Transaction t, ServedExport e, int error, long keyid, int resid, String why) {
        refusals.increment();
        if (e != null) {
            e.refused.increment();
        }
        long n = refusals.sum();
        if (n <= 8 || Long.bitCount(n) == 1) {
            log.warn("BLK refused ({} so far): {} from {}: {} ({})", n, Command.nameOf(t.icmd()),
                access.who(t.link(), t.circuit()), why, ErrorCode.nameOf(error));
        }
        send(t, error, keyid, resid, why);
    }

    /** The answer alone: nothing counted or logged. */
    static void send(Transaction t, int error, long keyid, int resid, String why) {
        if (t.state().sendOpen()) {
            t.send(Dmsg.BLK_ERROR | Dmsg.DELETE, error, new BlkError(keyid, resid, clip(why)), null);
        }
    }

    /** {@code s} cut to what BlkError.buf holds (63 bytes of UTF-8 and its NUL), on a character boundary. */
    static String clip(String s) {
        String out = s.replace('\0', ' ');
        while (out.getBytes(StandardCharsets.UTF_8).length > BlkError.BUF_BYTES - 1) {
            out = out.substring(0, out.length() - 1);
        }
        return out;
    }
}
