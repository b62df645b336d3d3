package dev.dmsg.link;

import dev.dmsg.link.tls.PeerIdentity;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * What the mesh established about a circuit that ends here (docs/IDENTITY.md §4): who is at its
 * far end, the seal its messages pass through (null on a direct circuit, which the link's TLS
 * protects), what to do when a message fails to open, and the transaction budget of its far end,
 * shared by all of that node's circuits to us ({@link Budget}). Set with
 * {@link LinkCircuits#secure}.
 *
 * @param peer the far end, as this node trusts it
 * @param onBroken called on the link's event loop, once, with the reason, when a message fails to
 *     open; the circuit is already detached (its transactions got their LOSTLINK aborts)
 */
public record CircuitSecurity(PeerIdentity peer, CircuitSeal seal, Consumer<String> onBroken, Budget budget) {
    public CircuitSecurity {
        Objects.requireNonNull(peer, "peer");
        Objects.requireNonNull(onBroken, "onBroken");
        Objects.requireNonNull(budget, "budget");
    }

    /**
     * Transactions one originator holds open on its circuits to this node (docs/IDENTITY.md §6):
     * they count here rather than against the neighbour whose link carries them. Thread-safe.
     */
    public static final class Budget {
        private final AtomicInteger open = new AtomicInteger();
        private final int max;

        public Budget(int max) {
            if (max < 1) {
                throw new IllegalArgumentException("max must be >= 1, not " + max);
            }
            this.max = max;
        }

        boolean tryAcquire() {
            while (true) {
                int n = open.get();
                if (n >= max) {
                    return false;
                }
                if (open.compareAndSet(n, n + 1)) {
                    return true;
                }
            }
        }

        void release() {
            open.decrementAndGet();
        }

        public int open() {
            return open.get();
        }

        public int max() {
            return max;
        }
    }
}
