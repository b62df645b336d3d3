package dev.dmsg.mesh.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.Port;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A fingerprint of what both relay algorithms do, for fixed seeds and six configurations (ours
 * with targeted and flooded updates and top N 1, 2, 3; C with top N 2 and 3): the guard that
 * splitting {@code SpanEngine} into a table and two strategies (docs/REFERENCE.md §3.4 for C,
 * docs/MESH.md for ours) changed no decision. The expected lines were recorded from the engine
 * before the split and are kept in {@code relay-fingerprint.txt}. A deliberate change of
 * behaviour re-records the file (the path is relative to the module):
 *
 * <pre>mvn -pl dmsg-mesh test -Dtest=RelayFingerprintTest -Drelay.fingerprint.write=src/test/resources/dev/dmsg/mesh/sim/relay-fingerprint.txt</pre>
 *
 * <p>Two parts. Random input sequences fed straight to one engine on recording ports (mixed C
 * and extension-aware peers, filters, updates, seqno requests, ticks, a clock): every port call
 * and change event in order, then the final span table and every counter — the cases a
 * simulated mesh of one algorithm never mixes. And the simulator ({@link SimMesh}): a random
 * mesh through a cold start, a cut, a kill, a withdrawal and the FD hold, each run to quiet,
 * after which every node's best dist and next hop per node key, the pairs that differ from the
 * shortest paths and (ours) the loops are recorded. The simulator's frame counts and times are
 * not: they vary from run to run (see {@link #phase}).
 */
class RelayFingerprintTest {
    static final List<MeshConfig> CONFIGS = List.of(MeshConfig.defaults(),
        MeshConfig.defaults().withFloodUpdates(true), MeshConfig.defaults().withTopN(1),
        MeshConfig.defaults().withTopN(3), MeshConfig.cAlgorithm(), MeshConfig.cAlgorithm().withTopN(2));

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void bothAlgorithmsDecideAsRecorded() throws Exception {
        List<String> expected = expected();
        List<String> actual = new ArrayList<>();
        for (int ci = 0; ci < CONFIGS.size(); ci++) {
            fingerprint(ci, actual);
        }
        String write = System.getProperty("relay.fingerprint.write");
        if (write != null) {
            Files.write(Path.of(write), actual, StandardCharsets.UTF_8);
        }
        assertThat(actual).containsExactlyElementsOf(expected);
    }

    private static List<String> expected() throws IOException {
        try (InputStream in = RelayFingerprintTest.class.getResourceAsStream("relay-fingerprint.txt")) {
            assertThat(in).as("relay-fingerprint.txt on the test classpath").isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        }
    }

    /**
     * The lines of config {@code ci}: a simulated mesh per seed, then 40 engine traces. C's meshes
     * are smaller: its tail-chase after a kill costs hundreds of thousands of frames at 30 nodes.
     */
    static void fingerprint(int ci, List<String> out) {
        MeshConfig c = CONFIGS.get(ci);
        for (long seed = 1; seed <= 3; seed++) {
            out.add(String.format("sim cfg%d seed %d %s", ci, seed,
                c.loopFree() ? simTrace(c, seed, 30, 3.0) : simTrace(c, seed, 12, 2.5)));
        }
        for (long seed = 1; seed <= 40; seed++) {
            out.add(String.format("engine cfg%d seed %d %s", ci, seed, engineTrace(c, seed, 600)));
        }
    }

    /** Prints the fingerprint (what the test compares with {@code relay-fingerprint.txt}). */
    public static void main(String[] args) {
        for (int ci = 0; ci < CONFIGS.size(); ci++) {
            List<String> out = new ArrayList<>();
            fingerprint(ci, out);
            out.forEach(System.out::println);
        }
    }

    // ------------------------------------------------------------------------------------------
    // The simulator, digested

    static String simTrace(MeshConfig c, long seed, int n, double degree) {
        SimMesh m = SimMesh.random(c, seed, n, degree, Duration.ofMillis(1));
        m.frameCap(400_000);
        SplittableRandom r = new SplittableRandom(seed * 31 + 7);
        StringBuilder sb = new StringBuilder();
        phase(c, m, "cold", sb);
        m.cut(m.links().get(r.nextInt(m.links().size())));
        phase(c, m, "cut", sb);
        m.kill(m.nodes().get(r.nextInt(n)));
        phase(c, m, "kill", sb);
        // withdraw one live node's own span, then let the FD hold run out
        for (SimMesh.SimNode node : m.nodes()) {
            if (node.alive) {
                m.scheduler().execute(() -> node.engine().withdraw(node.self));
                break;
            }
        }
        phase(c, m, "withdraw", sb);
        m.runUntilQuiet(Duration.ofSeconds(70), Duration.ofSeconds(70));
        phase(c, m, "hold", sb);
        return sb.toString();
    }

    /**
     * Runs to quiet; then what every node ends up with: for each node key it knows, its best dist
     * and next hop. Frame counts, loop counts and the tables' paths are not recorded: the links
     * start their msgids at random (docs/PROFILE.md §2) and abort a cut link's transactions in
     * the order of a table keyed by msgid, so that order, and with it arrival ties and the frames of the tail-chase, vary
     * from run to run. The loop-free relay's "no loops" is recorded, as it holds in every run.
     */
    private static void phase(MeshConfig c, SimMesh m, String name, StringBuilder sb) {
        long loops0 = m.loops();
        m.runUntilQuiet(Duration.ofSeconds(3), Duration.ofMinutes(10));
        MessageDigest tables = sha();
        for (SimMesh.SimNode node : m.nodes()) {
            SpanEngine e = node.engine();
            StringBuilder t = new StringBuilder(node.name()).append(node.alive ? "" : " dead");
            for (NodeKey k : e.nodeKeys()) {
                Port hop = e.nextHop(k);
                t.append(' ').append(k.fsLabel()).append(':').append(e.bestDist(k)).append(':')
                    .append(hop == null ? "-" : hop.name()).append(e.isLocal(k) ? ":local" : "");
            }
            put(tables, t.toString());
        }
        sb.append(String.format("| %s wrong=%d%s tables=%s ", name, m.wrongPairs(),
            c.loopFree() ? " loops=" + (m.loops() - loops0) : "", hex(tables)));
    }

    // ------------------------------------------------------------------------------------------
    // One engine, random inputs

    static final UUID NIL = new UUID(0, 0);

    /** Records every call the engine makes, into one digest shared by all ports. */
    static final class RecPort implements Port {
        final String name;
        final boolean ext;
        final List<String> log;
        final List<SpanEngine.Relay> open = new ArrayList<>();

        RecPort(String name, boolean ext, List<String> log) {
            this.name = name;
            this.ext = ext;
            this.log = log;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public boolean extAware() {
            return ext;
        }

        @Override
        public String toString() {
            return name; // never an identity hash: the digest must not depend on the JVM run
        }

        @Override
        public void openRelay(SpanEngine.Relay r) {
            open.add(r);
            log.add(name + " open " + r.span() + " proof " + (r.proof() == null ? "-" : HexFormat.of().formatHex(r.proof())));
        }

        @Override
        public void closeRelay(SpanEngine.Relay r) {
            open.remove(r);
            log.add(name + " close " + r.span());
        }

        @Override
        public void updateRelay(SpanEngine.Relay r) {
            log.add(name + " update " + r.span());
        }

        @Override
        public void requestSeqno(SpanEngine.SpanLink link, LnkSpan request) {
            log.add(name + " request " + link.span() + " -> " + request);
        }
    }

    static String engineTrace(MeshConfig c, long seed, int steps) {
        SplittableRandom r = new SplittableRandom(seed);
        MessageDigest digest = sha();
        List<String> log = new ArrayList<>();
        long[] now = {0};
        SpanEngine e = new SpanEngine(c, () -> now[0], 0x1000 + (int) seed, 0x77);
        e.signer(new SpanEngine.Signer() {
            @Override
            public byte[] sign(LnkSpan span) {
                return ("sig " + span).getBytes(StandardCharsets.UTF_8);
            }

            @Override
            public byte[] vouch(LnkSpan span) {
                return ("vouch " + span).getBytes(StandardCharsets.UTF_8);
            }
        });
        e.onChange(k -> log.add("change " + k + " " + e.bestDist(k) + " " + e.nextHop(k)));
        List<RecPort> ports = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            ports.add(new RecPort("p" + i, r.nextInt(3) != 0, log));
        }
        List<SpanEngine.SpanLink> received = new ArrayList<>();
        List<SpanEngine.SpanLink> local = new ArrayList<>();
        String[] fs = {"a", "b", "c", "d"};
        int[] origins = {0, 0x11, 0x22, 0x77};
        for (int step = 0; step < steps; step++) {
            int op = r.nextInt(100);
            RecPort p = ports.get(r.nextInt(ports.size()));
            if (op < 30) {
                LnkSpan s = span(r, fs[r.nextInt(fs.length)], r.nextInt(19), origins[r.nextInt(origins.length)],
                    r.nextInt(6));
                received.add(e.spanReceived(p, s, "t" + step));
            } else if (op < 40 && !received.isEmpty()) {
                e.spanDeleted(received.remove(r.nextInt(received.size())));
            } else if (op < 50 && !received.isEmpty()) {
                SpanEngine.SpanLink l = received.get(r.nextInt(received.size()));
                SpanExt x = SpanExt.of(l.span());
                int origin = x != null && r.nextInt(4) != 0 ? x.origin() : origins[1 + r.nextInt(3)];
                int seq = (x == null ? 0 : x.seqno()) + r.nextInt(4) - 1;
                e.spanUpdated(l, new SpanExt(r.nextInt(8) == 0 ? SpanExt.SEQREQ : 0, seq, origin).applyTo(l.span()),
                    r.nextBoolean() ? null : new byte[] {(byte) step});
            } else if (op < 58) {
                e.connUp(p, conn(r));
            } else if (op < 62) {
                e.connDown(p);
                // the relays of a conn are closed in the order of a table keyed by node identity:
                // not a decision, so not recorded
                log.sort(null);
            } else if (op < 70 && !p.open.isEmpty()) {
                e.relayClosed(p.open.remove(r.nextInt(p.open.size())));
            } else if (op < 82 && !p.open.isEmpty()) {
                SpanEngine.Relay rel = p.open.get(r.nextInt(p.open.size()));
                SpanExt x = SpanExt.of(rel.span());
                int origin = x != null && r.nextInt(4) != 0 ? x.origin() : origins[1 + r.nextInt(3)];
                int seq = (x == null ? 0 : x.seqno()) + r.nextInt(3);
                e.seqnoRequested(rel, new SpanExt(r.nextInt(8) == 0 ? 0 : SpanExt.SEQREQ, seq, origin)
                    .applyTo(rel.span()));
            } else if (op < 86) {
                local.add(e.advertise(span(r, fs[r.nextInt(fs.length)], 0, 0, 0)));
            } else if (op < 88 && !local.isEmpty()) {
                e.withdraw(local.remove(r.nextInt(local.size())));
            } else {
                now[0] += TimeUnit.MILLISECONDS.toNanos(r.nextInt(3) == 0 ? 30_000 : 400);
                e.tick(now[0]);
            }
            log.forEach(line -> put(digest, line));
            log.clear();
        }
        log.add(e.snapshot() + " " + counters(e.counters()) + " " + e.nodeKeys());
        log.forEach(line -> put(digest, line));
        return hex(digest);
    }

    private static LnkSpan span(SplittableRandom r, String fs, int dist, int origin, int seqno) {
        int peerType = r.nextInt(5) == 0 ? Dmsg.PEER_BLOCK : Dmsg.PEER_HAMMER2;
        int pfsType = r.nextInt(6) == 0 ? Dmsg.PFSTYPE_CLIENT : Dmsg.PFSTYPE_MASTER;
        String cl = r.nextInt(6) == 0 ? "other" : "cl";
        LnkSpan s = new LnkSpan(NIL, NIL, pfsType, peerType, 1, 0, 0, dist, r.nextInt(8), 0, 0, cl, fs);
        return origin == 0 ? s : new SpanExt(0, seqno, origin).applyTo(s);
    }

    private static LnkConn conn(SplittableRandom r) {
        long peerMask = r.nextInt(5) == 0 ? 1L << Dmsg.PEER_BLOCK : -1L;
        long pfsMask = r.nextInt(5) == 0 ? ~(1L << Dmsg.PFSTYPE_CLIENT) : -1L;
        int pfsType = r.nextInt(4) == 0 ? Dmsg.PFSTYPE_CLIENT : Dmsg.PFSTYPE_NONE;
        String cl = r.nextInt(4) == 0 ? "cl" : "";
        return r.nextInt(3) == 0 ? null
            : new LnkConn(NIL, NIL, NIL, peerMask, Dmsg.PEER_HAMMER2, pfsType, 1, 0, 0, 0, pfsMask, cl, "peer");
    }

    // ------------------------------------------------------------------------------------------

    /** Every counter by name, via reflection: a counter added later is recorded too. */
    private static String counters(SpanEngine.Counters c) {
        StringBuilder sb = new StringBuilder();
        try {
            for (Field f : SpanEngine.Counters.class.getFields()) {
                sb.append(f.getName()).append('=').append(f.getLong(c)).append(' ');
            }
        } catch (IllegalAccessException e) {
            throw new AssertionError(e);
        }
        return sb.toString();
    }

    private static MessageDigest sha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static void put(MessageDigest d, String s) {
        d.update(s.getBytes(StandardCharsets.UTF_8));
        d.update((byte) '\n');
    }

    private static String hex(MessageDigest d) {
        return HexFormat.of().formatHex(d.digest()).substring(0, 16);
    }
}
