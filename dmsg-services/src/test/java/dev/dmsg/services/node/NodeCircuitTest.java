package dev.dmsg.services.node;

import static dev.dmsg.services.testing.TestCluster.link;
import static dev.dmsg.services.testing.TestCluster.spans;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.tls.Role;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.services.EchoService;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Circuits between real nodes on loopback (in-process, real TCP): the shell's {@code @NODE},
 * {@code ping} and {@code circuits}, transactions both ways over a circuit through two relays,
 * tear-down when a relay goes (one LOSTLINK per open transaction at both ends, no circuit left
 * anywhere), a clear error when the node is gone, and the re-route in a ring.
 */
@Timeout(60)
class NodeCircuitTest {
    static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER); // TLS: each pins the others' keys

    Node start(String label) throws Exception {
        return cluster.start(label);
    }

    record ShellServiceResult(int status, String output) {}

    static ShellServiceResult run(Node n, String line) {
        var r = n.shell().execute(line);
        return new ShellServiceResult(r.status(), r.output());
    }

    /** n0 - n1 - n2 - n3, converged: every node sees every other. */
    List<Node> line(int n) throws Exception {
        List<Node> ns = cluster.line(IntStream.range(0, n).mapToObj(i -> "n" + i).toArray(String[]::new));
        for (Node x : ns) {
            cluster.awaitSpans(x, n);
        }
        return ns;
    }

    static int circuitsAt(Node n) {
        return n.mesh().circuits().size();
    }

    @Test
    void atNodeRunsACommandOnTheFarNodeThroughTwoRelays() throws Exception {
        List<Node> ns = line(4);
        int port = ns.get(0).address().getPort();
        try (ShellClient c = ShellClient.connect("127.0.0.1", port, ns.get(0).clientTls(), T)) {
            String tree = c.call("@n3 tree", T);
            assertThat(tree).contains("(n3) dist 0 [this node]").contains("(n0) dist 2");
            String ping = c.call("ping n3 2", T);
            assertThat(ping).contains("3 hop(s)").contains("reply from n3: seq=2").contains("2 sent, 2 received");
            // the far node's status, as JSON, through the circuit
            JsonNode st = NodeTest.JSON.readTree(c.call("@n3 status --json", T));
            assertThat(st.get("node").get("label").asText()).isEqualTo("n3");
            // @ on ourselves runs here; a failing remote command's status comes back
            assertThat(c.call("@n0 links", T)).contains("links:");
            StringBuilder out = new StringBuilder();
            assertThat(c.run("@n3 nosuch", out::append, T)).isEqualTo(Dmsg.ERR_PARAM);
            assertThat(out).contains("Unrecognized command: nosuch");
            out.setLength(0);
            assertThat(c.run("@nobody tree", out::append, T)).isEqualTo(Dmsg.ERR_CANTCIRC);
            assertThat(out).contains("no node 'nobody' in the mesh (known: ").contains("n3 (");
            // C's debug aid: forge over one particular received span, by the msgid 'tree' shows
            String msgid = TestCluster.nodeSpan(NodeTest.JSON.readTree(c.call("status --json", T)), "n3")
                .get("links").get(0).get("msgid").asText();
            assertThat(c.call("tree", T)).contains("SLink msgid " + msgid + " dist=2");
            assertThat(c.call("circ " + msgid, T)).contains("to node 'n3'").contains("acknowledged (result 0)");
            out.setLength(0);
            assertThat(c.run("circ 1234", out::append, T)).isEqualTo(Dmsg.ERR_CANTCIRC);
            assertThat(out).contains("no received span with msgid 0000000000001234");
        }
        // every command closed its circuit, at both ends and at the relays
        for (Node n : ns) {
            cluster.await(() -> circuitsAt(n) == 0, "no circuit left at " + n.identity().label());
        }
    }

    @Test
    void transactionsBothWaysAndATearDownThatAbortsEachOnceAtBothEnds() throws Exception {
        List<Node> ns = line(4);
        Node n0 = ns.get(0);
        Node n3 = ns.get(3);
        NodeKey k3 = n0.resolve("n3");
        CircuitHandle c = n0.mesh().openCircuit(k3).get(10, TimeUnit.SECONDS);
        assertThat(c.hops()).isEqualTo(3);
        assertThat(run(ns.get(1), "circuits").output).contains("relay").contains("n3").contains("open");
        assertThat(run(n3, "circuits").output).contains("endpoint");
        assertThat(run(n0, "circuits").output).contains("origin");
        JsonNode relayed = ns.get(1).status().get("circuits");
        assertThat(relayed).hasSize(1);
        assertThat(relayed.get(0).get("role").asText()).isEqualTo("relay");
        assertThat(relayed.get(0).get("node").asText()).isEqualTo("n3");
        assertThat(relayed.get(0).get("link").asText()).isEqualTo("n0");
        assertThat(relayed.get(0).get("other_link").asText()).isEqualTo("n2");
        assertThat(relayed.get(0).get("open").asBoolean()).isTrue();

        // n0 -> n3: a one-message echo, a streamed one, and one held open
        List<Message> atOrigin = new CopyOnWriteArrayList<>();
        CompletableFuture<String> one = new CompletableFuture<>();
        c.open(EchoService.DBG_ECHO | Dmsg.DELETE, null, aux("one"), (t, m) -> {
            if (m.isDelete()) {
                one.complete(m.auxString());
            }
        });
        assertThat(one.get(5, TimeUnit.SECONDS)).isEqualTo("one");
        CompletableFuture<List<String>> streamed = new CompletableFuture<>();
        List<String> got = new ArrayList<>();
        Transaction s = c.open(EchoService.DBG_ECHO, null, aux("a"), (t, m) -> {
            if (m.auxBytes() > 0) {
                got.add(m.auxString());
            }
            if (m.isDelete()) {
                streamed.complete(List.copyOf(got));
            }
        });
        s.send(EchoService.DBG_ECHO, null, aux("b"));
        s.send(EchoService.DBG_ECHO | Dmsg.DELETE, null, aux("c"));
        assertThat(streamed.get(5, TimeUnit.SECONDS)).containsExactly("a", "b", "c");
        CompletableFuture<Void> heldEcho = new CompletableFuture<>();
        c.open(EchoService.DBG_ECHO, null, aux("held"), (t, m) -> {
            atOrigin.add(m.retain());
            heldEcho.complete(null);
        });
        heldEcho.get(5, TimeUnit.SECONDS);

        // n3 -> n0 over the same circuit: n3 opens on its end's id
        Link last = n3.endpoint().links().get(0);
        CompletableFuture<Long> farId = new CompletableFuture<>();
        last.execute(() -> farId.complete(n3.mesh().circuitsEndingOn(last).get(0)));
        List<Message> atFar = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> heldBack = new CompletableFuture<>();
        last.open(farId.get(5, TimeUnit.SECONDS), EchoService.DBG_ECHO, null, aux("back"), (t, m) -> {
            atFar.add(m.retain());
            heldBack.complete(null);
        });
        heldBack.get(5, TimeUnit.SECONDS);
        CompletableFuture<String> lost = new CompletableFuture<>();
        c.onLost(lost::complete);

        // n1 goes (orderly: it withdraws its spans, which is what tears the circuit down)
        ns.get(1).close();
        assertThat(lost.get(5, TimeUnit.SECONDS)).isNotEmpty();
        cluster.await(() -> atOrigin.size() == 2 && atFar.size() == 2, "one LOSTLINK abort at each end");
        try {
            for (List<Message> ms : List.of(atOrigin, atFar)) {
                Message abort = ms.get(1);
                assertThat(abort.isAbort() && abort.isDelete()).isTrue();
                assertThat(abort.error()).isEqualTo(Dmsg.ERR_LOSTLINK);
            }
        } finally {
            atOrigin.forEach(Message::release);
            atFar.forEach(Message::release);
        }
        for (Node n : List.of(n0, ns.get(2), n3)) {
            cluster.await(() -> circuitsAt(n) == 0, "no circuit left at " + n.identity().label());
        }
        assertThat(atOrigin).hasSize(2);
        assertThat(atFar).hasSize(2);
        // and n3 is gone from n0's view: a clear error, at once
        var r = run(n0, "@n3 tree");
        assertThat(r.status).isEqualTo(Dmsg.ERR_CANTCIRC);
        assertThat(r.output).contains("no node 'n3' in the mesh");
    }

    @Test
    void inARingACommandReRoutesAroundADeadRelay() throws Exception {
        List<Node> ns = line(4);
        link(ns.get(0), ns.get(3)); // close the ring
        cluster.await(() -> TestCluster.nodeSpan(status(ns.get(0)), "n2").get("links").size() == 2, "two paths to n2 at n0");
        assertThat(run(ns.get(0), "@n2 tree").output).contains("(n2) dist 0 [this node]");
        ns.get(1).close();
        var r = run(ns.get(0), "@n2 tree");
        assertThat(r.status).as(r.output).isZero();
        assertThat(r.output).contains("(n2) dist 0 [this node]");
        assertThat(run(ns.get(0), "ping n2 1").output).contains("2 hop(s)");
    }

    static JsonNode status(Node n) {
        try {
            return n.status();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static ByteBuf aux(String s) {
        return Unpooled.copiedBuffer(s + "\0", StandardCharsets.UTF_8);
    }
}
