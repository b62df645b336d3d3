package dev.dmsg.cli;

import static dev.dmsg.cli.DemoNarrator.awaitDists;
import static dev.dmsg.cli.DemoNarrator.indent;
import static dev.dmsg.cli.DemoNarrator.text;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkStats;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.services.EchoService;
import dev.dmsg.services.node.Node;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.FrameLog;
import dev.dmsg.wire.Message;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg demo}: a small mesh on loopback in one process, narrated. Part one, three linked
 * endpoints: alpha and beta listen, gamma links to both. Shows links coming up with their
 * LNK_CONN results, idle links kept alive by LNK_PING, a transaction, transactions held open in
 * both directions, and a node crash with the LOSTLINK aborts it causes while the other link
 * carries on. Part two, four full nodes in a ring: spans relayed, the span tree, a crash and
 * the re-route around it. Part three, six nodes in a ring: a circuit across two relays, a remote
 * shell command and a ping through circuits, a relay crash that aborts the circuit's
 * transactions at both ends, and the circuit re-opened the other way round. Part four, block
 * devices: an export found two hops away, written and read back through a relay, and its
 * counters.
 *
 * Part five, a quorum group: writes, a watch and a two-phase commit from a non-member, the leader
 * killed, a new leader, nothing lost. Part six, a lock and a fence: two writers share a disk
 * through an exclusive lock; the holder, a process of its own, is frozen with SIGSTOP, the other
 * gets the lock after the lease with a newer token, and the frozen one's late write is refused
 * FENCED.
 *
 * <p>Parts one to three are here; part four is {@link DemoBlocks}, part five {@link DemoQuorum}, part six
 * {@link DemoLocks} (its writer process is the hidden {@code dmsg demo writer}, {@link DemoWriter}); the
 * narration and the node helpers the parts share are {@link DemoNarrator}.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Runs a narrated demo on loopback: three linked nodes (transactions, keepalive, a crash), "
        + "a ring of four mesh nodes (spans, the span tree, a crash and the re-route), then a ring of six "
        + "(a circuit across two relays, a remote shell command, a relay crash, the circuit re-opened), "
        + "then a block device used through a relay (found, written, read back, its counters), then a quorum "
        + "group (writes, a watch and a two-phase commit; the leader killed, a new leader, nothing lost), then a "
        + "disk shared through a lock (the holder frozen with SIGSTOP, the lock passed on after its lease, its late "
        + "write refused FENCED).",
    subcommands = DemoWriter.class)
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--idle", paramLabel = "DURATION", defaultValue = "2500ms", converter = Durations.class,
        description = "how long to leave the links idle to show keepalive PINGs (default: ${DEFAULT-VALUE})")
    Duration idle;

    private final DemoNarrator narrator = new DemoNarrator(System.out);
    private final PrintStream out = narrator.out;

    void say(String who, String fmt, Object... args) {
        narrator.say(who, fmt, args);
    }

    /** Narrates one node's link events. */
    final class Voice implements LinkListener {
        final String who;
        final CountDownLatch up;

        Voice(String who, CountDownLatch up) {
            this.who = who;
            this.up = up;
        }

        @Override
        public void onUp(Link link) {
            say(who, "link up with %s (%s): its LNK_CONN arrived and we answered LNK_ERROR|CREATE|REPLY 0",
                link.peerLabel(), link.remoteAddress());
        }

        @Override
        public void onConnResult(Link link, int error) {
            say(who, "%s answered our LNK_CONN: %s", link.peerLabel(), error == 0 ? "accepted (result 0)" : ErrorCode.nameOf(error));
            up.countDown();
        }

        @Override
        public void onDown(Link link, String reason, int aborted) {
            say(who, "link to %s DOWN: %s; %d open transaction(s) aborted with LOSTLINK", link.peerLabel(), reason, aborted);
        }
    }

    @Override
    public Integer call() throws Exception {
        Logging.setLevel("dev.dmsg", "WARN");
        Logging.setLevel("dmsg.node", "WARN"); // the narration says what happens
        out.println("DMSG demo: three nodes on loopback. alpha and beta listen; gamma links to both.");
        out.println("Every link is TLS 1.3; each node has its own key and pins the others' (docs/SECURITY.md).");
        out.println();
        CountDownLatch up = new CountDownLatch(4);
        LinkEndpoint alpha = node("alpha", up);
        LinkEndpoint beta = node("beta", up);
        LinkEndpoint gamma = node("gamma", up);
        try {
            int pa = alpha.listen("127.0.0.1", 0).getPort();
            int pb = beta.listen("127.0.0.1", 0).getPort();
            say("demo", "alpha listens on 127.0.0.1:%d, beta on 127.0.0.1:%d", pa, pb);
            Link toAlpha = gamma.connect("127.0.0.1", pa).get(5, TimeUnit.SECONDS);
            Link toBeta = gamma.connect("127.0.0.1", pb).get(5, TimeUnit.SECONDS);
            if (!up.await(5, TimeUnit.SECONDS)) {
                say("demo", "links did not come up within 5 s");
                return 1;
            }

            out.println();
            say("demo", "leaving the links idle for %d ms: LNK_PING keeps them alive (1 s without sending)", idle.toMillis());
            Thread.sleep(idle.toMillis());
            for (Link l : new Link[] {toAlpha, toBeta}) {
                LinkStats s = l.stats();
                say("gamma", "link to %s: %d PINGs sent, %d received, state %s", l.peerLabel(), s.pingsSent(), s.pingsReceived(), l.state());
            }

            out.println();
            say("gamma", "opens a DBG_ECHO transaction to alpha: CREATE|DELETE with aux \"hello, alpha\"");
            CompletableFuture<Message> answer = new CompletableFuture<>();
            long start = System.nanoTime();
            toAlpha.open(EchoService.DBG_ECHO | Dmsg.DELETE, null, text("hello, alpha"), (t, m) -> {
                if (m.isDelete()) answer.complete(m.retain());
            });
            Message a = answer.get(5, TimeUnit.SECONDS);
            say("gamma", "%s", FrameLog.line(FrameLog.RECEIVED, a));
            say("gamma", "answer \"%s\" after %d us; the transaction is closed both ways", a.auxString(), (System.nanoTime() - start) / 1000);
            a.release();

            out.println();
            say("gamma", "opens a DBG_ECHO to alpha and leaves it open (streaming elements, no DELETE yet)");
            CompletableFuture<Message> lost = new CompletableFuture<>();
            CompletableFuture<String> echoed = new CompletableFuture<>();
            Transaction held = toAlpha.open(EchoService.DBG_ECHO, null, text("first element"), (t, m) -> {
                if (m.isDelete()) lost.complete(m.retain());
                else echoed.complete(m.auxString());
            });
            say("gamma", "alpha echoed \"%s\"; transaction %016x is %s", echoed.get(5, TimeUnit.SECONDS),
                held.msgid(), held.state());
            CompletableFuture<Message> lostAtAlpha = new CompletableFuture<>();
            Link alphaToGamma = alpha.links().get(0);
            Transaction held2 = alphaToGamma.open(EchoService.DBG_ECHO, null, text("from alpha"), (t, m) -> {
                if (m.isDelete()) lostAtAlpha.complete(m.retain());
            });
            say("alpha", "opens a DBG_ECHO to gamma too, and leaves it open (transaction %016x)", held2.msgid());
            Thread.sleep(100);
            say("gamma", "open transactions on the link to alpha: %d (ours, alpha's, and both LNK_CONNs)",
                toAlpha.stats().openTransactions());

            out.println();
            say("demo", "alpha crashes: its connections drop with no DELETE sent");
            alpha.abort("process killed");
            Message l = lost.get(5, TimeUnit.SECONDS);
            say("gamma", "held transaction %016x got %s", l.msgid(), FrameLog.line("", l));
            l.release();
            Message l2 = lostAtAlpha.get(5, TimeUnit.SECONDS);
            say("alpha", "its own held transaction got the same LOSTLINK abort locally: %s", ErrorCode.nameOf(l2.error()));
            l2.release();
            say("gamma", "link to alpha: %s, %d transactions left; link to beta: %s", toAlpha.state(),
                toAlpha.stats().openTransactions(), toBeta.state());

            out.println();
            say("gamma", "checks beta still answers:");
            CompletableFuture<String> b = new CompletableFuture<>();
            toBeta.open(EchoService.DBG_ECHO | Dmsg.DELETE, null, text("still there, beta?"), (t, m) -> {
                if (m.isDelete()) b.complete(m.auxString());
            });
            say("gamma", "beta echoed \"%s\"", b.get(5, TimeUnit.SECONDS));
            out.println();
            say("demo", "closing gamma and beta in order");
        } finally {
            gamma.close(Duration.ofSeconds(3));
            beta.close(Duration.ofSeconds(3));
            alpha.close(Duration.ofSeconds(1));
        }
        out.println();
        return mesh();
    }

    /**
     * Part two: four full nodes (dev.dmsg.services.node.Node) in a ring. They advertise themselves
     * and relay spans; a node crashes and the others route around it.
     */
    private int mesh() throws Exception {
        out.println("Part two: the mesh. Four nodes n1..n4 in a ring, each keeping a VOLCONF span: link to the next.");
        out.println();
        Path dir = Files.createTempDirectory("dmsg-demo");
        List<Node> nodes = new ArrayList<>();
        try {
            narrator.startNodes(dir, "n", 4, nodes);
            for (int i = 0; i < 4; i++) {
                int next = nodes.get((i + 1) % 4).address().getPort();
                nodes.get(i).shell().execute("span 127.0.0.1:" + next);
                say("n" + (i + 1), "VOLCONF slot: span:127.0.0.1:%d (n%d)", next, (i + 1) % 4 + 1);
            }
            if (!awaitDists(nodes.get(0), Map.of("n2", 0, "n3", 1, "n4", 0))) {
                say("demo", "the ring did not converge within 10 s");
                return 1;
            }
            say("n1", "sees n2 and n4 at dist 0 (neighbours) and n3 at dist 1; its span tree:");
            out.print(indent(nodes.get(0).shell().execute("tree").output()));

            out.println();
            say("demo", "n2 crashes: its links drop with no DELETE; every span through it is withdrawn");
            nodes.get(1).endpoint().abort("process killed");
            if (!awaitDists(nodes.get(0), Map.of("n3", 1, "n4", 0))) {
                say("demo", "n1 did not re-converge within 10 s");
                return 1;
            }
            say("n1", "now reaches n3 the other way round, via n4 (dist 1), and n2 is gone:");
            out.print(indent(nodes.get(0).shell().execute("tree").output()));
            out.println();
            say("demo", "no routing loop can form while this happens: docs/MESH.md; `dmsg sim` measures it on 1,000 nodes");
            out.println();
            for (var n : nodes) {
                n.close(); // part two is over: its nodes would only go on redialling n2 in the log
            }
            nodes.clear();
            int r = circuits(dir);
            if (r != 0) {
                return r;
            }
            out.println();
            r = new DemoBlocks(narrator).run(dir);
            if (r != 0) {
                return r;
            }
            out.println();
            r = new DemoQuorum(narrator).run(dir);
            if (r != 0) {
                return r;
            }
            out.println();
            return new DemoLocks(narrator).run(dir);
        } finally {
            for (var n : nodes) {
                n.close();
            }
            try (var files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    /**
     * Part three: circuits. Six nodes in a ring; c1 forges a circuit to c4 across two relays, runs
     * a shell command on c4 through it, holds transactions open both ways; the first relay
     * crashes, both ends see their transactions aborted, and c1 re-opens the other way round.
     */
    private int circuits(Path dir) throws Exception {
        out.println("Part three: circuits. Six nodes c1..c6 in a ring; c1 talks to c4, two relays away either way.");
        out.println();
        List<Node> nodes = new ArrayList<>();
        try {
            narrator.startNodes(dir, "c", 6, nodes);
            for (int i = 0; i < 6; i++) {
                nodes.get(i).shell().execute("span 127.0.0.1:" + nodes.get((i + 1) % 6).address().getPort());
            }
            var c1 = nodes.get(0);
            var c4 = nodes.get(3);
            if (!awaitDists(c1, Map.of("c2", 0, "c3", 1, "c4", 2, "c5", 1, "c6", 0))) {
                say("demo", "the ring did not converge within 10 s");
                return 1;
            }
            NodeKey k4 = c1.resolve("c4");
            long start = System.nanoTime();
            CircuitHandle circ = c1.mesh().openCircuit(k4).get(10, TimeUnit.SECONDS);
            String relay = circ.link().peerLabel();
            say("c1", "forged a circuit to c4 via %s: LNK_CIRC|CREATE hop by hop along the spans, the acknowledgement "
                + "back hop by hop, %d us; circuit id #%x on the first hop", relay, (System.nanoTime() - start) / 1000, circ.id());
            var relayNode = nodes.stream().filter(n -> n.identity().label().equals(relay)).findFirst().orElseThrow();
            say(relay, "relays it without tracking its transactions (`circuits`):");
            out.print(indent(relayNode.shell().execute("circuits").output()));

            out.println();
            say("c1", "runs `@c4 links` in its shell: the command goes to c4's shell over a circuit of its own:");
            out.print(indent(c1.shell().execute("@c4 links").output()));
            say("c1", "`ping c4 3`:");
            out.print(indent(c1.shell().execute("ping c4 3").output()));

            out.println();
            CompletableFuture<Message> lostAt1 = new CompletableFuture<>();
            CompletableFuture<String> echoed = new CompletableFuture<>();
            circ.open(EchoService.DBG_ECHO, null, text("held from c1"), (t, m) -> {
                if (m.isDelete()) lostAt1.complete(m.retain());
                else echoed.complete(m.auxString());
            });
            say("c1", "holds a DBG_ECHO open over the circuit; c4 echoed \"%s\"", echoed.get(5, TimeUnit.SECONDS));
            var end = c4.mesh().circuits().stream().filter(v -> v.role().equals("endpoint")).findFirst().orElseThrow();
            Link c4Link = c4.endpoint().links().stream().filter(l -> l.peerLabel().equals(end.link())).findFirst()
                .orElseThrow();
            long farId = end.id();
            CompletableFuture<Message> lostAt4 = new CompletableFuture<>();
            CompletableFuture<String> echoedBack = new CompletableFuture<>();
            c4Link.open(farId, EchoService.DBG_ECHO, null, text("held from c4"), (t, m) -> {
                if (m.isDelete()) lostAt4.complete(m.retain());
                else echoedBack.complete(m.auxString());
            });
            say("c4", "holds one open the other way over the same circuit (its id #%x); c1 echoed \"%s\"", farId,
                echoedBack.get(5, TimeUnit.SECONDS));
            CompletableFuture<String> lost = new CompletableFuture<>();
            circ.onLost(lost::complete);

            out.println();
            say("demo", "%s, the first relay, crashes: its links drop with no DELETE", relay);
            relayNode.endpoint().abort("process killed");
            Message a1 = lostAt1.get(5, TimeUnit.SECONDS);
            say("c1", "its held transaction got %s", FrameLog.line("", a1));
            say("c1", "circuit lost: %s", lost.get(5, TimeUnit.SECONDS));
            a1.release();
            Message a4 = lostAt4.get(5, TimeUnit.SECONDS);
            say("c4", "its held transaction got the same: %s (the next relay tore the circuit down end to end)",
                ErrorCode.nameOf(a4.error()));
            a4.release();

            out.println();
            start = System.nanoTime();
            CircuitHandle again = c1.mesh().openCircuit(k4, Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS);
            say("c1", "re-opens (waiting up to 5 s for a path): forged via %s in %d us, %d hops", again.link().peerLabel(),
                (System.nanoTime() - start) / 1000, again.hops());
            CompletableFuture<String> ok = new CompletableFuture<>();
            again.open(EchoService.DBG_ECHO | Dmsg.DELETE, null, text("the other way round"), (t, m) -> {
                if (m.isDelete()) ok.complete(m.auxString());
            });
            say("c4", "echoed \"%s\"", ok.get(5, TimeUnit.SECONDS));
            again.close();
            var r = c1.shell().execute("@c4 tree");
            say("c1", "`@c4 tree` works again (status %d), through %s", r.status(), again.link().peerLabel());
            return 0;
        } finally {
            for (var n : nodes) {
                n.close();
            }
        }
    }

    /** Part one's keys: each endpoint has its own, and pins the other two's (docs/SECURITY.md). */
    private final Map<String, NodeKeys> keys = new LinkedHashMap<>();

    private LinkEndpoint node(String name, CountDownLatch up) {
        if (keys.isEmpty()) {
            for (String n : new String[] {"alpha", "beta", "gamma"}) {
                keys.put(n, NodeKeys.generate(n));
            }
        }
        List<PeerIdentity> others = new ArrayList<>();
        keys.forEach((n, k) -> {
            if (!n.equals(name)) {
                others.add(new PeerIdentity(n, k.fingerprint(), Role.MEMBER, 0));
            }
        });
        LinkConfig cfg = LinkConfig.builder().label(name)
            .tls(TlsConfig.of(keys.get(name), TrustPolicy.of(others))).build();
        return new LinkEndpoint(cfg, EchoService.register(new Services()), new Voice(name, up), 1);
    }
}
