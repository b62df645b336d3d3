package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.testing.Blocks;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.WriteModel;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The BLK client against real {@code dmsg node} processes (docs/BLK.md "Client and failover"): a
 * ring n0–n1–n2–n3–n0 where n2 exports a 64 MiB file, and this JVM joining through n0 as a
 * {@link GuestNode} with n0's identity (an admin of n0; over circuits a member, who may write).
 * A write workload runs while the relay on the circuit's path is killed with SIGKILL: every write
 * completes, every acknowledged write is in the exported file afterwards (a CRC32C per 64 KiB
 * block, the file read from disk), and the pause is reported. Then the exporting node is killed:
 * everything outstanding fails with LOSTLINK within the device's wait, and nothing hangs.
 */
@Timeout(180)
@ExtendWith(LeakDetector.class)
class BlkFaultProcessTest {
    static final int N = 4;
    static final Duration START = Duration.ofSeconds(60);
    static final Duration CONVERGE = Duration.ofSeconds(40);
    /** Polling real processes, each poll a TLS shell call: every 200 ms, bounded by CONVERGE. */
    static final Await CONVERGING = Await.atMost(CONVERGE).every(Duration.ofMillis(200));
    static final long SIZE = 64L << 20;
    static final int K64 = 64 * 1024;
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    final NodeProcess[] nodes = new NodeProcess[N];
    final int[] ports = new int[N];

    /**
     * Starts the four nodes at once (JVM start-up dominates on a small machine), then links them
     * into the ring through each node's shell ({@code span HOST:PORT}, what {@code --connect} does):
     * n1 → n0, n2 → n1, n3 → n2, n3 → n0.
     */
    void startRing(Path disk) throws Exception {
        List<CompletableFuture<NodeProcess>> starting = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            String[] extra = i == 2 ? new String[] {"--export", "disk0=" + disk + ",allow=member"} : new String[0];
            Path dir = tmp.resolve("n" + i);
            String label = "n" + i;
            starting.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return NodeProcess.startNode(label, dir, 0, List.of(), START, NodeProcess.QUICK_START, extra);
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }));
        }
        for (int i = 0; i < N; i++) {
            try {
                nodes[i] = starting.get(i).get(START.toSeconds() + 10, TimeUnit.SECONDS);
                ports[i] = nodes[i].port();
            } catch (ExecutionException e) {
                for (CompletableFuture<NodeProcess> f : starting) { // do not leave the others running
                    f.thenAccept(p -> {
                        try {
                            p.close();
                        } catch (InterruptedException ignored) {
                            Thread.currentThread().interrupt();
                        }
                    });
                }
                throw e;
            }
        }
        int[][] ring = {{1, 0}, {2, 1}, {3, 2}, {3, 0}};
        for (int[] l : ring) {
            try (ShellClient c = NodeProcess.client(ports[l[0]], tmp.resolve("n" + l[0]))) {
                c.call("span 127.0.0.1:" + ports[l[1]], Duration.ofSeconds(10)); // throws unless status 0
            }
        }
    }

    JsonNode status(int i) throws Exception {
        try (ShellClient c = NodeProcess.client(ports[i], tmp.resolve("n" + i))) {
            return JSON.readTree(c.call("status --json", Duration.ofSeconds(5)));
        }
    }

    /** Waits until node {@code i}'s status document satisfies {@code p}. */
    JsonNode awaitStatus(int i, Predicate<JsonNode> p, String what) throws Exception {
        return CONVERGING.untilValue(() -> status(i), p, what);
    }

    static JsonNode exportSpan(JsonNode status, String clLabel) {
        for (JsonNode s : status.get("spans")) {
            if (s.get("cl_label").asText().equals(clLabel)) {
                return s;
            }
        }
        return null;
    }

    /** The neighbour n0 relays the guest's circuit to (n1 or n3): the relay on its path. */
    String relayOnPath() throws Exception {
        JsonNode s = awaitStatus(0, st -> {
            for (JsonNode c : st.get("circuits")) {
                if (c.get("role").asText().equals("relay") && c.get("open").asBoolean()) {
                    return true;
                }
            }
            return false;
        }, "n0 relays the guest's circuit");
        List<String> via = new ArrayList<>();
        for (JsonNode c : s.get("circuits")) {
            if (c.get("role").asText().equals("relay") && c.get("open").asBoolean()) {
                for (String side : List.of(c.get("link").asText(), c.get("other_link").asText())) {
                    if (side.equals("n1") || side.equals("n3")) {
                        via.add(side);
                    }
                }
            }
        }
        assertThat(via).as("one circuit relayed by n0, to n1 or n3: %s", s.get("circuits")).hasSize(1);
        return via.get(0);
    }

    /** A CRC32C of every 64 KiB block. */
    static long[] crcs(byte[] all) {
        long[] out = new long[all.length / K64];
        for (int b = 0; b < out.length; b++) {
            CRC32C c = new CRC32C();
            c.update(all, b * K64, K64);
            out[b] = c.getValue();
        }
        return out;
    }

    static byte[] readFile(Path f) throws Exception {
        byte[] all = new byte[(int) SIZE];
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.wrap(all);
            while (b.hasRemaining() && ch.read(b) >= 0) {
                // until full
            }
        }
        return all;
    }

    static void assertSameBlocks(long[] actual, long[] expected, String what) {
        for (int b = 0; b < expected.length; b++) {
            if (actual[b] != expected[b]) {
                fail(what + ": 64 KiB block " + b + " (offset " + (long) b * K64 + ") differs: crc32c "
                    + Long.toHexString(actual[b]) + ", expected " + Long.toHexString(expected[b]));
            }
        }
    }

    @Test
    void aWorkloadSurvivesTheRelayKilledAndEverythingFailsBoundedlyWhenTheExporterIsKilled() throws Exception {
        Path disk = tmp.resolve("disk0.img");
        try (RandomAccessFile r = new RandomAccessFile(disk.toFile(), "rw")) {
            r.setLength(SIZE);
        }
        GuestNode guest = null;
        List<RemoteBlockDevice> devices = new ArrayList<>();
        try {
            NodeProcess.prepareMesh(tmp, "n0", "n1", "n2", "n3");
            long t0 = System.nanoTime();
            startRing(disk);
            awaitStatus(0, s -> exportSpan(s, "n2/disk0") != null && exportSpan(s, "n2/disk0").get("links").size() == 2,
                "n0 sees n2/disk0 by two paths");
            System.out.printf("ring up in %d ms%n", (System.nanoTime() - t0) / 1_000_000);

            guest = GuestNode.join("blk", "127.0.0.1", ports[0], tmp.resolve("n0"), false, TlsConfig.Provider.AUTO);
            RemoteBlockDevice d = BlkClient.open(guest.mesh(), "n2/disk0", true,
                new RemoteBlockDevice.Options(Duration.ofSeconds(20), Duration.ofSeconds(20), 64, 8192))
                .get(60, TimeUnit.SECONDS);
            devices.add(d);
            assertThat(d.sizeBytes()).isEqualTo(SIZE);
            List<String> events = new CopyOnWriteArrayList<>();
            d.onFailover(events::add);
            String relay = relayOnPath();
            int victim = relay.equals("n1") ? 1 : 3;

            // 1. the relay on the path is killed mid-workload
            long seed = System.nanoTime();
            WriteModel w = new WriteModel(Blocks.writes(d), SIZE, seed, 96);
            Thread writer = new Thread(w, "workload");
            writer.start();
            long pauseMillis;
            try {
                Await.until(() -> w.acked() >= 200, Duration.ofSeconds(30), "200 writes acknowledged before the kill");
                nodes[victim].kill();
                Await.until(() -> d.failoverStats().failovers() >= 1 && !d.failoverStats().waiting(), Duration.ofSeconds(20),
                    "re-opened after " + relay + " was killed");
                long reopened = w.acked();
                Await.until(() -> w.acked() >= reopened + 200, Duration.ofSeconds(30), "200 more writes after the re-open");
            } finally {
                w.stop();
                writer.join(10_000);
            }
            w.awaitAll(Duration.ofSeconds(60));
            assertThat(w.errors()).as("every write succeeded (seed %d)", seed).isEmpty();
            RemoteBlockDevice.FailoverStats st = d.failoverStats();
            assertThat(st.failovers()).isEqualTo(1);
            assertThat(st.waiting()).isFalse();
            pauseMillis = st.lastPauseMillis();
            assertThat(events).hasSize(2);
            assertThat(events.get(0)).startsWith("export n2/disk0: the circuit").contains("wait up to 20 s for another path");
            Matcher m = Pattern.compile("export n2/disk0: re-opened via n0 \\(\\d hops\\) after a (\\d+) ms pause; "
                + "re-sending \\d+ request\\(s\\)").matcher(events.get(1));
            assertThat(m.matches()).as(events.get(1)).isTrue();
            assertThat(Long.parseLong(m.group(1))).isEqualTo(pauseMillis);
            assertThat(pauseMillis).isLessThan(20_000);
            String other = victim == 1 ? "n3" : "n1";
            assertThat(relayOnPath()).isEqualTo(other);

            long t2 = System.nanoTime();
            d.flush().get(30, TimeUnit.SECONDS);
            long[] want = crcs(w.model());
            assertSameBlocks(crcs(readFile(disk)), want, "the exported file (seed " + seed + ")");
            System.out.printf("relay %s killed: pause %d ms, %d writes (seed %d); checked in %d ms%n", relay, pauseMillis,
                w.issuedCount(), seed, (System.nanoTime() - t2) / 1_000_000);
            d.close();

            // 2. the exporting node is killed with I/O outstanding
            Duration wait = Duration.ofSeconds(4);
            RemoteBlockDevice e = BlkClient.open(guest.mesh(), "n2/disk0", true,
                new RemoteBlockDevice.Options(wait, Duration.ofSeconds(20), 64, 8192)).get(60, TimeUnit.SECONDS);
            devices.add(e);
            List<String> gone = new CopyOnWriteArrayList<>();
            e.onFailover(gone::add);
            List<CompletableFuture<?>> io = new ArrayList<>();
            byte[] data = new byte[K64];
            new Random(seed).nextBytes(data);
            for (int i = 0; i < 1000; i++) { // 64 MiB: far more than is answered before the kill lands
                long at = (long) (i % 1024) * K64;
                io.add(i % 4 == 0 ? e.write(at, Unpooled.wrappedBuffer(data.clone()), false) : e.read(at, K64));
            }
            long killed = System.nanoTime();
            nodes[2].kill();
            int lost = Blocks.lostLinks(io, wait.plusSeconds(10), "export n2/disk0: no path for 4 s (");
            long failedMillis = (System.nanoTime() - killed) / 1_000_000;
            assertThat(lost).as("requests outstanding when n2 was killed").isGreaterThan(0);
            assertThat(failedMillis).isLessThan(wait.toMillis() + 10_000);
            assertThat(gone).hasSize(2);
            assertThat(gone.get(1)).startsWith("export n2/disk0: no path for 4 s (").contains("; failing ");

            long t1 = System.nanoTime();
            CompletableFuture<ByteBuf> next = e.read(0, 4096);
            try {
                next.get(wait.toMillis() + 10_000, TimeUnit.MILLISECONDS).release();
                fail("a read with the exporter dead succeeded");
            } catch (ExecutionException x) {
                BlockException be = (BlockException) x.getCause();
                assertThat(be.error()).isEqualTo(Dmsg.ERR_LOSTLINK);
                // once a wait ended with no path, a new request fails at once until a path returns
                // (issue 18: a client that flushes on exit must not wait the whole wait again)
                assertThat(be.getMessage()).startsWith("export n2/disk0: no path since a wait of 4 s for one ended (")
                    .endsWith("; failed: read at 0 (4096 bytes)");
            }
            long nextMillis = (System.nanoTime() - t1) / 1_000_000;
            assertThat(nextMillis).as("a later read fails at once, not after another wait").isLessThan(wait.toMillis());
            System.out.printf("n2 killed: %d of 1000 requests failed with LOSTLINK after %d ms; a later read after %d ms%n",
                lost, failedMillis, nextMillis);
        } finally {
            devices.forEach(RemoteBlockDevice::close);
            if (guest != null) {
                guest.close();
            }
            for (NodeProcess p : nodes) {
                if (p != null) {
                    p.close();
                }
            }
        }
    }
}
