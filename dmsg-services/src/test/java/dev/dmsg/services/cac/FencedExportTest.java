package dev.dmsg.services.cac;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.tls.Role;
import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A BLK export fenced by a lock (docs/CAC.md §6): a write without a token is refused PERM; a
 * holder that stops answering (paused) loses its lock after its lease, the next holder presents
 * its larger token with a flush, and the paused holder's late write is refused FENCED — the new
 * holder's data stays.
 */
@Timeout(120)
@ExtendWith(LeakDetector.class)
class FencedExportTest {
    static final Duration T = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    @Test
    void aPausedHoldersLateWriteIsRefusedOnceTheNextHolderPresentedItsToken() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node d = cluster.start("d", Node.Export.of("disk", cluster.disk("disk", 1 << 20)).withAllow("member")
            .withFence("/vol/disk"));
        Node x = cluster.start("x");
        Node y = cluster.start("y");
        TestCluster.link(d, members.get(0));
        TestCluster.link(x, members.get(1));
        TestCluster.link(y, members.get(2));
        CacheLocks lx = cluster.closing(new CacheLocks(x.mesh(), () -> x.endpoint().links(), "g", T, 1));
        CacheLocks ly = cluster.closing(new CacheLocks(y.mesh(), () -> y.endpoint().links(), "g", T, 2));
        RemoteBlockDevice dx = cluster.closing(BlkClient.open(x.mesh(), "disk", true, RemoteBlockDevice.Options.defaults())
            .get(30, TimeUnit.SECONDS));
        RemoteBlockDevice dy = cluster.closing(BlkClient.open(y.mesh(), "disk", true, RemoteBlockDevice.Options.defaults())
            .get(30, TimeUnit.SECONDS));

        assertThat(failure(dx.write(0, data("no token"), false)).error()).as("a write without a token")
            .isEqualTo(Dmsg.ERR_PERM);

        LockHandle hx = lx.acquire("/vol/disk", CacDomain.TREE, CacState.EXCLUSIVE,
            CacheLocks.Options.defaults().withLease(Duration.ofSeconds(2))).get(30, TimeUnit.SECONDS);
        dx.fence(hx.token());
        dx.write(0, data("x was here"), false).get(10, TimeUnit.SECONDS);

        // x pauses: it ignores the downgrade request; after its lease y gets the lock
        CompletableFuture<LockHandle> next = ly.acquire("/vol/disk", CacDomain.TREE, CacState.EXCLUSIVE,
            CacheLocks.Options.defaults());
        LockHandle hy = next.get(30, TimeUnit.SECONDS);
        assertThat(hy.token()).isGreaterThan(hx.token());
        dy.fence(hy.token());
        dy.flush().get(10, TimeUnit.SECONDS); // presents the token before relying on what it reads
        dy.write(0, data("y owns it"), false).get(10, TimeUnit.SECONDS);

        BlockException late = failure(dx.write(0, data("x, late"), false));
        assertThat(late.error()).isEqualTo(Dmsg.ERR_FENCED);
        assertThat(late.getMessage()).contains("token " + hx.token() + " is older than " + hy.token());
        ByteBuf back = dy.read(0, 9).get(10, TimeUnit.SECONDS);
        try {
            assertThat(back.toString(StandardCharsets.UTF_8)).isEqualTo("y owns it");
        } finally {
            back.release();
        }
        assertThat(hx.lost().get(10, TimeUnit.SECONDS).error()).as("x is told, once it listens").isEqualTo(Dmsg.ERR_REVOKED);
    }

    static ByteBuf data(String s) {
        byte[] b = new byte[4096];
        byte[] t = s.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(t, 0, b, 0, t.length);
        return Unpooled.wrappedBuffer(b);
    }

    static BlockException failure(CompletableFuture<?> f) throws Exception {
        try {
            f.get(10, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(BlockException.class);
            return (BlockException) e.getCause();
        }
        throw new AssertionError("expected the write to be refused");
    }
}
