package dev.dmsg.link;

import dev.dmsg.wire.Message;

/**
 * The mesh layer's hold on a link ({@link Link#circuits()}): the circuits that end at this node
 * and those that pass through it (docs/REFERENCE.md §3.5, docs/CIRCUITS.md). Services and the
 * command line do not need it; they open transactions on circuits the mesh has attached.
 */
public interface LinkCircuits {
    /**
     * Starts keeping transaction tables for circuit {@code id}, which ends at this node (the mesh
     * does this when a circuit is forged). Event loop only.
     *
     * @throws IllegalStateException if the id is 0 or already attached or relayed
     */
    void attach(long id);

    /** Stops circuit {@code id}: each transaction open on it gets one LOSTLINK abort; returns how many. Event loop only. */
    int detach(long id);

    /**
     * Sets what the mesh established about circuit {@code id}, attached here (docs/IDENTITY.md
     * §4): from now on its messages are sealed and opened with {@code security.seal()}, its peer's
     * transactions count against {@code security.budget()}, and {@link Link#circuitPeer} names its
     * far end. Event loop only.
     *
     * @throws IllegalStateException if the circuit is not attached or already secured
     */
    void secure(long id, CircuitSecurity security);

    /**
     * Hands every message arriving on circuit {@code id} to {@code relay}, untracked: the circuit
     * passes through this node (docs/REFERENCE.md §3.5). Event loop only.
     */
    void relay(long id, CircuitRelay relay);

    /** Stops relaying circuit {@code id}; its later messages are dropped and counted. Event loop only. */
    void unrelay(long id);

    /**
     * Sends {@code m} (owned from now on) on this link with its circuit id replaced by
     * {@code circuit}; msgid, flags, error and aux unchanged, salt and CRCs made anew. Outside
     * every transaction table. Any thread; never blocks. Returns whether the link is still
     * writable: a relay that gets {@code false} stops reading its source until
     * {@link Link#whenWritable} (docs/CIRCUITS.md).
     */
    boolean forward(Message m, long circuit);

    /**
     * Stops reading from the peer until a matching {@link #resumeReading()}; pauses are counted, so
     * several relays may hold one link. A relay whose target link is full pauses its source this
     * way, so forwarded traffic is bounded by TCP, not queued (docs/CIRCUITS.md). Event loop only.
     */
    void pauseReading();

    /** Ends one {@link #pauseReading()}; reading resumes when none is left. Event loop only. */
    void resumeReading();
}
