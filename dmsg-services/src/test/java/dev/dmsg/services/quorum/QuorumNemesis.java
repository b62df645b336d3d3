package dev.dmsg.services.quorum;

import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.RegisterWorkload;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Faults for a quorum group under a {@link RegisterWorkload} (docs/QUORUM.md §8), chosen by a
 * seeded {@link Random}: the leader stopped (closed, or crashed: its links dropped at once) and
 * later restarted on its data, the leader or a
 * follower cut off from every other node ({@link TestCluster#partition}, at our own transport),
 * a member restarted at once. Each fault is held until the workload has completed
 * {@code progress} more operations ok — the group served clients through the fault, which is a
 * liveness check too — then undone, and the next begins once the group has a leader that every
 * running member knows. No sleeps: every wait is on a condition.
 */
final class QuorumNemesis {
    enum Fault { STOP_LEADER, CRASH_LEADER, ISOLATE_LEADER, ISOLATE_FOLLOWER, RESTART_MEMBER }

    private final TestCluster cluster;
    private final String group;
    private final List<String> members;
    private final RegisterWorkload workload;
    private final Random random;
    private final int progress;
    private final Await await;
    private final List<String> done = new ArrayList<>();

    QuorumNemesis(TestCluster cluster, String group, List<String> members, RegisterWorkload workload, long seed,
                  int progress, Duration limit) {
        this.cluster = cluster;
        this.group = group;
        this.members = List.copyOf(members);
        this.workload = workload;
        this.random = new Random(seed);
        this.progress = progress;
        this.await = Await.atMost(limit);
    }

    /** The faults injected so far, one line each. */
    List<String> faults() {
        return List.copyOf(done);
    }

    /** Injects faults one after another until {@code deadlineNanos} (System.nanoTime). */
    void runUntil(long deadlineNanos) throws Exception {
        while (System.nanoTime() - deadlineNanos < 0) {
            Fault f = Fault.values()[random.nextInt(Fault.values().length)];
            inject(f);
        }
    }

    void inject(Fault f) throws Exception {
        Node leader = awaitLeader();
        String what;
        switch (f) {
            case STOP_LEADER -> {
                cluster.stop(leader);
                awaitProgress("with " + label(leader) + " stopped");
                cluster.restart(leader);
                what = "stopped leader " + label(leader) + ", restarted it";
            }
            case CRASH_LEADER -> {
                cluster.crash(leader);
                awaitProgress("with " + label(leader) + " crashed");
                cluster.restart(leader);
                what = "crashed leader " + label(leader) + ", restarted it";
            }
            case ISOLATE_LEADER -> {
                cluster.isolate(leader);
                awaitProgress("with " + label(leader) + " isolated");
                cluster.heal();
                what = "isolated leader " + label(leader) + ", healed";
            }
            case ISOLATE_FOLLOWER -> {
                Node n = follower(leader);
                cluster.isolate(n);
                awaitProgress("with " + label(n) + " isolated");
                cluster.heal();
                what = "isolated follower " + label(n) + ", healed";
            }
            case RESTART_MEMBER -> {
                Node n = cluster.node(members.get(random.nextInt(members.size())));
                cluster.restart(n);
                awaitProgress("after restarting " + label(n));
                what = "restarted " + label(n);
            }
            default -> throw new AssertionError(f);
        }
        done.add(what);
        awaitProgress("after: " + what);
    }

    private void awaitProgress(String when) throws InterruptedException {
        int target = workload.stats().ok() + progress;
        await.until(() -> workload.stats().ok() >= target, progress + " more ops ok " + when + " (" + workload.stats() + ")");
    }

    private Node follower(Node leader) {
        List<String> others = new ArrayList<>(members);
        others.remove(label(leader));
        return cluster.node(others.get(random.nextInt(others.size())));
    }

    /** The leader every running member agrees on. */
    Node awaitLeader() throws InterruptedException {
        String l = await.until(this::agreedLeader, x -> x != null, "a leader of " + group + " every running member knows");
        return cluster.node(l);
    }

    private String agreedLeader() {
        String leader = null;
        for (String m : members) {
            Node n = running(m);
            if (n == null) {
                continue;
            }
            GroupStatus s = n.quorum().engine(group).status();
            if (s.leader() == null || (leader != null && !leader.equals(s.leader())) || running(s.leader()) == null) {
                return null;
            }
            leader = s.leader();
        }
        return leader != null && "LEADER".equals(running(leader).quorum().engine(group).status().role()) ? leader : null;
    }

    private Node running(String label) {
        return cluster.nodes().stream().filter(n -> n.identity().label().equals(label)).findFirst().orElse(null);
    }

    private static String label(Node n) {
        return n.identity().label();
    }
}
