package dev.dmsg.services.quorum;

import dev.dmsg.link.Transaction;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.QrmHeader;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import dev.dmsg.wire.qrm.WatchEvent;
import io.netty.buffer.Unpooled;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * An open watch (docs/QUORUM.md §3.4): a QRM_WATCH transaction the member streams changes on
 * until {@link #close()}. {@link #lastRevision()} is where to resume after it ends.
 */
public final class KvWatch implements AutoCloseable {
    private final Transaction txn;
    private final long startsAfter;
    private volatile long lastRevision;
    private volatile boolean closed;

    private KvWatch(Transaction txn, long startsAfter) {
        this.txn = txn;
        this.startsAfter = startsAfter;
        this.lastRevision = startsAfter;
    }

    static CompletableFuture<KvWatch> open(MemberRoute.Route c, QrmHeader h, byte[] aux, Consumer<List<WatchEvent>> events,
                                         Consumer<QuorumException> ended) {
        CompletableFuture<KvWatch> f = new CompletableFuture<>();
        KvWatch[] self = new KvWatch[1];
        c.open(Dmsg.QRM_WATCH, h, Unpooled.wrappedBuffer(aux), (t, m) -> {
            QrmHeader q = m.ext() instanceof QrmHeader x ? x : null;
            if (m.error() != 0 || (m.isAbort() && m.isDelete())) {
                QuorumException e = m.error() == Dmsg.ERR_LOSTLINK && m.isAbort()
                    ? new QuorumException(Dmsg.ERR_LOSTLINK, "the circuit to the member was lost")
                    : QuorumClient.refusal(m);
                if (!f.completeExceptionally(e) && !self[0].closed) {
                    ended.accept(e);
                }
            } else if (q != null && q.phase() == QrmHeader.WATCHING && self[0] == null) {
                self[0] = new KvWatch(t, q.revision());
                f.complete(self[0]);
            } else if (q != null && q.phase() == QrmHeader.EVENTS && self[0] != null) {
                List<WatchEvent> list;
                try {
                    list = QrmCodec.decodeEvents(m.auxCopy());
                } catch (QrmFormatException e) {
                    t.abortClose();
                    ended.accept(new QuorumException(Dmsg.ERR_PARAM, "bad events: " + e.getMessage()));
                    return;
                }
                if (!list.isEmpty()) {
                    self[0].lastRevision = list.get(list.size() - 1).revision();
                }
                events.accept(list);
            }
            if (m.isDelete()) {
                if (self[0] != null && !self[0].closed && m.error() == 0 && !m.isAbort()) {
                    ended.accept(new QuorumException(Dmsg.ERR_LOSTLINK, "the member ended the watch"));
                }
                t.close();
            }
        });
        return f;
    }

    /** The revision the stream started after. */
    public long startsAfter() {
        return startsAfter;
    }

    /** The revision of the last event delivered (or {@link #startsAfter()}). */
    public long lastRevision() {
        return lastRevision;
    }

    @Override
    public void close() {
        closed = true;
        txn.close();
    }
}
