package dev.dmsg.quorum.store;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.quorum.cac.CacLeases;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.FakeClock;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.QrmCodec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.proto.RaftProtos.AppendEntriesReplyProto;
import org.apache.ratis.proto.RaftProtos.AppendEntriesRequestProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotReplyProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotRequestProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteReplyProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteRequestProto;
import org.apache.ratis.proto.RaftProtos.StartLeaderElectionReplyProto;
import org.apache.ratis.proto.RaftProtos.StartLeaderElectionRequestProto;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.rpc.RpcFactory;
import org.apache.ratis.rpc.RpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.RaftServerRpc;
import org.apache.ratis.server.ServerFactory;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link KvStateMachine} under a real Ratis server: a group of one member, which elects itself
 * and commits alone, so its RPC never carries anything ({@link NoRpc} refuses every call). Proves
 * the adapter end to end: leadership reaching the lease keeper, writes and linearizable reads
 * through Ratis, a refused entry, and a restart from a snapshot plus the log after it.
 */
class SingleMemberRaftTest {
    static final RaftPeer ALPHA = RaftPeer.newBuilder().setId("alpha").setAddress("alpha").build();
    static final RaftGroup GROUP = RaftGroup.valueOf(RaftGroupId.randomId(), ALPHA);
    static final Duration WAIT = Duration.ofSeconds(15);

    @TempDir
    Path dir;

    final FakeClock clock = new FakeClock();
    final ConcurrentLinkedQueue<Txid> expired = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<Long> lockExpired = new ConcurrentLinkedQueue<>();
    final ExecutorService watchExecutor = Executors.newSingleThreadExecutor();
    RaftServer server;
    KvStateMachine sm;
    long callId;

    /** A Ratis RPC type for a group of one: nothing to send, so every call fails. */
    public static final class NoRpc implements RpcType {
        @Override
        public String name() {
            return NoRpc.class.getName();
        }

        @Override
        public RpcFactory newFactory(Parameters parameters) {
            return new ServerFactory() {
                @Override
                public RpcType getRpcType() {
                    return new NoRpc();
                }

                @Override
                public RaftServerRpc newRaftServerRpc(RaftServer s) {
                    return new Rpc();
                }
            };
        }
    }

    static final class Rpc implements RaftServerRpc {
        @Override
        public void start() {
        }

        @Override
        public InetSocketAddress getInetSocketAddress() {
            return InetSocketAddress.createUnresolved("alpha", 0);
        }

        @Override
        public RpcType getRpcType() {
            return new NoRpc();
        }

        @Override
        public void addRaftPeers(Collection<RaftPeer> peers) {
        }

        @Override
        public void handleException(RaftPeerId serverId, Exception e, boolean reconnect) {
        }

        @Override
        public RequestVoteReplyProto requestVote(RequestVoteRequestProto r) throws IOException {
            throw new IOException("no peers");
        }

        @Override
        public AppendEntriesReplyProto appendEntries(AppendEntriesRequestProto r) throws IOException {
            throw new IOException("no peers");
        }

        @Override
        public InstallSnapshotReplyProto installSnapshot(InstallSnapshotRequestProto r) throws IOException {
            throw new IOException("no peers");
        }

        @Override
        public StartLeaderElectionReplyProto startLeaderElection(StartLeaderElectionRequestProto r) throws IOException {
            throw new IOException("no peers");
        }

        @Override
        public void close() {
        }
    }

    void start(RaftStorage.StartupOption option) throws Exception {
        RaftProperties p = new RaftProperties();
        RaftConfigKeys.Rpc.setType(p, new NoRpc());
        RaftServerConfigKeys.setStorageDir(p, List.of(dir.toFile()));
        sm = new KvStateMachine(KvStateMachine.Options.defaults(), watchExecutor, new LeaseKeeper(clock, expired::add),
            new CacLeases(clock, (lock, why) -> lockExpired.add(lock)));
        server = RaftServer.newBuilder().setServerId(ALPHA.getId()).setGroup(GROUP).setProperties(p)
            .setStateMachine(sm).setOption(option).build();
        server.start();
        RaftServer.Division d = server.getDivision(GROUP.getGroupId());
        Await.until(() -> d.getInfo().isLeaderReady(), WAIT, "alpha leads its group of one");
    }

    @AfterEach
    void stop() throws IOException {
        if (server != null) {
            server.close();
        }
        watchExecutor.shutdownNow();
    }

    Outcome submit(RaftClientRequest.Type type, byte[] content) throws Exception {
        RaftClientRequest req = RaftClientRequest.newBuilder().setClientId(ClientId.randomId())
            .setServerId(ALPHA.getId()).setGroupId(GROUP.getGroupId()).setCallId(++callId)
            .setMessage(Message.valueOf(ByteString.copyFrom(content))).setType(type).build();
        RaftClientReply reply = server.submitClientRequestAsync(req).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        if (!reply.isSuccess()) {
            throw reply.getException();
        }
        return Outcomes.decode(reply.getMessage().getContent().toByteArray());
    }

    Outcome write(LogEntry e) throws Exception {
        return submit(RaftClientRequest.writeRequestType(), LogEntries.encode(e));
    }

    Outcome read(Batch b) throws Exception {
        return submit(RaftClientRequest.readRequestType(), QrmCodec.encodeBatch(b));
    }

    static Op put(String k, String v) {
        return Op.put(Blob.utf8(k), Blob.utf8(v));
    }

    @Test
    void writesReadsLeasesAndARestartFromASnapshot() throws Exception {
        start(RaftStorage.StartupOption.FORMAT);
        assertThat(sm.leases().isLeader()).as("notifyLeaderChanged reached the lease keeper").isTrue();

        Txid t1 = new Txid(1, 1);
        assertThat(write(new LogEntry.Write(Batch.of(put("/a", "1"))))).isInstanceOf(Outcome.Done.class);
        Outcome prepared = write(new LogEntry.Prepare(t1, 3000, Batch.of(put("/b", "2"))));
        assertThat(prepared).isInstanceOf(Outcome.Prepared.class);
        assertThat(((Outcome.Prepared) prepared).held()).isTrue();
        assertThat(((Outcome.Done) write(new LogEntry.Commit(t1))).revision()).isEqualTo(2);

        // the lost initiator: the leader's clock runs out, the callback's EXPIRE goes through Raft
        Txid t2 = new Txid(2, 2);
        write(new LogEntry.Prepare(t2, 3000, Batch.of(put("/c", "3"))));
        clock.advanceMillis(3000);
        sm.leases().tick();
        assertThat(expired).containsExactly(t2);
        assertThat(write(new LogEntry.Expire(expired.poll()))).isEqualTo(new Outcome.Aborted());
        assertThat(write(new LogEntry.Commit(t2))).isEqualTo(new Outcome.NotPrepared());

        Outcome.Done r = (Outcome.Done) read(Batch.of(Op.getPrefix(Blob.utf8("/"), 0)));
        assertThat(r.revision()).isEqualTo(2);
        assertThat(r.results().results().get(0).kvs()).extracting(KeyValue::key).containsExactly(Blob.utf8("/a"), Blob.utf8("/b"));

        try {
            submit(RaftClientRequest.writeRequestType(), new byte[] {7, 1});
            throw new AssertionError("a bad entry was accepted");
        } catch (Exception e) {
            assertThat(e).hasMessageContaining("log entry: kind 7; want 1..5");
        }

        long snapIndex = sm.takeSnapshot();
        Txid t3 = new Txid(3, 3);
        write(new LogEntry.Prepare(t3, 0, Batch.of(Op.deletePrefix(Blob.utf8("/a")))));
        write(new LogEntry.Write(Batch.of(put("/z", "after the snapshot"))));
        long lastIndex = sm.lastApplied().getIndex();
        assertThat(lastIndex).isGreaterThan(snapIndex);
        server.close();

        start(RaftStorage.StartupOption.RECOVER);
        assertThat(sm.getLatestSnapshot().getIndex()).as("restarted from the snapshot").isEqualTo(snapIndex);
        Await.until(() -> sm.lastApplied().getIndex() > lastIndex, WAIT, "the log after the snapshot is replayed");
        assertThat(sm.revision()).isEqualTo(3);
        assertThat(sm.preparedCount()).isEqualTo(1);
        assertThat(write(new LogEntry.Write(Batch.of(put("/a/1", "x"))))).isInstanceOf(Outcome.Conflict.class);
        assertThat(((Outcome.Done) write(new LogEntry.Commit(t3))).revision()).isEqualTo(4);
        Outcome.Done after = (Outcome.Done) read(Batch.of(Op.getPrefix(Blob.utf8("/"), 0)));
        assertThat(after.results().results().get(0).kvs()).extracting(KeyValue::key)
            .containsExactly(Blob.utf8("/b"), Blob.utf8("/z"));
    }
}
