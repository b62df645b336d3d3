package dev.dmsg.services.quorum;

import dev.dmsg.quorum.raft.RaftHost;
import dev.dmsg.quorum.cac.LockListener;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.quorum.store.KvStateMachine;
import dev.dmsg.quorum.store.LogEntries;
import dev.dmsg.quorum.store.LogEntry;
import dev.dmsg.quorum.store.Outcome;
import dev.dmsg.quorum.store.Outcomes;
import dev.dmsg.quorum.store.Watch;
import dev.dmsg.quorum.store.WatchListener;
import dev.dmsg.quorum.store.WatchStart;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import dev.dmsg.wire.qrm.WatchEvent;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.protocol.exceptions.RaftException;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;

/**
 * A quorum group on this member through Ratis (docs/QUORUM.md §4, §5): entries go to the leader
 * through the group's {@link RaftClient} on our RPC (which forwards from a follower, and retries
 * across a leader change for about 10 s), reads through ReadIndex or from the local state, watches
 * from the local state machine, changes through the client's admin API.
 */
final class RaftGroupEngine implements GroupEngine {
    private final RaftHost host;
    private final String name;
    private final KvStateMachine sm;

    RaftGroupEngine(RaftHost host, String name, KvStateMachine sm) {
        this.host = host;
        this.name = name;
        this.sm = sm;
    }

    @Override
    public String name() {
        return name;
    }

    KvStateMachine stateMachine() {
        return sm;
    }

    @Override
    public void setLockListener(LockListener listener) {
        sm.setLockListener(listener);
    }

    @Override
    public <T> T locks(Function<LockTable, T> query) {
        return sm.locks(query);
    }

    @Override
    public Map<String, Long> silence() {
        try {
            return host.silence(name);
        } catch (IOException e) {
            return Map.of();
        }
    }

    private RaftClient client() {
        try {
            return host.client(name);
        } catch (IOException e) {
            throw new CompletionException(new QuorumException(Dmsg.ERR_NOSUPP, e.getMessage()));
        }
    }

    @Override
    public CompletableFuture<Applied> propose(LogEntry entry) {
        Message m = Message.valueOf(ByteString.copyFrom(LogEntries.encode(entry)));
        RaftClient c = client();
        return c.async().send(m).handle((r, e) -> {
            if (e != null) {
                host.discardClient(name, c); // its window fails every later request (RaftHost.discardClient)
                throw new CompletionException(noLeader(e, entry));
            }
            if (!r.isSuccess()) {
                throw new CompletionException(noLeader(r.getException(), entry));
            }
            return new Applied(outcome(r), r.getLogIndex(), termOf(r.getLogIndex()));
        });
    }

    /** The term of the entry at {@code index}, as this member's log knows it (0 if it does not yet). */
    private long termOf(long index) {
        try {
            var ti = host.division(name).getRaftLog().getTermIndex(index);
            return ti == null ? 0 : ti.getTerm();
        } catch (IOException e) {
            return 0;
        }
    }

    private static Outcome outcome(RaftClientReply r) {
        try {
            return Outcomes.decode(r.getMessage().getContent().toByteArray());
        } catch (QrmFormatException e) {
            throw new CompletionException(new QuorumException(Dmsg.ERR_IO, "the state machine's answer did not decode: "
                + e.getMessage()));
        }
    }

    /**
     * A request that failed for good (retries exhausted, no leader for ~10 s) closes the Ratis
     * client's ordered window for every later request: the member then builds a new client, or
     * it would answer NOLEADER forever once a majority is back.
     */
    private QuorumException noLeader(Throwable e, LogEntry entry) {
        return noLeader(name, e, entry instanceof LogEntry.Commit || entry instanceof LogEntry.Write);
    }

    /**
     * NOLEADER for a proposal that failed; {@code unknown} for one that may still be applied (a
     * COMMIT or WRITE: the leader may have logged it). The mark comes before Ratis's detail,
     * which can be long: the reason is cut at 256 bytes on the wire (Refusal.send).
     */
    static QuorumException noLeader(String group, Throwable e, boolean unknown) {
        Throwable x = QuorumClient.unwrap(e);
        return new QuorumException(Dmsg.ERR_NOLEADER, "quorum " + group + ": no leader took the request"
            + (unknown ? "; " + QuorumException.MAY_STILL_BE_APPLIED : "") + " ("
            + (x instanceof RaftException ? x.getClass().getSimpleName() + ": " : "") + x.getMessage() + ")", unknown);
    }

    @Override
    public CompletableFuture<Outcome.Done> read(Batch batch, boolean serializable) {
        if (serializable) {
            return CompletableFuture.completedFuture(sm.read(batch));
        }
        Message m = Message.valueOf(ByteString.copyFrom(QrmCodec.encodeBatch(batch)));
        RaftClient c = client();
        return c.async().sendReadOnly(m).handle((r, e) -> {
            if (e != null) {
                host.discardClient(name, c);
            }
            if (e != null || !r.isSuccess()) {
                Throwable x = QuorumClient.unwrap(e != null ? e : r.getException());
                throw new CompletionException(new QuorumException(Dmsg.ERR_NOLEADER, "quorum " + name
                    + ": no leader answered the read (" + x.getMessage() + ")"));
            }
            Outcome o = outcome(r);
            if (o instanceof Outcome.Done d) {
                return d;
            }
            throw new CompletionException(new QuorumException(Refusal.of(o).error(), Refusal.of(o).reason()));
        });
    }

    @Override
    public boolean isMember(String label) {
        try {
            return host.division(name).getRaftConf().getPeer(RaftPeerId.valueOf(label)) != null;
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public WatchHandle watch(Blob key, boolean prefix, long fromRevision, WatchSink sink) throws QuorumException {
        WatchStart s = sm.watch(key, prefix, fromRevision, new WatchListener() {
            @Override
            public void onEvents(long revision, List<WatchEvent> events) {
                sink.events(events);
            }

            @Override
            public boolean ready() {
                return sink.ready();
            }

            @Override
            public void onEnd(Watch.End end) {
                sink.ended(end.cause() == Watch.End.Cause.FELL_BEHIND ? Dmsg.ERR_LIMIT
                    : end.cause() == Watch.End.Cause.RESET ? Dmsg.ERR_COMPACTED : Dmsg.ERR_LOSTLINK,
                    end.reason());
            }
        });
        if (s instanceof WatchStart.Compacted c) {
            throw new QuorumException(Dmsg.ERR_COMPACTED, "quorum " + name + ": revision " + fromRevision
                + " is compacted; the oldest kept is " + c.oldestRevision() + " (current " + c.currentRevision() + ")");
        }
        WatchStart.Started st = (WatchStart.Started) s;
        return new WatchHandle() {
            @Override
            public long startsAfter() {
                return st.startsAfter();
            }

            @Override
            public void cancel() {
                st.watch().cancel();
            }

            @Override
            public void resume() {
                st.watch().resume();
            }
        };
    }

    @Override
    public GroupStatus status() {
        RaftHost.GroupStatus s;
        try {
            s = host.status(name);
        } catch (IOException e) {
            return new GroupStatus(name, host.label(), "CLOSED", null, 0, 0, 0, -1, sm.revision(), sm.preparedCount(),
                List.of());
        }
        long last = s.matchIndex().getOrDefault(host.label(), s.commitIndex());
        List<GroupStatus.MemberStatus> members = new ArrayList<>();
        for (String m : s.members()) {
            Long match = s.matchIndex().get(m);
            members.add(new GroupStatus.MemberStatus(m, true, match == null ? -1 : match,
                match == null ? -1 : Math.max(0, last - match)));
        }
        return new GroupStatus(name, s.self(), s.role(), s.leader(), s.term(), s.commitIndex(), s.appliedIndex(),
            s.snapshotIndex(), sm.revision(), sm.preparedCount(), members);
    }

    @Override
    public CompletableFuture<String> change(String op, String label) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return changeNow(op, label);
            } catch (IOException e) {
                throw new CompletionException(new QuorumException(Dmsg.ERR_NOLEADER, e.getMessage()));
            }
        });
    }

    private String changeNow(String op, String label) throws IOException {
        RaftServer.Division d = host.division(name);
        List<RaftPeer> peers = new ArrayList<>(d.getRaftConf().getCurrentPeers());
        RaftPeerId id = RaftPeerId.valueOf(label);
        boolean present = peers.stream().anyMatch(p -> p.getId().equals(id));
        RaftClientReply r;
        switch (op) {
            case "add":
                if (present) {
                    return label + " is already a member of " + name;
                }
                peers.add(RaftPeer.newBuilder().setId(label).setAddress(label).build());
                r = client().admin().setConfiguration(peers);
                break;
            case "remove":
                if (!present) {
                    return label + " is not a member of " + name;
                }
                if (peers.size() == 1) {
                    throw new IOException("refused: removing " + label + " would leave " + name + " without members");
                }
                peers.removeIf(p -> p.getId().equals(id));
                r = client().admin().setConfiguration(peers);
                break;
            case "transfer":
                if (!present) {
                    throw new IOException(label + " is not a member of " + name);
                }
                r = client().admin().transferLeadership(id, 10_000);
                break;
            default:
                throw new IOException("unknown change " + op);
        }
        if (!r.isSuccess()) {
            throw new IOException(String.valueOf(r.getException()));
        }
        List<String> now = host.division(name).getRaftConf().getCurrentPeers().stream()
            .map(p -> p.getId().toString()).sorted().toList();
        return switch (op) {
            case "add" -> "added " + label + " to " + name + "; members now " + now;
            case "remove" -> "removed " + label + " from " + name + "; members now " + now;
            default -> label + " is now the leader of " + name;
        };
    }

    /** Members by label, for tests. */
    Map<String, Long> matchIndex() throws IOException {
        return host.status(name).matchIndex();
    }
}
