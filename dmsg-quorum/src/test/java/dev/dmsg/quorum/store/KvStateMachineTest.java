package dev.dmsg.quorum.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacEntry;
import dev.dmsg.quorum.cac.CacEvent;
import dev.dmsg.quorum.cac.CacKey;
import dev.dmsg.quorum.cac.CacLeases;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.quorum.cac.LockListener;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.testkit.FakeClock;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.WatchEvent;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.proto.RaftProtos.RaftPeerRole;
import org.apache.ratis.proto.RaftProtos.StateMachineLogEntryProto;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.LifeCycle;
import org.apache.ratis.util.SizeInBytes;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link KvStateMachine} driven as Ratis drives it, without a cluster: hand-made log entries
 * through {@code applyTransaction}, reads through {@code query}, snapshots through Ratis's own
 * storage classes, leadership through its notifications.
 */
class KvStateMachineTest {
    static final RaftGroupId GROUP = RaftGroupId.randomId();
    static final RaftPeerId ME = RaftPeerId.valueOf("alpha");
    static final Txid T1 = new Txid(7, 1);

    @TempDir
    Path dir;

    final FakeClock clock = new FakeClock();
    final List<Txid> expired = new ArrayList<>();
    final List<Long> lockExpired = new ArrayList<>();
    final WatchHubTest.Manual watchExecutor = new WatchHubTest.Manual();
    final List<RaftStorage> storages = new ArrayList<>();
    long term = 1;
    long index = 0;

    @AfterEach
    void closeStorages() throws IOException {
        for (RaftStorage s : storages) {
            s.close();
        }
    }

    KvStateMachine machine() {
        return new KvStateMachine(KvStateMachine.Options.defaults(), watchExecutor, new LeaseKeeper(clock, expired::add),
            new CacLeases(clock, (lock, why) -> lockExpired.add(lock)));
    }

    RaftStorage storage(RaftStorage.StartupOption option) throws IOException {
        RaftStorage s = RaftStorage.newBuilder().setDirectory(dir.resolve("raft").toFile()).setOption(option)
            .setStorageFreeSpaceMin(SizeInBytes.valueOf(0)).build();
        s.initialize();
        storages.add(s);
        return s;
    }

    Outcome apply(KvStateMachine m, byte[] data) throws Exception {
        LogEntryProto entry = LogEntryProto.newBuilder().setTerm(term).setIndex(++index)
            .setStateMachineLogEntry(StateMachineLogEntryProto.newBuilder().setLogData(ByteString.copyFrom(data)))
            .build();
        TransactionContext trx = TransactionContext.newBuilder().setStateMachine(m).setServerRole(RaftPeerRole.FOLLOWER)
            .setLogEntry(entry).build();
        Message reply = m.applyTransaction(trx).get();
        return Outcomes.decode(reply.getContent().toByteArray());
    }

    Outcome apply(KvStateMachine m, LogEntry e) throws Exception {
        return apply(m, LogEntries.encode(e));
    }

    static Outcome query(KvStateMachine m, Batch b) throws Exception {
        return Outcomes.decode(m.query(Message.valueOf(ByteString.copyFrom(QrmCodec.encodeBatch(b)))).get()
            .getContent().toByteArray());
    }

    static Op put(String k, String v) {
        return Op.put(Blob.utf8(k), Blob.utf8(v));
    }

    @Test
    void prepareCommitAndReadThroughRatisMessages() throws Exception {
        KvStateMachine m = machine();
        assertThat(apply(m, new LogEntry.Prepare(T1, 0, Batch.of(put("/a", "1"))))).isEqualTo(new Outcome.Prepared(true, 1));
        assertThat(m.preparedCount()).isEqualTo(1);
        Outcome c = apply(m, new LogEntry.Commit(T1));
        assertThat(c).isInstanceOf(Outcome.Done.class);
        assertThat(((Outcome.Done) c).revision()).isEqualTo(1);
        assertThat(apply(m, new LogEntry.Commit(T1))).isEqualTo(new Outcome.NotPrepared());
        assertThat(m.lastApplied()).isEqualTo(TermIndex.valueOf(1, 3));
        assertThat(m.revision()).isEqualTo(1);

        Outcome r = query(m, Batch.of(Op.get(Blob.utf8("/a"))));
        assertThat(((Outcome.Done) r).results().results().get(0).kvs())
            .containsExactly(new KeyValue(Blob.utf8("/a"), Blob.utf8("1"), 1, 1, 1));
        assertThat(query(m, Batch.of(put("/a", "2")))).isEqualTo(new Outcome.Invalid("read batch: only GET may be read"));
        Outcome bad = Outcomes.decode(m.query(Message.valueOf(ByteString.copyFrom(new byte[] {9}))).get().getContent().toByteArray());
        assertThat(bad).isInstanceOf(Outcome.Invalid.class);
    }

    @Test
    void anEntryThatDoesNotDecodeIsANoOpForEveryMember() throws Exception {
        KvStateMachine m = machine();
        apply(m, new LogEntry.Write(Batch.of(put("/a", "1"))));
        Outcome o = apply(m, new byte[] {5, 9});
        assertThat(o).isEqualTo(new Outcome.Invalid("log entry: version 9; want 1"));
        assertThat(m.lastApplied().getIndex()).as("still applied: the log moves on").isEqualTo(2);
        assertThat(m.revision()).isEqualTo(1);
    }

    @Test
    void startTransactionRefusesWhatWouldNotDecode() throws Exception {
        KvStateMachine m = machine();
        RaftClientRequest good = request(LogEntries.encode(new LogEntry.Commit(T1)));
        assertThat(m.startTransaction(good).getException()).isNull();
        TransactionContext bad = m.startTransaction(request(new byte[] {2, 1, 0}));
        assertThat(bad.getException()).isInstanceOf(IllegalArgumentException.class).hasMessage("COMMIT: 3 bytes; want 18");
    }

    static RaftClientRequest request(byte[] data) {
        return RaftClientRequest.newBuilder().setClientId(ClientId.randomId()).setServerId(ME).setGroupId(GROUP)
            .setCallId(1).setMessage(Message.valueOf(ByteString.copyFrom(data)))
            .setType(RaftClientRequest.writeRequestType()).build();
    }

    static LogEntry acquire(String owner, String key, CacState s, int leaseMs) {
        return new LogEntry.Lock(new CacEntry.Acquire(owner.hashCode(), new LockTable.Acquire(new LockTable.Owner(owner, 0),
            new LockTable.Home("alpha", 1), CacKey.of(key), CacDomain.INUM, s, 0, leaseMs)));
    }

    /** Lock entries (docs/CAC.md §5) through Ratis messages: events to the listener, leases on the leader's clock. */
    @Test
    void lockEntriesReachTheListenerAndAnUnmetDowngradeExpiresOnTheLeadersClock() throws Exception {
        KvStateMachine m = machine();
        List<String> heard = new ArrayList<>();
        m.setLockListener((i, e, events) -> heard.add(i + " " + e.getClass().getSimpleName() + " " + events.stream()
            .map(ev -> ev.getClass().getSimpleName()).toList()));
        assertThat(apply(m, acquire("a", "/k", CacState.EXCLUSIVE, 2000))).isEqualTo(new Outcome.Locked(List.of()));
        m.notifyLeaderChanged(RaftGroupMemberId.valueOf(ME, GROUP), ME);
        apply(m, acquire("b", "/k", CacState.SHARED, 0));
        assertThat(heard).containsExactly("1 Acquire [Granted]", "2 Acquire [Waiting, Downgrade, LeaseStarted]");
        assertThat(m.lockLeases().size()).isOne();
        CacState asked = m.locks(t -> t.view(1).downgradeTo());
        assertThat(asked).isEqualTo(CacState.SHARED);
        clock.advanceMillis(1999);
        m.lockLeases().tick();
        assertThat(lockExpired).isEmpty();
        clock.advanceMillis(1);
        m.lockLeases().tick();
        assertThat(lockExpired).as("lock 1's lease of 2 s passed").containsExactly(1L);
        apply(m, new LogEntry.Lock(new CacEntry.Expire(1, LockTable.EXPIRE_DOWNGRADE)));
        assertThat(heard.get(2)).isEqualTo("3 Expire [LeaseEnded, Revoked, Granted]");
        assertThat(m.lockLeases().size()).isZero();
        boolean fenced = m.locks(t -> t.fences(CacKey.of("/k"), 3));
        assertThat(fenced).as("b holds it, shared: no fence").isFalse();
    }

    @Test
    void aSnapshotKeepsTheLocksAndTheirLeases() throws Exception {
        KvStateMachine m = machine();
        m.open(storage(RaftStorage.StartupOption.FORMAT));
        apply(m, new LogEntry.Write(Batch.of(put("/a", "1"))));
        apply(m, acquire("a", "/k", CacState.EXCLUSIVE, 0));
        apply(m, acquire("b", "/k", CacState.EXCLUSIVE, 0));
        apply(m, acquire("c", "/j", CacState.SHARED, 0));
        apply(m, new LogEntry.Lock(new CacEntry.Lost(4)));
        assertThat(m.takeSnapshot()).isEqualTo(5);
        closeStorages();
        storages.clear();

        KvStateMachine restored = machine();
        boolean[] told = {false};
        restored.setLockListener(new LockListener() {
            @Override
            public void applied(long i, CacEntry e, List<CacEvent> events) {
            }

            @Override
            public void restored() {
                told[0] = true;
            }
        });
        restored.open(storage(RaftStorage.StartupOption.RECOVER));
        assertThat(told[0]).isTrue();
        assertThat(restored.locks(LockTable::all)).isEqualTo(m.locks(LockTable::all)).hasSize(3);
        assertThat(restored.lockLeases().size()).as("a's downgrade and c's loss").isEqualTo(2);
        assertThat(restored.state().sameAs(m.state())).isTrue();
        long saved = index;
        Outcome a = apply(m, new LogEntry.Lock(new CacEntry.Release(2)));
        index = saved;
        apply(restored, new LogEntry.Lock(new CacEntry.Release(2)));
        assertThat(restored.locks(LockTable::all)).isEqualTo(m.locks(LockTable::all));
        CacState held = restored.locks(t -> t.view(3).held());
        assertThat(held).as("b got it when a went").isEqualTo(CacState.EXCLUSIVE);
        assertThat(a).isInstanceOf(Outcome.Locked.class);
    }

    @Test
    void snapshotThenRestoreGivesTheSameStateAndAnswers() throws Exception {
        KvStateMachine m = machine();
        m.open(storage(RaftStorage.StartupOption.FORMAT));
        apply(m, new LogEntry.Write(Batch.of(put("/a", "1"), put("/b", "2"))));
        apply(m, new LogEntry.Prepare(T1, 5000, Batch.of(Op.deletePrefix(Blob.utf8("/a")))));
        term = 2;
        apply(m, new LogEntry.Write(Batch.of(put("/c", "3"))));
        assertThat(m.takeSnapshot()).isEqualTo(3);
        File snap = m.getStateMachineStorage().getLatestSnapshot().getFiles().get(0).getPath().toFile();
        assertThat(snap.getName()).isEqualTo("snapshot.2_3");
        assertThat(new File(snap.getPath() + ".md5")).exists();
        closeStorages();
        storages.clear();

        KvStateMachine restored = machine();
        restored.open(storage(RaftStorage.StartupOption.RECOVER));
        assertThat(restored.lastApplied()).isEqualTo(TermIndex.valueOf(2, 3));
        assertThat(restored.state().sameAs(m.state())).isTrue();
        assertThat(restored.leases().size()).as("the restored prepared batch is known to the lease keeper").isEqualTo(1);
        long saved = index;
        Outcome a = apply(m, new LogEntry.Write(Batch.of(put("/a/x", "conflict"))));
        Outcome b = apply(m, new LogEntry.Commit(T1));
        index = saved;
        assertThat(apply(restored, new LogEntry.Write(Batch.of(put("/a/x", "conflict"))))).isEqualTo(a).isInstanceOf(Outcome.Conflict.class);
        assertThat(apply(restored, new LogEntry.Commit(T1))).isEqualTo(b);
        assertThat(restored.state().sameAs(m.state())).isTrue();
        assertThat(restored.preparedCount()).isZero();
        assertThat(restored.leases().size()).isZero();
    }

    /**
     * Ratis pauses the state machine for every chunk of a snapshot it installs, then reloads it
     * once: a second pause must leave it PAUSED, not fail (it did: PAUSED -> PAUSING, and a member
     * far behind could never catch up from a snapshot of more than one 48 KiB chunk).
     */
    @Test
    void installingASnapshotOfSeveralChunksPausesOnceAndRunsAgain() throws Exception {
        KvStateMachine m = machine();
        m.open(storage(RaftStorage.StartupOption.FORMAT));
        m.getLifeCycle().transition(LifeCycle.State.STARTING);
        m.getLifeCycle().transition(LifeCycle.State.RUNNING);
        apply(m, new LogEntry.Write(Batch.of(put("/a", "1"))));
        m.takeSnapshot();
        m.pause(); // chunk 0
        m.pause(); // chunk 1
        assertThat(m.getLifeCycle().getCurrentState()).isEqualTo(LifeCycle.State.PAUSED);
        m.reinitialize();
        assertThat(m.getLifeCycle().getCurrentState()).isEqualTo(LifeCycle.State.RUNNING);
        assertThat(m.lastApplied()).isEqualTo(TermIndex.valueOf(term, index));
    }

    @Test
    void aCorruptSnapshotIsRefusedAtStartup() throws Exception {
        KvStateMachine m = machine();
        m.open(storage(RaftStorage.StartupOption.FORMAT));
        apply(m, new LogEntry.Write(Batch.of(put("/a", "1"))));
        m.takeSnapshot();
        Path snap = m.getStateMachineStorage().getLatestSnapshot().getFiles().get(0).getPath();
        byte[] b = Files.readAllBytes(snap);
        b[b.length - 3] ^= 1;
        Files.write(snap, b);
        closeStorages();
        storages.clear();
        KvStateMachine again = machine();
        RaftStorage s = storage(RaftStorage.StartupOption.RECOVER);
        assertThatThrownBy(() -> again.open(s)).isInstanceOf(SnapshotCorruptException.class)
            .hasMessageStartingWith("snapshot " + snap + ": ");
    }

    @Test
    void theLeaderExpiresAStalePrepare_andACommitAfterItIsNotPrepared() throws Exception {
        KvStateMachine m = machine();
        m.notifyLeaderChanged(RaftGroupMemberId.valueOf(ME, GROUP), ME);
        apply(m, new LogEntry.Prepare(T1, 2000, Batch.of(put("/a", "1"))));
        clock.advanceMillis(1999);
        m.leases().tick();
        assertThat(expired).isEmpty();
        clock.advanceMillis(1);
        m.leases().tick();
        assertThat(expired).containsExactly(T1);
        assertThat(apply(m, new LogEntry.Expire(T1))).isEqualTo(new Outcome.Aborted());
        assertThat(apply(m, new LogEntry.Commit(T1))).isEqualTo(new Outcome.NotPrepared());
        assertThat(m.revision()).isZero();
    }

    @Test
    void aFollowerCountsNoLeaseAndANewLeaderStartsAWholeOne() throws Exception {
        KvStateMachine m = machine();
        m.notifyLeaderChanged(RaftGroupMemberId.valueOf(ME, GROUP), RaftPeerId.valueOf("beta"));
        apply(m, new LogEntry.Prepare(T1, 2000, Batch.of(put("/a", "1"))));
        clock.advanceMillis(10_000);
        m.leases().tick();
        assertThat(expired).isEmpty();
        m.notifyLeaderChanged(RaftGroupMemberId.valueOf(ME, GROUP), ME);
        clock.advanceMillis(1999);
        m.leases().tick();
        assertThat(expired).isEmpty();
        m.notifyNotLeader(List.of());
        clock.advanceMillis(5000);
        m.leases().tick();
        assertThat(expired).isEmpty();
    }

    @Test
    void watchReplaysAppliedRevisionsThenFollowsLive() throws Exception {
        KvStateMachine m = machine();
        apply(m, new LogEntry.Write(Batch.of(put("/w/1", "a"))));
        apply(m, new LogEntry.Write(Batch.of(put("/x", "a"))));
        WatchHubTest.Rec rec = new WatchHubTest.Rec();
        assertThat(m.watch(Blob.utf8("/w/"), true, 1, rec)).isInstanceOf(WatchStart.Started.class);
        apply(m, new LogEntry.Write(Batch.of(put("/w/2", "b"), Op.delete(Blob.utf8("/w/1")))));
        watchExecutor.runAll();
        assertThat(rec.revisions).containsExactly(1L, 3L);
        assertThat(rec.events).extracting(WatchEvent::kind, e -> e.kv().key().utf8())
            .containsExactly(tuple(WatchEvent.Kind.PUT, "/w/1"), tuple(WatchEvent.Kind.PUT, "/w/2"),
                tuple(WatchEvent.Kind.DELETE, "/w/1"));
    }

    /** Reads on other threads see whole revisions, never half a batch, and never go back. */
    @Test
    void readsDuringAppliesSeeWholeRevisions() throws Exception {
        KvStateMachine m = machine();
        int writes = 3000;
        List<String> problems = Collections.synchronizedList(new ArrayList<>());
        AtomicBoolean done = new AtomicBoolean();
        Thread reader = new Thread(() -> {
            long last = 0;
            while (!done.get()) {
                Outcome.Done d = m.read(Batch.of(Op.get(Blob.utf8("/x")), Op.get(Blob.utf8("/y"))));
                List<KeyValue> x = d.results().results().get(0).kvs();
                List<KeyValue> y = d.results().results().get(1).kvs();
                if (d.revision() < last) {
                    problems.add("revision went back " + last + " -> " + d.revision());
                }
                last = d.revision();
                if (x.size() != y.size() || (!x.isEmpty() && !x.get(0).value().equals(y.get(0).value()))) {
                    problems.add("half a batch at revision " + d.revision());
                }
            }
        });
        reader.start();
        for (int i = 1; i <= writes; i++) {
            apply(m, new LogEntry.Write(Batch.of(put("/x", "v" + i), put("/y", "v" + i))));
        }
        done.set(true);
        reader.join(20_000);
        assertThat(reader.isAlive()).isFalse();
        assertThat(problems).isEmpty();
        assertThat(m.revision()).isEqualTo(writes);
    }
}
