package dev.dmsg.services.quorum;

import dev.dmsg.link.Transaction;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.QrmHeader;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import io.netty.buffer.Unpooled;
import java.util.concurrent.CompletableFuture;

/**
 * A batch prepared at a quorum (docs/QUORUM.md §4, phase 1 done): its keys are reserved until
 * {@link #commit()} or {@link #abort()} — or until its lease runs out. The open QRM_COMMIT
 * transaction is the reservation's life line: if it dies, the member aborts the batch.
 */
public final class Prepared {
    private final Transaction txn;
    private final QrmHeader header;
    private final boolean held;
    private final CompletableFuture<QuorumClient.Committed> committed;

    private Prepared(Transaction txn, QrmHeader header, boolean held, CompletableFuture<QuorumClient.Committed> committed) {
        this.txn = txn;
        this.header = header;
        this.held = held;
        this.committed = committed;
    }

    /** Sends PREPARE on {@code c}; completes once PREPARED arrives, or with the refusal. */
    static CompletableFuture<Prepared> open(MemberRoute.Route c, QrmHeader h, byte[] aux) {
        CompletableFuture<Prepared> prepared = new CompletableFuture<>();
        CompletableFuture<QuorumClient.Committed> committed = new CompletableFuture<>();
        c.open(Dmsg.QRM_COMMIT, h, Unpooled.wrappedBuffer(aux), (t, m) -> {
            if (m.isAbort() && m.error() == Dmsg.ERR_LOSTLINK) {
                QuorumException lost = new QuorumException(Dmsg.ERR_LOSTLINK, prepared.isDone()
                    ? "the circuit to the member was lost; whether the batch committed is unknown"
                    : "the circuit to the member was lost before the batch was prepared; it will be aborted",
                    prepared.isDone());
                prepared.completeExceptionally(lost);
                committed.completeExceptionally(lost);
            } else if (m.error() != 0) {
                QuorumException q = QuorumClient.refusal(m);
                prepared.completeExceptionally(q);
                // once prepared, a refusal answers our COMMIT: a NOLEADER there may still be applied
                committed.completeExceptionally(prepared.isDone() ? QuorumClient.writeRefused(q) : q);
            } else if (m.ext() instanceof QrmHeader q && q.phase() == QrmHeader.PREPARED && !prepared.isDone()) {
                byte[] a = m.auxCopy();
                prepared.complete(new Prepared(t, q, a.length > 0 && a[0] == 1, committed));
            } else if (m.ext() instanceof QrmHeader q && q.phase() == QrmHeader.COMMITTED && m.isDelete()) {
                try {
                    committed.complete(new QuorumClient.Committed(q.revision(), q.index(), q.term(),
                        QrmCodec.decodeResults(m.auxCopy())));
                } catch (QrmFormatException e) {
                    committed.completeExceptionally(new QuorumException(Dmsg.ERR_PARAM, "bad reply: " + e.getMessage()));
                }
            } else if (m.isDelete() && !committed.isDone()) {
                QuorumException q = new QuorumException(Dmsg.ERR_NOTPREPARED, "the member ended the transaction ("
                    + describe(m) + ")");
                prepared.completeExceptionally(q);
                committed.completeExceptionally(q);
            }
            if (m.isDelete()) {
                t.close();
            }
        });
        return prepared;
    }

    private static String describe(Message m) {
        return m.ext() instanceof QrmHeader q ? QrmHeader.phaseName(q.phase()) : "no QRM header";
    }

    /** The PREPARE entry's log index. */
    public long index() {
        return header.index();
    }

    public long term() {
        return header.term();
    }

    /** Whether the compares held at the prepare's log position (the success branch is prepared). */
    public boolean held() {
        return held;
    }

    /** Phase 2: commits the prepared branch; completes with its revision and results. */
    public CompletableFuture<QuorumClient.Committed> commit() {
        txn.send(Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.COMMIT, header.group()), null);
        return committed;
    }

    /** Releases the reservation: nothing is applied. */
    public void abort() {
        txn.abortClose();
    }
}
