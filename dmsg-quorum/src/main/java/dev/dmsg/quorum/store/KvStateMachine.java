package dev.dmsg.quorum.store;

import dev.dmsg.quorum.cac.CacEntry;
import dev.dmsg.quorum.cac.CacEvent;
import dev.dmsg.quorum.cac.CacLeases;
import dev.dmsg.quorum.cac.LockListener;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import dev.dmsg.wire.qrm.WatchEvent;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import org.apache.ratis.io.MD5Hash;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.StateMachineStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.LifeCycle;
import org.apache.ratis.util.MD5FileUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The quorum store as a Ratis state machine (docs/QUORUM.md §2, §4): each log entry's data is a
 * {@link LogEntries} entry, applied to a {@link KvState}; the reply message is its
 * {@link Outcomes} encoding. Reads ({@link #query}) take a read batch (QrmCodec) and answer an
 * OK outcome (revision, results). Snapshots are one {@link SnapshotFile} per snapshot in Ratis's
 * {@link SimpleStateMachineStorage} layout ({@code sm/snapshot.TERM_INDEX}, with its .md5).
 *
 * <p>Concurrency: Ratis applies entries, takes snapshots and reinitializes on one thread (its
 * state machine updater); reads, watches and status calls come from any thread. A read-write
 * lock guards the state: applies and restores write, the rest read. Watch changes are published
 * after the lock is released, still on the applying thread, so in revision order. Leadership
 * events reach the {@link LeaseKeeper} from Ratis's threads: {@link #notifyLeaderChanged} to this
 * member means {@link LeaseKeeper#becameLeader}, to another or {@link #notifyNotLeader} means
 * {@link LeaseKeeper#lostLeadership}.
 */
public class KvStateMachine extends BaseStateMachine {
    private static final Logger LOG = LoggerFactory.getLogger(KvStateMachine.class);

    /** Bounds of one member's state machine; {@link #defaults()} are docs/QUORUM.md's. */
    public record Options(int maxPrepared, int watchRevisions, long watchHistoryBytes, long watchQueueBytes) {
        public static Options defaults() {
            return new Options(KvState.DEFAULT_MAX_PREPARED, WatchHub.DEFAULT_REVISIONS,
                WatchHub.DEFAULT_HISTORY_BYTES, WatchHub.DEFAULT_QUEUE_BYTES);
        }

        public Options withWatchRevisions(int n) {
            return new Options(maxPrepared, n, watchHistoryBytes, watchQueueBytes);
        }

        public Options withWatchQueueBytes(long n) {
            return new Options(maxPrepared, watchRevisions, watchHistoryBytes, n);
        }
    }

    private final Options options;
    private final LeaseKeeper leases;
    private final CacLeases lockLeases;
    private volatile LockListener lockListener = (index, entry, events) -> { };
    /** Lock entries applied, published once the lock is released (the applying thread only). */
    private final List<AppliedLock> pendingLocks = new ArrayList<>();
    private final WatchHub hub;
    private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /** Changes of the entry being applied, published once the lock is released (the applying thread only). */
    private final List<Change> pendingChanges = new ArrayList<>();
    private KvState state;

    private record Change(long revision, List<WatchEvent> events) {}

    private record AppliedLock(long index, CacEntry entry, List<CacEvent> events) {}

    /**
     * @param watchExecutor runs watch listeners (never the applying thread's job); must not run
     *     tasks inline on the caller's thread
     * @param leases the leader's lease clock; this state machine tells it every PREPARE, end of a
     *     transaction, restore and leadership change
     * @param lockLeases the leader's clock for lock leases (docs/CAC.md §3), told the same way
     */
    public KvStateMachine(Options options, Executor watchExecutor, LeaseKeeper leases, CacLeases lockLeases) {
        this.options = Objects.requireNonNull(options, "options");
        this.leases = Objects.requireNonNull(leases, "leases");
        this.lockLeases = Objects.requireNonNull(lockLeases, "lockLeases");
        this.hub = new WatchHub(options.watchRevisions(), options.watchHistoryBytes(), options.watchQueueBytes(),
            watchExecutor);
        this.state = newState(new KvState(options.maxPrepared()));
    }

    private KvState newState(KvState s) {
        s.setChangeListener((revision, events) -> pendingChanges.add(new Change(revision, events)));
        return s;
    }

    // ---- what the node service uses ----

    /** The store's revision now. */
    public long revision() {
        lock.readLock().lock();
        try {
            return state.revision();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The last entry applied (or restored from a snapshot). */
    public TermIndex lastApplied() {
        return getLastAppliedTermIndex();
    }

    public int preparedCount() {
        lock.readLock().lock();
        try {
            return state.preparedCount();
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * A read batch at this member's state now: a SERIALIZABLE read (docs/QUORUM.md §2.1), or the
     * last step of a linearizable one once Ratis's ReadIndex says this member is up to date
     * ({@link #query} is that path).
     *
     * @throws IllegalArgumentException if an op of the batch writes
     */
    public Outcome.Done read(Batch batch) {
        lock.readLock().lock();
        try {
            return state.read(batch);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** A watch (docs/QUORUM.md §3.4); see {@link WatchHub#watch}. */
    public WatchStart watch(Blob key, boolean prefix, long fromRevision, WatchListener listener) {
        return hub.watch(key, prefix, fromRevision, listener);
    }

    // ---- Ratis ----

    @Override
    public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
        super.initialize(server, groupId, raftStorage);
        getLifeCycle().startAndTransition(() -> open(raftStorage));
    }

    /**
     * Ratis pauses the state machine before it installs a snapshot from the leader, and checks it
     * is PAUSED; {@link #reinitialize} then loads it and runs again. Ratis calls this for every
     * chunk of the snapshot (ratis ServerState.installSnapshot), so only the first one pauses: a
     * snapshot of more than one chunk (48 KiB, docs/QUORUM.md §5) must not fail PAUSED -> PAUSING.
     */
    @Override
    public void pause() {
        if (getLifeCycle().getCurrentState() == LifeCycle.State.PAUSED) {
            return;
        }
        getLifeCycle().transition(LifeCycle.State.PAUSING);
        getLifeCycle().transition(LifeCycle.State.PAUSED);
    }

    /** The storage part of {@link #initialize}: finds and loads the latest snapshot (tests call it without a server). */
    void open(RaftStorage raftStorage) throws IOException {
        storage.init(raftStorage);
        load(storage.getLatestSnapshot());
    }

    /** After Ratis installed a snapshot from the leader (or on resume): load the newest one. */
    @Override
    public void reinitialize() throws IOException {
        load(storage.loadLatestSnapshot());
        if (getLifeCycle().getCurrentState() == LifeCycle.State.PAUSED) {
            getLifeCycle().transition(LifeCycle.State.STARTING);
            getLifeCycle().transition(LifeCycle.State.RUNNING);
        }
    }

    @Override
    public StateMachineStorage getStateMachineStorage() {
        return storage;
    }

    private void load(SingleFileSnapshotInfo info) throws IOException {
        if (info == null) {
            return;
        }
        File file = info.getFile().getPath().toFile();
        TermIndex named = SimpleStateMachineStorage.getTermIndexFromSnapshotFile(file);
        SnapshotFile.Restored r = SnapshotFile.read(file.toPath(), options.maxPrepared());
        if (r.term() != named.getTerm() || r.index() != named.getIndex()) {
            throw SnapshotFile.corrupt(file.toPath(), "holds term " + r.term() + " index " + r.index()
                + " but is named for " + named);
        }
        Map<Txid, Integer> prepared = new LinkedHashMap<>();
        List<LockTable.LockView> leased;
        lock.writeLock().lock();
        try {
            state = newState(r.state());
            state.prepared().forEach(p -> prepared.put(p.txid(), p.leaseMs()));
            leased = state.locks().leased();
            setLastAppliedTermIndex(TermIndex.valueOf(r.term(), r.index()));
        } finally {
            lock.writeLock().unlock();
        }
        hub.reset(r.state().revision());
        leases.reset(prepared);
        lockLeases.reset(leased);
        lockListener.restored();
        LOG.info("{}: loaded snapshot {} (revision {}, {} keys, {} prepared)", this, file, r.state().revision(),
            r.state().size(), prepared.size());
    }

    @Override
    public long takeSnapshot() throws IOException {
        File file;
        TermIndex last;
        lock.readLock().lock();
        try {
            last = getLastAppliedTermIndex();
            if (last == null || last.getIndex() < 0) {
                return -1;
            }
            file = storage.getSnapshotFile(last.getTerm(), last.getIndex());
            Files.createDirectories(file.getParentFile().toPath());
            SnapshotFile.write(state, last.getTerm(), last.getIndex(), file.toPath());
        } finally {
            lock.readLock().unlock();
        }
        MD5Hash md5 = MD5FileUtil.computeAndSaveMd5ForFile(file);
        storage.updateLatestSnapshot(new SingleFileSnapshotInfo(new FileInfo(file.toPath(), md5), last));
        return last.getIndex();
    }

    /** Refuses, before it reaches the log, an entry that would not decode (the client gets the reason). */
    @Override
    public TransactionContext startTransaction(RaftClientRequest request) throws IOException {
        TransactionContext trx = super.startTransaction(request);
        try {
            LogEntries.decode(request.getMessage().getContent().toByteArray());
        } catch (QrmFormatException e) {
            trx.setException(new IllegalArgumentException(e.getMessage()));
        }
        return trx;
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        byte[] data = entry.getStateMachineLogEntry().getLogData().toByteArray();
        LogEntry e = null;
        Outcome o;
        try {
            e = LogEntries.decode(data);
            o = null;
        } catch (QrmFormatException ex) {
            // Only a member could have put it there (docs/QUORUM.md §5); every member refuses it alike.
            LOG.warn("{}: entry {} does not decode, applied as a no-op: {}", this, entry.getIndex(), ex.getMessage());
            o = new Outcome.Invalid(ex.getMessage());
        }
        lock.writeLock().lock();
        try {
            if (e != null) {
                o = state.apply(entry.getIndex(), e);
            }
            updateLastAppliedTermIndex(entry.getTerm(), entry.getIndex());
        } finally {
            lock.writeLock().unlock();
        }
        publishChanges();
        trackLease(e, o);
        if (o instanceof Outcome.Locked l) {
            lockLeases.applied(l.events());
            pendingLocks.add(new AppliedLock(entry.getIndex(), ((LogEntry.Lock) e).entry(), l.events()));
            publishLocks();
        }
        return CompletableFuture.completedFuture(Message.valueOf(ByteString.copyFrom(Outcomes.encode(o))));
    }

    private void publishChanges() {
        for (Change c : pendingChanges) {
            hub.publish(c.revision(), c.events());
        }
        pendingChanges.clear();
    }

    private void publishLocks() {
        LockListener l = lockListener;
        for (AppliedLock a : pendingLocks) {
            try {
                l.applied(a.index(), a.entry(), a.events());
            } catch (RuntimeException ex) {
                LOG.warn("{}: the lock listener failed on entry {}", this, a.index(), ex);
            }
        }
        pendingLocks.clear();
    }

    /** Who is told what each lock entry did (the member's lock service); replaces the one before. */
    public void setLockListener(LockListener l) {
        lockListener = Objects.requireNonNull(l, "listener");
    }

    /**
     * A query of the lock table at this member's state now (docs/CAC.md §8 listing, §6 compares),
     * under the state's read lock: {@code q} must be quick and must not keep what it is given.
     */
    public <T> T locks(Function<LockTable, T> q) {
        lock.readLock().lock();
        try {
            return q.apply(state.locks());
        } finally {
            lock.readLock().unlock();
        }
    }

    private void trackLease(LogEntry e, Outcome o) {
        if (e instanceof LogEntry.Prepare p && o instanceof Outcome.Prepared) {
            leases.prepared(p.txid(), KvState.lease(p.leaseMs()));
        } else if (e instanceof LogEntry.Commit c) {
            leases.resolved(c.txid());
        } else if (e instanceof LogEntry.Abort a) {
            leases.resolved(a.txid());
        } else if (e instanceof LogEntry.Expire x) {
            leases.resolved(x.txid());
        }
    }

    /** A read: the request is a read batch (QrmCodec), the reply an {@link Outcomes} OK or INVALID. */
    @Override
    public CompletableFuture<Message> query(Message request) {
        Outcome o;
        try {
            Batch b = QrmCodec.decodeBatch(request.getContent().toByteArray());
            o = b.readOnly() ? read(b) : new Outcome.Invalid("read batch: only GET may be read");
        } catch (QrmFormatException e) {
            o = new Outcome.Invalid(e.getMessage());
        }
        return CompletableFuture.completedFuture(Message.valueOf(ByteString.copyFrom(Outcomes.encode(o))));
    }

    @Override
    public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
        // Ratis itself says this at INFO among much else; a node's log keeps it from us (the CLI
        // keeps only Ratis's warnings)
        LOG.info("quorum member {}: the leader is now {}", groupMemberId.getPeerId(),
            newLeaderId == null ? "unknown" : newLeaderId);
        if (groupMemberId.getPeerId().equals(newLeaderId)) {
            leases.becameLeader();
            lockLeases.becameLeader();
        } else {
            leases.lostLeadership();
            lockLeases.lostLeadership();
        }
    }

    @Override
    public void notifyNotLeader(Collection<TransactionContext> pendingEntries) {
        leases.lostLeadership();
        lockLeases.lostLeadership();
    }

    @Override
    public void close() throws IOException {
        hub.close();
        super.close();
    }

    /** The lock lease clock given at construction (the member's scheduler ticks it). */
    public CacLeases lockLeases() {
        return lockLeases;
    }

    /** The lease keeper given at construction (the lead's scheduler ticks it). */
    public LeaseKeeper leases() {
        return leases;
    }

    /** The state, for tests in this package (the caller must not apply concurrently). */
    KvState state() {
        return state;
    }
}
