package dev.dmsg.services.quorum;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.QrmHeader;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import dev.dmsg.wire.qrm.Results;
import dev.dmsg.wire.qrm.WatchEvent;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The client side of a quorum group's store (docs/QUORUM.md §3): finds the group's members in the
 * span table, keeps a circuit to the nearest, and sends QRM_COMMIT / QRM_READ / QRM_WATCH /
 * QRM_ADMIN on it. Any member accepts any request (non-leaders forward), so one circuit serves
 * all; when it is lost the next request forges one to the next member.
 *
 * <p>Retries: reads, and writes that never left (no circuit could be made), are retried on the
 * next member within the client's wait; a write whose circuit died after it was sent is failed
 * with {@link QuorumException#outcomeUnknown()} — retrying it could apply it twice. Thread-safe.
 */
public final class QuorumClient implements AutoCloseable {
    /** What a request waits for a circuit and an answer, unless told otherwise. */
    public static final Duration DEFAULT_WAIT = Duration.ofSeconds(10);

    /**
     * A member of a group as the span table shows it; {@code hops} from this node: 0 is this node
     * itself, 1 a neighbour (whose span arrives at dist 0, docs/MESH.md), and so on.
     */
    public record Member(String label, NodeKey key, int hops, int trustRank) {}

    /** A write applied: the store revision it made, and the commit entry's log position. */
    public record Committed(long revision, long index, long term, Results results) {}

    /** A read answered at {@code revision}. */
    public record ReadResult(long revision, Results results) {}

    private final String group;
    private final Duration wait;
    private final MemberRoute routes;

    /** A client that reaches members by circuits only. */
    public QuorumClient(MeshNode mesh, String group, Duration wait) {
        this(mesh, List::of, group, wait);
    }

    /**
     * A client that talks to a member over our own link when one is our neighbour ({@code links}:
     * the node's links now), else over a circuit.
     */
    public QuorumClient(MeshNode mesh, Supplier<List<Link>> links, String group, Duration wait) {
        QrmHeader.of(QrmHeader.READ, group); // checks the name fits
        this.group = group;
        this.wait = wait;
        this.routes = new MemberRoute(mesh, links, group, wait);
    }

    public String group() {
        return group;
    }

    /**
     * From now on, talks only to member {@code label} (the leader, for the status only it can give:
     * its followers' match indexes); {@code null}: any member.
     */
    public QuorumClient onlyTo(String label) {
        routes.onlyTo(label);
        return this;
    }

    /** The member the client's requests go to, or {@code null} before the first request. */
    public String member() {
        return routes.member();
    }

    /** The members of {@code group} the span table knows of now, nearest (and best known) first. */
    public static CompletableFuture<List<Member>> members(MeshNode mesh, String group) {
        return groups(mesh).thenApply(m -> m.getOrDefault(group, List.of()));
    }

    /** Every quorum group the span table knows of, by name, members nearest first. */
    public static CompletableFuture<Map<String, List<Member>>> groups(MeshNode mesh) {
        CompletableFuture<Map<String, List<Member>>> f = new CompletableFuture<>();
        mesh.execute(() -> {
            try {
                Map<String, List<Member>> out = new TreeMap<>();
                for (SpanEngine.NodeView v : mesh.engine().snapshot()) {
                    NodeKey k = v.key();
                    if (k.peerType() != Dmsg.PEER_HAMMER2 || v.pfsType() != Dmsg.PFSTYPE_MASTER || v.links().isEmpty()) {
                        continue;
                    }
                    boolean local = v.links().stream().anyMatch(l -> l.via().equals("local"));
                    // a received span's dist counts the relays: a neighbour's own span arrives at 0
                    int hops = local ? 0 : v.links().stream().filter(SpanEngine.LinkView::feasible)
                        .mapToInt(l -> l.dist() + 1).min().orElse(-1);
                    if (hops >= 0) {
                        out.computeIfAbsent(k.clLabel(), x -> new ArrayList<>())
                            .add(new Member(k.fsLabel(), k, hops, v.trustRank()));
                    }
                }
                out.values().forEach(l -> l.sort(Comparator.comparingInt(Member::trustRank)
                    .thenComparingInt(Member::hops).thenComparing(Member::label)));
                f.complete(out);
            } catch (RuntimeException e) {
                f.completeExceptionally(e);
            }
        });
        return f;
    }

    // ---- requests ---------------------------------------------------------------------------

    /** A one-phase write (docs/QUORUM.md §4 ONE_PHASE): the batch is applied, or refused, in one round. */
    public CompletableFuture<Committed> commit(Batch batch) {
        byte[] aux = QrmCodec.encodeBatch(batch);
        QrmHeader h = QrmHeader.of(QrmHeader.PREPARE, group).withFlags(QrmHeader.ONE_PHASE);
        return send(Dmsg.QRM_COMMIT | Dmsg.DELETE, h, aux, false).thenApply(QuorumClient::committed);
    }

    /** Puts {@code value} at {@code key}; the revision it made. */
    public CompletableFuture<Long> put(String key, byte[] value) {
        return commit(Batch.of(Op.put(Blob.utf8(key), Blob.of(value)))).thenApply(Committed::revision);
    }

    /**
     * Phase 1 of a two-phase commit (docs/QUORUM.md §4): completes once the batch is prepared at a
     * quorum with its keys reserved; {@link Prepared#commit()} or {@link Prepared#abort()} ends it.
     */
    public CompletableFuture<Prepared> prepare(Batch batch, Duration lease) {
        byte[] aux = QrmCodec.encodeBatch(batch);
        QrmHeader h = QrmHeader.of(QrmHeader.PREPARE, group).withLease(lease == null ? 0 : (int) lease.toMillis());
        return routes.routeWithin(deadline()).thenCompose(c -> Prepared.open(c, h, aux));
    }

    /** A read batch (GETs only); linearizable unless {@code serializable}. */
    public CompletableFuture<ReadResult> read(Batch batch, boolean serializable) {
        byte[] aux = QrmCodec.encodeBatch(batch);
        QrmHeader h = QrmHeader.of(QrmHeader.READ, group).withFlags(serializable ? QrmHeader.SERIALIZABLE : 0);
        return send(Dmsg.QRM_READ | Dmsg.DELETE, h, aux, true).thenApply(m -> {
            try {
                return new ReadResult(m.header.revision(), QrmCodec.decodeResults(m.aux));
            } catch (QrmFormatException e) {
                throw new CompletionException(new QuorumException(Dmsg.ERR_PARAM, "bad reply: " + e.getMessage()));
            }
        });
    }

    /** The value at {@code key}, or {@code null} if absent (a linearizable read). */
    public CompletableFuture<byte[]> get(String key) {
        return read(Batch.of(Op.get(Blob.utf8(key))), false).thenApply(r -> {
            var kvs = r.results().results().get(0).kvs();
            return kvs.isEmpty() ? null : kvs.get(0).value().toByteArray();
        });
    }

    /**
     * Watches {@code key} (or every key under it, {@code prefix}) from {@code fromRevision} (0: from
     * now): {@code events} gets each batch of changes in revision order on a link thread (it must
     * not block), {@code ended} the reason once the watch ends for any reason but our close.
     */
    public CompletableFuture<KvWatch> watch(Blob key, boolean prefix, long fromRevision,
                                          Consumer<List<WatchEvent>> events, Consumer<QuorumException> ended) {
        Batch b = Batch.of(prefix ? Op.getPrefix(key, 0) : Op.get(key));
        QrmHeader h = QrmHeader.of(QrmHeader.READ, group).withRevision(fromRevision);
        byte[] aux = QrmCodec.encodeBatch(b);
        return routes.routeWithin(deadline()).thenCompose(c -> KvWatch.open(c, h, aux, events, ended));
    }

    /** An admin request (docs/QUORUM.md §7): a JSON object in, a JSON object out. */
    public CompletableFuture<String> admin(String json) {
        QrmHeader h = QrmHeader.of(QrmHeader.ADMIN, group);
        return send(Dmsg.QRM_ADMIN | Dmsg.DELETE, h, json.getBytes(StandardCharsets.UTF_8), true)
            .thenApply(m -> new String(m.aux, StandardCharsets.UTF_8));
    }

    // ---- plumbing ---------------------------------------------------------------------------

    /** A final answer: its header and aux. */
    record Answer(QrmHeader header, byte[] aux) {}

    private static Committed committed(Answer a) {
        try {
            return new Committed(a.header.revision(), a.header.index(), a.header.term(), QrmCodec.decodeResults(a.aux));
        } catch (QrmFormatException e) {
            throw new CompletionException(new QuorumException(Dmsg.ERR_PARAM, "bad reply: " + e.getMessage()));
        }
    }

    private long deadline() {
        return System.nanoTime() + wait.toNanos();
    }

    /**
     * One request, one final answer. {@code retryable}: a request that may be sent again to another
     * member when the circuit dies under it (reads, admin reads); a write is not.
     */
    private CompletableFuture<Answer> send(int cmd, QrmHeader h, byte[] aux, boolean retryable) {
        long deadline = deadline();
        CompletableFuture<Answer> out = new CompletableFuture<>();
        attempt(cmd, h, aux, retryable, deadline, out);
        return out;
    }

    private void attempt(int cmd, QrmHeader h, byte[] aux, boolean retryable, long deadline,
                         CompletableFuture<Answer> out) {
        routes.routeWithin(deadline).whenComplete((c, e) -> {
            if (e != null) {
                out.completeExceptionally(unwrap(e));
                return;
            }
            CompletableFuture<Answer> one = new CompletableFuture<>();
            c.open(cmd, h, Unpooled.wrappedBuffer(aux), (t, m) -> onAnswer(t, m, one));
            one.whenComplete((a, x) -> {
                if (x == null) {
                    out.complete(a);
                    return;
                }
                Throwable cause = unwrap(x);
                if (retryable && cause instanceof QuorumException q && q.error() == Dmsg.ERR_LOSTLINK
                    && System.nanoTime() - deadline < 0) {
                    routes.drop(c);
                    attempt(cmd, h, aux, true, deadline, out);
                } else {
                    out.completeExceptionally(retryable ? cause : writeRefused(cause));
                }
            });
        });
    }

    /** The handler of a request that ends with one answer. Link thread. */
    private static void onAnswer(Transaction t, Message m, CompletableFuture<Answer> one) {
        if (one.isDone()) {
            if (m.isDelete()) {
                t.close();
            }
            return;
        }
        if (m.isAbort() && m.error() == Dmsg.ERR_LOSTLINK) {
            one.completeExceptionally(new QuorumException(Dmsg.ERR_LOSTLINK,
                "the circuit to the member was lost; the outcome is unknown", true));
        } else if (m.error() != 0) {
            one.completeExceptionally(refusal(m));
        } else if (m.isDelete()) {
            QrmHeader h = m.ext() instanceof QrmHeader q ? q : null;
            if (h == null) {
                one.completeExceptionally(new QuorumException(Dmsg.ERR_PARAM, "the member answered without a QRM header"));
            } else {
                one.complete(new Answer(h, m.auxCopy()));
            }
        }
        if (m.isDelete()) {
            t.close();
        }
    }

    /**
     * A member's refusal of a write it had proposed (a one-phase batch, a COMMIT): NOLEADER or IO
     * there means the entry may be in the leader's log and still be applied (the member's engine
     * says "it may still be applied", docs/QUORUM.md §3.2), so its outcome is unknown. What a
     * member refuses before proposing has other codes (PARAM, PERM, LIMIT, NOSUPP).
     */
    static Throwable writeRefused(Throwable x) {
        if (x instanceof QuorumException q && !q.outcomeUnknown()
            && (q.error() == Dmsg.ERR_NOLEADER || q.error() == Dmsg.ERR_IO)) {
            return new QuorumException(q.error(), q.getMessage(), true);
        }
        return x;
    }

    /** The member's refusal: its error code and one-line reason. */
    static QuorumException refusal(Message m) {
        return refusal(m.error(), m.auxString());
    }

    /**
     * A refusal with {@code error} and the reason {@code why} as received. A NOLEADER whose reason
     * says {@link QuorumException#MAY_STILL_BE_APPLIED} (a write the member proposed before losing
     * the leader) is an unknown outcome, like a LOSTLINK; otherwise nothing was applied.
     */
    static QuorumException refusal(int error, String why) {
        boolean unknown = error == Dmsg.ERR_LOSTLINK
            || (error == Dmsg.ERR_NOLEADER && why.contains(QuorumException.MAY_STILL_BE_APPLIED));
        return new QuorumException(error, why.isEmpty() ? ErrorCode.nameOf(error) : why, unknown);
    }

    /** {@code e} without the CompletionException wrappers around it. */
    public static Throwable unwrap(Throwable e) {
        while (e instanceof CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    @Override
    public void close() {
        routes.close();
    }
}
