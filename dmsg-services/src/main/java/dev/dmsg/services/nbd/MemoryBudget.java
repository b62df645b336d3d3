package dev.dmsg.services.nbd;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The payload bytes every connection of a server may hold at once (docs/BLK.md "Memory"): READ
 * data from the request until its reply is on the socket, WRITE data from its header until the
 * device is done with it. A request takes its bytes before anything is allocated for it; when
 * they are not there it waits, and its connection reads nothing more until they are granted.
 *
 * <p>Two bounds: {@code totalBytes} across the server, and {@code perClientBytes} for one client
 * (a source address, or a local user on a Unix socket), so that one client holding its share —
 * a client that never reads its replies holds it until it is disconnected — cannot keep the
 * others waiting. Waiters are granted in arrival order; one blocked by its own client's share is
 * passed over, one blocked by the total stops the scan (so a large request is not starved by
 * small ones behind it).
 *
 * <p>Thread-safe: connections on any event loop call it. Decisions are made under the lock;
 * grant callbacks run after it is released, on the releasing thread (they only hand the grant
 * to their own event loop).
 */
final class MemoryBudget {
    private final long totalBytes;
    private final long perClientBytes;

    private final Object lock = new Object();
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    private final Map<Object, Long> usedByClient = new HashMap<>();
    private long usedBytes;
    private long peakBytes;
    private long waits;

    /** One request waiting for its bytes. */
    static final class Waiter {
        final Object client;
        final long bytes;
        final Consumer<Waiter> onGranted;
        boolean granted;

        private Waiter(Object client, long bytes, Consumer<Waiter> onGranted) {
            this.client = client;
            this.bytes = bytes;
            this.onGranted = onGranted;
        }
    }

    MemoryBudget(long totalBytes, long perClientBytes) {
        if (perClientBytes < 1 || totalBytes < perClientBytes) {
            throw new IllegalArgumentException("memory budget: need 1 <= per client <= total, not per client "
                + perClientBytes + " and total " + totalBytes);
        }
        this.totalBytes = totalBytes;
        this.perClientBytes = perClientBytes;
    }

    long totalBytes() {
        return totalBytes;
    }

    long perClientBytes() {
        return perClientBytes;
    }

    /**
     * Takes {@code bytes} for {@code client}: returns {@code null} if they were granted now, else
     * the waiter, whose {@code onGranted} runs (on whichever thread releases enough) once they are.
     */
    Waiter acquire(Object client, long bytes, Consumer<Waiter> onGranted) {
        Objects.requireNonNull(client, "client");
        if (bytes < 0 || bytes > perClientBytes) {
            throw new IllegalArgumentException("a request of " + bytes + " bytes can never fit the budget of "
                + perClientBytes + " bytes per client");
        }
        Waiter w = new Waiter(client, bytes, onGranted);
        List<Waiter> others;
        synchronized (lock) {
            waiters.addLast(w);
            others = grantLocked();
            if (!w.granted) {
                waits++;
            }
        }
        others.remove(w);
        run(others);
        return w.granted ? null : w;
    }

    /** Gives back what {@link #acquire} granted. */
    void release(Object client, long bytes) {
        if (bytes == 0) {
            return;
        }
        List<Waiter> granted;
        synchronized (lock) {
            usedBytes -= bytes;
            long left = usedByClient.getOrDefault(client, 0L) - bytes;
            if (usedBytes < 0 || left < 0) {
                throw new IllegalStateException("memory budget: released " + bytes + " bytes for " + client
                    + " but only " + (usedBytes + bytes) + " in all and " + (left + bytes) + " for it were taken");
            }
            if (left == 0) {
                usedByClient.remove(client);
            } else {
                usedByClient.put(client, left);
            }
            granted = grantLocked();
        }
        run(granted);
    }

    /**
     * Withdraws a waiter (its connection closed). Returns true if it was still waiting; false if
     * it had been granted meanwhile, and then the caller owns the bytes and must release them.
     */
    boolean cancel(Waiter w) {
        List<Waiter> granted;
        synchronized (lock) {
            if (w.granted) {
                return false;
            }
            waiters.remove(w);
            granted = grantLocked(); // it may have been the one holding up the queue
        }
        run(granted);
        return true;
    }

    long usedBytes() {
        synchronized (lock) {
            return usedBytes;
        }
    }

    long peakBytes() {
        synchronized (lock) {
            return peakBytes;
        }
    }

    /** Requests that had to wait for their bytes, in all. */
    long waits() {
        synchronized (lock) {
            return waits;
        }
    }

    int waiting() {
        synchronized (lock) {
            return waiters.size();
        }
    }

    private List<Waiter> grantLocked() {
        List<Waiter> granted = null;
        for (Iterator<Waiter> it = waiters.iterator(); it.hasNext(); ) {
            Waiter w = it.next();
            long clientUsed = usedByClient.getOrDefault(w.client, 0L);
            if (clientUsed + w.bytes > perClientBytes) {
                continue; // its own client's share: wait for that client's replies
            }
            if (usedBytes + w.bytes > totalBytes) {
                break; // first come, first served for the total
            }
            it.remove();
            w.granted = true;
            usedBytes += w.bytes;
            peakBytes = Math.max(peakBytes, usedBytes);
            usedByClient.put(w.client, clientUsed + w.bytes);
            if (granted == null) {
                granted = new ArrayList<>();
            }
            granted.add(w);
        }
        return granted == null ? new ArrayList<>(0) : granted;
    }

    private static void run(List<Waiter> granted) {
        for (Waiter w : granted) {
            if (w.onGranted != null) {
                w.onGranted.accept(w);
            }
        }
    }
}
