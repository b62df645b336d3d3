package dev.dmsg.quorum.raft;

import java.util.concurrent.CompletableFuture;

/** The receiving side of a {@link RaftTransport}: what a node answers to a Raft request. */
@FunctionalInterface
public interface RaftRequestHandler {
    /**
     * Answers one request. Called on a transport thread (possibly an event loop): it must not
     * block, and hands the work on. A refusal is an answer too (an exception reply), never a hang.
     *
     * @param groupName the group the request's header names (docs/QUORUM.md §3.2 {@code group})
     * @param origin who sent it, as the transport authenticated it
     * @param request the serialised request
     * @return the serialised reply
     */
    CompletableFuture<byte[]> handle(String groupName, RaftOrigin origin, byte[] request);
}
