package dev.dmsg.services.quorum;

import dev.dmsg.quorum.cac.LockListener;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.quorum.store.KvState;
import dev.dmsg.quorum.store.LogEntry;
import dev.dmsg.quorum.store.Outcome;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * A {@link GroupEngine} over a bare {@link KvState}, for the request handlers' tests: proposals
 * queue until {@link #applyAll()} (so a test sees the window between proposing and applying), or
 * are applied at once when {@code immediate}. Every proposed entry is kept, in order.
 */
final class LocalEngine implements GroupEngine {
    final KvState state = new KvState();
    final List<LogEntry> log = new ArrayList<>();
    private final ArrayDeque<Runnable> pending = new ArrayDeque<>();
    boolean immediate = true;
    /** When set, proposals fail with NOLEADER. */
    boolean noLeader;
    private long index;

    private volatile LockListener lockListener = (i, e, ev) -> { };

    @Override
    public String name() {
        return "g";
    }

    @Override
    public void setLockListener(LockListener listener) {
        lockListener = listener;
    }

    @Override
    public synchronized <T> T locks(Function<LockTable, T> query) {
        return query.apply(state.locks());
    }

    /** The members' silence as a leader would see it (tests set it). */
    volatile java.util.Map<String, Long> silence = java.util.Map.of();

    @Override
    public java.util.Map<String, Long> silence() {
        return silence;
    }

    @Override
    public synchronized CompletableFuture<Applied> propose(LogEntry entry) {
        if (noLeader) {
            return CompletableFuture.failedFuture(new QuorumException(Dmsg.ERR_NOLEADER, "no leader (test)"));
        }
        CompletableFuture<Applied> f = new CompletableFuture<>();
        Runnable apply = () -> {
            Applied a;
            synchronized (this) {
                log.add(entry);
                long i = ++index;
                a = new Applied(state.apply(i, entry), i, 1);
            }
            if (a.outcome() instanceof Outcome.Locked l) { // as the state machine: after the state, before the answer
                lockListener.applied(a.index(), ((LogEntry.Lock) entry).entry(), l.events());
            }
            f.complete(a);
        };
        if (immediate) {
            apply.run();
        } else {
            pending.add(apply);
        }
        return f;
    }

    /** Applies what was proposed while not {@link #immediate}. */
    void applyAll() {
        Runnable r;
        while (true) {
            synchronized (this) {
                r = pending.poll();
            }
            if (r == null) {
                return;
            }
            r.run();
        }
    }

    @Override
    public synchronized CompletableFuture<Outcome.Done> read(Batch batch, boolean serializable) {
        return CompletableFuture.completedFuture(state.read(batch));
    }

    @Override
    public boolean isMember(String label) {
        return true;
    }

    @Override
    public WatchHandle watch(Blob key, boolean prefix, long fromRevision, WatchSink sink) throws QuorumException {
        throw new QuorumException(Dmsg.ERR_NOSUPP, "no watches in LocalEngine");
    }

    @Override
    public GroupStatus status() {
        return new GroupStatus("g", "self", "LEADER", "self", 1, index, index, 0, state.revision(),
            state.preparedCount(), List.of(new GroupStatus.MemberStatus("self", true, index, 0)));
    }

    @Override
    public CompletableFuture<String> change(String op, String label) {
        return CompletableFuture.completedFuture(op + " " + label + " (test)");
    }

    synchronized List<LogEntry> entries() {
        return List.copyOf(log);
    }
}
