package dev.dmsg.quorum.raft;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.util.LifeCycle;
import org.apache.ratis.util.MD5FileUtil;

/**
 * The tests' state machine: an append-only list of strings. A write appends its message and
 * answers the new size; a query answers {@code size:lastLength} (the last item's length, so a
 * 200 KiB item need not travel back). Snapshots are the whole list in one file, as Ratis's
 * SimpleStateMachineStorage expects (with its MD5 beside it).
 */
final class ListStateMachine extends BaseStateMachine {
    private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
    private final List<String> items = new ArrayList<>();
    /** Times the state was replaced by an installed snapshot (reinitialize). */
    final AtomicInteger reloads = new AtomicInteger();

    @Override
    public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
        super.initialize(server, groupId, raftStorage);
        storage.init(raftStorage);
        getLifeCycle().startAndTransition(() -> load(storage.loadLatestSnapshot()));
    }

    /** Ratis checks the state machine is PAUSED before it reloads it from an installed snapshot. */
    @Override
    public void pause() {
        if (getLifeCycle().getCurrentState() == LifeCycle.State.PAUSED) {
            return; // called again for each further chunk of the snapshot, as KvStateMachine.pause says
        }
        getLifeCycle().transition(LifeCycle.State.PAUSING);
        getLifeCycle().transition(LifeCycle.State.PAUSED);
    }

    @Override
    public void reinitialize() throws IOException {
        reloads.incrementAndGet();
        load(storage.loadLatestSnapshot());
        getLifeCycle().transition(LifeCycle.State.STARTING);
        getLifeCycle().transition(LifeCycle.State.RUNNING);
    }

    @Override
    public SimpleStateMachineStorage getStateMachineStorage() {
        return storage;
    }

    private void load(SingleFileSnapshotInfo snap) throws IOException {
        if (snap == null) {
            return;
        }
        List<String> loaded = new ArrayList<>();
        try (InputStream in = Files.newInputStream(snap.getFile().getPath());
             DataInputStream d = new DataInputStream(in)) {
            int n = d.readInt();
            for (int i = 0; i < n; i++) {
                byte[] b = new byte[d.readInt()];
                d.readFully(b);
                loaded.add(new String(b, UTF_8));
            }
        }
        synchronized (items) {
            items.clear();
            items.addAll(loaded);
        }
        updateLastAppliedTermIndex(snap.getTerm(), snap.getIndex());
    }

    @Override
    public long takeSnapshot() throws IOException {
        TermIndex last = getLastAppliedTermIndex();
        List<String> copy;
        synchronized (items) {
            copy = new ArrayList<>(items);
        }
        File f = storage.getSnapshotFile(last.getTerm(), last.getIndex());
        try (OutputStream out = Files.newOutputStream(f.toPath()); DataOutputStream d = new DataOutputStream(out)) {
            d.writeInt(copy.size());
            for (String s : copy) {
                byte[] b = s.getBytes(UTF_8);
                d.writeInt(b.length);
                d.write(b);
            }
        }
        var md5 = MD5FileUtil.computeAndSaveMd5ForFile(f);
        storage.updateLatestSnapshot(new SingleFileSnapshotInfo(new FileInfo(f.toPath(), md5), last.getTerm(),
            last.getIndex()));
        return last.getIndex();
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto e = trx.getLogEntry();
        String s = e.getStateMachineLogEntry().getLogData().toStringUtf8();
        int size;
        synchronized (items) {
            items.add(s);
            size = items.size();
        }
        updateLastAppliedTermIndex(e.getTerm(), e.getIndex());
        return CompletableFuture.completedFuture(Message.valueOf(String.valueOf(size)));
    }

    @Override
    public CompletableFuture<Message> query(Message request) {
        synchronized (items) {
            int last = items.isEmpty() ? 0 : items.get(items.size() - 1).length();
            return CompletableFuture.completedFuture(Message.valueOf(items.size() + ":" + last));
        }
    }

    int size() {
        synchronized (items) {
            return items.size();
        }
    }

    List<String> items() {
        synchronized (items) {
            return List.copyOf(items);
        }
    }
}
