package dev.dmsg.services.quorum;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.services.node.Node;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.QrmHeader;
import io.netty.buffer.Unpooled;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * One QRM transaction opened by hand, not through {@link QuorumClient}: what an attacker sends
 * (docs/QUORUM.md §3). It records every message the member answers and closes our side when the
 * member's DELETE arrives.
 */
final class RawQrm implements TransactionHandler {
    /** A message as it arrived (its buffers are not kept). */
    record Got(int cmd, int error, QrmHeader header, byte[] aux, String text) {
        boolean isDelete() {
            return (cmd & Dmsg.DELETE) != 0;
        }

        /** "ERROR: reason" of a refusal. */
        String refusal() {
            return ErrorCode.of(error).name() + ": " + text;
        }
    }

    final List<Got> got = new CopyOnWriteArrayList<>();
    final CompletableFuture<Got> first = new CompletableFuture<>();
    final CompletableFuture<Got> last = new CompletableFuture<>();
    volatile Transaction txn;
    /** Whether our side closes when the member's DELETE arrives (a test that sends after it says no). */
    private final boolean closeOnDelete;

    RawQrm(boolean closeOnDelete) {
        this.closeOnDelete = closeOnDelete;
    }

    @Override
    public void onMessage(Transaction t, Message m) {
        Got g = new Got(m.cmd(), m.error(), m.ext() instanceof QrmHeader h ? h : null, m.auxCopy(), m.auxString());
        got.add(g);
        first.complete(g);
        if (m.isDelete()) {
            last.complete(g);
            if (closeOnDelete) {
                t.close();
            }
        }
    }

    /** Opens {@code cmd} (CREATE added by the link) with {@code h} and {@code aux} on circuit 0 of {@code l}. */
    static RawQrm open(Link l, int cmd, QrmHeader h, byte[] aux) {
        return new RawQrm(true).on(l, cmd, h, aux);
    }

    /** Opens the transaction on circuit 0 of {@code l}; returns this. */
    RawQrm on(Link l, int cmd, QrmHeader h, byte[] aux) {
        RawQrm r = this;
        r.txn = l.open(cmd, h, aux == null ? null : Unpooled.wrappedBuffer(aux), r);
        return r;
    }

    /** As {@link #open(Link, int, QrmHeader, byte[])}, on a circuit forged to a member. */
    static RawQrm open(CircuitHandle c, int cmd, QrmHeader h, byte[] aux) {
        RawQrm r = new RawQrm(true);
        r.txn = c.open(cmd, h, aux == null ? null : Unpooled.wrappedBuffer(aux), r);
        return r;
    }

    /** The member's last message of this transaction (waits up to 20 s). */
    Got answer() throws Exception {
        return last.get(20, TimeUnit.SECONDS);
    }

    /** The refusal that ended the transaction, as "ERROR: reason". */
    String refusal() throws Exception {
        Got g = answer();
        assertThat(g.error()).as("a refusal carries an error: %s", g).isNotZero();
        return g.refusal();
    }

    /** {@code from}'s link to {@code label}, up. */
    static Link link(Node from, String label) {
        for (Link l : from.endpoint().links()) {
            if (l.state() == LinkState.UP && label.equals(l.peerLabel())) {
                return l;
            }
        }
        throw new AssertionError(from.identity().label() + " has no link to " + label);
    }
}
