package dev.dmsg.quorum.raft;

import dev.dmsg.link.tls.Role;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link RaftTransport} between nodes in one JVM, for tests of the quorum layer without a mesh
 * (docs/QUORUM.md §8: "Ratis over the transport in one JVM"). Nodes {@link Network#join join} one
 * {@link Network} with the label and role the receiver is to see — the test decides who is
 * authenticated as what, as a trust store would. Faults, per node or per direction: a node
 * {@link Network#cutOff cut off} fails every call to or from it at once with an
 * {@link IOException}, as a lost circuit does; {@link Network#dropNext dropped} requests are never
 * answered (the caller's timeout ends them, or closing the sender); a {@link Network#delay delay} holds every request and
 * every reply.
 *
 * <p>Threads: requests and replies are delivered on the network's one scheduler thread, and the
 * handler is called there, so a handler that blocks stalls the network — the contract of
 * {@link RaftRequestHandler} forbids it, as an event loop would.
 */
public final class LoopbackRaftTransport implements RaftTransport {
    private final Network network;
    private final String label;
    private final Role role;
    private volatile RaftRequestHandler handler;
    private final Set<CompletableFuture<byte[]>> pending = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private LoopbackRaftTransport(Network network, String label, Role role) {
        this.network = network;
        this.label = label;
        this.role = role;
    }

    /** The nodes of one test and the faults between them. */
    public static final class Network implements AutoCloseable {
        private final ScheduledExecutorService wire = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "raft-loopback");
            t.setDaemon(true);
            return t;
        });
        private final Map<String, LoopbackRaftTransport> nodes = new ConcurrentHashMap<>();
        private final Set<String> cut = ConcurrentHashMap.newKeySet();
        private final Map<String, AtomicInteger> drops = new ConcurrentHashMap<>();
        private final AtomicLong delivered = new AtomicLong();
        private volatile long delayNanos;

        /**
         * A node called {@code label}, seen by the others as {@code label} with {@code role}.
         *
         * @throws IllegalStateException if a node with that label is already on the network
         */
        public LoopbackRaftTransport join(String label, Role role) {
            LoopbackRaftTransport t = new LoopbackRaftTransport(this, Objects.requireNonNull(label, "label"),
                Objects.requireNonNull(role, "role"));
            if (nodes.putIfAbsent(label, t) != null) {
                throw new IllegalStateException("node '" + label + "' is already on the network");
            }
            return t;
        }

        /** Cuts {@code label} off: calls to and from it fail with an IOException until {@link #reconnect}. */
        public void cutOff(String label) {
            cut.add(label);
        }

        public void reconnect(String label) {
            cut.remove(label);
        }

        /** The next {@code n} requests from {@code from} to {@code to} are lost: never answered. */
        public void dropNext(String from, String to, int n) {
            drops.computeIfAbsent(from + "\u0000" + to, k -> new AtomicInteger()).addAndGet(n);
        }

        /** Holds every request and every reply for {@code d} (zero: none). */
        public void delay(Duration d) {
            delayNanos = d.toNanos();
        }

        /** Requests handed to a handler so far. */
        public long delivered() {
            return delivered.get();
        }

        @Override
        public void close() {
            nodes.values().forEach(LoopbackRaftTransport::close);
            wire.shutdownNow();
        }

        private boolean takeDrop(String from, String to) {
            AtomicInteger n = drops.get(from + "\u0000" + to);
            return n != null && n.getAndUpdate(v -> v > 0 ? v - 1 : 0) > 0;
        }

        private void later(Runnable r) {
            long d = delayNanos;
            try {
                if (d > 0) {
                    wire.schedule(r, d, TimeUnit.NANOSECONDS);
                } else {
                    wire.execute(r);
                }
            } catch (RejectedExecutionException e) {
                // the network is closed: every transport was closed first and failed its calls
            }
        }
    }

    @Override
    public String label() {
        return label;
    }

    @Override
    public CompletableFuture<byte[]> call(String groupName, String peerLabel, byte[] request) {
        CompletableFuture<byte[]> f = new CompletableFuture<>();
        if (closed) {
            f.completeExceptionally(new IOException(label + ": transport closed"));
            return f;
        }
        IOException down = unreachable(peerLabel);
        if (down != null) {
            f.completeExceptionally(down);
            return f;
        }
        pending.add(f);
        f.whenComplete((r, e) -> pending.remove(f));
        if (network.takeDrop(label, peerLabel)) {
            return f; // lost on the way: only the caller's timeout (or closing this transport) ends it
        }
        byte[] copy = request.clone();
        RaftOrigin origin = new RaftOrigin(label, role);
        network.later(() -> {
            IOException now = unreachable(peerLabel);
            LoopbackRaftTransport peer = network.nodes.get(peerLabel);
            RaftRequestHandler h = peer == null ? null : peer.handler;
            if (now != null || h == null) {
                f.completeExceptionally(now != null ? now : new IOException("'" + peerLabel + "' is not serving"));
                return;
            }
            network.delivered.incrementAndGet();
            CompletableFuture<byte[]> reply;
            try {
                reply = h.handle(groupName, origin, copy);
            } catch (RuntimeException e) {
                f.completeExceptionally(new IOException("'" + peerLabel + "' failed the request: " + e, e));
                return;
            }
            reply.whenComplete((bytes, e) -> network.later(() -> {
                IOException gone = unreachable(peerLabel);
                if (gone != null) {
                    f.completeExceptionally(gone);
                } else if (e != null) {
                    f.completeExceptionally(e instanceof IOException io ? io
                        : new IOException("'" + peerLabel + "' failed the request: " + e, e));
                } else {
                    f.complete(bytes.clone());
                }
            }));
        });
        return f;
    }

    private IOException unreachable(String peerLabel) {
        if (network.cut.contains(label)) {
            return new IOException(label + " is cut off from the network");
        }
        if (network.cut.contains(peerLabel)) {
            return new IOException("'" + peerLabel + "' is cut off from the network");
        }
        LoopbackRaftTransport peer = network.nodes.get(peerLabel);
        if (peer == null || peer.closed) {
            return new IOException("no node '" + peerLabel + "' on the network");
        }
        return null;
    }

    @Override
    public void serve(RaftRequestHandler h) {
        this.handler = h;
    }

    /** Leaves the network: calls to it fail from now on, its own waiting calls fail. */
    @Override
    public void close() {
        closed = true;
        handler = null;
        network.nodes.remove(label, this);
        for (CompletableFuture<byte[]> f : pending) {
            f.completeExceptionally(new IOException(label + ": transport closed"));
        }
    }
}
