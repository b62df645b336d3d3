package dev.dmsg.quorum.raft;

import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.QrmHeader;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The real {@link RaftTransport} (docs/QUORUM.md §5): each Raft request is a {@code QRM_RAFT}
 * transaction on a circuit to the peer's quorum span ({@link QuorumIds#memberKey}), the request
 * in chunks of at most {@value #CHUNK_BYTES} bytes of aux ({@code CREATE} with the first,
 * {@code MORE} on all but the last, {@code DELETE} with the last), the reply the same way back,
 * its last chunk with {@code DELETE}. A whole request or reply is at most
 * {@value #MAX_MESSAGE_BYTES} bytes.
 *
 * <p>Sending: one circuit per group and peer, forged on first use and kept; when it is lost the
 * calls on it fail with an IOException (their transactions get LOSTLINK) and the next call forges
 * a new one. While a forging fails, calls for the next {@value #REFORGE_BACKOFF_MILLIS} ms fail at
 * once with its reason rather than each waiting on the mesh: Ratis retries on its own clock. The
 * circuit's far end must be the peer asked for, authenticated (docs/IDENTITY.md §4), as an admin
 * or member here.
 *
 * <p>Receiving: the acceptor registered for QRM_RAFT reassembles a request, bounded per request
 * ({@value #MAX_MESSAGE_BYTES}: beyond it PARAM) and per originator (all its requests being
 * reassembled at once, {@value #MAX_REASSEMBLY_PER_ORIGIN}: beyond it LIMIT), takes the originator
 * from the circuit (an unauthenticated one is refused with PERM), and hands the request to the
 * {@link RaftRequestHandler}, which answers later from its own threads.
 *
 * <p>Threads: a transaction's messages arrive on its link's event loop, where reassembly state is
 * touched; replies are sent from whichever thread the handler completes on ({@link Transaction}
 * is safe from any). Calls complete on this transport's own small pool, never on an event loop,
 * so Ratis's continuations cannot stall a link. Needs TLS: without identities nobody can be
 * authorised (§5).
 */
public final class MeshRaftTransport implements RaftTransport {
    private static final Logger log = LoggerFactory.getLogger(MeshRaftTransport.class);

    /** Aux bytes per QRM_RAFT message: a chunk and its header stay under the 64 KiB aux limit. */
    public static final int CHUNK_BYTES = 60 << 10;
    public static final int MAX_MESSAGE_BYTES = 4 << 20;
    public static final long MAX_REASSEMBLY_PER_ORIGIN = 8L << 20;
    static final long REFORGE_BACKOFF_MILLIS = 200;
    /** An error's reason (aux) is at most this long (docs/QUORUM.md §3.2). */
    static final int REASON_BYTES = 256;

    private final MeshNode mesh;
    private final String label;
    private final Services services;
    private final LongSupplier nanoClock;
    private final Map<NodeKey, PeerCircuit> circuits = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> reassembling = new ConcurrentHashMap<>();
    private final ExecutorService completions;
    /** Circuits this transport began to forge, and those it closed because nothing came back. */
    private final AtomicLong forged = new AtomicLong();
    private final AtomicLong silentClosed = new AtomicLong();
    private volatile RaftRequestHandler handler;
    private volatile boolean closed;

    /**
     * A transport for this node ({@code label}, as its spans and keys name it) over {@code mesh};
     * registers its acceptor for QRM_RAFT in {@code services} (the node's).
     */
    public MeshRaftTransport(MeshNode mesh, String label, Services services) {
        this(mesh, label, services, System::nanoTime);
    }

    MeshRaftTransport(MeshNode mesh, String label, Services services, LongSupplier nanoClock) {
        this.mesh = mesh;
        this.label = label;
        this.services = services;
        this.nanoClock = nanoClock;
        this.completions = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "quorum-raft-calls-" + label);
            t.setDaemon(true);
            return t;
        });
        services.accept(Dmsg.QRM_RAFT, this::accept);
    }

    @Override
    public String label() {
        return label;
    }

    @Override
    public void serve(RaftRequestHandler h) {
        this.handler = h;
    }

    /** Circuits forged (or being forged) so far, to any member of any group. */
    long circuitsForged() {
        return forged.get();
    }

    /** Circuits closed because a call's caller gave up with nothing at all come back on them. */
    long silentCircuitsClosed() {
        return silentClosed.get();
    }

    // ---- sending ----

    @Override
    public CompletableFuture<byte[]> call(String groupName, String peerLabel, byte[] request) {
        CompletableFuture<byte[]> result = new CompletableFuture<>();
        CompletableFuture<byte[]> out = result.whenCompleteAsync((b, e) -> { }, this::complete);
        if (closed) {
            result.completeExceptionally(new IOException(label + ": Raft transport closed"));
            return out;
        }
        if (request.length > MAX_MESSAGE_BYTES) {
            result.completeExceptionally(new IOException("Raft request of " + request.length + " bytes is over "
                + MAX_MESSAGE_BYTES));
            return out;
        }
        if (peerLabel.equals(label)) { // our own client asking our own server: no circuit to oneself
            RaftRequestHandler h = handler;
            if (h == null) {
                result.completeExceptionally(new IOException(label + ": not serving Raft requests"));
            } else {
                h.handle(groupName, new RaftOrigin(label, Role.MEMBER), request.clone()).whenComplete((b, e) -> {
                    if (e != null) {
                        result.completeExceptionally(RaftCalls.ioException(e));
                    } else {
                        result.complete(b);
                    }
                });
            }
            return out;
        }
        NodeKey key = QuorumIds.memberKey(groupName, peerLabel);
        PeerCircuit pc = circuits.computeIfAbsent(key, k -> new PeerCircuit(k, peerLabel));
        CompletableFuture<CircuitHandle> circuit = pc.circuit();
        long sentAt = nanoClock.getAsLong();
        AtomicReference<CircuitHandle> sentOn = new AtomicReference<>();
        BiConsumer<CircuitHandle, Throwable> go = (c, e) -> {
            if (e != null) {
                result.completeExceptionally(RaftCalls.ioException(e));
            } else {
                sentOn.set(c);
                try {
                    new Outbound(pc, c, groupName, peerLabel, request, result).send();
                } catch (RuntimeException x) { // never leave the call hanging on a send that threw
                    result.completeExceptionally(new IOException("sending to '" + peerLabel + "' failed: " + x, x));
                }
            }
        };
        if (circuit.isDone()) {
            circuit.whenComplete(go); // here, on the caller's thread
        } else {
            // not on the thread that completes the forging (the mesh's, or an event loop): a send
            // may wait for backpressure, which neither may do
            circuit.whenCompleteAsync(go, this::complete);
        }
        // the caller gave up (its timeout): a late reply is dropped. Our side of the transaction is
        // already closed (DELETE with the last chunk), so the peer's ends when it answers — Ratis
        // answers every request, if only with an error — without costing every call a message.
        // If nothing at all came back on the circuit meanwhile, the circuit is presumed broken
        // (docs/QUORUM.md §5): it is closed, and the next call forges another
        out.whenComplete((b, e) -> {
            if (result.completeExceptionally(new IOException("abandoned by the caller"))) {
                CircuitHandle c = sentOn.get();
                if (c != null) {
                    pc.unanswered(c, sentAt);
                }
            }
        });
        return out;
    }

    @Override
    public void reset(String groupName, String peerLabel) {
        PeerCircuit pc = circuits.get(QuorumIds.memberKey(groupName, peerLabel));
        if (pc == null) {
            return;
        }
        CompletableFuture<CircuitHandle> f;
        synchronized (pc) {
            f = pc.current;
            pc.current = null;
        }
        if (f != null) {
            log.warn("{}: a Raft call to '{}' (group '{}') outlived its timeout: dropping its circuit", label, peerLabel,
                groupName);
            f.thenAccept(CircuitHandle::close);
        }
    }

    private void complete(Runnable r) {
        try {
            completions.execute(r);
        } catch (RejectedExecutionException e) {
            r.run(); // closing: complete where we are rather than never
        }
    }

    /** The circuit to one member of one group: forged on demand, forgotten when lost. */
    private final class PeerCircuit {
        final NodeKey key;
        final String peerLabel;
        private CompletableFuture<CircuitHandle> current;
        private long failedAtNanos;
        /** The circuit a message last arrived on (any call's reply), and when. */
        private volatile CircuitHandle heardOn;
        private volatile long heardNanos;

        PeerCircuit(NodeKey key, String peerLabel) {
            this.key = key;
            this.peerLabel = peerLabel;
        }

        synchronized CompletableFuture<CircuitHandle> circuit() {
            CompletableFuture<CircuitHandle> f = current;
            if (f != null) {
                if (!f.isDone()) {
                    return f; // being forged: wait with it
                }
                if (!f.isCompletedExceptionally()) {
                    if (f.join().isOpen()) {
                        return f;
                    }
                    // lost: forge another below
                } else if (nanoClock.getAsLong() - failedAtNanos < TimeUnit.MILLISECONDS.toNanos(REFORGE_BACKOFF_MILLIS)) {
                    return f; // failed lately: fail fast with its reason
                }
            }
            forged.incrementAndGet();
            CompletableFuture<CircuitHandle> next = mesh.openCircuit(key).thenApply(this::check);
            current = next;
            next.whenComplete((c, e) -> {
                if (e != null) {
                    failedNow(next);
                }
            });
            return next;
        }

        void heard(CircuitHandle c) {
            heardNanos = nanoClock.getAsLong();
            heardOn = c;
        }

        /**
         * A call sent on {@code c} at {@code sentAt} was given up by its caller unanswered. If
         * nothing arrived on the circuit since, requests go into a void (a hop lost its state and
         * nobody told us): close it, so that the next call forges a new one.
         */
        void unanswered(CircuitHandle c, long sentAt) {
            if (!c.isOpen() || heardOn == c && heardNanos - sentAt >= 0) {
                return;
            }
            synchronized (this) {
                CompletableFuture<CircuitHandle> f = current;
                if (f == null || !f.isDone() || f.isCompletedExceptionally() || f.join() != c) {
                    return; // already replaced
                }
                current = null;
            }
            silentClosed.incrementAndGet();
            log.warn("{}: no answer on {} ({} hop(s)) for {} ms (group '{}'): closing it; the next call forges another",
                label, c, c.hops(), TimeUnit.NANOSECONDS.toMillis(nanoClock.getAsLong() - sentAt), key.clLabel());
            c.close();
        }

        private synchronized void failedNow(CompletableFuture<CircuitHandle> f) {
            if (current == f) {
                failedAtNanos = nanoClock.getAsLong();
            }
        }

        /** The far end must be who we asked for (docs/QUORUM.md §5), authenticated, a member or admin here. */
        private CircuitHandle check(CircuitHandle c) {
            String why = farEndProblem(c.peer(), peerLabel);
            if (why != null) {
                c.close();
                throw new CompletionException(new IOException("the far end of the circuit to '" + peerLabel + "' for group '"
                    + key.clLabel() + "' " + why));
            }
            return c;
        }
    }

    /** What is wrong with {@code p} as the far end of a circuit to {@code peerLabel}, or {@code null} (docs/QUORUM.md §5). */
    static String farEndProblem(PeerIdentity p, String peerLabel) {
        if (p == null) {
            return "is not authenticated (a quorum needs TLS)";
        }
        if (!p.name().equals(peerLabel)) {
            return "is '" + p.name() + "'";
        }
        if (p.role() != Role.ADMIN && p.role() != Role.MEMBER) {
            return "is '" + p.name() + "' with the " + p.role().word() + " role only";
        }
        return null;
    }

    /** One request on a circuit and its reply; the handler runs on the circuit's link's event loop. */
    private final class Outbound implements TransactionHandler {
        final PeerCircuit owner;
        final CircuitHandle circuit;
        final String group;
        final String peer;
        final byte[] request;
        final CompletableFuture<byte[]> result;
        private final Chunks reply = new Chunks(MAX_MESSAGE_BYTES);
        private int error;
        private String reason;

        Outbound(PeerCircuit owner, CircuitHandle circuit, String group, String peer, byte[] request,
                 CompletableFuture<byte[]> result) {
            this.owner = owner;
            this.circuit = circuit;
            this.group = group;
            this.peer = peer;
            this.request = request;
            this.result = result;
        }

        void send() {
            int n = Math.max(1, (request.length + CHUNK_BYTES - 1) / CHUNK_BYTES);
            Transaction txn = null;
            for (int i = 0; i < n; i++) { // all of it, even after an early refusal: our DELETE must go out
                int off = i * CHUNK_BYTES;
                int len = Math.min(CHUNK_BYTES, request.length - off);
                boolean last = i == n - 1;
                QrmHeader h = QrmHeader.of(QrmHeader.RAFT, group).withFlags(last ? 0 : QrmHeader.MORE);
                int cmd = Dmsg.QRM_RAFT | (last ? Dmsg.DELETE : 0);
                if (i == 0) {
                    txn = circuit.open(cmd, h, Unpooled.wrappedBuffer(request, off, len), this);
                } else {
                    txn.send(cmd, h, Unpooled.wrappedBuffer(request, off, len));
                }
            }
        }

        @Override
        public void onMessage(Transaction t, Message m) {
            boolean lostLink = m.isAbort() && m.isDelete() && m.error() == Dmsg.ERR_LOSTLINK;
            if (!lostLink) {
                owner.heard(circuit); // the circuit carries: even a late reply says so
            }
            if (result.isDone()) {
                return; // abandoned, or already failed: the rest of the reply has no one to go to
            }
            if (lostLink) {
                result.completeExceptionally(new IOException("circuit to '" + peer + "' for group '" + group + "' lost"
                    + (circuit.lostReason() == null ? "" : ": " + circuit.lostReason())));
                return;
            }
            if (m.error() != 0 && error == 0) {
                error = m.error();
                reason = m.auxBytes() > 0 ? m.auxString() : "";
            }
            if (error == 0) {
                QrmHeader h = m.ext(QrmHeader.class);
                String bad = h == null ? "no QRM header" : h.problem() != null ? h.problem()
                    : h.phase() != QrmHeader.RAFT ? "phase " + QrmHeader.phaseName(h.phase()) + ", not RAFT"
                    : reply.add(m, h.has(QrmHeader.MORE));
                if (bad != null) {
                    result.completeExceptionally(new IOException("bad Raft reply from '" + peer + "': " + bad));
                    return;
                }
            }
            if (m.isDelete()) {
                if (error != 0) {
                    result.completeExceptionally(new IOException("'" + peer + "' refused the Raft request for group '"
                        + group + "': " + ErrorCode.nameOf(error) + (reason.isEmpty() ? "" : " (" + reason + ")")));
                } else if (!reply.complete()) {
                    result.completeExceptionally(new IOException("Raft reply from '" + peer + "' ended before its last chunk"));
                } else {
                    result.complete(reply.bytes());
                }
            }
        }
    }

    // ---- receiving ----

    private TransactionHandler accept(Transaction txn, Message create) {
        PeerIdentity p = txn.link().circuitPeer(txn.circuit());
        if (p == null || txn.circuit() == 0) {
            txn.link().denied("QRM_RAFT from '" + txn.link().peerLabel() + "' not over an authenticated circuit");
            refuse(txn, Dmsg.ERR_PERM, "QRM_RAFT needs an authenticated circuit (docs/QUORUM.md §5)");
            return TransactionHandler.CLOSE_ON_DELETE;
        }
        return new Inbound(new RaftOrigin(p.name(), p.role()));
    }

    /**
     * Ends the peer's transaction with {@code error} and a one-line reason (docs/QUORUM.md §3.2),
     * NUL-terminated as DMSG's text aux is (a receiver reads up to the NUL: docs/REFERENCE.md §1.6).
     */
    static void refuse(Transaction txn, int error, String why) {
        byte[] text = why.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(text.length, REASON_BYTES - 1);
        byte[] aux = Arrays.copyOf(text, n + 1);
        txn.send(Dmsg.QRM_RAFT | Dmsg.DELETE, error, QrmHeader.of(QrmHeader.RAFT, ""), Unpooled.wrappedBuffer(aux));
    }

    /** One request being received: event loop only, but the reply goes out from the handler's thread. */
    private final class Inbound implements TransactionHandler {
        final RaftOrigin origin;
        private final Chunks request = new Chunks(MAX_MESSAGE_BYTES);
        private final AtomicLong budget;
        private String group;
        /** Set once we answered (a refusal, or the request went to the handler): later chunks are ignored. */
        private boolean answered;
        private volatile boolean dead;

        Inbound(RaftOrigin origin) {
            this.origin = origin;
            this.budget = reassembling.computeIfAbsent(origin.label(), k -> new AtomicLong());
        }

        @Override
        public void onMessage(Transaction t, Message m) {
            if (m.isAbort() && m.isDelete()) { // the sender gave up, or the circuit died
                dead = true;
                release();
                t.abortClose();
                return;
            }
            if (answered) {
                return;
            }
            QrmHeader h = m.ext(QrmHeader.class);
            String bad = h == null ? "no QRM header" : h.problem();
            if (bad == null && h.phase() != QrmHeader.RAFT) {
                answer(t, Dmsg.ERR_NOSUPP, "QRM_RAFT phase " + QrmHeader.phaseName(h.phase()) + ", not RAFT");
                return;
            }
            if (bad == null && group == null) {
                group = h.group();
                try {
                    QuorumIds.checkGroupName(group);
                } catch (IllegalArgumentException e) {
                    bad = e.getMessage();
                }
            } else if (bad == null && !group.equals(h.group())) {
                bad = "QRM_RAFT chunk for group '" + h.group() + "' in a request for '" + group + "'";
            }
            if (bad == null && m.isDelete() && h.has(QrmHeader.MORE)) {
                bad = "QRM_RAFT DELETE with MORE set";
            }
            if (bad == null && !m.isDelete() && !h.has(QrmHeader.MORE)) {
                bad = "QRM_RAFT last chunk without DELETE";
            }
            if (bad != null) {
                answer(t, Dmsg.ERR_PARAM, bad);
                return;
            }
            if (budget.addAndGet(m.auxBytes()) > MAX_REASSEMBLY_PER_ORIGIN) {
                budget.addAndGet(-m.auxBytes());
                answer(t, Dmsg.ERR_LIMIT, "over " + MAX_REASSEMBLY_PER_ORIGIN + " bytes of Raft requests from "
                    + origin.label() + " being received at once");
                return;
            }
            bad = request.add(m, h.has(QrmHeader.MORE));
            if (bad != null) {
                answer(t, Dmsg.ERR_PARAM, bad);
                return;
            }
            if (request.complete()) {
                answered = true;
                byte[] bytes = request.bytes();
                release();
                dispatch(t, bytes);
            }
        }

        private void dispatch(Transaction t, byte[] bytes) {
            RaftRequestHandler h = handler;
            if (h == null) {
                refuse(t, Dmsg.ERR_NOSUPP, label + " is not serving quorum group '" + group + "'");
                return;
            }
            CompletableFuture<byte[]> reply;
            try {
                reply = h.handle(group, origin, bytes);
            } catch (RuntimeException e) {
                reply = CompletableFuture.failedFuture(e);
            }
            reply.whenComplete((b, e) -> {
                if (dead) {
                    return; // nobody to answer: its transaction is gone
                }
                if (e != null) {
                    refuse(t, Dmsg.ERR_IO, String.valueOf(RaftCalls.unwrap(e)));
                } else {
                    sendReply(t, b);
                }
            });
        }

        private void sendReply(Transaction t, byte[] b) {
            int n = Math.max(1, (b.length + CHUNK_BYTES - 1) / CHUNK_BYTES);
            for (int i = 0; i < n && !dead; i++) {
                int off = i * CHUNK_BYTES;
                boolean last = i == n - 1;
                t.send(Dmsg.QRM_RAFT | (last ? Dmsg.DELETE : 0),
                    QrmHeader.of(QrmHeader.RAFT, group).withFlags(last ? 0 : QrmHeader.MORE),
                    Unpooled.wrappedBuffer(b, off, Math.min(CHUNK_BYTES, b.length - off)));
            }
        }

        private void answer(Transaction t, int error, String why) {
            answered = true;
            release();
            if (error == Dmsg.ERR_PERM || error == Dmsg.ERR_LIMIT) {
                t.link().denied("QRM_RAFT from " + origin + ": " + why);
            }
            refuse(t, error, why);
        }

        private void release() {
            long held = request.held();
            if (held > 0) {
                budget.addAndGet(-held);
                request.forget();
            }
        }
    }

    /** Closes every circuit this transport forged and stops serving; calls waiting on them fail. */
    @Override
    public void close() {
        closed = true;
        handler = null;
        services.remove(Dmsg.QRM_RAFT);
        for (PeerCircuit pc : circuits.values()) {
            CompletableFuture<CircuitHandle> f;
            synchronized (pc) {
                f = pc.current;
            }
            if (f != null) {
                f.thenAccept(CircuitHandle::close);
            }
        }
        circuits.clear();
        completions.shutdown();
    }
}
