package dev.dmsg.mesh.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.mesh.CircuitException;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.testkit.Await;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Circuits in the simulator (docs/PROFILE.md §6, docs/REFERENCE.md §3.5): forged through 1, 2 and 5 relays,
 * transactions both ways over them, CANTCIRC, and tear-down end to end — a cut link, a
 * withdrawn span — with exactly one LOSTLINK per open transaction and every table empty.
 */
class CircuitSimTest {
    static final int ECHO = 0x0010fe01;
    static final Duration MS = Duration.ofMillis(1);

    /** A line of {@code n} nodes, each serving an echo command, converged. */
    static SimMesh line(int n) {
        SimMesh m = new SimMesh(MeshConfig.defaults(), 3);
        for (int i = 0; i < n; i++) {
            SimMesh.SimNode node = m.addNode("n" + i);
            node.services.accept(ECHO, (txn, create) -> (t, msg) -> {
                if (msg.baseCmd() == ECHO && msg.auxBytes() > 0) {
                    t.send(ECHO | (msg.isDelete() ? Dmsg.DELETE : 0), null, msg.aux().retain());
                } else if (msg.isDelete()) {
                    t.reply(msg.error());
                }
            });
        }
        for (int i = 0; i + 1 < n; i++) {
            m.connect(m.nodes().get(i), m.nodes().get(i + 1), MS, 0);
        }
        m.runUntilQuiet(Duration.ofSeconds(1), Duration.ofMinutes(1));
        assertThat(m.wrongPairs()).isZero();
        return m;
    }

    static void run(SimMesh m, long millis) {
        m.scheduler().runUntil(m.scheduler().now() + TimeUnit.MILLISECONDS.toNanos(millis));
    }

    /** Steps the simulation a millisecond at a time until {@code f} completes, at most a second of its time. */
    static <T> T await(SimMesh m, CompletableFuture<T> f) throws Exception {
        Await.stepping(() -> run(m, 1), 1000, f::isDone, "a future of the simulation");
        return f.get();
    }

    static int relayedEverywhere(SimMesh m) {
        int n = 0;
        for (SimMesh.SimLink l : m.links()) {
            n += l.a.mesh.circuitsOn(l.ta.iocom.link()) + l.b.mesh.circuitsOn(l.tb.iocom.link());
        }
        return n;
    }

    @ParameterizedTest(name = "{0} relay(s)")
    @ValueSource(ints = {1, 2, 5})
    void forgedThroughRelaysCarriesTransactionsBothWays(int relays) throws Exception {
        SimMesh m = line(relays + 2);
        SimMesh.SimNode from = m.nodes().get(0);
        SimMesh.SimNode to = m.nodes().get(relays + 1);
        CircuitHandle c = await(m, from.mesh.openCircuit(to.key()));
        // every hop holds one side of the circuit: ends 1 each, relays 2 each
        assertThat(relayedEverywhere(m)).isEqualTo(2 + 2 * relays);

        CompletableFuture<String> answer = new CompletableFuture<>();
        c.link().execute(() -> c.open(ECHO | Dmsg.DELETE, null, Unpooled.copiedBuffer("over the circuit\0",
            StandardCharsets.US_ASCII), (t, msg) -> {
                if (msg.isDelete()) {
                    answer.complete(msg.auxString() + " err=" + msg.error());
                }
            }));
        assertThat(await(m, answer)).isEqualTo("over the circuit err=0");

        // and the far end opens one back toward us over the same circuit
        SimMesh.SimLink last = m.links().get(m.links().size() - 1);
        long farId = farCircuitId(m, to);
        CompletableFuture<String> back = new CompletableFuture<>();
        last.tb.iocom.link().open(farId, ECHO | Dmsg.DELETE, null, Unpooled.copiedBuffer("and back\0",
            StandardCharsets.US_ASCII), (t, msg) -> {
                if (msg.isDelete()) {
                    back.complete(msg.auxString());
                }
            });
        assertThat(await(m, back)).isEqualTo("and back");
        for (SimMesh.SimLink l : m.links()) {
            assertThat(l.ta.iocom.link().stats().violationCount()).isZero();
            assertThat(l.tb.iocom.link().stats().violationCount()).isZero();
        }
    }

    /** The circuit id the far end uses: the one circuit ending there. */
    static long farCircuitId(SimMesh m, SimMesh.SimNode to) {
        SimMesh.SimLink last = m.links().get(m.links().size() - 1);
        List<Long> ids = to.mesh.circuitsEndingOn(last.tb.iocom.link());
        assertThat(ids).hasSize(1);
        return ids.get(0);
    }

    @Test
    void aCutLinkAbortsEveryTransactionAtBothEndsOnceAndEmptiesEveryTable() throws Exception {
        SimMesh m = line(5);
        SimMesh.SimNode from = m.nodes().get(0);
        CircuitHandle c = await(m, from.mesh.openCircuit(m.nodes().get(4).key()));
        List<Message> gotAtOrigin = new ArrayList<>();
        List<String> lost = new ArrayList<>();
        c.onLost(lost::add);
        c.link().execute(() -> c.open(ECHO, null, Unpooled.copiedBuffer("held\0", StandardCharsets.US_ASCII),
            (t, msg) -> gotAtOrigin.add(msg.retain())));
        run(m, 20);
        assertThat(gotAtOrigin).hasSize(1); // the echo of "held"; the transaction stays open
        assertThat(relayedEverywhere(m)).isEqualTo(2 + 2 * 3);

        m.cut(m.links().get(2)); // between n2 and n3
        run(m, 50);
        try {
            assertThat(gotAtOrigin).hasSize(2);
            Message abort = gotAtOrigin.get(1);
            assertThat(abort.isAbort() && abort.isDelete()).isTrue();
            assertThat(abort.error()).isEqualTo(Dmsg.ERR_LOSTLINK);
            assertThat(lost).hasSize(1);
            assertThat(relayedEverywhere(m)).isZero();
            for (SimMesh.SimLink l : m.links()) {
                if (l.up) {
                    assertThat(l.ta.iocom.link().stats().openTransactions()).as("ours: CONNs and SPANs only")
                        .isEqualTo(l.tb.iocom.link().stats().openTransactions());
                }
            }
        } finally {
            gotAtOrigin.forEach(Message::release);
        }
    }

    @Test
    void aWithdrawnSpanTearsItsCircuitsDown() throws Exception {
        SimMesh m = line(4);
        SimMesh.SimNode to = m.nodes().get(3);
        CircuitHandle c = await(m, m.nodes().get(0).mesh.openCircuit(to.key()));
        List<String> lost = new ArrayList<>();
        c.onLost(lost::add);
        to.mesh.execute(() -> to.engine().withdraw(to.self));
        run(m, 50);
        assertThat(lost).hasSize(1);
        assertThat(relayedEverywhere(m)).isZero();
    }

    @Test
    void anUnknownTargetIsRefusedWithCantcirc() throws Exception {
        SimMesh m = line(2);
        CompletableFuture<Integer> answer = new CompletableFuture<>();
        SimMesh.SimLink l = m.links().get(0);
        l.ta.iocom.link().open(Dmsg.LNK_CIRC, new LnkCirc(0, 0xdeadL), null, (TransactionHandler) (t, msg) -> {
            if (msg.isDelete()) {
                answer.complete(msg.error());
            }
        });
        assertThat(await(m, answer)).isEqualTo(Dmsg.ERR_CANTCIRC);
    }

    // ------------------------------------------------------------------------------------------

    /** Every shape of transaction over a circuit through 2 relays, opened from each end in turn. */
    @Test
    void everyTransactionShapeWorksBothWays() throws Exception {
        SimMesh m = line(4);
        SimMesh.SimNode from = m.nodes().get(0);
        SimMesh.SimNode to = m.nodes().get(3);
        CircuitHandle c = await(m, from.mesh.openCircuit(to.key()));
        SimMesh.SimLink first = m.links().get(0);
        SimMesh.SimLink last = m.links().get(m.links().size() - 1);
        long farId = farCircuitId(m, to);
        int baseA = first.ta.iocom.link().stats().openTransactions();
        int baseZ = last.tb.iocom.link().stats().openTransactions();
        record End(Link link, long circuit) {}
        for (End end : List.of(new End(first.ta.iocom.link(), c.id()), new End(last.tb.iocom.link(), farId))) {
            List<String> log = new ArrayList<>();
            TransactionHandler record = (t, msg) -> log.add(
                (msg.baseCmd() == ECHO ? "echo " + msg.auxString() : "error " + msg.error())
                    + (msg.isAbort() ? " abort" : "") + (msg.isDelete() ? " delete" : ""));
            // 1. one message each way: CREATE|DELETE answered by CREATE|DELETE|REPLY
            end.link.open(end.circuit, ECHO | Dmsg.DELETE, null, aux("one"), record);
            run(m, 20);
            assertThat(log).containsExactly("echo one delete");
            log.clear();
            // 2. streaming: elements both ways, then each side closes
            Transaction s = end.link.open(end.circuit, ECHO, null, aux("a"), record);
            run(m, 20);
            s.send(ECHO, null, aux("b"));
            s.send(ECHO | Dmsg.DELETE, null, aux("c"));
            run(m, 20);
            assertThat(log).containsExactly("echo a", "echo b", "echo c delete");
            log.clear();
            // 3. ABORT|CREATE (non-blocking request): the far end may answer; it must close
            end.link.open(end.circuit, ECHO | Dmsg.ABORT | Dmsg.DELETE, null, aux("nb"), record);
            run(m, 20);
            assertThat(log).hasSize(1);
            assertThat(log.get(0)).endsWith("delete");
            log.clear();
            // 4. mid-stream ABORT, then ABORT|DELETE: the far end closes with the error it got
            Transaction ab = end.link.open(end.circuit, ECHO, null, aux("x"), record);
            run(m, 20);
            ab.abort();
            ab.abortClose();
            run(m, 20);
            assertThat(log).first().isEqualTo("echo x");
            assertThat(log).last().asString().endsWith("delete");
            log.clear();
        }
        run(m, 50);
        assertThat(first.ta.iocom.link().stats().openTransactions()).isEqualTo(baseA);
        assertThat(last.tb.iocom.link().stats().openTransactions()).isEqualTo(baseZ);
        for (SimMesh.SimLink l : m.links()) {
            assertThat(l.ta.iocom.link().stats().violationCount()).isZero();
            assertThat(l.tb.iocom.link().stats().violationCount()).isZero();
        }
        c.close();
        run(m, 50);
        assertThat(relayedEverywhere(m)).isZero();
    }

    /** A cut at any hop of a 4-hop circuit: both ends abort everything on it once, nothing left anywhere. */
    @ParameterizedTest(name = "cut at hop {0}")
    @ValueSource(ints = {0, 1, 2, 3})
    void aCutAtAnyHopAbortsBothEndsOnce(int hop) throws Exception {
        SimMesh m = line(5);
        SimMesh.SimNode from = m.nodes().get(0);
        SimMesh.SimNode to = m.nodes().get(4);
        CircuitHandle c = await(m, from.mesh.openCircuit(to.key()));
        SimMesh.SimLink last = m.links().get(3);
        long farId = farCircuitId(m, to);
        List<Message> atOrigin = new ArrayList<>();
        List<Message> atFar = new ArrayList<>();
        List<String> lost = new ArrayList<>();
        c.onLost(lost::add);
        for (int i = 0; i < 3; i++) {
            c.open(ECHO, null, aux("o" + i), (t, msg) -> atOrigin.add(msg.retain()));
            last.tb.iocom.link().open(farId, ECHO, null, aux("f" + i), (t, msg) -> atFar.add(msg.retain()));
        }
        run(m, 20);
        try {
            assertThat(atOrigin).hasSize(3); // the echoes; all six stay open
            assertThat(atFar).hasSize(3);
            m.cut(m.links().get(hop));
            run(m, 50);
            assertThat(atOrigin).hasSize(6);
            assertThat(atFar).hasSize(6);
            for (List<Message> ms : List.of(atOrigin, atFar)) {
                for (Message abort : ms.subList(3, 6)) {
                    assertThat(abort.isAbort() && abort.isDelete()).isTrue();
                    assertThat(abort.error()).isEqualTo(Dmsg.ERR_LOSTLINK);
                }
            }
            assertThat(lost).hasSize(1);
            assertThat(relayedEverywhere(m)).isZero();
            for (SimMesh.SimNode n : m.nodes()) {
                assertThat(n.mesh.circuits()).isEmpty();
            }
        } finally {
            atOrigin.forEach(Message::release);
            atFar.forEach(Message::release);
        }
    }

    /** A relay whose next hop is full stops reading its source, and resumes when it drains: nothing is lost. */
    @Test
    void aFullNextHopPausesTheSourceUntilItDrains() throws Exception {
        SimMesh m = line(3);
        SimMesh.SimNode n0 = m.nodes().get(0);
        SimMesh.SimNode relay = m.nodes().get(1);
        CircuitHandle c = await(m, n0.mesh.openCircuit(m.nodes().get(2).key()));
        SimMesh.SimLink in = m.links().get(0);
        SimMesh.SimLink out = m.links().get(1);
        out.setWritable(relay, false);
        run(m, 1);
        List<String> echoes = new ArrayList<>();
        Transaction t = c.open(ECHO, null, aux("m0"), (tt, msg) -> {
            if (msg.auxBytes() > 0) {
                echoes.add(msg.auxString());
            }
        });
        run(m, 20);
        assertThat(in.readPaused(relay)).as("the relay stops reading its source").isTrue();
        for (int i = 1; i <= 5; i++) {
            t.send(ECHO, null, aux("m" + i));
        }
        run(m, 20);
        assertThat(in.heldAt(relay)).as("the rest waits unread at the source link").isEqualTo(5);
        out.setWritable(relay, true);
        run(m, 20);
        assertThat(in.readPaused(relay)).isFalse();
        assertThat(in.heldAt(relay)).isZero();
        assertThat(echoes).containsExactly("m0", "m1", "m2", "m3", "m4", "m5");
    }

    /** After a loss, openCircuit with a wait forges over the path that remains. */
    @Test
    void aLostCircuitReopensOverAnotherPath() throws Exception {
        SimMesh m = line(4);
        m.connect(m.nodes().get(3), m.nodes().get(0), MS, 0); // a ring
        m.runUntilQuiet(Duration.ofSeconds(1), Duration.ofMinutes(1));
        SimMesh.SimNode n0 = m.nodes().get(0);
        SimMesh.SimNode n2 = m.nodes().get(2);
        CircuitHandle c = await(m, n0.mesh.openCircuit(n2.key()));
        List<String> lost = new ArrayList<>();
        c.onLost(lost::add);
        SimMesh.SimLink firstHop = m.links().stream().filter(l -> l.ta.iocom.link() == c.link() || l.tb.iocom.link() == c.link())
            .findFirst().orElseThrow();
        m.cut(firstHop);
        CircuitHandle again = await(m, n0.mesh.openCircuit(n2.key(), Duration.ofSeconds(5)));
        assertThat(lost).hasSize(1);
        assertThat(again.link()).isNotSameAs(c.link());
        CompletableFuture<String> echo = new CompletableFuture<>();
        again.open(ECHO | Dmsg.DELETE, null, aux("again"), (t, msg) -> {
            if (msg.isDelete()) {
                echo.complete(msg.auxString());
            }
        });
        assertThat(await(m, echo)).isEqualTo("again");
    }

    /** A far end that never acknowledges: the open fails after the timeout and the relays let go. */
    @Test
    void noAcknowledgementFailsTheOpenAndFreesTheRelays() throws Exception {
        SimMesh m = line(3);
        SimMesh.SimNode far = m.nodes().get(2);
        far.services.accept(Dmsg.LNK_CIRC, (txn, create) -> (t, msg) -> { }); // a black hole
        CompletableFuture<CircuitHandle> f = m.nodes().get(0).mesh.openCircuit(far.key());
        run(m, 9_000);
        assertThat(f).isNotDone();
        run(m, 2_000);
        assertThat(f).isCompletedExceptionally();
        assertThat(failure(f)).isInstanceOf(CircuitException.class)
            .hasMessageContaining("no acknowledgement");
        assertThat(m.nodes().get(1).mesh.circuits()).isEmpty();
    }

    /** No path at all: a CircuitException at once, or at the end of the wait. */
    @Test
    void noPathFailsWithTheReason() throws Exception {
        SimMesh m = line(2);
        SimMesh.SimNode lonely = m.addNode("lonely");
        CompletableFuture<CircuitHandle> now = m.nodes().get(0).mesh.openCircuit(lonely.key());
        run(m, 1);
        assertThat(failure(now)).isInstanceOf(CircuitException.class)
            .hasMessageContaining("no path to node 'lonely'");
        CompletableFuture<CircuitHandle> later = m.nodes().get(0).mesh.openCircuit(lonely.key(), Duration.ofSeconds(2));
        run(m, 500);
        m.connect(m.nodes().get(1), lonely, MS, 0); // a path appears while we wait
        CircuitHandle h = await(m, later);
        assertThat(h.hops()).isEqualTo(2);
        CompletableFuture<CircuitHandle> never = m.nodes().get(0).mesh.openCircuit(
            new NodeKey(Dmsg.PEER_CLUSTER, new UUID(0, 0), "sim", "nobody", new UUID(1, 1)),
            Duration.ofSeconds(3));
        run(m, 3_500);
        assertThat(failure(never)).hasMessageContaining("no path to node 'nobody'");
        assertThat(m.nodes().get(0).mesh.pathWaiters()).as("no wait left behind").isZero();
    }

    static Throwable failure(CompletableFuture<?> f) throws Exception {
        Throwable e = f.handle((h, x) -> x).get();
        return e instanceof CompletionException ce ? ce.getCause() : e;
    }

    static ByteBuf aux(String s) {
        return Unpooled.copiedBuffer(s + "\0", StandardCharsets.US_ASCII);
    }
}
