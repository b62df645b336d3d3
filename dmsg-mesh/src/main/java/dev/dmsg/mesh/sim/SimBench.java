package dev.dmsg.mesh.sim;

import dev.dmsg.mesh.MeshConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The simulator's benchmark: a random mesh converges from a cold start, then one link is cut and
 * (separately) one node killed, each run to quiet. The same mesh, seed and disruptions for each
 * algorithm, so that the figures compare. Used by {@code dmsg sim}.
 */
public final class SimBench {
    private SimBench() {}

    /** One phase's figures. */
    public record Phase(String name, long spanFrames, Duration time, long loops, int distGrowth, long wrongPairs,
                        boolean capped) {}

    /** A whole run of one algorithm on one mesh. */
    public record Run(String algorithm, int nodes, int links, List<Phase> phases, long heapBytesPerNode) {}

    static final Duration QUIET = Duration.ofSeconds(3);
    static final Duration MAX = Duration.ofMinutes(10);

    public static Run run(MeshConfig config, String algorithm, int n, double degree, long seed, Duration delay,
                          long frameCap) {
        SimMesh m = SimMesh.random(config, seed, n, degree, delay);
        m.frameCap(frameCap);
        List<Phase> phases = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(seed * 31 + 7);

        int[][] before = m.beginPhase();
        long loops0 = m.loops();
        Duration t = m.runUntilQuiet(QUIET, MAX);
        phases.add(new Phase("cold start", m.stats().spanFrames(), t, m.loops() - loops0,
            m.distGrowth(before), m.wrongPairs(), m.stats().spanFrames() >= frameCap));
        long heap = heapPerNode(m);

        SimMesh.SimLink cut = m.links().get(r.nextInt(m.links().size()));
        before = m.beginPhase();
        loops0 = m.loops();
        m.cut(cut);
        t = m.runUntilQuiet(QUIET, MAX);
        phases.add(new Phase("cut one link", m.stats().spanFrames(), t, m.loops() - loops0,
            m.distGrowth(before), m.wrongPairs(), m.stats().spanFrames() >= frameCap));

        SimMesh.SimNode victim = m.nodes().get(r.nextInt(n));
        before = m.beginPhase();
        loops0 = m.loops();
        m.kill(victim);
        t = m.runUntilQuiet(QUIET, MAX);
        phases.add(new Phase("kill one node", m.stats().spanFrames(), t, m.loops() - loops0,
            m.distGrowth(before), m.wrongPairs(), m.stats().spanFrames() >= frameCap));
        return new Run(algorithm, n, m.links().size(), phases, heap);
    }

    /** Live heap per simulated node, measured after a GC: the span database dominates it. */
    private static long heapPerNode(SimMesh m) {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return (rt.totalMemory() - rt.freeMemory()) / m.nodes().size();
    }
}
