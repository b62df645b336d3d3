package dev.dmsg.mesh;

import dev.dmsg.wire.Dmsg;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * How a node relays spans (docs/PROFILE.md §5, docs/MESH.md).
 *
 * @param topN links relayed per node per connection (the seed's intent; C relayed 1)
 * @param maxDist links with a larger dist are not relayed (docs/REFERENCE.md §3.4, DMSG_SPAN_MAXDIST)
 * @param loopFree the feasibility condition, span updates and seqno requests; {@code false}
 *     runs the C algorithm (best-only when {@code topN} is 1, a failed filter stops the node's
 *     scan) — kept for the simulator's comparison and for tests
 * @param fdHoldNanos how long a source's feasibility distance outlives its last link
 * @param requestHoldNanos a seqno request for one (source, seqno) is sent or forwarded at most
 *     once per this interval on one link
 * @param floodUpdates {@code true}: a newer seqno goes down every relay, as in Babel;
 *     {@code false} (default): only down the relays whose peer asked for it (docs/MESH.md)
 * @param circuitAckTimeoutNanos how long an opened circuit may wait for the far end's
 *     acknowledgement (its CREATE|REPLY) before it is closed and the open fails; C waited forever
 * @param maxSpansPerOrigin distinct spans one originator (a signing key; the unverified signers of
 *     one link together; a legacy peer) may have in this node's table (docs/IDENTITY.md §6)
 * @param maxCircuitsPerOriginator circuits one originator may hold through or to this node
 *     (docs/IDENTITY.md §6)
 * @param circuitAuth the ends of circuits authenticate each other and seal what they carry
 *     (docs/IDENTITY.md §4); {@code false} only to measure what that costs (dmsg bench circuit
 *     --circuit-auth): requests over circuits then count as their neighbour's, as in a mesh of
 *     legacy peers
 */
public record MeshConfig(int topN, int maxDist, boolean loopFree, long fdHoldNanos, long requestHoldNanos,
                         boolean floodUpdates, long circuitAckTimeoutNanos, int maxSpansPerOrigin,
                         int maxCircuitsPerOriginator, boolean circuitAuth) {
    public MeshConfig {
        if (topN < 1 || topN > 64) {
            throw new IllegalArgumentException("topN must be 1..64, not " + topN);
        }
        if (maxDist < 0) {
            throw new IllegalArgumentException("maxDist must be >= 0");
        }
        if (circuitAckTimeoutNanos <= 0) {
            throw new IllegalArgumentException("circuitAckTimeoutNanos must be > 0");
        }
        if (maxSpansPerOrigin < 1 || maxCircuitsPerOriginator < 1) {
            throw new IllegalArgumentException("maxSpansPerOrigin and maxCircuitsPerOriginator must be >= 1, not "
                + maxSpansPerOrigin + " and " + maxCircuitsPerOriginator);
        }
    }

    /** docs/IDENTITY.md §6: far more than a node originates (itself, its exports, its groups). */
    public static final int DEFAULT_MAX_SPANS_PER_ORIGIN = 256;
    /** docs/IDENTITY.md §6: far more than one node's tools and services open at once. */
    public static final int DEFAULT_MAX_CIRCUITS_PER_ORIGINATOR = 256;

    /** 10 s: far beyond a forging's round trip through 16 hops, short enough that nobody waits on a black hole. */
    public static final long DEFAULT_CIRCUIT_ACK_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);

    public static MeshConfig defaults() {
        return new MeshConfig(2, Dmsg.SPAN_MAXDIST, true, TimeUnit.SECONDS.toNanos(60), TimeUnit.SECONDS.toNanos(1),
            false, DEFAULT_CIRCUIT_ACK_TIMEOUT_NANOS, DEFAULT_MAX_SPANS_PER_ORIGIN, DEFAULT_MAX_CIRCUITS_PER_ORIGINATOR, true);
    }

    /** The 2013 C algorithm: best link only, no feasibility, MAXDIST 16. */
    public static MeshConfig cAlgorithm() {
        return new MeshConfig(1, Dmsg.SPAN_MAXDIST, false, 0, 0, false, DEFAULT_CIRCUIT_ACK_TIMEOUT_NANOS,
            DEFAULT_MAX_SPANS_PER_ORIGIN, DEFAULT_MAX_CIRCUITS_PER_ORIGINATOR, true);
    }

    public MeshConfig withTopN(int n) {
        return new MeshConfig(n, maxDist, loopFree, fdHoldNanos, requestHoldNanos, floodUpdates, circuitAckTimeoutNanos,
            maxSpansPerOrigin, maxCircuitsPerOriginator, circuitAuth);
    }

    public MeshConfig withFdHold(Duration d) {
        return new MeshConfig(topN, maxDist, loopFree, d.toNanos(), requestHoldNanos, floodUpdates, circuitAckTimeoutNanos,
            maxSpansPerOrigin, maxCircuitsPerOriginator, circuitAuth);
    }

    public MeshConfig withFloodUpdates(boolean flood) {
        return new MeshConfig(topN, maxDist, loopFree, fdHoldNanos, requestHoldNanos, flood, circuitAckTimeoutNanos,
            maxSpansPerOrigin, maxCircuitsPerOriginator, circuitAuth);
    }

    public MeshConfig withCircuitAckTimeout(Duration d) {
        return new MeshConfig(topN, maxDist, loopFree, fdHoldNanos, requestHoldNanos, floodUpdates, d.toNanos(),
            maxSpansPerOrigin, maxCircuitsPerOriginator, circuitAuth);
    }

    public MeshConfig withMaxSpansPerOrigin(int n) {
        return new MeshConfig(topN, maxDist, loopFree, fdHoldNanos, requestHoldNanos, floodUpdates, circuitAckTimeoutNanos,
            n, maxCircuitsPerOriginator, circuitAuth);
    }

    public MeshConfig withMaxCircuitsPerOriginator(int n) {
        return new MeshConfig(topN, maxDist, loopFree, fdHoldNanos, requestHoldNanos, floodUpdates, circuitAckTimeoutNanos,
            maxSpansPerOrigin, n, circuitAuth);
    }

    /** With circuit authentication on or off (off: only to measure its cost). */
    public MeshConfig withCircuitAuth(boolean on) {
        return new MeshConfig(topN, maxDist, loopFree, fdHoldNanos, requestHoldNanos, floodUpdates, circuitAckTimeoutNanos,
            maxSpansPerOrigin, maxCircuitsPerOriginator, on);
    }
}
