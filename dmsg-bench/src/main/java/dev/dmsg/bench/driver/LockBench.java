package dev.dmsg.bench.driver;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.bench.driver.ClosedLoop.Timed;
import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.services.cac.CacheLocks;
import dev.dmsg.services.cac.LockHandle;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg bench lock}: our cache-coherency locks (docs/CAC.md) beside etcd's lock, in one
 * sitting on the same machine and disk (docs/BENCHMARKS.md, "Locks (issue 17)"), on the clusters
 * of {@code bench quorum} ({@link BenchClusters}).
 *
 * <p>Ours: {@link CacheLocks} of the client node in this JVM, each client an owner of its own,
 * every lock EXCLUSIVE in domain TREE (what {@code dmsg lock} takes by default) with the default
 * lease, its home the leader (over the client node's link to it). etcd: its lock service through
 * the gateway ({@link EtcdLocks}), each client a session with a lease of its own. The workloads:
 *
 * <ul>
 *   <li>uncontended: each client loops acquire then release on a key of its own; the time of the
 *       pair is measured.
 *   <li>hand-off: every client loops acquire then release on one key; the time from the call to
 *       the grant is measured (queueing included), and grants per second are the hand-offs.
 *   <li>revoke: a holder holds the key and gives it up when asked — ours: its {@code
 *       onDowngradeRequested} callback releases; etcd, which has no revocation: it watches the
 *       lock's prefix and unlocks when a waiter's key appears — while a second client asks for it;
 *       the time from the waiter's call to its grant is measured. Then the waiter releases and the
 *       holder takes the lock again, untimed.
 * </ul>
 *
 * Repetitions alternate the systems' order and each figure is the median over them ({@link
 * Comparison}).
 */
@Command(name = "lock", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Benchmarks the cache-coherency locks (CAC_LOCK) beside etcd's lock (3 members each, on loopback, "
        + "data on the same disk): uncontended acquire+release with 1 and 16 clients, hand-offs between 8 clients on one "
        + "key, and a holder's revocation (a waiter's acquire to its grant); ops/s and p50/p99 latency.",
        "etcd comes from Debian's etcd-server (scripts/install-etcd.sh); its lock is driven through its v3 HTTP/JSON "
            + "gateway (/v3/lock/lock, /v3/lock/unlock), one lease per client.",
        "Exit status: 0 when every figure was measured, 1 when a run failed, 2 for bad options or a cluster that did "
            + "not start."})
public final class LockBench implements Callable<Integer> {
    @Option(names = "--systems", split = ",", defaultValue = "ours,etcd", paramLabel = "ours|etcd",
        description = "what to measure, alternating in each repetition (default: ${DEFAULT-VALUE})")
    List<String> systems;

    @Option(names = "--scenarios", split = ",", defaultValue = "uncontended,handoff,revoke",
        paramLabel = "uncontended|handoff|revoke",
        description = "uncontended: each client acquires and releases a key of its own; handoff: clients take turns on "
            + "one key; revoke: a waiter's acquire to its grant while a holder gives the lock up when asked (etcd: when "
            + "its watch sees the waiter's key) (default: ${DEFAULT-VALUE})")
    List<String> scenarios;

    @Option(names = "--clients", split = ",", defaultValue = "1,16", paramLabel = "N",
        description = "concurrent clients for uncontended, each on its own key (default: ${DEFAULT-VALUE})")
    List<Integer> clients;

    @Option(names = "--handoff-clients", defaultValue = "8", paramLabel = "N",
        description = "clients taking turns on the one key of handoff (default: ${DEFAULT-VALUE})")
    int handoffClients;

    @Option(names = "--seconds", defaultValue = "5", description = "measured seconds per figure and repetition "
        + "(default: ${DEFAULT-VALUE})")
    double seconds;

    @Option(names = "--warmup", defaultValue = "2", description = "unmeasured seconds of the same load before each "
        + "figure (default: ${DEFAULT-VALUE})")
    double warmup;

    @Option(names = "--first-warmup", defaultValue = "30", description = "unmeasured seconds of every scenario before a "
        + "system's first repetition: JVMs are cold until then (default: ${DEFAULT-VALUE})")
    double firstWarmup;

    @Option(names = "--reps", defaultValue = "3", description = "repetitions; medians are reported (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--dir", paramLabel = "DIR", description = "where both systems' data directories go (a new "
        + "directory under it, removed at the end); keep it on a real disk, not tmpfs: every grant and release is "
        + "fsynced at a quorum (default: java.io.tmpdir, ${sys:java.io.tmpdir})")
    Path dir;

    @Option(names = "--etcd", paramLabel = "PATH", defaultValue = "etcd",
        description = "the etcd binary (default: ${DEFAULT-VALUE}, from PATH; scripts/install-etcd.sh installs it)")
    String etcd;

    @Option(names = "--member-jvm-opt", paramLabel = "OPT",
        description = "an extra JVM option for our member processes (repeatable); {label} in it becomes the member's "
            + "label (m1, m2, m3), e.g. -XX:StartFlightRecording=filename=/tmp/{label}.jfr,settings=profile")
    List<String> memberJvmOpts = new ArrayList<>();

    /** How long our client looks for a member that answers, and waits for an answer. */
    private static final Duration REACH = Duration.ofSeconds(10);
    /** Owner ids (docs/CAC.md §2): a new one for every client of every run, so that no two clients share one. */
    private static final AtomicLong OWNERS = new AtomicLong();

    private final PrintStream out = System.out;

    enum Kind {
        UNCONTENDED("uncontended acquire+release"), HANDOFF("hand-off on one key"), REVOKE("revoke");

        final String title;

        Kind(String title) {
            this.title = title;
        }
    }

    @Override
    public Integer call() throws Exception {
        if (reps < 1 || seconds <= 0 || warmup < 0 || firstWarmup < 0 || systems.isEmpty()
                || !List.of("ours", "etcd").containsAll(systems) || scenarios.isEmpty()
                || !List.of("uncontended", "handoff", "revoke").containsAll(scenarios) || clients.isEmpty()
                || clients.stream().anyMatch(c -> c < 1 || c > 64) || handoffClients < 2 || handoffClients > 64) {
            System.err.println("bench lock: --reps >= 1, --seconds > 0, --warmup/--first-warmup >= 0, --systems of "
                + "ours,etcd, --scenarios of uncontended,handoff,revoke, --clients each 1..64, --handoff-clients 2..64 "
                + "(our budget: 64 waiting requests per originator, docs/CAC.md §8)");
            return 2;
        }
        if (systems.contains("etcd") && EtcdAnchor.version(etcd) == null) {
            System.err.println("bench lock: no etcd ('" + etcd + "' does not run); install it with "
                + "scripts/install-etcd.sh (as root), or measure ours alone with --systems ours");
            return 2;
        }
        BenchCommand.quietLogs();
        long t0 = System.nanoTime();
        try (BenchClusters clusters = new BenchClusters("bench lock", dir, out)) {
            out.printf("dmsg bench lock: %d cores, Java %s; data under %s (%s); %d x %.1f s (+%.1f s warm-up) per figure "
                + "after %.1f s of warm-up per system, medians%n", Runtime.getRuntime().availableProcessors(),
                Runtime.version(), clusters.work(), clusters.disk(), reps, seconds, warmup, firstWarmup);
            if (!clusters.start(systems, etcd, memberJvmOpts)) {
                return 2;
            }
            EtcdLocks etcdLocks = clusters.etcd() == null ? null : clusters.closing(new EtcdLocks(clusters.etcd()));
            out.printf("locks: ours EXCLUSIVE, domain TREE, default lease, home the leader, an owner per client; etcd "
                + "/v3/lock/lock and /v3/lock/unlock, a lease (TTL %d s, kept alive) per client%n", EtcdLocks.TTL_SECONDS);
            Comparison.Load<Kind> load = (s, f, tag, warmupNanos, measureNanos) -> s.equals("ours")
                ? runOurs(clusters, f, tag, warmupNanos, measureNanos)
                : runEtcd(clusters, etcdLocks, f, tag, warmupNanos, measureNanos);
            List<Comparison.Figure<Kind>> figures = figures();
            for (String s : systems) {
                Comparison.warmUp(s, figures, load, firstWarmup);
            }
            boolean ok = Comparison.repeat(reps, systems, figures, load, warmup, seconds, out);
            Comparison.table(figures, systems, "ops/s", out);
            out.println();
            out.println("ops/s: acquire+release pairs (uncontended), grants (hand-off), revocations (revoke); latency: "
                + "the pair (uncontended), acquire to grant (hand-off), the waiter's acquire to its grant (revoke)");
            out.println();
            Comparison.repetitions(figures, systems, "ops/s", out);
            if (clusters.etcd() != null) {
                out.println("etcd, over the whole run: " + clusters.etcd().fsyncSummary());
            }
            out.printf("%nbench lock took %.0f s%n", (System.nanoTime() - t0) / 1e9);
            return ok ? 0 : 1;
        }
    }

    private List<Comparison.Figure<Kind>> figures() {
        List<Comparison.Figure<Kind>> fs = new ArrayList<>();
        for (String s : scenarios) {
            switch (s) {
                case "uncontended" -> clients.forEach(c -> fs.add(new Comparison.Figure<>(Kind.UNCONTENDED, c,
                    Comparison.clients(Kind.UNCONTENDED.title, c), "acq+rel")));
                case "handoff" -> fs.add(new Comparison.Figure<>(Kind.HANDOFF, handoffClients,
                    Comparison.clients(Kind.HANDOFF.title, handoffClients), "handoff"));
                default -> fs.add(new Comparison.Figure<>(Kind.REVOKE, 1, "revoke, 1 holder + 1 waiter", "revoke"));
            }
        }
        return fs;
    }

    // ------------------------------------------------------------------------------------------
    // Ours

    private ClosedLoop.Result runOurs(BenchClusters clusters, Comparison.Figure<Kind> f, String tag, long warmupNanos,
                                      long measureNanos) throws Exception {
        BenchClusters.Ours o = clusters.ours();
        List<CacheLocks> owners = new ArrayList<>();
        try {
            for (int i = 0; i < (f.kind() == Kind.REVOKE ? 2 : f.clients()); i++) {
                owners.add(new CacheLocks(o.client().mesh(), o::toLeader, BenchClusters.GROUP, REACH,
                    OWNERS.incrementAndGet()));
            }
            String key = "/" + tag;
            ClosedLoop.Step step = switch (f.kind()) {
                case UNCONTENDED -> (c, seq) -> {
                    long start = System.nanoTime();
                    return acquire(owners.get(c), key + "/" + c).thenCompose(LockHandle::release)
                        .thenApply(v -> Timed.since(start));
                };
                case HANDOFF -> (c, seq) -> {
                    long start = System.nanoTime();
                    return acquire(owners.get(c), key).thenCompose(h -> {
                        Timed t = Timed.since(start);
                        return h.release().thenApply(v -> t);
                    });
                };
                case REVOKE -> (c, seq) -> acquire(owners.get(0), key).thenCompose(holder -> {
                    AtomicBoolean asked = new AtomicBoolean();
                    holder.onDowngradeRequested(to -> {
                        asked.set(true);
                        holder.release(); // on the link's event loop: sends DELETE, does not wait
                    });
                    long start = System.nanoTime();
                    return acquire(owners.get(1), key).thenCompose(waiter -> {
                        Timed t = Timed.since(start);
                        return waiter.release().thenApply(v -> granted(t, asked.get(), "the holder was never asked to "
                            + "downgrade"));
                    });
                });
            };
            return ClosedLoop.run(step, f.name(), f.clients(), warmupNanos, measureNanos, clusters.pids("ours"));
        } finally {
            owners.forEach(CacheLocks::close);
        }
    }

    private static CompletableFuture<LockHandle> acquire(CacheLocks locks, String key) {
        return locks.acquire(key, CacDomain.TREE, CacState.EXCLUSIVE, CacheLocks.Options.defaults());
    }

    /** A revocation's time, once the waiter's grant is known to have come the way measured. */
    private static Timed granted(Timed t, boolean holderGaveWay, String otherwise) {
        if (!holderGaveWay) {
            throw new IllegalStateException("the waiter was granted, but " + otherwise);
        }
        return t;
    }

    // ------------------------------------------------------------------------------------------
    // etcd

    private ClosedLoop.Result runEtcd(BenchClusters clusters, EtcdLocks locks, Comparison.Figure<Kind> f, String tag,
                                      long warmupNanos, long measureNanos) throws Exception {
        List<AutoCloseable> open = new ArrayList<>();
        try {
            List<EtcdLocks.Session> sessions = new ArrayList<>();
            for (int i = 0; i < (f.kind() == Kind.REVOKE ? 2 : f.clients()); i++) {
                sessions.add(locks.session());
                open.add(sessions.get(i));
            }
            ClosedLoop.Step step = switch (f.kind()) {
                case UNCONTENDED -> (c, seq) -> {
                    long start = System.nanoTime();
                    EtcdLocks.Session s = sessions.get(c);
                    return s.lock(tag + "/" + c).thenCompose(s::unlock).thenApply(v -> Timed.since(start));
                };
                case HANDOFF -> (c, seq) -> {
                    long start = System.nanoTime();
                    EtcdLocks.Session s = sessions.get(c);
                    return s.lock(tag).thenCompose(h -> {
                        Timed t = Timed.since(start);
                        return s.unlock(h).thenApply(v -> t);
                    });
                };
                case REVOKE -> revokeEtcd(locks, sessions.get(0), sessions.get(1), tag, open);
            };
            return ClosedLoop.run(step, f.name(), f.clients(), warmupNanos, measureNanos, clusters.pids("etcd"));
        } finally {
            for (int i = open.size() - 1; i >= 0; i--) {
                open.get(i).close();
            }
        }
    }

    /**
     * etcd has no revocation: the holder watches the lock's prefix and unlocks when a key of a
     * later revision than its own appears there — a waiter's (etcd's {@code v3lock} puts one per
     * waiter, then waits for the older keys to go). The watch is added to {@code open}.
     */
    private static ClosedLoop.Step revokeEtcd(EtcdLocks locks, EtcdLocks.Session holder, EtcdLocks.Session waiter,
                                              String name, List<AutoCloseable> open) throws Exception {
        AtomicReference<EtcdLocks.Held> holding = new AtomicReference<>();
        open.add(locks.watch(name + "/", ev -> {
            EtcdLocks.Held h = holding.get();
            JsonNode kv = ev.path("kv");
            if (h != null && ev.path("type").asText("PUT").equals("PUT") && !kv.path("key").asText().equals(h.key())
                    && kv.path("create_revision").asLong() > h.revision() && holding.compareAndSet(h, null)) {
                holder.unlock(h); // a failure shows as the waiter's timeout
            }
        }));
        return (c, seq) -> holder.lock(name).thenCompose(h -> {
            holding.set(h);
            long start = System.nanoTime();
            return waiter.lock(name).thenCompose(w -> {
                Timed t = Timed.since(start);
                boolean gaveWay = holding.get() == null;
                return waiter.unlock(w).thenApply(v -> granted(t, gaveWay, "the holder's watch never saw the waiter"));
            });
        });
    }
}
