package dev.dmsg.services.quorum;

import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.quorum.cac.CacEntry;
import dev.dmsg.quorum.cac.CacLeases;
import dev.dmsg.quorum.raft.RaftHost;
import dev.dmsg.quorum.raft.RaftTransport;
import dev.dmsg.quorum.store.KvStateMachine;
import dev.dmsg.quorum.store.LeaseKeeper;
import dev.dmsg.quorum.store.LogEntry;
import dev.dmsg.services.Access;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node as a member of its quorum groups (docs/QUORUM.md): the Raft server over the mesh
 * ({@link RaftHost}), each group's store ({@link KvStateMachine}) and engine, the request
 * handlers ({@link QrmServer}), and the leases' clock — every 100 ms the leader of a group
 * proposes EXPIRE for each prepared batch whose lease ran out (§4 "Lost initiator").
 */
public final class QuorumMember implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QuorumMember.class);
    static final long LEASE_TICK_MILLIS = 100;

    /** The {@code quorum} part of the status document (docs/STATUS.md). */
    public record Status(List<GroupStatus> groups, Map<String, Long> refused, long budgetRefusals,
                         long raftRefusals, long watches, long watchesFellBehind) {}

    private final String label;
    private final RaftTransport transport;
    private final RaftHost host;
    private final Map<String, RaftGroupEngine> engines;
    private final QrmServer server;
    private final WatchServer watches;
    private final ScheduledExecutorService ticker;
    private final ExecutorService watchDelivery;

    private QuorumMember(String label, RaftTransport transport, RaftHost host, Map<String, RaftGroupEngine> engines,
                         QrmServer server, WatchServer watches, ScheduledExecutorService ticker,
                         ExecutorService watchDelivery) {
        this.label = label;
        this.transport = transport;
        this.host = host;
        this.engines = engines;
        this.server = server;
        this.watches = watches;
        this.ticker = ticker;
        this.watchDelivery = watchDelivery;
    }

    /**
     * Starts the Raft server for {@code groups} over {@code transport}, storage under {@code dir}.
     *
     * @throws IOException if the storage cannot be used or a group cannot start; nothing is left running
     */
    public static QuorumMember start(String label, List<GroupSpec> groups, RaftTransport transport, Path dir,
                                     RaftHost.Settings raft, Access access) throws IOException {
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "quorum-leases-" + label));
        ExecutorService delivery = Executors.newFixedThreadPool(2, r -> daemon(r, "quorum-watch-" + label));
        Map<String, KvStateMachine> machines = new LinkedHashMap<>();
        Map<String, LeaseKeeper> leases = new LinkedHashMap<>();
        Map<String, CacLeases> lockLeases = new LinkedHashMap<>();
        Map<String, RaftGroupEngine> engines = new LinkedHashMap<>();
        List<RaftHost.GroupSpec> specs = new ArrayList<>();
        boolean unsafeNoLease = Boolean.getBoolean(CacLeases.UNSAFE_NO_LEASE);
        if (unsafeNoLease) {
            log.error("quorum: UNSAFE: -D{} is set: locks are revoked without waiting for their lease. This is the lock "
                + "checker's deliberately broken mode (docs/CAC.md §9); never run a real node with it", CacLeases.UNSAFE_NO_LEASE);
        }
        for (GroupSpec g : groups) {
            String name = g.name();
            LeaseKeeper keeper = new LeaseKeeper(System::nanoTime, txid -> {
                RaftGroupEngine e = engines.get(name);
                if (e != null) {
                    e.propose(new LogEntry.Expire(txid)).whenComplete((a, x) -> {
                        if (x != null) {
                            log.debug("quorum {}: EXPIRE {} not taken yet: {}", name, txid, x.getMessage());
                        }
                    });
                }
            });
            CacLeases lockKeeper = new CacLeases(System::nanoTime, (lock, why) -> {
                RaftGroupEngine e = engines.get(name);
                if (e != null) {
                    e.propose(new LogEntry.Lock(new CacEntry.Expire(lock, why))).whenComplete((a, x) -> {
                        if (x != null) {
                            log.debug("quorum {}: EXPIRE of lock {} not taken yet: {}", name, lock, x.getMessage());
                        }
                    });
                }
            }, !unsafeNoLease);
            KvStateMachine sm = new KvStateMachine(KvStateMachine.Options.defaults(), delivery, keeper, lockKeeper);
            machines.put(name, sm);
            leases.put(name, keeper);
            lockLeases.put(name, lockKeeper);
            specs.add(new RaftHost.GroupSpec(name, g.members(), () -> sm));
        }
        RaftHost host;
        try {
            host = RaftHost.start(transport, dir, specs, raft);
        } catch (IOException | RuntimeException e) {
            ticker.shutdownNow();
            delivery.shutdownNow();
            throw e;
        }
        machines.forEach((name, sm) -> engines.put(name, new RaftGroupEngine(host, name, sm)));
        WatchServer watches = new WatchServer(WatchServer.DEFAULT_MAX_QUEUED_BYTES);
        QrmServer server = new QrmServer(access, Map.copyOf(engines), watches, new AdminServer(), QrmBudgets.defaults());
        ticker.scheduleWithFixedDelay(() -> {
            leases.values().forEach(k -> {
                try {
                    k.tick();
                } catch (RuntimeException e) {
                    log.warn("quorum: lease tick failed", e);
                }
            });
            lockLeases.values().forEach(k -> {
                try {
                    k.tick();
                } catch (RuntimeException e) {
                    log.warn("quorum: lock lease tick failed", e);
                }
            });
        }, LEASE_TICK_MILLIS, LEASE_TICK_MILLIS, TimeUnit.MILLISECONDS);
        log.info("quorum: {} is a member of {}", label, groups);
        return new QuorumMember(label, transport, host, engines, server, watches, ticker, delivery);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    public QrmServer server() {
        return server;
    }

    /** Every group's engine, by name. */
    public Map<String, GroupEngine> engines() {
        return Map.copyOf(engines);
    }

    /** The member's scheduler (lease ticks): short tasks only. */
    public ScheduledExecutorService timers() {
        return ticker;
    }

    /** The engine of {@code group}, or {@code null}. */
    public GroupEngine engine(String group) {
        return engines.get(group);
    }

    public RaftHost host() {
        return host;
    }

    public Status status() {
        List<GroupStatus> gs = new ArrayList<>();
        engines.values().forEach(e -> gs.add(e.status()));
        return new Status(gs, server.refusals(), server.budgetRefusals(), host.refusals(), watches.open(),
            watches.fellBehind());
    }

    @Override
    public void close() {
        ticker.shutdownNow();
        try {
            host.close();
        } catch (RuntimeException e) {
            log.warn("quorum: {}", e.getMessage());
        }
        try {
            transport.close();
        } catch (Exception e) {
            log.warn("quorum: closing the Raft transport: {}", e.getMessage());
        }
        watchDelivery.shutdownNow();
    }

    @Override
    public String toString() {
        return "quorum member " + label + " of " + engines.keySet();
    }
}
