package dev.dmsg.services.blk;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.sim.SimMesh;
import dev.dmsg.services.Access;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.Dmsg;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The BLK server's bounds (docs/BLK.md "The wire") on the simulator: a server on one simulated
 * node, raw BLK transactions from its neighbour on circuit 0, a device whose operations complete
 * only when the test says — all on the test's thread, in simulated time. (They ran on real nodes
 * over TLS before; nothing in them is about sockets.) What a dead link leaves behind stays in
 * BlkServerTest.
 */
@Timeout(60)
@ExtendWith(LeakDetector.class)
class BlkSimTest {
    static final Duration MS = Duration.ofMillis(1);
    static final int K64 = 64 * 1024;

    /** Completes what it held on the test's thread, which drives the simulator. */
    final GatedDevice slow = new GatedDevice(Runnable::run);

    /** n0 – n1, n1 serving {@link #slow} to every plaintext link as an admin; n0's side of the link. */
    Link serverOnN1(SimMesh m) {
        m.addNode("n0");
        m.addNode("n1");
        m.connect(m.nodes().get(0), m.nodes().get(1), MS, 0);
        new BlkServer(Access.plaintextAdmin(), Map.of("slow", slow), (l, c) -> null).register(m.nodes().get(1).services());
        m.runUntilQuiet(Duration.ofSeconds(1), Duration.ofMinutes(1));
        return m.links().get(0).end(m.nodes().get(0));
    }

    static <T> T await(SimMesh m, CompletableFuture<T> f, String what) throws Exception {
        Await.stepping(() -> m.runFor(MS), 10_000, f::isDone, what);
        return f.get();
    }

    @Test
    void atMost64InFlightPerOpenThen1024QueuedThenLimitAndEveryOneCompletes() throws Exception {
        SimMesh m = new SimMesh(MeshConfig.defaults(), 11);
        Link link = serverOnN1(m);
        Blk blk = new Blk(link::open);
        Blk.Opened opened = await(m, blk.openLater(Dmsg.BLKOPEN_RD, null), "the open");
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
        assertThat(slow.pending.get()).isEqualTo(BlkServer.MAX_IN_FLIGHT);
        assertThat(reads.subList(0, served)).noneMatch(CompletableFuture::isDone);

        slow.release();
        for (int i = 0; i < served; i++) {
            Blk.Reply r = await(m, reads.get(i), "read " + i);
            assertThat(r.error()).isZero();
            assertThat(r.aux()).isEqualTo(GatedDevice.contents(i * 512L, 512));
        }
        assertThat(slow.maxPending.get()).isEqualTo(BlkServer.MAX_IN_FLIGHT);
        opened.txn().close();
        m.runFor(Duration.ofMillis(10));
    }

    @Test
    void queuedWritesAreBoundedByTheirDataTooButReadsStillQueue() throws Exception {
        SimMesh m = new SimMesh(MeshConfig.defaults(), 13);
        Blk blk = new Blk(serverOnN1(m)::open);
        Blk.Opened opened = await(m, blk.openLater(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR, null), "the open");
        long keyid = opened.keyid();
        int fits = BlkServer.MAX_IN_FLIGHT + BlkServer.MAX_QUEUED_BYTES / K64; // 64 running, 256 queued
        List<CompletableFuture<Blk.Reply>> writes = new ArrayList<>();
        for (int i = 0; i <= fits; i++) {
            writes.add(blk.send(Dmsg.BLK_WRITE, new BlkIo(keyid, (long) (i % 64) * K64, K64, 0),
                BlkServerTest.pattern(K64, i)));
        }
        Blk.Reply limit = await(m, writes.get(fits), "the LIMIT answer");
        assertThat(limit.error()).isEqualTo(Dmsg.ERR_LIMIT);
        assertThat(limit.buf()).isEqualTo(String.format("open %016x: 16 MiB of writes queued", keyid));
        CompletableFuture<Blk.Reply> read = blk.send(Dmsg.BLK_READ, new BlkIo(keyid, 0, 512, 0), null);
        CompletableFuture<Blk.Reply> flush = blk.send(Dmsg.BLK_FLUSH, new BlkIo(keyid, 0, 0, 0), null);
        Blk.Reply unknown = await(m, blk.send(Dmsg.BLK_READ, new BlkIo(keyid + 1, 0, 512, 0), null), "an unknown keyid");
        assertThat(unknown.error()).isEqualTo(Dmsg.ERR_PARAM); // everything before has arrived
        assertThat(read).isNotDone();
        assertThat(flush).isNotDone();
        slow.release();
        for (int i = 0; i < fits; i++) {
            assertThat(await(m, writes.get(i), "write " + i).error()).isZero();
        }
        assertThat(await(m, read, "the queued read").aux()).isEqualTo(GatedDevice.contents(0, 512));
        assertThat(await(m, flush, "the queued flush").error()).isZero();
        opened.txn().close();
        m.runFor(Duration.ofMillis(10));
    }
}
