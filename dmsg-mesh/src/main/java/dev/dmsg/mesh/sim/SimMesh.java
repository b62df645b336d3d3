package dev.dmsg.mesh.sim;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkDriver;
import dev.dmsg.link.Services;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.Port;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.Message;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * An in-process mesh on simulated links: real link engines ({@link LinkDriver}), real {@link SpanEngine}s and the
 * real {@link MeshNode} glue, with the sockets replaced by {@link SimTransport}s (per-link delay,
 * loss as TCP would see it, cuts) and every clock by one {@link SimScheduler}. Each node
 * advertises itself ({@code fs_label} = its name). Used by tests and by {@code dmsg mesh sim}.
 *
 * <p>It watches what matters for routing: frames sent, the best-next-hop graph of every node key
 * after every change (a cycle is a transient loop), and how far any node's best dist to another
 * rises above both its value before a disruption and its final value (counting to infinity).
 */
public final class SimMesh {
    private final MeshConfig config;
    private final SimScheduler sched = new SimScheduler();
    private final SplittableRandom random;
    private final List<SimNode> nodes = new ArrayList<>();
    private final Map<NodeKey, SimNode> byKey = new HashMap<>();
    private final List<SimLink> links = new ArrayList<>();
    private final Map<Link, SimNode> remoteOf = new HashMap<>();
    private final Stats stats = new Stats();
    private final Set<Watch> pending = new LinkedHashSet<>();
    private final Set<NodeKey> looping = new HashSet<>();
    private long loops;
    private int[][] maxSeen;
    private long rtoNanos = TimeUnit.MILLISECONDS.toNanos(200);
    private long frameCap = Long.MAX_VALUE;

    public SimMesh(MeshConfig config, long seed) {
        this.config = config;
        this.random = new SplittableRandom(seed);
        sched.afterEach(this::checkLoops);
        scheduleTicks();
    }

    private record Watch(SimNode node, NodeKey key) {}

    /** One simulated node. */
    public final class SimNode {
        final int index;
        final String name;
        final NodeKey key;
        final Services services = new Services();
        final MeshNode mesh;
        final List<SimLink> links = new ArrayList<>();
        boolean alive = true;
        /** This node's own span (to withdraw it). */
        final SpanEngine.SpanLink self;

        SimNode(int index, String name) {
            this.index = index;
            this.name = name;
            SpanEngine engine = new SpanEngine(config, sched, random.nextInt() | 1, random.nextInt() | 1);
            this.mesh = new MeshNode(engine, sched);
            mesh.register(services);
            LnkSpan self = new LnkSpan(new UUID(0, 0), new UUID(0x5151, index), Dmsg.PFSTYPE_NONE,
                Dmsg.PEER_CLUSTER, 1, 0, 0, 0, 0, 0, 0, "sim", name);
            this.key = NodeKey.of(self);
            engine.onChange(k -> pending.add(new Watch(this, k)));
            this.self = engine.advertise(self);
        }

        public String name() {
            return name;
        }

        public SpanEngine engine() {
            return mesh.engine();
        }

        public NodeKey key() {
            return key;
        }

        /** Where a test registers the services this node runs (a shell, a BLK server …). */
        public Services services() {
            return services;
        }

        /** The node's mesh glue: circuits are opened here. */
        public MeshNode mesh() {
            return mesh;
        }
    }

    /** One simulated link between two nodes. */
    public final class SimLink {
        final SimNode a;
        final SimNode b;
        final SimTransport ta;
        final SimTransport tb;
        boolean up = true;

        SimLink(SimNode a, SimNode b, SimTransport ta, SimTransport tb) {
            this.a = a;
            this.b = b;
            this.ta = ta;
            this.tb = tb;
        }

        /**
         * Makes {@code from}'s outbound side full ({@code false}) or drained again, as a socket
         * past its high-water mark would be: its link's sends report "not writable" and its
         * waiters run when it drains. Frames still flow (the simulator has no window).
         */
        public void setWritable(SimNode from, boolean writable) {
            SimTransport t = from == a ? ta : tb;
            t.writable = writable;
            sched.execute(() -> t.iocom.writabilityChanged(writable));
        }

        /** Whether {@code at}'s end has stopped reading (a relay paused it). */
        public boolean readPaused(SimNode at) {
            return (at == a ? ta : tb).readPaused();
        }

        /** {@code at}'s end of this link (requests on circuit 0 go here). */
        public Link end(SimNode at) {
            return (at == a ? ta : tb).iocom.link();
        }

        /** Frames that arrived at {@code at}'s end but wait unread. */
        public int heldAt(SimNode at) {
            return (at == a ? ta : tb).held();
        }
    }

    public SimNode addNode(String name) {
        SimNode n = new SimNode(nodes.size(), name);
        nodes.add(n);
        byKey.put(n.key, n);
        return n;
    }

    public SimLink connect(SimNode a, SimNode b, Duration delay, double loss) {
        long d = delay.toNanos();
        SimTransport ta = new SimTransport(sched, b.name, stats, d, loss, rtoNanos, random.split());
        SimTransport tb = new SimTransport(sched, a.name, stats, d, loss, rtoNanos, random.split());
        ta.peer = tb;
        tb.peer = ta;
        ta.iocom = iocom(a, ta);
        tb.iocom = iocom(b, tb);
        remoteOf.put(ta.iocom.link(), b);
        remoteOf.put(tb.iocom.link(), a);
        SimLink l = new SimLink(a, b, ta, tb);
        links.add(l);
        a.links.add(l);
        b.links.add(l);
        ta.iocom.start();
        tb.iocom.start();
        return l;
    }

    private LinkDriver iocom(SimNode n, SimTransport t) {
        var conn = LinkConfig.defaultConn(n.name);
        LinkConfig cfg = LinkConfig.builder().label(n.name)
            .conn(config.loopFree() ? SpanExt.mark(conn) : conn)
            .clock(sched)
            .pingInterval(Duration.ofHours(1)) // keepalive is not what the simulator measures
            .deadTimeout(Duration.ofHours(2))
            .build();
        return LinkDriver.create(cfg, n.services, n.mesh.listener(), t);
    }

    /** Cuts a link: both ends see it die at once, every transaction on it is aborted. */
    public void cut(SimLink l) {
        if (l.up) {
            l.up = false;
            sched.execute(() -> l.ta.cut("simulated cut"));
        }
    }

    /** Kills a node: all its links are cut. */
    public void kill(SimNode n) {
        n.alive = false;
        n.links.forEach(this::cut);
    }

    /**
     * Stops {@link #runUntilQuiet} once a phase has sent this many span frames (checked every
     * 50 ms of simulated time): the C algorithm's tail-chase can run for hours of wall time.
     */
    public void frameCap(long frames) {
        this.frameCap = frames;
    }

    public List<SimNode> nodes() {
        return nodes;
    }

    public List<SimLink> links() {
        return links;
    }

    /** Runs the simulation for {@code d} of its time (a test's step). */
    public void runFor(Duration d) {
        sched.runUntil(sched.now() + d.toNanos());
    }

    public SimScheduler scheduler() {
        return sched;
    }

    public Stats stats() {
        return stats;
    }

    /** Transient loops seen so far: episodes in which some node key's next-hop graph had a cycle. */
    public long loops() {
        return loops;
    }

    private void scheduleTicks() {
        long period = TimeUnit.MILLISECONDS.toNanos(250);
        sched.after(period, new Runnable() {
            @Override
            public void run() {
                for (SimNode n : nodes) {
                    if (n.alive) {
                        n.engine().tick(sched.now());
                    }
                }
                sched.after(period, this);
            }
        });
    }

    /**
     * Runs until no span traffic has been sent for {@code quiet} (or {@code max} has passed);
     * returns the simulated time from now to the last span frame.
     */
    public Duration runUntilQuiet(Duration quiet, Duration max) {
        long start = sched.now();
        long end = start + max.toNanos();
        stats.lastSpanFrame = start;
        long step = TimeUnit.MILLISECONDS.toNanos(50);
        while (sched.now() < end) {
            sched.runUntil(Math.min(end, sched.now() + step));
            if (sched.now() - stats.lastSpanFrame >= quiet.toNanos() || stats.spanFrames >= frameCap) {
                break;
            }
        }
        return Duration.ofNanos(Math.max(0, stats.lastSpanFrame - start));
    }

    // ------------------------------------------------------------------------------------------
    // Watching

    private void checkLoops() {
        if (pending.isEmpty()) {
            return;
        }
        List<Watch> todo = new ArrayList<>(pending);
        pending.clear();
        for (Watch w : todo) {
            SimNode target = byKey.get(w.key);
            if (maxSeen != null && target != null && w.node.alive) {
                int d = w.node.engine().bestDist(w.key);
                if (d > maxSeen[w.node.index][target.index]) {
                    maxSeen[w.node.index][target.index] = d;
                }
            }
            if (hasLoop(w.node, w.key)) {
                if (looping.add(w.key)) {
                    loops++;
                }
            } else {
                looping.remove(w.key);
            }
        }
    }

    /** Follows best next hops for {@code key} from {@code from}; true if a node repeats. */
    private boolean hasLoop(SimNode from, NodeKey key) {
        Set<SimNode> seen = new HashSet<>();
        SimNode cur = from;
        while (cur != null && seen.add(cur)) {
            Port p = cur.engine().nextHop(key);
            if (p == null) {
                return false;
            }
            cur = remoteOf.get(MeshNode.linkOf(p));
        }
        return cur != null;
    }

    /** The current best dist from every node to every other (-1: unreachable or dead). */
    public int[][] distances() {
        int n = nodes.size();
        int[][] d = new int[n][n];
        for (SimNode x : nodes) {
            Arrays.fill(d[x.index], -1);
            if (!x.alive) {
                continue;
            }
            for (SimNode y : nodes) {
                if (x != y) {
                    d[x.index][y.index] = x.engine().bestDist(y.key);
                }
            }
        }
        return d;
    }

    /** Hop counts minus one (a span's dist) between live nodes over live links, -1 if apart. */
    public int[][] expectedDistances() {
        int n = nodes.size();
        int[][] d = new int[n][n];
        for (SimNode x : nodes) {
            Arrays.fill(d[x.index], -1);
            if (!x.alive) {
                continue;
            }
            int[] hops = new int[n];
            Arrays.fill(hops, -1);
            hops[x.index] = 0;
            ArrayDeque<SimNode> q = new ArrayDeque<>();
            q.add(x);
            while (!q.isEmpty()) {
                SimNode u = q.poll();
                for (SimLink l : u.links) {
                    SimNode v = l.a == u ? l.b : l.a;
                    if (l.up && v.alive && hops[v.index] < 0) {
                        hops[v.index] = hops[u.index] + 1;
                        q.add(v);
                    }
                }
            }
            for (SimNode y : nodes) {
                if (y != x && hops[y.index] > 0 && hops[y.index] - 1 <= config.maxDist() + 1) {
                    d[x.index][y.index] = hops[y.index] - 1;
                }
            }
        }
        return d;
    }

    /** Pairs whose best dist differs from the shortest path (0 when converged). */
    public long wrongPairs() {
        int[][] have = distances();
        int[][] want = expectedDistances();
        long wrong = 0;
        for (int i = 0; i < have.length; i++) {
            for (int j = 0; j < have.length; j++) {
                if (have[i][j] != want[i][j]) {
                    wrong++;
                }
            }
        }
        return wrong;
    }

    /** Starts recording the largest dist each node sees to each other, for {@link #distGrowth}. */
    public int[][] beginPhase() {
        int[][] before = distances();
        maxSeen = new int[before.length][];
        for (int i = 0; i < before.length; i++) {
            maxSeen[i] = before[i].clone();
        }
        stats.reset();
        return before;
    }

    /**
     * The largest amount by which a best dist seen during the phase exceeded both its value
     * before the phase and its final value: 0 means no path ever got longer than it ended.
     */
    public int distGrowth(int[][] before) {
        int[][] after = distances();
        int worst = 0;
        for (int i = 0; i < after.length; i++) {
            for (int j = 0; j < after.length; j++) {
                int ref = Math.max(0, Math.max(before[i][j], after[i][j]));
                if (maxSeen[i][j] >= 0 && maxSeen[i][j] - ref > worst) {
                    worst = maxSeen[i][j] - ref;
                }
            }
        }
        maxSeen = null;
        return worst;
    }

    /** Frames sent, by kind. */
    public final class Stats {
        long frames;
        long spanFrames;
        long lastSpanFrame;

        void count(Message m) {
            frames++;
            if (SimTransport.isSpanTraffic(m)) {
                spanFrames++;
                lastSpanFrame = sched.now();
            }
        }

        void reset() {
            frames = 0;
            spanFrames = 0;
        }

        public long frames() {
            return frames;
        }

        /** LNK_SPAN and LNK_ERROR frames: what span relaying costs. */
        public long spanFrames() {
            return spanFrames;
        }
    }

    /**
     * A random connected mesh: a random spanning tree, then random extra links until the average
     * degree is {@code degree}.
     */
    public static SimMesh random(MeshConfig config, long seed, int n, double degree, Duration delay) {
        SimMesh m = new SimMesh(config, seed);
        SplittableRandom r = new SplittableRandom(seed ^ 0x5DEECE66DL);
        for (int i = 0; i < n; i++) {
            m.addNode("n" + i);
        }
        Set<Long> edges = new HashSet<>();
        for (int i = 1; i < n; i++) {
            int j = r.nextInt(i);
            edges.add((long) j * n + i);
            m.connect(m.nodes.get(j), m.nodes.get(i), delay, 0);
        }
        long want = Math.round(n * degree / 2);
        while (edges.size() < want) {
            int i = r.nextInt(n);
            int j = r.nextInt(n);
            if (i == j) {
                continue;
            }
            long e = (long) Math.min(i, j) * n + Math.max(i, j);
            if (edges.add(e)) {
                m.connect(m.nodes.get(Math.min(i, j)), m.nodes.get(Math.max(i, j)), delay, 0);
            }
        }
        return m;
    }
}
