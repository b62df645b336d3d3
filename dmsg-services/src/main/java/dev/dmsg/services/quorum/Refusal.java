package dev.dmsg.services.quorum;

import dev.dmsg.link.Transaction;
import dev.dmsg.quorum.store.Outcome;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.QrmHeader;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A QRM refusal (docs/QUORUM.md §3.2): the error code in the header and a one-line reason, at most
 * 256 bytes, as the aux of the transaction's last message.
 */
record Refusal(int error, String reason) {
    static final int MAX_REASON_BYTES = 256;

    /** What an outcome that is not a success means to the initiator. */
    static Refusal of(Outcome o) {
        if (o instanceof Outcome.Conflict c) {
            return new Refusal(Dmsg.ERR_CONFLICT, "key \"" + c.key() + "\": reserved by a prepared transaction (index "
                + c.otherIndex() + ")");
        }
        if (o instanceof Outcome.NotPrepared) {
            return new Refusal(Dmsg.ERR_NOTPREPARED, "the batch is not prepared (aborted, or its lease expired)");
        }
        if (o instanceof Outcome.Limit) {
            return new Refusal(Dmsg.ERR_LIMIT, "the group holds its maximum of prepared batches; retry later");
        }
        if (o instanceof Outcome.Aborted) {
            return new Refusal(Dmsg.ERR_NOTPREPARED, "the batch was aborted");
        }
        if (o instanceof Outcome.Invalid i) {
            return new Refusal(Dmsg.ERR_PARAM, i.reason());
        }
        return new Refusal(Dmsg.ERR_IO, "unexpected outcome " + o);
    }

    /**
     * Sends a member's answer on {@code t} from the link's event loop, whatever thread has it
     * ready (Ratis's, the transport's): a send from another thread blocks while the link's outbound
     * side is over budget, and a requester that stops reading must not hold up the threads that
     * apply the log or answer everyone else. The answers queued this way are bounded by the
     * originator's requests in flight (docs/QUORUM.md §6).
     */
    static void answer(Transaction t, int cmd, ExtHeader h, ByteBuf aux) {
        t.link().execute(() -> t.send(cmd, h, aux));
    }

    /** Ends {@code t} with {@code error} and {@code reason} (NUL-terminated, cut to 256 bytes), as {@link #answer}. */
    static void send(Transaction t, int cmd, String group, int error, String reason) {
        QrmHeader h = QrmHeader.of(0, group);
        byte[] aux = aux(reason);
        t.link().execute(() -> t.send(cmd | Dmsg.DELETE, error, h, Unpooled.wrappedBuffer(aux)));
    }

    /** The reason as sent: UTF-8, cut to 255 bytes on a character boundary, NUL-terminated. */
    static byte[] aux(String reason) {
        byte[] b = reason.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(b.length, MAX_REASON_BYTES - 1);
        while (n > 0 && n < b.length && (b[n] & 0xC0) == 0x80) {
            n--; // do not cut a UTF-8 sequence
        }
        byte[] aux = Arrays.copyOf(b, n + 1);
        aux[n] = 0;
        return aux;
    }
}
