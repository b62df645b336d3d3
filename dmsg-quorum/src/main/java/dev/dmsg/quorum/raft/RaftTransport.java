package dev.dmsg.quorum.raft;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;

/**
 * Carries Ratis's requests and replies between the members of quorum groups (docs/QUORUM.md §5):
 * opaque bytes to a peer named by its node label, and back. {@link MeshRaftTransport} is the real
 * one (QRM_RAFT transactions over circuits); {@link LoopbackRaftTransport} connects nodes in one
 * JVM for tests.
 *
 * <p>Contract: {@link #call} never throws; its future completes exactly once, with the reply, or
 * exceptionally with an {@link IOException} when the peer cannot be reached or the path to it died
 * (Ratis takes an IOException as a reason to retry). It may complete on a transport thread: the
 * caller hands blocking work on. A call to this node's own label is served by this node's handler.
 */
public interface RaftTransport extends AutoCloseable {
    /** This node's label: its Raft peer id (docs/QUORUM.md §1). */
    String label();

    /** Sends {@code request} to {@code peerLabel} for {@code groupName}; completes with the reply. */
    CompletableFuture<byte[]> call(String groupName, String peerLabel, byte[] request);

    /**
     * A call to {@code peerLabel} for {@code groupName} outlived its own timeout: drop whatever
     * path the transport keeps to it, so that the next call makes a new one.
     */
    default void reset(String groupName, String peerLabel) {
    }

    /** Serves requests from other nodes with {@code handler} from now on ({@code null}: stop serving). */
    void serve(RaftRequestHandler handler);

    /** Stops serving and fails the calls still waiting. */
    @Override
    void close();
}
