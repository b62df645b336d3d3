package dev.dmsg.services.legacy;

import static dev.dmsg.services.testing.TestCluster.nodeSpan;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.LinkStats;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.Role;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.services.EchoService;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.Security;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our circuits through a 2013 C relay ({@link LegacyCRelay}: libdmsg's relay scripted from the
 * reference, untracked forwarding and all): X — C — Z, two of our nodes linked only to the relay.
 * X finds Z through C's span relay, forges a circuit hop by hop through it (C pairs the two
 * LNK_CIRCs and forwards without tracking), runs transactions of every shape both ways over it,
 * is refused with CANTCIRC for targets C never sent it, and when C's connection to Z is cut every
 * transaction on the circuit ends with exactly one LOSTLINK at both ends — C itself closes the
 * circuit toward X with its local EOF code, as libdmsg did — and X re-opens it once Z is back.
 *
 * <p>Keepalive: our links send LNK_PING after 1 s without sending and give a peer up after 10 s of
 * silence (docs/PROFILE.md §4). A 2013 C node never pings; it answers each of our PINGs with a one-way
 * NOSUPP (docs/REFERENCE.md §2.6), which keeps the link alive and is counted in {@code oneWayErrors}. So
 * that the circuit tests see exact counters, their nodes ping only after 30 s idle and wait 60 s
 * (no test here lasts that long; the class timeout is 60 s);
 * {@link #ourPingsAreAnsweredWithNosuppWhichKeepsTheLinkToTheRelayAlive} runs the fast rhythm on
 * purpose.
 */
@ExtendWith(LeakDetector.class)
@Timeout(60)
class LegacyRelayCircuitTest {
    static final Duration T = Duration.ofSeconds(10);
    static final Await WAIT = Await.atMost(T);
    static final int ECHO = EchoService.DBG_ECHO;

    @TempDir
    Path tmp;

    final TestCluster cluster = new TestCluster(() -> tmp);
    final List<LegacyCRelay> relays = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        cluster.close();
        relays.forEach(LegacyCRelay::close);
    }

    /**
     * A node of ours (TLS by default) for which the C relay is a configured legacy peer
     * (docs/SECURITY.md §6): {@code legacy} is {@code 127.0.0.1:PORT=member} for the relay we dial,
     * or {@code 127.0.0.1=member} for a relay that dials us.
     */
    Node start(String label, Duration ping, Duration dead, String legacy, Node.Export... exports) throws Exception {
        return cluster.start(Node.Settings.builder("127.0.0.1", 0, tmp.resolve(label), TestCluster.identity(label))
            .pingInterval(ping).deadTimeout(dead)
            .security(Security.defaults().withLegacy(List.of(Security.LegacyPeer.parse(legacy))))
            .exports(List.of(exports)).build());
    }

    /** X — C — Z, converged: each node sees the other through the relay. */
    final class Line {
        final LegacyCRelay relay;
        final Node x;
        final Node z;
        final Link xLink;
        Link zLink;
        final LegacyCRelay.Connection toX;
        LegacyCRelay.Connection toZ;
        final NodeKey zKey;

        Line(LegacyCRelay.SpanCopy mode, Node.Export... zExports) throws Exception {
            relay = new LegacyCRelay(mode);
            relays.add(relay);
            x = start("xray", Duration.ofSeconds(30), Duration.ofSeconds(60), "127.0.0.1:" + relay.port() + "=member");
            z = start("zulu", Duration.ofSeconds(30), Duration.ofSeconds(60), "127.0.0.1=member", zExports);
            xLink = x.endpoint().connect("127.0.0.1", relay.port()).get(T.toSeconds(), TimeUnit.SECONDS);
            toX = relay.takeAccepted(T); // X dials C (C's accept path) …
            connectZ(); // … and C dials Z (C's connect path)
            WAIT.untilCall(() -> nodeSpan(x.status(), "zulu") != null && nodeSpan(z.status(), "xray") != null, "X sees zulu and Z sees xray");
            zKey = x.resolve("zulu");
        }

        void connectZ() throws Exception {
            List<Link> before = z.endpoint().links();
            toZ = relay.connect("127.0.0.1", z.address().getPort());
            WAIT.untilCall(() -> z.endpoint().links().stream()
                .anyMatch(l -> !before.contains(l) && l.state() == LinkState.UP), "Z's link to the relay is up");
            zLink = z.endpoint().links().stream().filter(l -> !before.contains(l)).findFirst().orElseThrow();
        }

        /** The id of the one circuit ending at Z on its link to the relay (Z's side of it). */
        long zCircuitId() throws Exception {
            List<Long> ids = onLoop(zLink, () -> z.mesh().circuitsEndingOn(zLink));
            assertThat(ids).hasSize(1);
            return ids.get(0);
        }
    }

    // ------------------------------------------------------------------------------------------

    /** (a) */
    @Test
    void xSeesZThroughTheRelayWhichIgnoresOurExtensionFields() throws Exception {
        Line m = new Line(LegacyCRelay.SpanCopy.C_STRUCT_COPY);
        JsonNode zulu = nodeSpan(m.x.status(), "zulu");
        // dist counts relays: Z advertises 0, C adds 1 — two hops, X -> C -> Z.
        assertThat(zulu.get("dist").asInt()).isEqualTo(1);
        assertThat(zulu.get("links")).hasSize(1);
        assertThat(zulu.get("links").get(0).get("via").asText()).contains(m.xLink.remoteAddress());
        // C copies the received span struct when it relays: Z's seqno/origin rode through unread.
        assertThat(zulu.get("links").get(0).has("seqno")).isTrue();
        assertThat(nodeSpan(m.z.status(), "xray").get("dist").asInt()).isEqualTo(1);

        // What C said about itself: the libdmsg LNK_CONN (§3.2), no extension marker.
        LnkConn c = m.xLink.peerConn();
        assertThat(c.peerType()).isEqualTo(Dmsg.PEER_CLUSTER);
        assertThat(c.protoVersion()).isZero();
        assertThat(c.peerMask()).isEqualTo(-1L);
        assertThat(c.reserved02()).isZero();
        assertThat(SpanExt.understoodBy(c)).isFalse();

        LegacyCRelay.Stats s = m.relay.stats();
        assertThat(s.spansReceived()).isEqualTo(2);
        assertThat(s.relaysOpened()).isEqualTo(2); // best link only, split horizon: one each way
        // Our two LNK_CONNs carry our capability marker and our two spans their seqno/origin, all in
        // reserved fields: C read none of it, and nothing else arrived that it could not handle —
        // no span update or seqno request (mid-stream LNK_SPAN), no PING, nothing NOSUPP'd.
        assertThat(s.reservedFieldsSeen()).isEqualTo(4);
        assertThat(s.extensionMessages()).isZero();
        assertThat(s.nosuppSent()).isZero();
        assertThat(s.violations()).isZero();
        assertThat(s.cBugsAvoided()).isZero();
        assertThat(s.framingErrors()).isZero();
        assertThat(m.relay.tree()).contains("(xray)").contains("(zulu)").contains("Relay-out");
        assertNoViolations(m.xLink, m.zLink);
        assertThat(onLoop(m.xLink, m.xLink::stats).pingsReceived()).isZero(); // C never pings
    }

    /** (b) */
    @Test
    void aCircuitThroughTheRelayCarriesTransactionsOfEveryShapeBothWays() throws Exception {
        Line m = new Line(LegacyCRelay.SpanCopy.C_STRUCT_COPY);
        int xBase = onLoop(m.xLink, m.xLink::stats).openTransactions();
        int cBase = m.relay.openStates(m.toX);

        CircuitHandle c = m.x.mesh().openCircuit(m.zKey, Duration.ofSeconds(5)).get(T.toSeconds(), TimeUnit.SECONDS);
        assertThat(c.hops()).isEqualTo(2);
        assertThat(c.link()).isSameAs(m.xLink);
        assertThat(m.relay.circuitCount()).as("circA on X's connection, circB on Z's").isEqualTo(2);
        assertThat(m.relay.stats().circuitsForged()).isEqualTo(1);
        assertThat(m.x.mesh().circuits()).singleElement().satisfies(v -> {
            assertThat(v.role()).isEqualTo("origin");
            assertThat(v.open()).isTrue();
        });
        assertThat(m.z.mesh().circuits()).singleElement().satisfies(v -> assertThat(v.role()).isEqualTo("endpoint"));

        // One message each way: ECHO|CREATE|DELETE, one ECHO|CREATE|DELETE|REPLY back.
        Recorder one = new Recorder();
        c.open(ECHO | Dmsg.DELETE, null, text("one"), one);
        Got g = one.next();
        assertThat(g.cmd).isEqualTo(ECHO | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY);
        assertThat(g.aux).isEqualTo("one");

        // Streaming: four elements, the last with DELETE; four echoes, in order.
        Recorder stream = new Recorder();
        Transaction st = c.open(ECHO, null, text("s0"), stream);
        st.send(ECHO, null, text("s1"));
        st.send(ECHO, null, text("s2"));
        st.send(ECHO | Dmsg.DELETE, null, text("s3"));
        List<Got> echoes = List.of(stream.next(), stream.next(), stream.next(), stream.next());
        assertThat(echoes).extracting(e -> e.aux).containsExactly("s0", "s1", "s2", "s3");
        assertThat(echoes).extracting(e -> e.cmd).containsExactly(ECHO | Dmsg.CREATE | Dmsg.REPLY, ECHO | Dmsg.REPLY,
            ECHO | Dmsg.REPLY, ECHO | Dmsg.DELETE | Dmsg.REPLY);

        // Held open both ways: X's transaction to Z, and Z's to X over the same circuit (Z's id on its link).
        Recorder heldX = new Recorder();
        Transaction tx = c.open(ECHO, null, text("held at x"), heldX);
        assertThat(heldX.next().aux).isEqualTo("held at x");
        long zId = m.zCircuitId();
        Recorder heldZ = new Recorder();
        Transaction tz = m.zLink.open(zId, ECHO, null, text("held at z"), heldZ);
        assertThat(heldZ.next().aux).isEqualTo("held at z");

        // The DBG shell over the circuit: Z's span tree, then the status as LNK_ERROR|DELETE|REPLY.
        Recorder shell = new Recorder();
        c.open(Dmsg.DBG_SHELL | Dmsg.DELETE, null, text("tree"), shell);
        StringBuilder tree = new StringBuilder();
        Got last;
        while (!(last = shell.next()).isDelete()) {
            assertThat(last.cmd & Dmsg.BASECMDMASK).isEqualTo(Dmsg.DBG_SHELL);
            tree.append(last.aux);
        }
        assertThat(last.cmd).isEqualTo(Dmsg.LNK_ERROR | Dmsg.DELETE | Dmsg.REPLY);
        assertThat(last.error).isZero();
        assertThat(tree.toString()).contains("(zulu) dist 0 [this node]").contains("(xray) dist 1");

        // Z opens a one-message transaction toward X.
        Recorder back = new Recorder();
        m.zLink.open(zId, ECHO | Dmsg.DELETE, null, text("from z"), back);
        assertThat(back.next().aux).isEqualTo("from z");

        // Both held transactions close in order.
        tx.send(ECHO | Dmsg.DELETE, null, text("bye x"));
        tz.send(ECHO | Dmsg.DELETE, null, text("bye z"));
        assertThat(heldX.next()).satisfies(e -> assertThat(e.isDelete() && e.aux.equals("bye x")).isTrue());
        assertThat(heldZ.next()).satisfies(e -> assertThat(e.isDelete() && e.aux.equals("bye z")).isTrue());

        // Every message above crossed C once, forwarded untracked with only its circuit id changed.
        long expected = 2 + 8 + 4 + 4 + (1 + shell.all.size()) + 2;
        assertThat(m.relay.stats().forwarded()).isEqualTo(expected);

        // Closing the circuit at X: C propagates the DELETE to Z, Z's answer comes back, every table empties.
        c.close();
        WAIT.untilCall(() -> m.x.mesh().circuits().isEmpty()
            && m.z.mesh().circuits().isEmpty() && m.relay.circuitCount() == 0, "the circuit is gone at X, C and Z");
        WAIT.untilCall(() -> onLoop(m.xLink, m.xLink::stats).openTransactions() == xBase && m.relay.openStates(m.toX) == cBase, "X's link and C's state tables are back to CONN and SPAN");
        assertThat(c.lostReason()).isEqualTo("closed here");
        LegacyCRelay.Stats s = m.relay.stats();
        assertThat(s.unknownCircuit()).isZero();
        assertThat(s.cBugsAvoided()).isZero();
        assertThat(s.violations()).isZero();
        assertThat(s.extensionMessages()).isZero();
        assertNoViolations(m.xLink, m.zLink);
        for (Recorder r : List.of(one, stream, heldX, heldZ, shell, back)) {
            assertThat(r.all).filteredOn(Got::isAbort).isEmpty();
        }
    }

    /** (c) */
    @Test
    void targetsTheRelayNeverSentOnThatConnectionAreRefusedWithCantcirc() throws Exception {
        Line m = new Line(LegacyCRelay.SpanCopy.C_STRUCT_COPY);
        int cBase = m.relay.openStates(m.toX);
        int xBase = onLoop(m.xLink, m.xLink::stats).openTransactions();
        List<Long> targets = List.of(
            0xdeadbeefL,                    // nothing C ever sent
            m.toX.connMsgid(),              // a transaction C sent X, but its LNK_CONN, not a SPAN
            m.toZ.spansSent().get(0));      // a SPAN C sent, but to Z: looked up on X's connection only
        for (long target : targets) {
            Recorder r = new Recorder();
            m.xLink.open(Dmsg.LNK_CIRC, new LnkCirc(0, target), null, (t, msg) -> {
                r.onMessage(t, msg);
                if (msg.isDelete()) {
                    t.close(); // our DELETE: C frees its half-closed state
                }
            });
            Got g = r.next();
            assertThat(g.cmd).as("target %x", target).isEqualTo(Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY);
            assertThat(g.error).isEqualTo(Dmsg.ERR_CANTCIRC);
        }
        assertThat(m.relay.stats().cantcircSent()).isEqualTo(3);
        WAIT.untilCall(() -> m.relay.openStates(m.toX) == cBase
            && onLoop(m.xLink, m.xLink::stats).openTransactions() == xBase, "no half-closed LNK_CIRC left at C or X");
        assertThat(m.relay.circuitCount()).isZero();
        assertThat(m.relay.stats().circuitsForged()).isZero();
        assertThat(m.relay.stats().cBugsAvoided()).isZero();
        assertThat(m.x.mesh().circuits()).isEmpty();
        assertNoViolations(m.xLink, m.zLink);
    }

    /** (d) and (e) */
    @Test
    void cuttingTheRelaysLinkToZAbortsEveryTransactionOnceAtBothEndsAndXReopensOnceZIsBack() throws Exception {
        Line m = new Line(LegacyCRelay.SpanCopy.C_STRUCT_COPY);
        int xBase = onLoop(m.xLink, m.xLink::stats).openTransactions();
        CircuitHandle c = m.x.mesh().openCircuit(m.zKey, Duration.ofSeconds(5)).get(T.toSeconds(), TimeUnit.SECONDS);
        AtomicInteger lostCalls = new AtomicInteger();
        c.onLost(why -> lostCalls.incrementAndGet());

        // Held open at both ends: two of X's (one mid-stream), one of Z's.
        Recorder x1 = new Recorder();
        c.open(ECHO, null, text("x1"), x1);
        assertThat(x1.next().aux).isEqualTo("x1");
        Recorder x2 = new Recorder();
        Transaction t2 = c.open(ECHO, null, text("x2"), x2);
        t2.send(ECHO, null, text("x2 more"));
        assertThat(List.of(x2.next().aux, x2.next().aux)).containsExactly("x2", "x2 more");
        Recorder z1 = new Recorder();
        m.zLink.open(m.zCircuitId(), ECHO, null, text("z1"), z1);
        assertThat(z1.next().aux).isEqualTo("z1");
        Link oldZLink = m.zLink;

        m.relay.cut(m.toZ);
        assertThat(m.toZ.lost().get(T.toSeconds(), TimeUnit.SECONDS)).isEqualTo(LegacyCRelay.IOQ_ERROR_EOF);

        for (Recorder r : List.of(x1, x2, z1)) {
            Got abort = r.next();
            assertThat(abort.cmd & (Dmsg.ABORT | Dmsg.DELETE)).isEqualTo(Dmsg.ABORT | Dmsg.DELETE);
            assertThat(abort.cmd & Dmsg.BASECMDMASK).isEqualTo(Dmsg.LNK_ERROR);
            assertThat(abort.error).isEqualTo(Dmsg.ERR_LOSTLINK);
        }
        assertThat(c.lostFuture().get(T.toSeconds(), TimeUnit.SECONDS)).isNotEmpty();
        oldZLink.closeFuture().get(T.toSeconds(), TimeUnit.SECONDS);
        WAIT.untilCall(() -> m.x.mesh().circuits().isEmpty() && m.z.mesh().circuits().isEmpty()
            && m.relay.circuitCount() == 0, "no circuit left at X, C or Z");
        // X's link: our CONN, C's CONN and our span to C; zulu's span from C is gone with the cut.
        WAIT.untilCall(() -> onLoop(m.xLink, m.xLink::stats).openTransactions() == xBase - 1, "X's link is back to CONN and SPAN");
        assertThat(onLoop(oldZLink, oldZLink::stats).openTransactions()).isZero();
        assertThat(nodeSpan(m.x.status(), "zulu")).isNull();
        // C's circB: its rx side closed by the simulated abort, its tx side only by X's DELETE on
        // circA — libdmsg's link-loss loop would have slept and retried on it until then.
        assertThat(m.relay.stats().teardownStalls()).isEqualTo(1);

        // (e) X asks again at once (no path now: it waits), then Z comes back.
        CompletableFuture<CircuitHandle> again = m.x.mesh().openCircuit(m.zKey, T);
        m.connectZ();
        CircuitHandle c2 = again.get(T.toSeconds(), TimeUnit.SECONDS);
        assertThat(c2.id()).isNotEqualTo(c.id());
        assertThat(c2.hops()).isEqualTo(2);
        Recorder r = new Recorder();
        c2.open(ECHO | Dmsg.DELETE, null, text("again"), r);
        assertThat(r.next().aux).isEqualTo("again");
        Recorder fromZ = new Recorder();
        m.zLink.open(m.zCircuitId(), ECHO | Dmsg.DELETE, null, text("again from z"), fromZ);
        assertThat(fromZ.next().aux).isEqualTo("again from z");

        // Exactly once: nothing more reached the old transactions or the old handle since.
        for (Recorder old : List.of(x1, x2, z1)) {
            assertThat(old.all).filteredOn(Got::isDelete).hasSize(1);
        }
        assertThat(lostCalls).hasValue(1);
        LegacyCRelay.Stats s = m.relay.stats();
        assertThat(s.unknownCircuit()).isZero();
        assertThat(s.cBugsAvoided()).isZero();
        assertThat(s.violations()).isZero();
        assertNoViolations(m.xLink, oldZLink, m.zLink);
    }

    /**
     * The other side of §2.7: the originator's connection is cut. C's simulated abort on circA
     * closes circB toward Z with C's local EOF code (leaked onto the wire); Z's endpoint takes it as
     * the end of the circuit and every transaction on it at Z gets one LOSTLINK.
     */
    @Test
    void cuttingTheRelaysLinkToXClosesTheCircuitAtZWithCsLocalCode() throws Exception {
        Line m = new Line(LegacyCRelay.SpanCopy.C_STRUCT_COPY);
        CircuitHandle c = m.x.mesh().openCircuit(m.zKey, Duration.ofSeconds(5)).get(T.toSeconds(), TimeUnit.SECONDS);
        Recorder x1 = new Recorder();
        c.open(ECHO, null, text("x1"), x1);
        assertThat(x1.next().aux).isEqualTo("x1");
        Recorder z1 = new Recorder();
        m.zLink.open(m.zCircuitId(), ECHO, null, text("z1"), z1);
        assertThat(z1.next().aux).isEqualTo("z1");
        int zBase = onLoop(m.zLink, m.zLink::stats).openTransactions();

        m.relay.cut(m.toX);
        assertThat(m.toX.lost().get(T.toSeconds(), TimeUnit.SECONDS)).isEqualTo(LegacyCRelay.IOQ_ERROR_EOF);
        for (Recorder r : List.of(x1, z1)) {
            Got abort = r.next();
            assertThat(abort.cmd & (Dmsg.ABORT | Dmsg.DELETE)).isEqualTo(Dmsg.ABORT | Dmsg.DELETE);
            assertThat(abort.error).isEqualTo(Dmsg.ERR_LOSTLINK);
        }
        c.lostFuture().get(T.toSeconds(), TimeUnit.SECONDS);
        WAIT.untilCall(() -> m.x.mesh().circuits().isEmpty() && m.z.mesh().circuits().isEmpty()
            && m.relay.circuitCount() == 0, "no circuit left at X, C or Z");
        // Z's link: the LNK_CIRC, z1 and X's x1 are gone; xray's span too.
        WAIT.untilCall(() -> onLoop(m.zLink, m.zLink::stats).openTransactions() == zBase - 4, "Z's link is back to CONN and SPAN");
        assertThat(m.relay.stats().teardownStalls()).isEqualTo(1); // circA, until Z's DELETE|REPLY
        assertThat(m.relay.stats().cBugsAvoided()).isZero();
        assertNoViolations(m.zLink);
        assertThat(x1.all).filteredOn(Got::isDelete).hasSize(1);
        assertThat(z1.all).filteredOn(Got::isDelete).hasSize(1);
    }

    /**
     * DELETE from the far end: Z withdraws the span a circuit ends on, so its endpoint closes the
     * LNK_CIRC (LOSTLINK); C, which never tears circuits down on span changes itself, passes that
     * close on to X with the same error ({@code dmsg_lnk_circ}, REPLY|DELETE case).
     */
    @Test
    void zWithdrawingTheSpanACircuitEndsOnClosesItThroughTheRelay() throws Exception {
        Line m = new Line(LegacyCRelay.SpanCopy.C_STRUCT_COPY);
        UUID nil = new UUID(0, 0);
        LnkSpan disk = new LnkSpan(nil, nil, Dmsg.PFSTYPE_SERVER, Dmsg.PEER_BLOCK, Dmsg.SPAN_PROTO_1, 0, 0, 0, 0,
            1L << 30, 512, "zulu/disk0", "serial-1");
        SpanEngine.SpanLink handle = m.z.advertise(disk).get(T.toSeconds(), TimeUnit.SECONDS);
        WAIT.untilCall(() -> nodeSpan(m.x.status(), "serial-1") != null, "X sees Z's disk");
        CircuitHandle c = m.x.mesh().openCircuit(m.x.resolve("serial-1"), Duration.ofSeconds(5))
            .get(T.toSeconds(), TimeUnit.SECONDS);
        Recorder held = new Recorder();
        c.open(ECHO, null, text("held"), held);
        assertThat(held.next().aux).isEqualTo("held");

        m.z.withdraw(handle);
        Got abort = held.next();
        assertThat(abort.cmd & (Dmsg.ABORT | Dmsg.DELETE)).isEqualTo(Dmsg.ABORT | Dmsg.DELETE);
        assertThat(abort.error).isEqualTo(Dmsg.ERR_LOSTLINK);
        assertThat(c.lostFuture().get(T.toSeconds(), TimeUnit.SECONDS)).isNotEmpty();
        WAIT.untilCall(() -> m.x.mesh().circuits().isEmpty() && m.z.mesh().circuits().isEmpty()
            && m.relay.circuitCount() == 0, "no circuit left at X, C or Z");
        WAIT.untilCall(() -> nodeSpan(m.x.status(), "serial-1") == null, "C forgot the disk");
        assertThat(nodeSpan(m.x.status(), "zulu")).as("Z itself is still there").isNotNull();
        LegacyCRelay.Stats s = m.relay.stats();
        assertThat(s.cBugsAvoided()).isZero();
        assertThat(s.unknownCircuit()).isZero();
        assertThat(s.teardownStalls()).isZero();
        assertNoViolations(m.xLink, m.zLink);
        assertThat(held.all).filteredOn(Got::isDelete).hasSize(1);
    }

    /**
     * Legacy rules (docs/SECURITY.md §6, docs/PROFILE.md §4): the relay is a configured legacy peer, so
     * our link to it is plaintext, carries no LNK_AUTH and no PING, names the peer by address with
     * the configured role, and is not declared dead by the silence a C peer keeps (it never pings).
     */
    @Test
    void aLegacyLinkToTheRelayIsPlaintextWithoutAuthOrPingAndSurvivesSilence() throws Exception {
        LegacyCRelay relay = new LegacyCRelay();
        relays.add(relay);
        // PING after 100 ms idle, dead after 1 s of silence: a TLS link would have pinged ~20 times
        // over the 2 s below, and a silent peer would be dead twice over.
        Node x = start("xray", Duration.ofMillis(100), Duration.ofSeconds(1), "127.0.0.1:" + relay.port() + "=member");
        Link l = x.endpoint().connect("127.0.0.1", relay.port()).get(T.toSeconds(), TimeUnit.SECONDS);
        assertThat(l.peer().name()).isEqualTo("legacy@127.0.0.1");
        assertThat(l.peer().role()).isEqualTo(Role.MEMBER);
        long t0 = System.nanoTime();
        WAIT.untilCall(() -> System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(2), "two dead timeouts of silence");
        assertThat(l.state()).isEqualTo(LinkState.UP);
        LinkStats st = onLoop(l, l::stats);
        assertThat(st.pingsSent()).isZero();
        assertThat(relay.stats().pingsReceived()).isZero();
        assertThat(st.violationCount()).isZero();
    }

    /**
     * docs/LEGACY.md: a C node in the middle of a circuit carrying BLK — X reads and writes Z's
     * export through the relay, which forwards every BLK message untouched and is sent nothing it
     * would not survive (the strict relay fails the test otherwise, at close).
     */
    @Test
    void blkTrafficCrossesTheRelayInTheMiddleOfACircuit() throws Exception {
        Path disk = tmp.resolve("disk0.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(8 << 20);
        }
        // Through a 2013 relay the originator cannot be authenticated: Z sees the relay's configured role.
        Line m = new Line(LegacyCRelay.SpanCopy.C_STRUCT_COPY, Node.Export.of("disk0", disk).withAllow("member"));
        WAIT.untilCall(() -> {
            for (JsonNode sp : m.x.status().get("spans")) {
                if (sp.get("cl_label").asText().equals("zulu/disk0")) {
                    return true;
                }
            }
            return false;
        }, "X sees zulu/disk0 through the relay");
        long forwardedBefore = m.relay.stats().forwarded();
        var d = BlkClient.open(m.x.mesh(), "zulu/disk0", true,
            RemoteBlockDevice.Options.defaults()).get(T.toSeconds(), TimeUnit.SECONDS);
        byte[] data = new byte[1 << 20]; // 16 requests of 64 KiB, several in flight at once
        new Random(14).nextBytes(data);
        try {
            d.write(4096, Unpooled.wrappedBuffer(data), false).get(T.toSeconds(), TimeUnit.SECONDS);
            d.flush().get(T.toSeconds(), TimeUnit.SECONDS);
            ByteBuf back = d.read(4096, data.length).get(T.toSeconds(), TimeUnit.SECONDS);
            try {
                byte[] got = new byte[data.length];
                back.getBytes(back.readerIndex(), got);
                assertThat(Arrays.equals(got, data)).as("1 MiB read back through the C relay").isTrue();
            } finally {
                back.release();
            }
        } finally {
            d.close();
        }
        byte[] onDisk = new byte[data.length];
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "r")) {
            f.seek(4096);
            f.readFully(onDisk);
        }
        assertThat(Arrays.equals(onDisk, data)).as("Z's file holds what X wrote").isTrue();
        LegacyCRelay.Stats s = m.relay.stats();
        assertThat(s.forwarded() - forwardedBefore).as("BLK messages the relay forwarded").isGreaterThanOrEqualTo(32);
        assertThat(s.circuitsForged()).isEqualTo(1);
        assertThat(m.relay.crashInputs()).isEmpty();
        assertNoViolations(m.xLink, m.zLink);
    }

    /**
     * docs/LEGACY.md §1: a plaintext node that was not told the relay is a 2013 node finds out from
     * its LNK_CONN (no marker of ours), and from then on sends it no PING (the strict relay would
     * fail the test at close) and does not take its silence for death.
     */
    @Test
    void aPlaintextNodeTakesAPeerWithoutOurMarkerForA2013NodeAndNeverPingsIt() throws Exception {
        LegacyCRelay relay = new LegacyCRelay();
        relays.add(relay);
        Node x = cluster.start(Node.Settings.builder("127.0.0.1", 0, tmp.resolve("xray"), TestCluster.identity("xray"))
            .pingInterval(Duration.ofMillis(100)).deadTimeout(Duration.ofSeconds(1))
            .security(Security.plaintextForTests()).build());
        Link l = x.endpoint().connect("127.0.0.1", relay.port()).get(T.toSeconds(), TimeUnit.SECONDS);
        WAIT.untilCall(l::legacyPeer, "the link is taken for a 2013 peer");
        long t0 = System.nanoTime();
        WAIT.untilCall(() -> System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(2), "two dead timeouts of silence");
        assertThat(l.state()).isEqualTo(LinkState.UP);
        assertThat(onLoop(l, l::stats).pingsSent()).isZero();
        assertThat(relay.stats().pingsReceived()).isZero();
        assertThat(relay.crashInputs()).isEmpty();
    }

    /** A relay that zeroes the reserved fields instead of copying them: spans without our extension, circuits alike. */
    @Test
    void aRelayThatZeroesReservedFieldsCarriesCircuitsToo() throws Exception {
        Line m = new Line(LegacyCRelay.SpanCopy.ZERO_RESERVED);
        JsonNode zulu = nodeSpan(m.x.status(), "zulu");
        assertThat(zulu.get("dist").asInt()).isEqualTo(1);
        assertThat(zulu.get("links").get(0).has("seqno")).as("no extension: C rules").isFalse();
        CircuitHandle c = m.x.mesh().openCircuit(m.zKey, Duration.ofSeconds(5)).get(T.toSeconds(), TimeUnit.SECONDS);
        Recorder r = new Recorder();
        c.open(ECHO | Dmsg.DELETE, null, text("plain"), r);
        assertThat(r.next().aux).isEqualTo("plain");
        c.close();
        WAIT.untilCall(() -> m.relay.circuitCount() == 0 && m.z.mesh().circuits().isEmpty(), "the circuit is gone everywhere");
        assertNoViolations(m.xLink, m.zLink);
    }

    // ------------------------------------------------------------------------------------------

    /** What a handler saw, without holding the message's buffer. */
    record Got(int cmd, int error, String aux) {
        boolean isDelete() {
            return (cmd & Dmsg.DELETE) != 0;
        }

        boolean isAbort() {
            return (cmd & Dmsg.ABORT) != 0;
        }
    }

    /** Records every message of one transaction. */
    static final class Recorder implements TransactionHandler {
        final BlockingQueue<Got> queue = new LinkedBlockingQueue<>();
        final List<Got> all = Collections.synchronizedList(new ArrayList<>());

        @Override
        public void onMessage(Transaction txn, Message m) {
            Got g = new Got(m.cmd(), m.error(), m.auxBytes() == 0 ? "" : m.auxString());
            all.add(g);
            queue.add(g);
        }

        Got next() throws InterruptedException {
            Got g = queue.poll(T.toSeconds(), TimeUnit.SECONDS);
            assertThat(g).as("a message within %s", T).isNotNull();
            return g;
        }
    }

    static ByteBuf text(String s) {
        return Unpooled.copiedBuffer(s + "\0", StandardCharsets.UTF_8);
    }

    static void assertNoViolations(Link... links) throws Exception {
        for (Link l : links) {
            LinkStats s = onLoop(l, l::stats);
            assertThat(s.violationCount()).as("violations on %s: %s", l, s.violations()).isZero();
            assertThat(s.handlerErrors()).as("handler errors on %s", l).isZero();
        }
    }

    /** Runs {@code s} on the link's event loop, where its counters are exact. */
    static <V> V onLoop(Link l, Supplier<V> s) throws Exception {
        CompletableFuture<V> f = new CompletableFuture<>();
        l.execute(() -> {
            try {
                f.complete(s.get());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        });
        return f.get(T.toSeconds(), TimeUnit.SECONDS);
    }
}
