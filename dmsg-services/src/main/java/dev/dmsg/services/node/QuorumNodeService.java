package dev.dmsg.services.node;

import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.quorum.raft.MeshRaftTransport;
import dev.dmsg.quorum.raft.QuorumIds;
import dev.dmsg.quorum.raft.RaftHost;
import dev.dmsg.services.cac.CacServer;
import dev.dmsg.services.quorum.QuorumMember;
import java.io.IOException;
import java.util.List;

/**
 * The quorum groups this node is a member of (docs/QUORUM.md): their Raft server over the mesh,
 * their stores, the QRM request handlers, the lock service (docs/CAC.md), and one span per group
 * so clients and the other members find it. Nothing runs when the node is in no group.
 */
final class QuorumNodeService implements NodeService {
    private final List<GroupSpec> groups;
    private final RaftHost.Settings raft;
    private volatile QuorumMember member;
    private volatile CacServer locks;

    QuorumNodeService(Node.Settings settings) {
        this.groups = settings.quorums();
        this.raft = settings.quorumRaft();
    }

    @Override
    public String name() {
        return "quorum";
    }

    @Override
    public void start(NodeContext ctx) throws IOException {
        if (groups.isEmpty()) {
            return;
        }
        String label = ctx.identity().label();
        MeshRaftTransport transport = new MeshRaftTransport(ctx.mesh(), label, ctx.services());
        member = QuorumMember.start(label, groups, transport, ctx.dataDir().resolve("quorum"), raft, ctx.access());
        member.server().register(ctx.services());
        locks = new CacServer(label, ctx.access(), member.engines(), member.timers());
        locks.start(ctx.services());
        for (GroupSpec g : groups) {
            ctx.advertise(QuorumIds.memberSpan(g.name(), label), advertised -> { });
        }
    }

    /** The member, or {@code null} when this node is in no group. */
    QuorumMember member() {
        return member;
    }

    /** The lock service, or {@code null} when this node is in no group. */
    CacServer locks() {
        return locks;
    }

    @Override
    public List<StatusSection> status() {
        QuorumMember m = member;
        CacServer c = locks;
        if (m == null) {
            return List.of();
        }
        return c == null ? List.of(new StatusSection("quorum", m.status()))
            : List.of(new StatusSection("quorum", m.status()), new StatusSection("locks", c.status()));
    }

    @Override
    public void stop() {
        CacServer c = locks;
        if (c != null) {
            c.close();
        }
        QuorumMember m = member;
        if (m != null) {
            m.close();
        }
    }
}
