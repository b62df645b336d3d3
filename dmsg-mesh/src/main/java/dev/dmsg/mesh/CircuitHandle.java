package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * An open circuit from this node: transactions on it use the same API as on circuit 0. When it
 * is lost (a hop died, the span was withdrawn, the far end closed it), every transaction on it
 * gets its LOSTLINK abort first, then the {@link #onLost} callbacks run.
 */
public final class CircuitHandle {
    private final Link link;
    volatile Transaction txn;
    volatile long id;
    private final List<Consumer<String>> lostCallbacks = new ArrayList<>();
    private volatile String lost;

    CircuitHandle(Link link) {
        this.link = link;
    }

    public long id() {
        return id;
    }

    public Link link() {
        return link;
    }

    /** Opens a transaction over the circuit (see {@link Link#open(long, int, dev.dmsg.wire.ExtHeader, io.netty.buffer.ByteBuf, TransactionHandler)}). */
    public Transaction open(int cmd, dev.dmsg.wire.ExtHeader ext, io.netty.buffer.ByteBuf aux, TransactionHandler handler) {
        return link.open(id, cmd, ext, aux, handler);
    }

    /** Why it was lost, or {@code null} while it is open. */
    public String lostReason() {
        return lost;
    }

    public synchronized void onLost(Consumer<String> callback) {
        if (lost != null) {
            callback.accept(lost);
        } else {
            lostCallbacks.add(callback);
        }
    }

    /** Closes the circuit end to end. */
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
        }
        link.detachCircuit(id);
        cbs.forEach(c -> c.accept(why));
    }
}
