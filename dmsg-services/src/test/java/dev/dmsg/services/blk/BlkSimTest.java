package dev.dmsg.services.blk;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.sim.SimMesh;
import dev.dmsg.services.Access;
import dev.dmsg.services.blk.BlkServerTest.Blk;
import dev.dmsg.services.blk.BlkServerTest.Opened;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The BLK server's bounds (docs/BLK.md "The wire") on the simulator: a server on one simulated
 * node, raw BLK transactions from its neighbour on circuit 0, a device whose operations complete
 * only when the test says — all on the test's thread, in simulated time. The same bounds over
 * real TLS links stay in BlkServerTest.
 */
@Timeout(60)
@ExtendWith(LeakDetector.class)
class BlkSimTest {
    static final long SIZE = 4L << 20;

    /** Holds every operation until {@link #release()}, which completes them on the caller's thread. */
    static final class HeldDevice implements BlockDevice {
        final ArrayDeque<Runnable> held = new ArrayDeque<>();
        int maxPending;
        boolean open;

        void hold(Runnable r) {
            if (open) {
                r.run();
                return;
            }
            held.add(r);
            maxPending = Math.max(maxPending, held.size());
        }

        void release() {
            open = true;
            for (Runnable r; (r = held.poll()) != null; ) {
                r.run();
            }
        }

        @Override
        public String name() {
            return "slow";
        }

        @Override
        public long sizeBytes() {
            return SIZE;
        }

        @Override
        public int blockSize() {
            return 512;
        }

        @Override
        public boolean readOnly() {
            return false;
        }

        @Override
        public CompletableFuture<ByteBuf> read(long offset, int length) {
            CompletableFuture<ByteBuf> f = new CompletableFuture<>();
            hold(() -> f.complete(PooledByteBufAllocator.DEFAULT.directBuffer(length)
                .writeBytes(BlkServerTest.GatedDevice.contents(offset, length))));
            return f;
        }

        @Override
        public CompletableFuture<Void> write(long offset, ByteBuf data, boolean fua) {
            CompletableFuture<Void> f = new CompletableFuture<>();
            hold(() -> {
                data.release();
                f.complete(null);
            });
            return f;
        }

        @Override
        public CompletableFuture<Void> writeZeroes(long offset, long length, boolean fua) {
            CompletableFuture<Void> f = new CompletableFuture<>();
            hold(() -> f.complete(null));
            return f;
        }

        @Override
        public CompletableFuture<Void> trim(long offset, long length) {
            CompletableFuture<Void> f = new CompletableFuture<>();
            hold(() -> f.complete(null));
            return f;
        }

        @Override
        public CompletableFuture<Void> flush() {
            CompletableFuture<Void> f = new CompletableFuture<>();
            hold(() -> f.complete(null));
            return f;
        }

        @Override
        public void close() {
            release();
        }
    }

    final HeldDevice slow = new HeldDevice();

    /** n0 – n1, n1 serving {@link #slow} to every plaintext link as an admin; n0's side of the link. */
    Link serverOnN1(SimMesh m) {
        m.addNode("n0");
        m.addNode("n1");
        m.connect(m.nodes().get(0), m.nodes().get(1), Duration.ofMillis(1), 0);
        new BlkServer(Access.plaintextAdmin(), Map.of("slow", slow), (l, c) -> null).register(m.nodes().get(1).services());
        m.runUntilQuiet(Duration.ofSeconds(1), Duration.ofMinutes(1));
        return m.links().get(0).end(m.nodes().get(0));
    }

    static void run(SimMesh m, long millis) {
        m.scheduler().runUntil(m.scheduler().now() + TimeUnit.MILLISECONDS.toNanos(millis));
    }

    static <T> T await(SimMesh m, CompletableFuture<T> f, String what) throws Exception {
        Await.stepping(() -> run(m, 1), 10_000, f::isDone, what);
        return f.get();
    }

    @Test
    void atMost64InFlightPerOpenThen1024QueuedThenLimitAndEveryOneCompletes() throws Exception {
        SimMesh m = new SimMesh(MeshConfig.defaults(), 11);
        Link link = serverOnN1(m);
        Blk blk = new Blk(link::open);
        Opened opened = await(m, blk.openLater(Dmsg.BLKOPEN_RD, null), "the open");
        long keyid = opened.keyid();

        int served = BlkServer.MAX_IN_FLIGHT + BlkServer.MAX_QUEUED;
        List<CompletableFuture<Blk.Reply>> reads = new ArrayList<>();
        for (int i = 0; i < served + 1; i++) {
            reads.add(blk.send(Dmsg.BLK_READ, new BlkIo(keyid, i * 512L, 512, 0), null));
        }
        // the link is ordered: once the last is answered LIMIT, every earlier one is running or queued
        Blk.Reply limit = await(m, reads.get(served), "the LIMIT answer");
        assertThat(limit.error()).isEqualTo(Dmsg.ERR_LIMIT);
        assertThat(limit.buf()).isEqualTo(String.format("open %016x: 1088 requests outstanding", keyid));
        assertThat(slow.held).hasSize(BlkServer.MAX_IN_FLIGHT);
        assertThat(reads.subList(0, served)).noneMatch(CompletableFuture::isDone);

        slow.release();
        for (int i = 0; i < served; i++) {
            Blk.Reply r = await(m, reads.get(i), "read " + i);
            assertThat(r.error()).isZero();
            assertThat(r.aux()).isEqualTo(BlkServerTest.GatedDevice.contents(i * 512L, 512));
        }
        assertThat(slow.maxPending).isEqualTo(BlkServer.MAX_IN_FLIGHT);
        opened.txn().close();
        run(m, 10);
    }
}
