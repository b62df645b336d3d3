package dev.dmsg.services.blk;

import dev.dmsg.link.Transaction;
import dev.dmsg.mesh.CircuitException;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.wire.BlkError;
import dev.dmsg.wire.BlkOpen;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiConsumer;
import java.util.function.LongSupplier;

/**
 * Gets a {@link RemoteBlockDevice} an open of its export (docs/BLK.md "Client and failover"): a
 * circuit over whatever path the mesh offers, then BLK_OPEN on it, naming the keyid of the open
 * lost before ({@code supersedes=KEYID}: the fence, answered only once the server has drained
 * it). Which open is current, and what happens when one is lost, is {@link RemoteRequests}'.
 * Stateless apart from what it is given; any thread.
 */
final class RemoteOpener {
    private final MeshNode mesh;
    private final NodeKey key;
    private final String name;
    private final boolean writable;
    private final LongSupplier clock;

    RemoteOpener(MeshNode mesh, NodeKey key, String name, boolean writable, LongSupplier clock) {
        this.mesh = mesh;
        this.key = key;
        this.name = name;
        this.writable = writable;
        this.clock = clock;
    }

    /**
     * A circuit to the export and a BLK_OPEN on it, within {@code wait}. {@code supersede}: the
     * keyid to fence (0: none), read once the circuit is there. {@code lost}: called with the
     * session and why once an established open ends (its circuit lost, or the server closed it).
     */
    CompletableFuture<RemoteSession> connect(Duration wait, LongSupplier supersede,
                                             BiConsumer<RemoteSession, String> lost) {
        CompletableFuture<RemoteSession> f = new CompletableFuture<>();
        long deadline = clock.getAsLong() + wait.toNanos();
        mesh.openCircuit(key, wait).whenComplete((c, e) -> {
            if (e != null) {
                Throwable x = unwrap(e);
                f.completeExceptionally(new BlockException("export " + name + ": " + x.getMessage(),
                    x instanceof CircuitException ce && ce.error() != 0 ? ce.error() : Dmsg.ERR_LOSTLINK, x));
                return;
            }
            int modes = Dmsg.BLKOPEN_RD | (writable ? Dmsg.BLKOPEN_WR : 0);
            CompletableFuture<Long> keyid = new CompletableFuture<>();
            Transaction[] open = new Transaction[1];
            RemoteSession[] established = new RemoteSession[1];
            long old = supersede.getAsLong();
            ByteBuf aux = old == 0 ? null : Unpooled.copiedBuffer(String.format("%s%016x\0", BlkServer.SUPERSEDES, old),
                StandardCharsets.US_ASCII);
            open[0] = c.open(Dmsg.BLK_OPEN, new BlkOpen(modes, 0), aux, (t, m) -> {
                if (m.isCreate() && m.isReply() && !keyid.isDone()) {
                    BlkError be = m.ext(BlkError.class);
                    if (m.error() == 0 && !m.isDelete() && be != null) {
                        keyid.complete(be.keyid());
                    } else {
                        String why = be != null && !be.buf().isEmpty() ? be.buf() : ErrorCode.nameOf(m.error());
                        keyid.completeExceptionally(new BlockException("export " + name + ": open refused: " + why,
                            m.error() == 0 ? Dmsg.ERR_IO : m.error()));
                    }
                }
                if (m.isDelete()) {
                    t.close();
                    if (established[0] != null) { // the open is over: its keyid is dead
                        lost.accept(established[0], m.isAbort() // our link layer's LOSTLINK: the circuit went
                            ? "the circuit was lost: " + (c.lostReason() != null ? c.lostReason() : ErrorCode.nameOf(m.error()))
                            : "the exporting node closed the open (" + ErrorCode.nameOf(m.error()) + ")");
                    }
                    if (!keyid.isDone()) {
                        keyid.completeExceptionally(new BlockException("export " + name + ": open failed: "
                            + ErrorCode.nameOf(m.error()), m.error() == 0 ? Dmsg.ERR_LOSTLINK : m.error()));
                    }
                }
            });
            // a circuit that is acknowledged but never answers the open (a black-holing hop) must not
            // hold the device forever: what is left of the wait, and at least OPEN_ANSWER_MIN_MILLIS
            long answerNanos = Math.max(deadline - clock.getAsLong(), TimeUnit.MILLISECONDS.toNanos(
                RemoteBlockDevice.OPEN_ANSWER_MIN_MILLIS));
            keyid.orTimeout(answerNanos, TimeUnit.NANOSECONDS).whenComplete((k, ke) -> {
                if (ke != null) {
                    c.close();
                    f.completeExceptionally(unwrap(ke) instanceof TimeoutException
                        ? new BlockException("export " + name + ": no answer to BLK_OPEN within "
                            + TimeUnit.NANOSECONDS.toMillis(answerNanos) + " ms", Dmsg.ERR_LOSTLINK)
                        : unwrap(ke));
                    return;
                }
                RemoteSession s = new RemoteSession(c, k, open[0]);
                established[0] = s;
                c.onLost(why -> lost.accept(s, "the circuit to " + c.target().fsLabel() + " was lost: " + why));
                f.complete(s);
            });
        });
        return f;
    }

    static Throwable unwrap(Throwable e) {
        return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    }
}
