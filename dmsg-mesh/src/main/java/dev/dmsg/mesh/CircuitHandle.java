package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.wire.ExtHeader;
import io.netty.buffer.ByteBuf;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.slf4j.LoggerFactory;

/**
 * An open circuit from this node to another ({@link MeshNode#openCircuit}): transactions on it use
 * the same API as on circuit 0. When it is lost — a hop's link died, the span it rests on was
 * withdrawn, the far end closed it — every transaction on it gets its LOSTLINK abort first
 * (exactly once, through its handler), then the {@link #onLost} callbacks run, once, on the
 * link's event loop. A lost circuit stays lost: open another ({@link MeshNode#openCircuit(NodeKey,
 * Duration)} waits for a path) to carry on.
 */
public final class CircuitHandle {
    private final Link link;
    private final NodeKey target;
    private final int hops;
    volatile Transaction txn;
    volatile long id;
    private final List<Consumer<String>> lostCallbacks = new ArrayList<>();
    private final CompletableFuture<String> lostFuture = new CompletableFuture<>();
    private volatile String lost;
    /** The far end as authenticated (docs/IDENTITY.md §4), or null on an unauthenticated circuit. */
    volatile PeerIdentity peer;
    /** Whether its messages are sealed (false: direct, or unauthenticated). */
    volatile boolean sealed;

    CircuitHandle(Link link, NodeKey target, int hops) {
        this.link = link;
        this.target = target;
        this.hops = hops;
    }

    /** The circuit id on our first hop (the msgid of our LNK_CIRC transaction). */
    public long id() {
        return id;
    }

    /** The far end as this node authenticated it (docs/IDENTITY.md §4), or null if it could not (a legacy target). */
    public PeerIdentity peer() {
        return peer;
    }

    /** Whether its messages are sealed end to end (false on a direct or unauthenticated circuit). */
    public boolean sealed() {
        return sealed;
    }

    /** The first hop: where transactions on this circuit are sent. */
    public Link link() {
        return link;
    }

    /** The node at the far end. */
    public NodeKey target() {
        return target;
    }

    /** Links the circuit crosses (1: a neighbour), from the span's dist when it was opened. */
    public int hops() {
        return hops;
    }

    /**
     * Opens a transaction over the circuit, like {@link Link#open(int, ExtHeader, ByteBuf, TransactionHandler)}
     * on circuit 0. On a lost circuit the handler gets the LOSTLINK abort at once.
     */
    public Transaction open(int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler) {
        return link.open(id, cmd, ext, aux, handler);
    }

    /** A one-way message (msgid 0) over the circuit; discarded and counted once it is lost. */
    public void sendOneWay(int cmd, ExtHeader ext, ByteBuf aux) {
        link.sendOneWay(id, cmd, ext, aux);
    }

    /** Why it was lost, or {@code null} while it is open. */
    public String lostReason() {
        return lost;
    }

    public boolean isOpen() {
        return lost == null;
    }

    /** Runs {@code callback} with the reason once the circuit is lost (at once if it already is). */
    public void onLost(Consumer<String> callback) {
        String why;
        synchronized (this) {
            why = lost;
            if (why == null) {
                lostCallbacks.add(callback);
                return;
            }
        }
        callback.accept(why);
    }

    /** Completes with the reason once the circuit is lost. */
    public CompletableFuture<String> lostFuture() {
        return lostFuture;
    }

    /** Closes the circuit end to end; transactions still open on it get the LOSTLINK abort. */
    public void close() {
        link.execute(() -> {
            lost("closed here");
            txn.close();
        });
    }

    /** Link's event loop only. */
    void lost(String why) {
        List<Consumer<String>> cbs;
        synchronized (this) {
            if (lost != null) {
                return;
            }
            lost = why;
            cbs = List.copyOf(lostCallbacks);
            lostCallbacks.clear();
        }
        link.circuits().detach(id);
        for (Consumer<String> c : cbs) {
            try {
                c.accept(why);
            } catch (RuntimeException e) {
                LoggerFactory.getLogger(CircuitHandle.class).warn("onLost callback threw", e);
            }
        }
        lostFuture.complete(why);
    }

    @Override
    public String toString() {
        return "circuit " + Long.toHexString(id) + " to " + MeshNode.describe(target) + " via " + link.peerLabel()
            + (lost == null ? "" : " (lost: " + lost + ")");
    }
}
