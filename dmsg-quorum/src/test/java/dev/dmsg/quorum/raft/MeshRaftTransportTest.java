package dev.dmsg.quorum.raft;

import static dev.dmsg.quorum.raft.RaftTestCluster.GROUP;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.QrmHeader;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * QRM_RAFT on the wire (docs/QUORUM.md §5), without Ratis: alpha and beta on TLS, beta serving an
 * echo handler that says who it thinks asked. Large requests and replies travel in chunks and
 * arrive whole; the originator is the circuit's; every malformed, oversized or over-budget request
 * is ended with its error code and a reason naming the rule; a call to a member with no path fails
 * at once with an IOException.
 */
@ExtendWith(LeakDetector.class)
@Timeout(60)
class MeshRaftTransportTest {
    final MeshTestNet net = new MeshTestNet();
    MeshTestNet.Node alpha;
    MeshTestNet.Node beta;
    final AtomicInteger served = new AtomicInteger();

    @BeforeEach
    void start() throws Exception {
        net.line(List.of("alpha", "beta"));
        alpha = net.nodes.get("alpha");
        beta = net.nodes.get("beta");
        // the echo: the originator's label, then the request reversed, three times over (a longer reply)
        beta.transport.serve((group, origin, request) -> {
            served.incrementAndGet();
            byte[] rev = new byte[request.length * 3];
            for (int i = 0; i < rev.length; i++) {
                rev[i] = request[request.length - 1 - (i % request.length)];
            }
            byte[] who = (group + "/" + origin.label() + "/" + origin.role().word() + "|").getBytes();
            byte[] out = Arrays.copyOf(who, who.length + rev.length);
            System.arraycopy(rev, 0, out, who.length, rev.length);
            return CompletableFuture.completedFuture(out);
        });
    }

    @AfterEach
    void stop() {
        net.close();
    }

    @Test
    void aRequestOfManyChunksAndItsLongerReplyArriveWholeWithTheCircuitsOriginator() throws Exception {
        for (int size : new int[] {1, MeshRaftTransport.CHUNK_BYTES, MeshRaftTransport.CHUNK_BYTES + 1, 300_000}) {
            byte[] req = new byte[size];
            new Random(size).nextBytes(req);
            byte[] reply = alpha.transport.call(GROUP, "beta", req).get(10, TimeUnit.SECONDS);
            String head = "g1/alpha/member|";
            assertThat(new String(reply, 0, head.length())).isEqualTo(head);
            assertThat(reply.length).isEqualTo(head.length() + 3 * size);
            for (int i = 0; i < 3 * size; i += 997) {
                assertThat(reply[head.length() + i]).isEqualTo(req[size - 1 - (i % size)]);
            }
        }
        assertThat(served.get()).isEqualTo(4);
    }

    @Test
    void aCallToTheNodeItselfIsServedByItsOwnHandlerAndAMemberWithNoPathFailsAtOnce() throws Exception {
        beta.transport.serve(null);
        alpha.transport.serve((g, o, r) -> CompletableFuture.completedFuture((o.label() + ":" + r.length).getBytes()));
        assertThat(new String(alpha.transport.call(GROUP, "alpha", new byte[5]).get(5, TimeUnit.SECONDS)))
            .isEqualTo("alpha:5");
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> alpha.transport.call(GROUP, "delta", new byte[5]).get(5, TimeUnit.SECONDS))
            .isInstanceOf(ExecutionException.class).cause().isInstanceOf(IOException.class)
            .hasMessageContaining("no path to node 'delta'");
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isLessThan(2000);
        // beta no longer serves: the request is answered NOSUPP, not left hanging
        assertThatThrownBy(() -> alpha.transport.call(GROUP, "beta", new byte[5]).get(5, TimeUnit.SECONDS))
            .cause().isInstanceOf(IOException.class).hasMessageContaining("NOSUPP")
            .hasMessageContaining("beta is not serving quorum group 'g1'");
        assertThatThrownBy(() -> alpha.transport.call(GROUP, "beta", new byte[MeshRaftTransport.MAX_MESSAGE_BYTES + 1])
            .get(5, TimeUnit.SECONDS)).cause().isInstanceOf(IOException.class).hasMessageContaining("over 4194304");
    }

    @Test
    void aCallItsCallerAbandonsEndsLocallyAndAtTheFarEndWhenItAnswers() throws Exception {
        List<CompletableFuture<byte[]>> unanswered = new ArrayList<>();
        beta.transport.serve((g, o, r) -> {
            if (r.length == 1) {
                return CompletableFuture.completedFuture(new byte[0]);
            }
            CompletableFuture<byte[]> f = new CompletableFuture<>();
            synchronized (unanswered) {
                unanswered.add(f);
            }
            return f;
        });
        assertThat(alpha.transport.call(GROUP, "beta", new byte[1]).get(10, TimeUnit.SECONDS)).isEmpty(); // circuit up
        Link atBeta = beta.endpoint.links().get(0);
        int before = atBeta.stats().openTransactions();
        for (int i = 0; i < 5; i++) {
            CompletableFuture<byte[]> f = alpha.transport.call(GROUP, "beta", new byte[10]).orTimeout(200, TimeUnit.MILLISECONDS);
            // another call answered meanwhile: the circuit carries, so it is kept
            assertThat(alpha.transport.call(GROUP, "beta", new byte[1]).get(10, TimeUnit.SECONDS)).isEmpty();
            assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS)).cause().isInstanceOf(TimeoutException.class);
        }
        Await.until(() -> atBeta.stats().openTransactions() == before + 5, Duration.ofSeconds(10),
            "the five abandoned calls wait for beta's answers");
        synchronized (unanswered) {
            assertThat(unanswered).hasSize(5);
            unanswered.forEach(f -> f.complete(new byte[3])); // late answers close them, and go nowhere
        }
        Await.until(() -> atBeta.stats().openTransactions() == before, Duration.ofSeconds(10),
            "beta's transactions of the abandoned calls are gone");
        assertThat(new String(alpha.transport.call(GROUP, "beta", new byte[1]).get(10, TimeUnit.SECONDS))).isEmpty();
        assertThat(alpha.transport.circuitsForged()).as("the one circuit was kept throughout").isEqualTo(1);
        assertThat(alpha.transport.silentCircuitsClosed()).isZero();
    }

    @Test
    void aCircuitOnWhichNothingComesBackIsClosedAndTheNextCallForgesAnother() throws Exception {
        List<CompletableFuture<byte[]>> unanswered = new ArrayList<>();
        beta.transport.serve((g, o, r) -> {
            if (r.length == 1) {
                return CompletableFuture.completedFuture(new byte[0]);
            }
            CompletableFuture<byte[]> f = new CompletableFuture<>(); // a far end that swallows requests
            synchronized (unanswered) {
                unanswered.add(f);
            }
            return f;
        });
        assertThat(alpha.transport.call(GROUP, "beta", new byte[1]).get(10, TimeUnit.SECONDS)).isEmpty();
        Link atBeta = beta.endpoint.links().get(0);
        int before = atBeta.stats().openTransactions();
        CompletableFuture<byte[]> lost = alpha.transport.call(GROUP, "beta", new byte[10]).orTimeout(200, TimeUnit.MILLISECONDS);
        assertThatThrownBy(() -> lost.get(10, TimeUnit.SECONDS)).cause().isInstanceOf(TimeoutException.class);
        // nothing came back on the circuit since that call went out: it is closed end to end, so
        // beta's side of the swallowed request ends too (LOSTLINK), not only when beta answers
        Await.until(() -> atBeta.stats().openTransactions() < before, Duration.ofSeconds(10),
            "beta's side of the circuit and of the swallowed request is gone");
        assertThat(alpha.transport.call(GROUP, "beta", new byte[1]).get(10, TimeUnit.SECONDS))
            .as("the next call forges a new circuit").isEmpty();
        synchronized (unanswered) {
            assertThat(unanswered).hasSize(1);
            unanswered.get(0).complete(new byte[3]); // the late answer goes nowhere and breaks nothing
        }
        assertThat(alpha.transport.call(GROUP, "beta", new byte[1]).get(10, TimeUnit.SECONDS)).isEmpty();
        assertThat(alpha.transport.silentCircuitsClosed()).isEqualTo(1);
        assertThat(alpha.transport.circuitsForged()).isEqualTo(2);
    }

    @Test
    void aLostCircuitFailsCallsAtOnceAndIsReforgedOnceThereIsAPathAgain() throws Exception {
        assertThat(alpha.transport.call(GROUP, "beta", new byte[2]).get(10, TimeUnit.SECONDS)).isNotEmpty();
        alpha.endpoint.links().get(0).close();
        // no path now: calls fail at once with an IOException, they do not wait for one
        Await.until(() -> {
            try {
                alpha.transport.call(GROUP, "beta", new byte[2]).get(2, TimeUnit.SECONDS);
                return false;
            } catch (ExecutionException e) {
                return e.getCause() instanceof IOException;
            } catch (Exception e) {
                return false;
            }
        }, Duration.ofSeconds(10), "a call to beta fails with an IOException once the link is gone");
        alpha.endpoint.connect("127.0.0.1", beta.bound.getPort()).get(10, TimeUnit.SECONDS);
        Await.until(() -> {
            try {
                return alpha.transport.call(GROUP, "beta", new byte[2]).get(2, TimeUnit.SECONDS).length > 0;
            } catch (Exception e) {
                return false;
            }
        }, Duration.ofSeconds(10), "a new circuit to beta once the link is back");
    }

    @Test
    void theFarEndMustBeThePeerAskedForAsAMemberOrAdmin() {
        assertThat(MeshRaftTransport.farEndProblem(new PeerIdentity("beta", "SHA256:x", Role.MEMBER, 0), "beta")).isNull();
        assertThat(MeshRaftTransport.farEndProblem(new PeerIdentity("beta", "SHA256:x", Role.ADMIN, 0), "beta")).isNull();
        assertThat(MeshRaftTransport.farEndProblem(new PeerIdentity("mallory", "SHA256:x", Role.MEMBER, 0), "beta"))
            .isEqualTo("is 'mallory'");
        assertThat(MeshRaftTransport.farEndProblem(new PeerIdentity("beta", "SHA256:x", Role.CLIENT, 0), "beta"))
            .isEqualTo("is 'beta' with the client role only");
        assertThat(MeshRaftTransport.farEndProblem(null, "beta")).isEqualTo("is not authenticated (a quorum needs TLS)");
    }

    /** What beta answered a raw transaction: the error code (0: none), the reason or reply bytes. */
    record Answer(int error, String text, int bytes) {}

    /** One message of a raw transaction: flags beyond QRM_RAFT, its header, its aux size. */
    record Part(int flags, QrmHeader header, int auxBytes) {}

    CompletableFuture<Answer> raw(CircuitHandle c, List<Part> parts) {
        CompletableFuture<Answer> f = new CompletableFuture<>();
        int[] got = new int[2];
        String[] text = {""};
        Transaction t = null;
        for (Part p : parts) {
            if (t == null) {
                t = c.open(Dmsg.QRM_RAFT | p.flags(), p.header(), Unpooled.wrappedBuffer(new byte[p.auxBytes()]), (txn, m) -> {
                    if (m.error() != 0 && got[0] == 0) {
                        got[0] = m.error();
                        text[0] = m.auxString();
                    }
                    if (m.error() == 0) {
                        got[1] += m.auxBytes();
                    }
                    if (m.isDelete()) {
                        f.complete(new Answer(got[0], text[0], got[1]));
                    }
                });
            } else {
                t.send(Dmsg.QRM_RAFT | p.flags(), p.header(), Unpooled.wrappedBuffer(new byte[p.auxBytes()]));
            }
        }
        return f;
    }

    static QrmHeader raft(int flags) {
        return QrmHeader.of(QrmHeader.RAFT, GROUP).withFlags(flags);
    }

    @Test
    void malformedRequestsAreEndedWithTheirErrorAndWhy() throws Exception {
        CircuitHandle c = alpha.mesh.openCircuit(QuorumIds.memberKey(GROUP, "beta")).get(10, TimeUnit.SECONDS);
        assertThat(raw(c, List.of(new Part(Dmsg.DELETE, new QrmHeader(2, QrmHeader.RAFT, 0, 0, 0, 0, 0, GROUP), 10)))
            .get(10, TimeUnit.SECONDS)).isEqualTo(new Answer(Dmsg.ERR_PARAM, "QRM header version 2 (this node speaks 1)", 0));
        assertThat(raw(c, List.of(new Part(Dmsg.DELETE, QrmHeader.of(QrmHeader.ADMIN, GROUP), 10)))
            .get(10, TimeUnit.SECONDS)).isEqualTo(new Answer(Dmsg.ERR_NOSUPP, "QRM_RAFT phase ADMIN, not RAFT", 0));
        assertThat(raw(c, List.of(new Part(0, raft(0), 10), new Part(Dmsg.DELETE, raft(0), 0)))
            .get(10, TimeUnit.SECONDS)).isEqualTo(new Answer(Dmsg.ERR_PARAM, "QRM_RAFT last chunk without DELETE", 0));
        assertThat(raw(c, List.of(new Part(Dmsg.DELETE, QrmHeader.of(QrmHeader.RAFT, "Bad Name"), 10)))
            .get(10, TimeUnit.SECONDS).text()).contains("quorum group name 'Bad Name'");
        // 70 chunks of 60 KiB: over 4 MiB before the last
        List<Part> huge = new ArrayList<>();
        for (int i = 0; i < 70; i++) {
            huge.add(new Part(i == 69 ? Dmsg.DELETE : 0, raft(i == 69 ? 0 : QrmHeader.MORE), MeshRaftTransport.CHUNK_BYTES));
        }
        Answer a = raw(c, huge).get(20, TimeUnit.SECONDS);
        assertThat(a.error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(a.text()).startsWith("QRM_RAFT message of more than 4194304 bytes");
        assertThat(served.get()).as("none of it reached the handler").isZero();
        // and the link still serves honest requests
        assertThat(alpha.transport.call(GROUP, "beta", new byte[3]).get(10, TimeUnit.SECONDS)).hasSize(16 + 9);
    }

    @Test
    void anOriginatorMayHaveOnlySoMuchBeingReassembledAtOnce() throws Exception {
        CircuitHandle c = alpha.mesh.openCircuit(QuorumIds.memberKey(GROUP, "beta")).get(10, TimeUnit.SECONDS);
        // three requests of 50 unfinished chunks each (2.9 MiB): the third passes 8 MiB
        List<Part> unfinished = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            unfinished.add(new Part(0, raft(QrmHeader.MORE), MeshRaftTransport.CHUNK_BYTES));
        }
        CompletableFuture<Answer> first = raw(c, unfinished);
        CompletableFuture<Answer> second = raw(c, unfinished);
        Answer third = raw(c, unfinished).get(20, TimeUnit.SECONDS);
        assertThat(third.error()).isEqualTo(Dmsg.ERR_LIMIT);
        assertThat(third.text()).contains("over 8388608 bytes of Raft requests from alpha being received at once");
        assertThat(first).isNotDone();
        assertThat(second).isNotDone();
        // when the circuit goes, the bytes held for it go too: a new circuit has the whole budget again
        c.close();
        assertThat(first.get(10, TimeUnit.SECONDS).error()).isEqualTo(Dmsg.ERR_LOSTLINK);
        CircuitHandle again = alpha.mesh.openCircuit(QuorumIds.memberKey(GROUP, "beta")).get(10, TimeUnit.SECONDS);
        List<Part> whole = new ArrayList<>(unfinished);
        whole.add(new Part(Dmsg.DELETE, raft(0), 1));
        Answer ok = raw(again, whole).get(20, TimeUnit.SECONDS);
        assertThat(ok.error()).isZero();
        assertThat(ok.bytes()).isEqualTo(16 + 3 * (50 * MeshRaftTransport.CHUNK_BYTES + 1));
    }
}
