package dev.dmsg.cli;

import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.sim.SimBench;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dmsg sim}: the mesh simulator's benchmark, our relay beside the C algorithm. */
@Command(name = "sim", mixinStandardHelpOptions = true,
    description = {
        "Runs random meshes in the simulator (real engines and links, simulated time and sockets): a "
            + "cold start, then one link cut, then one node killed, each until no span traffic for 3 s. "
            + "Prints span frames, simulated time, transient loops, the largest dist growth and "
            + "wrong pairs (0 = every node has the shortest path to every other), for our loop-free "
            + "relay and for the 2013 C algorithm on the same mesh.",
        "See docs/BENCHMARKS.md (simulator) and docs/MESH.md."})
final class SimCommand implements Callable<Integer> {
    @Option(names = "--nodes", split = ",", defaultValue = "100,1000", description = "mesh sizes (default: ${DEFAULT-VALUE})")
    List<Integer> sizes;

    @Option(names = "--degree", defaultValue = "4", description = "average links per node (default: ${DEFAULT-VALUE})")
    double degree;

    @Option(names = "--seed", defaultValue = "1", description = "random seed of the mesh and the disruptions (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--delay", defaultValue = "1ms", converter = Durations.class,
        description = "one-way delay of every link (default: ${DEFAULT-VALUE})")
    Duration delay;

    @Option(names = "--top-n", defaultValue = "2", description = "links relayed per node per link, ours (default: ${DEFAULT-VALUE})")
    int topN;

    @Option(names = "--flood", description = "ours: flood seqno updates down every relay (Babel) instead of "
        + "sending them only to the nodes that asked")
    boolean flood;

    @Option(names = "--algorithms", split = ",", defaultValue = "ours,C",
        description = "which to run: ours, C (default: ${DEFAULT-VALUE})")
    List<String> algorithms;

    @Option(names = "--frame-cap", defaultValue = "20000000",
        description = "stop a phase after this many span frames and mark it '>' (default: ${DEFAULT-VALUE})")
    long frameCap;

    @Override
    public Integer call() {
        Logging.setLevel("dev.dmsg.link", "WARN");
        PrintStream out = System.out;
        out.printf("%-6s %-9s %-14s %12s %10s %6s %11s %11s%n",
            "nodes", "algorithm", "phase", "span frames", "sim time", "loops", "dist growth", "wrong pairs");
        int status = 0;
        for (int n : sizes) {
            for (String alg : algorithms) {
                MeshConfig c = alg.equals("ours") ? MeshConfig.defaults().withTopN(topN)
                    .withFloodUpdates(flood) : MeshConfig.cAlgorithm();
                long t0 = System.nanoTime();
                SimBench.Run run = SimBench.run(c, alg, n, degree, seed, delay, frameCap);
                for (SimBench.Phase p : run.phases()) {
                    out.printf("%-6d %-9s %-14s %12s %8.1fms %6d %11d %11d%n", n, alg, p.name(),
                        (p.capped() ? ">" : "") + p.spanFrames(),
                        p.time().toNanos() / 1e6, p.loops(), p.distGrowth(), p.wrongPairs());
                    if (p.wrongPairs() != 0 && alg.equals("ours")) {
                        status = 1;
                    }
                }
                out.printf("%-6d %-9s %d links; live heap %.1f KiB per node after the cold start; %.1f s wall%n",
                    n, alg, run.links(), run.heapBytesPerNode() / 1024.0, (System.nanoTime() - t0) / 1e9);
            }
        }
        return status;
    }
}
