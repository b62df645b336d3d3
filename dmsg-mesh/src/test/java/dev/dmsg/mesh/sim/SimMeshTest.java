package dev.dmsg.mesh.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.mesh.MeshConfig;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Real engines and links on simulated time: convergence, withdrawal, re-convergence. */
class SimMeshTest {
    static final Duration MS = Duration.ofMillis(1);
    static final Duration QUIET = Duration.ofSeconds(3);
    static final Duration MAX = Duration.ofMinutes(5);

    static SimMesh ring(MeshConfig c, int n) {
        SimMesh m = new SimMesh(c, 42);
        for (int i = 0; i < n; i++) {
            m.addNode("n" + i);
        }
        for (int i = 0; i < n; i++) {
            m.connect(m.nodes().get(i), m.nodes().get((i + 1) % n), MS, 0);
        }
        return m;
    }

    @Test
    void aLineConvergesToShortestPaths() {
        SimMesh m = new SimMesh(MeshConfig.defaults(), 1);
        for (int i = 0; i < 5; i++) {
            m.addNode("n" + i);
        }
        for (int i = 0; i < 4; i++) {
            m.connect(m.nodes().get(i), m.nodes().get(i + 1), MS, 0);
        }
        m.runUntilQuiet(QUIET, MAX);
        assertThat(m.wrongPairs()).isZero();
        assertThat(m.distances()[0][4]).isEqualTo(3);
        assertThat(m.loops()).isZero();
    }

    @Test
    void aRingReconvergesAfterACutWithoutLoopsOrCountingUp() {
        SimMesh m = ring(MeshConfig.defaults(), 8);
        m.runUntilQuiet(QUIET, MAX);
        assertThat(m.wrongPairs()).isZero();
        int[][] before = m.beginPhase();
        m.cut(m.links().get(0));
        m.runUntilQuiet(QUIET, MAX);
        assertThat(m.wrongPairs()).isZero();
        assertThat(m.loops()).isZero();
        assertThat(m.distGrowth(before)).isZero();
    }

    @Test
    void killingANodeWithdrawsItEverywhere() {
        SimMesh m = ring(MeshConfig.defaults(), 8);
        m.runUntilQuiet(QUIET, MAX);
        int[][] before = m.beginPhase();
        m.kill(m.nodes().get(3));
        m.runUntilQuiet(QUIET, MAX);
        assertThat(m.wrongPairs()).isZero();
        assertThat(m.loops()).isZero();
        assertThat(m.distGrowth(before)).isZero();
        for (SimMesh.SimNode n : m.nodes()) {
            if (n.alive) {
                assertThat(n.engine().bestDist(m.nodes().get(3).key())).isEqualTo(-1);
            }
        }
    }

    @Test
    void theCAlgorithmChasesItsTailInTheSameRing() {
        SimMesh m = ring(MeshConfig.cAlgorithm(), 8);
        m.runUntilQuiet(QUIET, MAX);
        assertThat(m.wrongPairs()).isZero();
        int[][] before = m.beginPhase();
        m.kill(m.nodes().get(3));
        m.runUntilQuiet(QUIET, MAX);
        int growth = m.distGrowth(before);
        System.out.printf("C algorithm, ring of 8, node killed: loops %d, dist growth %d, span frames %d%n",
            m.loops(), growth, m.stats().spanFrames());
        // The detector sees what the loop-free relay avoids: a transient loop and counting up.
        assertThat(m.loops()).isPositive();
        assertThat(growth).isPositive();
        assertThat(m.wrongPairs()).isZero(); // it does converge in the end
    }

    @Test
    void aRandomMeshOf100Converges() {
        for (MeshConfig c : new MeshConfig[] {MeshConfig.defaults(), MeshConfig.cAlgorithm()}) {
            SimMesh m = SimMesh.random(c, 7, 100, 4, MS);
            Duration t = m.runUntilQuiet(QUIET, MAX);
            assertThat(m.wrongPairs()).isZero();
            System.out.printf("%s: 100 nodes converged in %s with %d span frames, %d loops%n",
                c.loopFree() ? "ours" : "C", t, m.stats().spanFrames(), m.loops());
        }
    }
}
