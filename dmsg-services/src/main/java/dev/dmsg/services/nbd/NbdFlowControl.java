package dev.dmsg.services.nbd;

import java.util.concurrent.RejectedExecutionException;

/**
 * What one {@link NbdConnection} may hold in flight (docs/BLK.md "Transmission", "Bounds per
 * connection", and "Memory"): at most {@code maxInFlight} requests and {@code maxInFlightBytes}
 * of READ/WRITE payload of its own (one request alone always may), and payload bytes taken from
 * the server's shared {@link MemoryBudget} when a request's header is decoded — before a WRITE's
 * payload is read, before a READ's buffer exists — and given back when its reply is on the
 * socket. While the request at the head of the input cannot start, the connection stops reading.
 *
 * <p>Concurrency: the connection's event loop only, except {@link #budgetGranted}, which the
 * budget calls from whichever thread released the bytes and which hops back to the loop.
 */
final class NbdFlowControl {
    private final NbdConnection conn;
    private final NbdConfig config;

    private int inFlight;
    private long inFlightBytes;
    /** Budget granted to the request whose header is at the head of the input, not yet started. */
    private long headReservedBytes;
    /** Set while the request at the head does not fit this connection's bounds: waits for its own replies. */
    private boolean waitingForReplies;
    /** Set while the request at the head waits for budget. */
    private MemoryBudget.Waiter budgetWaiter;

    NbdFlowControl(NbdConnection conn) {
        this.conn = conn;
        this.config = conn.config;
    }

    int inFlight() {
        return inFlight;
    }

    long inFlightBytes() {
        return inFlightBytes;
    }

    /** The next request cannot be read now: too many in flight, or the one at the head waits for budget. */
    boolean blocked() {
        return waitingForReplies || budgetWaiter != null || inFlight >= config.maxInFlight;
    }

    /** Whether this connection may start a request that holds {@code costBytes} more (one request alone always may). */
    private boolean admits(long costBytes) {
        return inFlight == 0 || (inFlight < config.maxInFlight && inFlightBytes + costBytes <= config.maxInFlightBytes);
    }

    /**
     * Whether the request at the head, holding {@code costBytes}, may go on: within this
     * connection's bounds and with its budget granted (taken now, or already held from an
     * earlier look). False: it waits, for its own replies or for {@link #budgetGranted}.
     */
    boolean reserveHead(long costBytes) {
        if (headReservedBytes != 0) {
            return true;
        }
        if (!admits(costBytes)) {
            waitingForReplies = true; // this connection's own bound: its replies must go out first
            return false;
        }
        if (costBytes > 0) {
            // before a WRITE's payload is read or a READ's buffer exists (docs/BLK.md "Memory")
            MemoryBudget.Waiter w = config.budget.acquire(conn.peer.key(), costBytes, this::budgetGranted);
            if (w != null) {
                budgetWaiter = w;
                return false;
            }
            headReservedBytes = costBytes;
        }
        return true;
    }

    /** The request at the head started: it holds {@code costBytes} (its reserved budget) until {@link #finished}. */
    void started(long costBytes) {
        headReservedBytes = 0;
        inFlight++;
        inFlightBytes += costBytes;
    }

    /** A request's reply is written (or the connection is gone): its bytes go back. */
    void finished(long costBytes) {
        inFlight--;
        inFlightBytes -= costBytes;
        config.budget.release(conn.peer.key(), costBytes);
    }

    /** A reply went out: the head request looks at this connection's bounds again. */
    void repliesWent() {
        waitingForReplies = false;
    }

    /** The input is dropped: so is the budget held or awaited for the request at its head. */
    void releaseHead() {
        if (budgetWaiter != null) {
            config.budget.cancel(budgetWaiter); // if it was granted meanwhile, onBudget gives it back
            budgetWaiter = null;
        }
        if (headReservedBytes > 0) {
            config.budget.release(conn.peer.key(), headReservedBytes);
            headReservedBytes = 0;
        }
    }

    /** Budget granted to a waiting request, on whichever thread released it. */
    private void budgetGranted(MemoryBudget.Waiter w) {
        try {
            conn.ctx.executor().execute(() -> onBudget(w));
        } catch (RejectedExecutionException e) {
            config.budget.release(conn.peer.key(), w.bytes); // the loop is gone, and the connection with it
        }
    }

    private void onBudget(MemoryBudget.Waiter w) {
        if (budgetWaiter != w) {
            config.budget.release(conn.peer.key(), w.bytes); // withdrawn meanwhile (the connection closed)
            return;
        }
        budgetWaiter = null;
        headReservedBytes = w.bytes;
        conn.resume();
    }
}
