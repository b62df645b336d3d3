package dev.dmsg.services.cac;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.quorum.QuorumException;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.CacHeader;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * CAC_LOCK through a quorum group of three TLS nodes in one JVM (docs/CAC.md), used from nodes
 * that are not members: a grant, a conflicting wait that asks the holder to make way, the hand-off
 * with a larger token, a holder whose link dies keeping its lock until its lease passes, a wait
 * that times out, the listing, and refusals on the originator's rights and on malformed requests.
 */
@Timeout(120)
@ExtendWith(LeakDetector.class)
class LockClusterTest {
    static final Duration T = Duration.ofSeconds(20);
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    CacheLocks locks(Node at, long owner) {
        return cluster.closing(new CacheLocks(at.mesh(), () -> at.endpoint().links(), "g", T, owner));
    }

    @Test
    void aConflictAsksTheHolderToMakeWayAndTheNextHolderGetsALargerToken() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node x = cluster.start("x");
        Node y = cluster.start("y");
        TestCluster.link(x, members.get(0));
        TestCluster.link(y, members.get(1));
        CacheLocks lx = locks(x, 1);
        CacheLocks ly = locks(y, 2);

        LockHandle first = lx.acquire("/vol/disk", CacDomain.INUM, CacState.EXCLUSIVE, CacheLocks.Options.defaults())
            .get(30, TimeUnit.SECONDS);
        assertThat(first.state()).isEqualTo(CacState.EXCLUSIVE);
        assertThat(first.token()).isPositive().isEqualTo(first.id());
        assertThat(first.waiting()).as("granted at once").isCompletedWithValue(0L);
        List<CacState> asked = new CopyOnWriteArrayList<>();
        first.onDowngradeRequested(asked::add);

        LockHandle request = ly.request("/vol/disk", CacDomain.INUM, CacState.SHARED, CacheLocks.Options.defaults())
            .get(30, TimeUnit.SECONDS);
        CompletableFuture<LockHandle> second = request.granted();
        assertThat(request.waiting().get(10, TimeUnit.SECONDS)).as("WAITING names the lock ahead").isEqualTo(first.id());
        cluster.await(() -> asked.contains(CacState.SHARED), "the holder is asked to share");
        assertThat(second).isNotDone();
        // a listing is the member's own state (docs/CAC.md §8): b may apply the wait a moment after a did
        cluster.await(() -> listed(ly, "/vol").get("locks").size() == 2, "b lists both locks");
        JsonNode listed = listed(ly, "/vol");
        assertThat(listed.get("locks").get(0).get("held").asText()).isEqualTo("exclusive");
        assertThat(listed.get("locks").get(0).get("downgrade_to").asText()).isEqualTo("shared");
        assertThat(listed.get("locks").get(1).get("wanted").asText()).isEqualTo("shared");
        // the shell's cac, on a node that is not a member, for its admin; not for a shell-ro client
        ShellService.Result shown = TestCluster.call(cluster.operator(x), "cac /vol");
        assertThat(shown.status()).as(shown.output()).isZero();
        assertThat(shown.output()).contains("/vol/disk").contains("exclusive").contains("(asked: shared)");
        ShellService.Result refused = TestCluster.call(cluster.shellAs(x, "ro", Role.CLIENT, Grants.SHELL_RO), "cac /vol");
        assertThat(refused.status()).isEqualTo(Dmsg.ERR_PERM);

        assertThat(first.change(CacState.SHARED).get(10, TimeUnit.SECONDS)).isEqualTo(CacState.SHARED);
        LockHandle s = second.get(10, TimeUnit.SECONDS);
        assertThat(s.state()).isEqualTo(CacState.SHARED);
        assertThat(s.token()).isGreaterThan(first.token());

        first.release().get(10, TimeUnit.SECONDS);
        s.release().get(10, TimeUnit.SECONDS);
        assertThat(JSON.readTree(ly.list("/").get(10, TimeUnit.SECONDS)).get("locks")).isEmpty();
    }

    @Test
    void aHolderWhoseLinkDiesKeepsItsLockForItsLeaseThenTheWaiterGetsIt() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node x = cluster.start("x");
        Node y = cluster.start("y");
        TestCluster.link(x, members.get(0));
        TestCluster.link(y, members.get(1));
        LockHandle held = locks(x, 1).acquire("/k", CacDomain.TREE, CacState.EXCLUSIVE,
            CacheLocks.Options.defaults().withLease(Duration.ofSeconds(2))).get(30, TimeUnit.SECONDS);
        CompletableFuture<LockHandle> next = locks(y, 2).acquire("/k/a", CacDomain.ATTR, CacState.EXCLUSIVE,
            CacheLocks.Options.defaults());
        CacheLocks lister = locks(y, 3);
        cluster.await(() -> listed(lister, "/k").get("locks").size() == 2, "the second request waits");
        long lostAt = System.nanoTime();
        x.endpoint().links().forEach(l -> l.close());
        assertThat(held.lost().get(10, TimeUnit.SECONDS).error()).isEqualTo(Dmsg.ERR_LOSTLINK);
        LockHandle got = next.get(30, TimeUnit.SECONDS);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lostAt);
        assertThat(ms).as("not before the 2 s lease").isGreaterThanOrEqualTo(1_900);
        assertThat(got.token()).isGreaterThan(held.token());
    }

    /**
     * docs/CAC.md §3: a home cut off from the group with its holder takes nothing with it, even
     * when nobody asks for the lock: the leader, not hearing from the home for the lock's lease,
     * declares it lost, and it goes one lease later — while the holder, still linked to its home,
     * does not know (fencing is what makes that safe, §6). Healed, the home learns the lock was
     * revoked and tells the holder.
     */
    @Test
    void theLocksOfAHomeCutOffAreDeclaredLostByTheLeaderThenReleased() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node lead = TestCluster.leader(members, "g");
        Node home = members.stream().filter(n -> n != lead).findFirst().orElseThrow();
        Node x = cluster.start("x");
        Node y = cluster.start("y");
        TestCluster.link(x, home);
        TestCluster.link(y, lead);
        LockHandle held = locks(x, 1).acquire("/h", CacDomain.INUM, CacState.EXCLUSIVE,
            CacheLocks.Options.defaults().withLease(Duration.ofSeconds(2))).get(30, TimeUnit.SECONDS);
        CacheLocks lister = locks(y, 3); // lists from the leader's own state
        cluster.await(() -> listed(lister, "/h").get("locks").size() == 1, "the leader knows the lock");
        long cutAt = System.nanoTime();
        cluster.partition(List.of(home, x)); // x keeps its link to its home: neither can tell the group
        cluster.await(() -> listed(lister, "/h").get("locks").size() == 1
            && listed(lister, "/h").get("locks").get(0).get("lost").asBoolean(), "the leader declares it lost");
        long lostMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - cutAt);
        cluster.await(() -> listed(lister, "/h").get("locks").isEmpty(), "the lock goes");
        long goneMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - cutAt);
        assertThat(lostMs).as("the home's silence reaches the lease (2 s)").isGreaterThanOrEqualTo(1_500);
        assertThat(goneMs).as("then the lease (2 s) again").isGreaterThanOrEqualTo(lostMs + 1_900).isLessThan(20_000);
        System.out.printf("a home cut off: its lock declared lost after %d ms, gone after %d ms (lease 2 s)%n",
            lostMs, goneMs);
        assertThat(held.lost()).as("the holder cannot know yet").isNotDone();
        LockHandle next = locks(y, 2).acquire("/h", CacDomain.INUM, CacState.EXCLUSIVE, CacheLocks.Options.defaults())
            .get(30, TimeUnit.SECONDS);
        assertThat(next.token()).isGreaterThan(held.token());
        cluster.heal();
        QuorumException why = held.lost().get(30, TimeUnit.SECONDS);
        assertThat(why.error()).isEqualTo(Dmsg.ERR_REVOKED);
        assertThat(why.getMessage()).contains("lost");
    }

    @Test
    void aWaitThatPassesFailsWithTimeoutAndHoldsNothing() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node x = cluster.start("x");
        TestCluster.link(x, members.get(2));
        CacheLocks l = locks(x, 1);
        LockHandle held = l.acquire("/t", CacDomain.INUM, CacState.EXCLUSIVE, CacheLocks.Options.defaults())
            .get(30, TimeUnit.SECONDS);
        CacheLocks other = locks(x, 2); // another owner on the same node
        assertThatThrownBy(() -> other.acquire("/t", CacDomain.INUM, CacState.SHARED,
            CacheLocks.Options.defaults().withWait(Duration.ofMillis(500))).get(30, TimeUnit.SECONDS))
            .cause().isInstanceOf(QuorumException.class).satisfies(e ->
                assertThat(((QuorumException) e).error()).isEqualTo(Dmsg.ERR_TIMEOUT));
        assertThatThrownBy(() -> other.acquire("/t", CacDomain.INUM, CacState.SHARED,
            CacheLocks.Options.defaults().failIfBusy()).get(30, TimeUnit.SECONDS))
            .cause().hasMessageContaining("conflicts with lock " + held.id());
        assertThat(JSON.readTree(l.list("/t").get(10, TimeUnit.SECONDS)).get("locks")).hasSize(1);
    }

    @Test
    void rightsAreTheOriginatorsAndMalformedRequestsAreRefusedByName() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node a = members.get(0);
        Node x = cluster.startUnpinned(cluster.settings("x"));
        a.trust().add("x", x.keys().fingerprint(), Role.CLIENT, Grants.LOCK_READ); // may list, may not lock
        x.trust().add("a", a.keys().fingerprint(), Role.MEMBER, 0);
        TestCluster.link(x, a);
        CacheLocks lx = locks(x, 1);
        assertThatThrownBy(() -> lx.acquire("/k", CacDomain.INUM, CacState.SHARED, CacheLocks.Options.defaults())
            .get(30, TimeUnit.SECONDS)).cause().hasMessageContaining("'x' (client)").hasMessageContaining("needs the lock grant");
        assertThat(JSON.readTree(lx.list("/").get(10, TimeUnit.SECONDS)).get("locks")).isEmpty();

        Node y = cluster.start("y");
        TestCluster.link(y, members.get(1));
        CacheLocks ly = locks(y, 1);
        assertThatThrownBy(() -> ly.acquire("/k/", CacDomain.INUM, CacState.SHARED, CacheLocks.Options.defaults())
            .get(30, TimeUnit.SECONDS)).cause().hasMessageContaining("ends with /");
        // past the client API: raw headers a client could send
        assertThat(raw(y, CacHeader.request("g", 0, 2, 0, 0, 0, 1), "/k")).contains("PARAM").contains("not INVAL");
        assertThat(raw(y, CacHeader.request("g", 2, 9, 0, 0, 0, 1), "/k")).contains("PARAM").contains("domain 9");
        assertThat(raw(y, CacHeader.request("g", 2, 2, 0x80, 0, 0, 1), "/k")).contains("PARAM").contains("flags 0x0080");
        assertThat(raw(y, CacHeader.request("g", 2, 2, 0, 0, 70_000, 1), "/k")).contains("PARAM").contains("lease_ms 70000");
        assertThat(raw(y, CacHeader.request("nosuch", 2, 2, 0, 0, 0, 1), "/k")).contains("NOSUPP");
        assertThat(raw(y, CacHeader.of(CacHeader.GRANTED, "g"), "/k")).contains("PARAM").contains("not GRANTED");
        assertThat(raw(y, Dmsg.CAC_LOCK | Dmsg.DELETE, CacHeader.request("g", 2, 2, 0, 0, 0, 1), "/k"))
            .contains("PARAM").contains("keeps its transaction open");
        assertThat(listed(ly, "/").get("locks")).as("nothing was recorded by any of these").isEmpty();
        // honest traffic is untouched
        LockHandle ok = ly.acquire("/k", CacDomain.INUM, CacState.EXCLUSIVE, CacheLocks.Options.defaults())
            .get(30, TimeUnit.SECONDS);
        assertThat(ok.state()).isEqualTo(CacState.EXCLUSIVE);
    }

    static JsonNode listed(CacheLocks l, String prefix) {
        try {
            return JSON.readTree(l.list(prefix).get(10, TimeUnit.SECONDS));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    String raw(Node y, CacHeader h, String key) throws Exception {
        return raw(y, Dmsg.CAC_LOCK, h, key);
    }

    /** Sends one {@code cmd} with {@code h} and {@code key} on y's link to its member; the error and reason. */
    String raw(Node y, int cmd, CacHeader h, String key) throws Exception {
        cluster.await(() -> y.endpoint().links().stream().anyMatch(l -> l.state() == dev.dmsg.link.LinkState.UP),
            "y's link is up");
        CompletableFuture<String> out = new CompletableFuture<>();
        dev.dmsg.link.Link up = y.endpoint().links().stream().filter(l -> l.state() == dev.dmsg.link.LinkState.UP)
            .findFirst().orElseThrow();
        up.open(cmd, h, Unpooled.wrappedBuffer(key.getBytes(StandardCharsets.UTF_8)), (t, m) -> {
            if (m.isDelete()) {
                out.complete(dev.dmsg.wire.ErrorCode.nameOf(m.error()) + " " + m.auxString());
                t.close();
            }
        });
        try {
            return out.get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause().toString();
        }
    }
}
