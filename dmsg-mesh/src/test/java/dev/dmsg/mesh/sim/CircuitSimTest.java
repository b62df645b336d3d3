package dev.dmsg.mesh.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Circuits in the simulator (PROFILE §6, reference §3.5): forged through 1, 2 and 5 relays,
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

    static <T> T await(SimMesh m, CompletableFuture<T> f) throws Exception {
        for (int i = 0; i < 1000 && !f.isDone(); i++) {
            run(m, 1);
        }
        assertThat(f).isDone();
        return f.get();
    }

    static int relayedEverywhere(SimMesh m) {
        int n = 0;
        for (SimMesh.SimLink l : m.links()) {
            n += l.a.mesh.circuitsOn(l.ta.iocom) + l.b.mesh.circuitsOn(l.tb.iocom);
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
        last.tb.iocom.open(farId, ECHO | Dmsg.DELETE, null, Unpooled.copiedBuffer("and back\0",
            StandardCharsets.US_ASCII), (t, msg) -> {
                if (msg.isDelete()) {
                    back.complete(msg.auxString());
                }
            });
        assertThat(await(m, back)).isEqualTo("and back");
        for (SimMesh.SimLink l : m.links()) {
            assertThat(l.ta.iocom.stats().violationCount()).isZero();
            assertThat(l.tb.iocom.stats().violationCount()).isZero();
        }
    }

    /** The circuit id the far end uses: the one circuit ending there. */
    static long farCircuitId(SimMesh m, SimMesh.SimNode to) {
        SimMesh.SimLink last = m.links().get(m.links().size() - 1);
        List<Long> ids = to.mesh.circuitsEndingOn(last.tb.iocom);
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
                    assertThat(l.ta.iocom.stats().openTransactions()).as("ours: CONNs and SPANs only")
                        .isEqualTo(l.tb.iocom.stats().openTransactions());
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
        l.ta.iocom.open(Dmsg.LNK_CIRC, new LnkCirc(0, 0xdeadL), null, (TransactionHandler) (t, msg) -> {
            if (msg.isDelete()) {
                answer.complete(msg.error());
            }
        });
        assertThat(await(m, answer)).isEqualTo(Dmsg.ERR_CANTCIRC);
    }
}
