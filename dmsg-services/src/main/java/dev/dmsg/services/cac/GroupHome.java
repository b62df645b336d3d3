package dev.dmsg.services.cac;

import dev.dmsg.quorum.cac.CacEntry;
import dev.dmsg.quorum.cac.CacEvent;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.quorum.cac.LockListener;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.quorum.store.LogEntry;
import dev.dmsg.services.quorum.GroupEngine;
import dev.dmsg.wire.Dmsg;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This member as the home of the locks opened here, for one group (docs/CAC.md §3, §5): it hears
 * every lock entry applied, finds the sessions of its own locks (an ACQUIRE by its nonce, then by
 * lock id) and hands each its events. An ACQUIRE of ours whose session is gone (its proposal
 * timed out, say, and was applied after all) is an orphan: released at once. On start it
 * announces its incarnation (HOME), so that locks of an earlier run of this member are treated
 * as lost.
 */
final class GroupHome implements LockListener {
    private static final Logger log = LoggerFactory.getLogger(GroupHome.class);
    static final long RETRY_MILLIS = 250;
    static final long MAX_RETRY_MILLIS = 2_000;

    private final GroupEngine engine;
    private final LockTable.Home self;
    private final CacBudgets budgets;
    private final ScheduledExecutorService timers;
    private final Map<Long, LockSession> byNonce = new ConcurrentHashMap<>();
    private final Map<Long, LockSession> byLock = new ConcurrentHashMap<>();
    private volatile boolean closed;
    /** Locks this leader proposed LOST for a silent home, and when (the checking thread only). */
    private final Map<Long, Long> lostProposed = new HashMap<>();

    GroupHome(GroupEngine engine, LockTable.Home self, CacBudgets budgets, ScheduledExecutorService timers) {
        this.engine = engine;
        this.self = self;
        this.budgets = budgets;
        this.timers = timers;
    }

    GroupEngine engine() {
        return engine;
    }

    CacBudgets budgets() {
        return budgets;
    }

    ScheduledExecutorService timers() {
        return timers;
    }

    LockTable.Home self() {
        return self;
    }

    /** Listens to the log and announces this incarnation (retried until a leader takes it). */
    void start() {
        engine.setLockListener(this);
        propose(new CacEntry.HomeUp(self), RETRY_MILLIS);
    }

    void open(LockSession s) {
        byNonce.put(s.nonce, s);
        s.start();
    }

    /** The session's ACQUIRE failed before it was known to be applied. */
    void forget(LockSession s) {
        byNonce.remove(s.nonce, s);
    }

    void ended(LockSession s) {
        byNonce.remove(s.nonce, s);
        long id = s.lock();
        if (id != 0) {
            byLock.remove(id, s);
        }
    }

    /** Open lock transactions here (status). */
    int sessions() {
        return byNonce.size() + byLock.size();
    }

    @Override
    public void applied(long index, CacEntry entry, List<CacEvent> events) {
        LockSession acquired = null;
        if (entry instanceof CacEntry.Acquire a && self.equals(a.request().home())) {
            acquired = byNonce.remove(a.nonce());
            if (acquired != null) {
                acquired.lockIs(index);
                byLock.put(index, acquired);
            } else if (events.stream().noneMatch(e -> e instanceof CacEvent.Refused)) {
                log.info("quorum {}: lock {} ({}) was recorded after its request ended here: releasing it", engine.name(),
                    index, a.request().key());
                propose(new CacEntry.Release(index), RETRY_MILLIS);
            }
        }
        for (CacEvent e : events) {
            if (!self.equals(e.home())) {
                continue;
            }
            LockSession s = byLock.get(e.lock());
            if (s != null) {
                s.on(e);
            }
        }
        if (acquired != null) {
            acquired.afterAcquire();
        }
    }

    @Override
    public void restored() {
        // a snapshot replaced the table: a lock of ours that is no longer in it ended elsewhere
        for (Map.Entry<Long, LockSession> e : byLock.entrySet()) {
            LockTable.LockView v = engine.locks(t -> t.view(e.getKey()));
            if (v == null) {
                e.getValue().end(Dmsg.ERR_REVOKED, "lock " + e.getKey() + " is no longer held (the member "
                    + "caught up from a snapshot)");
            }
        }
    }

    /**
     * On the leader (docs/CAC.md §3): the held locks of another home that has not answered the
     * leader for longer than a lock's lease are lost — proposed LOST once (again a second later
     * if still not lost); their lease then runs as any lost holder's.
     */
    void checkHomes(long nowNanos) {
        Map<String, Long> silence = engine.silence();
        if (silence.isEmpty()) {
            lostProposed.clear();
            return;
        }
        List<LockTable.LockView> quiet = engine.locks(t -> t.all().stream()
            .filter(v -> !v.lost() && v.held() != CacState.INVAL && !v.home().name().equals(self.name())
                && silence.getOrDefault(v.home().name(), 0L) >= v.leaseMs())
            .toList());
        for (LockTable.LockView v : quiet) {
            Long at = lostProposed.get(v.id());
            if (at != null && nowNanos - at < TimeUnit.SECONDS.toNanos(1)) {
                continue;
            }
            lostProposed.put(v.id(), nowNanos);
            log.info("quorum {}: lock {} ({}): its home {} has not answered for {} ms: lost", engine.name(), v.id(),
                v.key(), v.home().name(), silence.get(v.home().name()));
            engine.propose(new LogEntry.Lock(new CacEntry.Lost(v.id())));
        }
        lostProposed.keySet().removeIf(id -> quiet.stream().noneMatch(v -> v.id() == id));
    }

    /** A proposal of a session's failed (no leader for now): tried again, with backoff, while this member runs. */
    void retryLater(CacEntry e, Throwable why) {
        log.debug("quorum {}: {} not taken yet ({}); retrying", engine.name(), e, why.getMessage());
        timers.schedule(() -> propose(e, RETRY_MILLIS), RETRY_MILLIS, TimeUnit.MILLISECONDS);
    }

    private void propose(CacEntry e, long backoff) {
        if (closed) {
            return;
        }
        engine.propose(new LogEntry.Lock(e)).whenComplete((a, x) -> {
            if (x != null && !closed) {
                long next = Math.min(backoff * 2, MAX_RETRY_MILLIS);
                timers.schedule(() -> propose(e, next), backoff, TimeUnit.MILLISECONDS);
            }
        });
    }

    void close() {
        closed = true;
    }
}
