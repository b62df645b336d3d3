package dev.dmsg.services.quorum;

import dev.dmsg.quorum.cac.LockListener;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.quorum.store.LogEntry;
import dev.dmsg.quorum.store.Outcome;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.WatchEvent;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * One quorum group as the member's request handlers see it (docs/QUORUM.md §4): propose a log
 * entry and learn what applying it came to, read, watch, administer. {@link RaftGroupEngine} is
 * the real one (Ratis through the group's leader); tests use one over a bare state.
 *
 * <p>Futures fail with {@link QuorumException}: {@code NOLEADER} when no leader took the entry
 * within the engine's wait (its outcome unknown if it may have been appended).
 */
public interface GroupEngine {
    String name();

    /** What applying an entry came to, and where it sits in the log. */
    record Applied(Outcome outcome, long index, long term) {}

    /** Proposes {@code entry}; completes with its outcome once it is applied. */
    CompletableFuture<Applied> propose(LogEntry entry);

    /** A read batch: linearizable (ReadIndex through the leader) unless {@code serializable}. */
    CompletableFuture<Outcome.Done> read(Batch batch, boolean serializable);

    /**
     * Who is told what every lock entry did, in log order (docs/CAC.md §5): the member's lock
     * service. Replaces the one before.
     */
    void setLockListener(LockListener listener);

    /** A quick query of the lock table at this member's state now (listing, compares). */
    <T> T locks(Function<LockTable, T> query);

    /**
     * On the group's leader: for each other member, ms since it last answered; elsewhere empty
     * (docs/CAC.md §3: the locks of a silent home are lost).
     */
    Map<String, Long> silence();

    /** Whether {@code label} is in the group's current configuration. */
    boolean isMember(String label);

    /**
     * Opens a watch of {@code key} (or the keys under it) from {@code fromRevision} (0: from now):
     * {@code sink} gets the changes in revision order, never on a thread that may block for it.
     *
     * @throws QuorumException COMPACTED if {@code fromRevision} is older than what the member keeps
     */
    WatchHandle watch(Blob key, boolean prefix, long fromRevision, WatchSink sink) throws QuorumException;

    /** Where a watch delivers. Must not block. */
    interface WatchSink {
        void events(List<WatchEvent> events);

        /** The member ended the watch (it fell behind, the member is closing). */
        void ended(int error, String why);

        /** Whether the sink takes more now; if not, delivery waits for {@link WatchHandle#resume}. */
        default boolean ready() {
            return true;
        }
    }

    /** An open watch. */
    interface WatchHandle {
        /** The revision the stream starts after. */
        long startsAfter();

        void cancel();

        /** Resumes delivery held because the sink was not {@linkplain WatchSink#ready ready}. */
        default void resume() {
        }
    }

    /** The group as the status document and {@code dmsg quorum status} show it (docs/QUORUM.md §7). */
    GroupStatus status();

    /**
     * A membership or leadership change through the leader (docs/QUORUM.md §7): {@code add},
     * {@code remove} or {@code transfer} of {@code label}; completes with a line saying what was done.
     */
    CompletableFuture<String> change(String op, String label);
}
