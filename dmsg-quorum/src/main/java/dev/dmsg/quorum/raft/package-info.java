/**
 * Apache Ratis over the mesh (docs/QUORUM.md §1, §5). The node calls {@link
 * dev.dmsg.quorum.raft.RaftHost} (one Raft server, a division per quorum group, a client per
 * group, status) over a {@link dev.dmsg.quorum.raft.RaftTransport}: {@link
 * dev.dmsg.quorum.raft.MeshRaftTransport} carries Ratis's requests as QRM_RAFT transactions on
 * circuits, {@link dev.dmsg.quorum.raft.LoopbackRaftTransport} between nodes in one JVM for tests.
 * Inside: our Ratis RPC type ({@code DmsgRpcType}, its server and client RPCs), the envelope
 * ({@code RaftEnvelope}) and the receiver's authorisation ({@code RaftGate}).
 */
package dev.dmsg.quorum.raft;
