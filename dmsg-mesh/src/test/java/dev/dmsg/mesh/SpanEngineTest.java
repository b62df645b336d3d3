package dev.dmsg.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.FakeClock;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The relay rules of docs/REFERENCE.md §3.4 with docs/PROFILE.md §5's departures, on ports that record what the
 * engine asks them to send.
 */
class SpanEngineTest {
    static final UUID NIL = new UUID(0, 0);
    static final int R = 0x1000;
    final FakeClock clock = new FakeClock();

    /** A link as the engine sees it; records "open <fs> d<dist>", "close …", "update …", "request …". */
    static final class RecPort implements Port {
        final String name;
        final boolean ext;
        final List<String> log = new ArrayList<>();
        final List<SpanEngine.Relay> open = new ArrayList<>();

        RecPort(String name, boolean ext) {
            this.name = name;
            this.ext = ext;
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
        public void openRelay(SpanEngine.Relay r) {
            open.add(r);
            log.add("open " + r.span().fsLabel() + " d" + r.span().dist() + seq(r.span()));
        }

        @Override
        public void closeRelay(SpanEngine.Relay r) {
            open.remove(r);
            log.add("close " + r.span().fsLabel() + " d" + r.span().dist());
        }

        @Override
        public void updateRelay(SpanEngine.Relay r) {
            log.add("update " + r.span().fsLabel() + " d" + r.span().dist() + seq(r.span()));
        }

        @Override
        public void requestSeqno(SpanEngine.SpanLink link, LnkSpan request) {
            log.add("request " + request.fsLabel() + seq(request));
        }

        static String seq(LnkSpan s) {
            SpanExt e = SpanExt.of(s);
            return e == null ? "" : " s" + e.seqno();
        }

        List<String> take() {
            List<String> out = new ArrayList<>(log);
            log.clear();
            return out;
        }

        SpanEngine.Relay relayOf(String fs) {
            return open.stream().filter(r -> r.span().fsLabel().equals(fs)).findFirst().orElseThrow();
        }
    }

    SpanEngine engine(MeshConfig c) {
        return new SpanEngine(c, clock::nanoTime, R, 0x77);
    }

    static LnkSpan span(String fs, int dist) {
        return span(fs, dist, Dmsg.PEER_HAMMER2, Dmsg.PFSTYPE_MASTER, "cl");
    }

    static LnkSpan span(String fs, int dist, int peerType, int pfsType, String cl) {
        return new LnkSpan(NIL, NIL, pfsType, peerType, 1, 0, 0, dist, 5, 0, 0, cl, fs);
    }

    /** A span from an extension-aware origin {@code origin} with {@code seqno}. */
    static LnkSpan ext(String fs, int dist, int origin, int seqno) {
        return new SpanExt(0, seqno, origin).applyTo(span(fs, dist));
    }

    static LnkConn conn() {
        return new LnkConn(NIL, NIL, NIL, -1L, Dmsg.PEER_CLUSTER, Dmsg.PFSTYPE_NONE, 1, 0, 0, 0, -1L, "", "peer");
    }

    static LnkConn conn(long peerMask, long pfsMask, int peerType, int pfsType, String cl) {
        return new LnkConn(NIL, NIL, NIL, peerMask, peerType, pfsType, 1, 0, 0, 0, pfsMask, cl, "peer");
    }

    @Test
    void aReceivedSpanIsRelayedToEveryOtherConnWithDistPlusOneAndRnssPlusR() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort a = new RecPort("a", false);
        RecPort b = new RecPort("b", false);
        RecPort c = new RecPort("c", false);
        e.connUp(a, conn());
        e.connUp(b, conn());
        e.connUp(c, conn());
        e.spanReceived(a, span("x", 3), "t1");
        assertThat(a.take()).isEmpty(); // split horizon
        assertThat(b.take()).containsExactly("open x d4");
        assertThat(c.take()).containsExactly("open x d4");
        assertThat(b.relayOf("x").span().rnss()).isEqualTo(5 + R);
    }

    @Test
    void aConnThatComesUpLaterGetsWhatIsAlreadyKnown() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort a = new RecPort("a", false);
        RecPort b = new RecPort("b", false);
        e.spanReceived(a, span("x", 0), "t1");
        e.spanReceived(a, span("y", 1), "t2");
        e.connUp(b, conn());
        assertThat(b.take()).containsExactly("open x d1", "open y d2");
    }

    @Test
    void maxDist16IsRelayedAs17AndNoFurther() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort a = new RecPort("a", false);
        RecPort b = new RecPort("b", false);
        e.connUp(b, conn());
        e.spanReceived(a, span("x", 16), "t1");
        e.spanReceived(a, span("y", 17), "t2");
        assertThat(b.take()).containsExactly("open x d17");
    }

    @Test
    void filtersOfTheReceivingPeersConn() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort a = new RecPort("a", false);
        RecPort onlyBlock = new RecPort("peer-mask", false);
        RecPort onlyServer = new RecPort("pfs-mask", false);
        RecPort client = new RecPort("client", false);
        RecPort cluster = new RecPort("cl-label", false);
        e.connUp(onlyBlock, conn(1L << Dmsg.PEER_BLOCK, -1L, Dmsg.PEER_CLUSTER, 0, ""));
        e.connUp(onlyServer, conn(-1L, 1L << Dmsg.PFSTYPE_SERVER, Dmsg.PEER_CLUSTER, 0, ""));
        e.connUp(client, conn(-1L, -1L, Dmsg.PEER_BLOCK, Dmsg.PFSTYPE_CLIENT, ""));
        e.connUp(cluster, conn(-1L, -1L, Dmsg.PEER_HAMMER2, 0, "mine"));
        e.spanReceived(a, span("disk", 0, Dmsg.PEER_BLOCK, Dmsg.PFSTYPE_SERVER, "h/da0"), "t1");
        e.spanReceived(a, span("xdisk", 0, Dmsg.PEER_BLOCK, Dmsg.PFSTYPE_CLIENT, "h/da0"), "t2");
        e.spanReceived(a, span("pfs", 0, Dmsg.PEER_HAMMER2, Dmsg.PFSTYPE_MASTER, "other"), "t3");
        e.spanReceived(a, span("mine", 0, Dmsg.PEER_HAMMER2, Dmsg.PFSTYPE_MASTER, "mine"), "t4");
        assertThat(onlyBlock.take()).containsExactly("open disk d1", "open xdisk d1");
        assertThat(onlyServer.take()).containsExactly("open disk d1");
        assertThat(client.take()).as("clients never see clients")
            .containsExactly("open disk d1", "open pfs d1", "open mine d1");
        assertThat(cluster.take()).as("cl_label when the peer types match")
            .containsExactly("open disk d1", "open xdisk d1", "open mine d1");
    }

    @Test
    void pfsClidFilterWhenThePeerTypesMatch() {
        SpanEngine e = engine(MeshConfig.defaults());
        UUID clid = UUID.fromString("ce9802fd-1234-4567-89ab-deadbeef0001");
        RecPort a = new RecPort("a", false);
        RecPort b = new RecPort("b", false);
        e.connUp(b, new LnkConn(NIL, clid, NIL, -1L, Dmsg.PEER_HAMMER2, 0, 1, 0, 0, 0, -1L, "", "b"));
        e.spanReceived(a, new LnkSpan(clid, NIL, 1, Dmsg.PEER_HAMMER2, 1, 0, 0, 0, 0, 0, 0, "", "same"), "t1");
        e.spanReceived(a, new LnkSpan(NIL, NIL, 1, Dmsg.PEER_HAMMER2, 1, 0, 0, 0, 0, 0, 0, "", "other"), "t2");
        assertThat(b.take()).containsExactly("open same d1");
    }

    @Test
    void topNRelaysTheNBestEqualPathsAndTheCAlgorithmOnlyOne() {
        for (MeshConfig c : List.of(MeshConfig.defaults(), MeshConfig.cAlgorithm())) {
            SpanEngine e = engine(c);
            RecPort[] from = {new RecPort("a", false), new RecPort("b", false), new RecPort("c", false)};
            RecPort out = new RecPort("out", false);
            e.connUp(out, conn());
            for (RecPort p : from) {
                e.spanReceived(p, span("x", 2), p.name);
            }
            assertThat(out.take()).hasSize(c.topN());
        }
    }

    @Test
    void aBetterPathOpensANewRelayBeforeClosingTheOld() {
        SpanEngine e = engine(MeshConfig.cAlgorithm());
        RecPort a = new RecPort("a", false);
        RecPort b = new RecPort("b", false);
        RecPort out = new RecPort("out", false);
        e.connUp(out, conn());
        e.spanReceived(a, span("x", 5), "t1");
        assertThat(out.take()).containsExactly("open x d6");
        e.spanReceived(b, span("x", 2), "t2");
        assertThat(out.take()).containsExactly("open x d3", "close x d6"); // make before break
    }

    @Test
    void withdrawalCascadesAndTheNodeGoes() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort a = new RecPort("a", false);
        RecPort b = new RecPort("b", false);
        e.connUp(b, conn());
        SpanEngine.SpanLink l = e.spanReceived(a, span("x", 1), "t1");
        b.take();
        e.spanDeleted(l);
        assertThat(b.take()).containsExactly("close x d2");
        assertThat(e.nodeCount()).isZero();
        e.spanDeleted(l); // twice: nothing
        assertThat(b.take()).isEmpty();
    }

    @Test
    void connDownClosesItsRelaysAndAPeerClosedRelayIsNotReopenedAtOnce() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort a = new RecPort("a", false);
        RecPort b = new RecPort("b", false);
        e.connUp(b, conn());
        e.spanReceived(a, span("x", 1), "t1");
        e.spanReceived(a, span("y", 1), "t2");
        SpanEngine.Relay rx = b.relayOf("x");
        b.take();
        e.relayClosed(rx);
        assertThat(b.take()).isEmpty();
        e.connDown(b);
        assertThat(b.take()).containsExactly("close y d2");
        assertThat(e.nodeCount()).isEqualTo(2);
    }

    @Test
    void ourOwnAdvertisementGoesOutAtDistZeroAndItsEchoesAreNotRelayed() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort a = new RecPort("a", true);
        RecPort b = new RecPort("b", true);
        e.connUp(a, conn());
        e.connUp(b, conn());
        SpanEngine.SpanLink me = e.advertise(span("me", 7));
        assertThat(a.take()).containsExactly("open me d0 s1");
        assertThat(b.take()).containsExactly("open me d0 s1");
        e.spanReceived(a, ext("me", 2, 0x77, 1), "echo"); // our span, back through a ring
        assertThat(b.take()).isEmpty();
        assertThat(e.isLocal(NodeKey.of(span("me", 0)))).isTrue();
        e.withdraw(me);
        assertThat(a.take()).containsExactly("close me d0");
    }

    /**
     * A ring's tail-chase (docs/MESH.md): after the best path is withdrawn, a worse path that is
     * not feasible is neither used nor relayed; a seqno request goes toward the origin, and the
     * newer seqno makes the worse path usable.
     */
    @Test
    void anUnfeasiblePathWaitsForANewerSeqno() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort near = new RecPort("near", true);
        RecPort far = new RecPort("far", true);
        RecPort out = new RecPort("out", true);
        e.connUp(out, conn());
        SpanEngine.SpanLink best = e.spanReceived(near, ext("x", 1, 9, 4), "t1");
        SpanEngine.SpanLink worse = e.spanReceived(far, ext("x", 3, 9, 4), "t2");
        assertThat(out.take()).containsExactly("open x d2 s4");
        assertThat(e.bestDist(NodeKey.of(span("x", 0)))).isEqualTo(1);

        e.spanDeleted(best);
        assertThat(out.take()).containsExactly("close x d2");
        assertThat(far.take()).containsExactly("request x s5");
        assertThat(e.nextHop(NodeKey.of(span("x", 0)))).isNull();

        e.spanUpdated(worse, ext("x", 3, 9, 5));
        assertThat(out.take()).containsExactly("open x d4 s5");
        assertThat(e.nextHop(NodeKey.of(span("x", 0)))).isSameAs(far);
    }

    @Test
    void anUnansweredRequestIsRepeatedAfterTheHoldAndNeverSentToACPeer() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort near = new RecPort("near", true);
        RecPort far = new RecPort("far", true);
        RecPort legacy = new RecPort("legacy", false);
        RecPort out = new RecPort("out", true);
        e.connUp(out, conn());
        SpanEngine.SpanLink best = e.spanReceived(near, ext("x", 0, 9, 1), "t1");
        e.spanReceived(legacy, ext("x", 1, 9, 1), "t2");
        e.spanReceived(far, ext("x", 2, 9, 1), "t3");
        e.spanDeleted(best);
        assertThat(legacy.take()).isEmpty();
        assertThat(far.take()).containsExactly("request x s2");
        clock.advanceMillis(500);
        e.tick(clock.nanoTime());
        assertThat(far.take()).isEmpty();
        clock.advanceMillis(500);
        e.tick(clock.nanoTime());
        assertThat(far.take()).containsExactly("request x s2");
    }

    @Test
    void theOriginRaisesItsSeqnoOnRequestAndUpdatesItsSpansInPlace() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort a = new RecPort("a", true);
        RecPort c = new RecPort("c", false);
        e.connUp(a, conn());
        e.connUp(c, conn());
        e.advertise(span("me", 0));
        a.take();
        c.take();
        e.seqnoRequested(a.relayOf("me"), new SpanExt(SpanExt.SEQREQ, 7, 0x77).applyTo(span("me", 0)));
        assertThat(a.take()).containsExactly("update me d0 s7");
        assertThat(c.take()).as("a C peer gets no updates").isEmpty();
        assertThat(e.counters().seqnoBumps).isEqualTo(1);
    }

    @Test
    void aRelayForwardsARequestTowardTheOriginOncePerHold() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort up = new RecPort("up", true);
        RecPort down = new RecPort("down", true);
        e.connUp(down, conn());
        e.spanReceived(up, ext("x", 1, 9, 3), "t1");
        SpanEngine.Relay r = down.relayOf("x");
        LnkSpan req = new SpanExt(SpanExt.SEQREQ, 4, 9).applyTo(span("x", 2));
        e.seqnoRequested(r, req);
        e.seqnoRequested(r, req);
        assertThat(up.take()).containsExactly("request x s4");
        e.seqnoRequested(r, new SpanExt(SpanExt.SEQREQ, 3, 9).applyTo(span("x", 2)));
        assertThat(up.take()).as("already have seqno 3: no forwarding").isEmpty();
    }

    @Test
    void spansFromCOriginsFollowTheCRules() {
        SpanEngine e = engine(MeshConfig.defaults());
        RecPort near = new RecPort("near", false);
        RecPort far = new RecPort("far", false);
        RecPort out = new RecPort("out", false);
        e.connUp(out, conn());
        SpanEngine.SpanLink best = e.spanReceived(near, span("x", 1), "t1");
        e.spanReceived(far, span("x", 3), "t2");
        assertThat(out.take()).containsExactly("open x d2", "open x d4");
        e.spanDeleted(best);
        assertThat(out.take()).containsExactly("close x d2");
    }

    @Test
    void aFeasibilityDistanceIsForgottenAfterTheHold() {
        SpanEngine e = engine(MeshConfig.defaults().withFdHold(Duration.ofSeconds(60)));
        RecPort near = new RecPort("near", false);
        RecPort far = new RecPort("far", false);
        RecPort out = new RecPort("out", false);
        e.connUp(out, conn());
        SpanEngine.SpanLink best = e.spanReceived(near, ext("x", 1, 9, 1), "t1");
        e.spanReceived(far, ext("x", 4, 9, 1), "t2");
        e.spanDeleted(best);
        out.take();
        clock.advance(59, TimeUnit.SECONDS);
        e.tick(clock.nanoTime());
        assertThat(out.take()).isEmpty();
        clock.advance(1, TimeUnit.SECONDS);
        e.tick(clock.nanoTime());
        assertThat(out.take()).containsExactly("open x d5 s1");
        assertThat(e.counters().fdExpired).isEqualTo(1);
    }
}
