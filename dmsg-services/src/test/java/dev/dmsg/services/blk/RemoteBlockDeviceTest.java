package dev.dmsg.services.blk;

import static dev.dmsg.services.testing.TestCluster.link;
import static dev.dmsg.services.testing.TestCluster.span;
import static dev.dmsg.services.testing.TestCluster.status;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.tls.Role;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.Blocks;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.WriteModel;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The BLK client on real nodes over TLS on loopback (docs/BLK.md "Client and failover"): finding
 * exports from two hops away, a round trip through the split path, every refusal the client makes
 * itself, close; failover in a ring of four when the relay on the circuit's path crashes or leaves,
 * with a write workload whose every acknowledged write must be there afterwards in issue order;
 * and the exporting node gone, where everything fails with LOSTLINK within the bounded wait.
 */
@Timeout(60)
@ExtendWith(LeakDetector.class)
class RemoteBlockDeviceTest {
    static final Duration T = Duration.ofSeconds(10);
    static final long SIZE = 8L << 20;
    static final int K64 = 64 * 1024;

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER); // circuits authenticate end to end
    final List<RemoteBlockDevice> devices = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        devices.forEach(RemoteBlockDevice::close);
    }

    // ------------------------------------------------------------------------------------------
    // Fixtures

    Path disk(String name) throws Exception {
        return cluster.disk(name, SIZE);
    }

    Node start(String label, Node.Export... exports) throws Exception {
        // members may open these exports (docs/IDENTITY.md §5: by default only admins may)
        return cluster.start(label, Arrays.stream(exports).map(e -> e.withAllow("member")).toArray(Node.Export[]::new));
    }

    static JsonNode export0(Node n) {
        return status(n).get("exports").get(0);
    }

    static List<BlkClient.RemoteExport> list(Node n) {
        try {
            return BlkClient.list(n.mesh()).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static BlkClient.RemoteExport listed(Node n, String label) {
        return list(n).stream().filter(x -> x.label().equals(label)).findFirst().orElse(null);
    }

    static RemoteBlockDevice.Options options(Duration failoverWait, int maxInFlight, int maxQueued) {
        return new RemoteBlockDevice.Options(failoverWait, T, maxInFlight, maxQueued);
    }

    RemoteBlockDevice open(Node client, String spec, boolean writable, RemoteBlockDevice.Options o) throws Exception {
        RemoteBlockDevice d = BlkClient.open(client.mesh(), spec, writable, o).get(20, TimeUnit.SECONDS);
        devices.add(d);
        return d;
    }

    /** The BlockException a failed future carries (failing the test if it succeeded or failed otherwise). */
    static BlockException failure(CompletableFuture<?> f, Duration within) throws Exception {
        try {
            Object v = f.get(within.toMillis(), TimeUnit.MILLISECONDS);
            if (v instanceof ByteBuf b) {
                b.release();
            }
            throw new AssertionError("expected a failure, got success");
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(BlockException.class);
            return (BlockException) e.getCause();
        }
    }

    static byte[] read(BlockDevice d, long offset, int length) throws Exception {
        ByteBuf b = d.read(offset, length).get(10, TimeUnit.SECONDS);
        try {
            assertThat(b.readableBytes()).isEqualTo(length);
            byte[] out = new byte[length];
            b.getBytes(b.readerIndex(), out);
            return out;
        } finally {
            b.release();
        }
    }

    /** The whole device through the client, 1 MiB at a time (each split into 16 requests). */
    static byte[] readAll(BlockDevice d) throws Exception {
        byte[] all = new byte[(int) d.sizeBytes()];
        for (int at = 0; at < all.length; at += 1 << 20) {
            int n = Math.min(1 << 20, all.length - at);
            System.arraycopy(read(d, at, n), 0, all, at, n);
        }
        return all;
    }

    static void assertSameBytes(byte[] actual, byte[] expected, String what) {
        int at = Arrays.mismatch(actual, expected);
        if (at >= 0) {
            fail(what + ": first difference at byte " + at + " (block " + at / 4096 + "): got " + actual[at]
                + ", expected " + expected[at]);
        }
    }

    static ByteBuf buf(byte[] b) {
        return Unpooled.wrappedBuffer(b.clone());
    }

    static long counter(Node exp, String field) {
        return export0(exp).get(field).asLong();
    }

    // ------------------------------------------------------------------------------------------
    // Finding exports

    @Test
    void listAndFindSeeAnExportTwoHopsAwayByNameLabelAndSerialAndRefuseUnknownAndAmbiguousNames() throws Exception {
        Node exp = start("exp", Node.Export.of("disk0", disk("disk0.img")),
            new Node.Export("tape", disk("tape.img"), true, 512));
        Node relay = start("relay");
        Node far = start("far");
        link(relay, exp);
        link(far, relay);
        String serial = export0(exp).get("serial").asText();
        cluster.await(() -> listed(far, "exp/disk0") != null && listed(far, "exp/tape") != null, "far lists exp's exports");

        BlkClient.RemoteExport x = listed(far, "exp/disk0");
        assertThat(x.node()).isEqualTo("exp");
        assertThat(x.name()).isEqualTo("disk0");
        assertThat(x.serial()).isEqualTo(serial);
        assertThat(x.sizeBytes()).isEqualTo(SIZE);
        assertThat(x.blockSize()).isEqualTo(4096);
        assertThat(x.dist()).as("as the status document counts it (BlkServerTest)").isEqualTo(1);
        assertThat(listed(far, "exp/tape").blockSize()).isEqualTo(512);
        assertThat(listed(exp, "exp/disk0").dist()).as("the exporter's own").isZero();
        assertThat(list(relay)).extracting(BlkClient.RemoteExport::label).containsExactly("exp/disk0", "exp/tape");

        Duration wait = Duration.ofSeconds(2);
        for (String spec : List.of("disk0", "exp/disk0", serial)) {
            assertThat(BlkClient.find(far.mesh(), spec, wait).get(10, TimeUnit.SECONDS)).as(spec).isEqualTo(x);
        }
        long t0 = System.nanoTime();
        BlockException none = failure(BlkClient.find(far.mesh(), "nosuch", Duration.ofMillis(300)), T);
        assertThat(System.nanoTime() - t0).as("waited for it to appear").isGreaterThanOrEqualTo(300_000_000L);
        assertThat(none.error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(none.getMessage()).isEqualTo("no export 'nosuch' in the mesh (known: exp/disk0 (" + serial
            + "), exp/tape (" + listed(far, "exp/tape").serial() + "))");

        // a second node exporting disk0: the bare name is ambiguous, NODE/NAME and the serial are not
        Node other = start("other", Node.Export.of("disk0", disk("other.img")));
        link(other, relay);
        cluster.await(() -> listed(far, "other/disk0") != null, "far lists other's disk0");
        String otherSerial = export0(other).get("serial").asText();
        BlockException two = failure(BlkClient.find(far.mesh(), "disk0", wait), T);
        assertThat(two.error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(two.getMessage()).isEqualTo("'disk0' names 2 exports: exp/disk0 (" + serial + "), other/disk0 ("
            + otherSerial + "); use NODE/NAME");
        assertThat(BlkClient.find(far.mesh(), "other/disk0", wait).get(10, TimeUnit.SECONDS).serial())
            .isEqualTo(otherSerial);
        assertThat(BlkClient.find(far.mesh(), serial, wait).get(10, TimeUnit.SECONDS).label()).isEqualTo("exp/disk0");
        BlockException opening = failure(BlkClient.open(far.mesh(), "disk0", true, RemoteBlockDevice.Options.defaults()), T);
        assertThat(opening.getMessage()).startsWith("'disk0' names 2 exports");
    }

    // ------------------------------------------------------------------------------------------
    // Round trip

    @Test
    void writesAtOddOffsetsAndSizesReadBackZeroesFlushFuaAndEveryRefusal() throws Exception {
        Path file = disk("disk0.img");
        Node exp = start("exp", Node.Export.of("disk0", file));
        Node relay = start("relay");
        Node far = start("far");
        link(relay, exp);
        link(far, relay);
        cluster.await(() -> listed(far, "exp/disk0") != null, "far lists exp/disk0");
        RemoteBlockDevice d = open(far, "exp/disk0", true, RemoteBlockDevice.Options.defaults());
        assertThat(d.name()).isEqualTo("exp/disk0");
        assertThat(d.sizeBytes()).isEqualTo(SIZE);
        assertThat(d.blockSize()).isEqualTo(4096);
        assertThat(d.readOnly()).isFalse();
        cluster.await(() -> export0(exp).get("opens").asInt() == 1, "one open at exp");

        // a few MiB at odd offsets, sizes not multiples of 64 KiB, all in flight at once
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        byte[] model = new byte[(int) SIZE];
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        long at = 1;
        long written = 0;
        while (written < (3 << 20)) {
            int len = 1 + rnd.nextInt(3 * K64 + 1000);
            if (at + len > SIZE) {
                break;
            }
            byte[] b = new byte[len];
            rnd.nextBytes(b);
            System.arraycopy(b, 0, model, (int) at, len);
            writes.add(d.write(at, buf(b), false));
            written += len;
            at += len + 1 + rnd.nextInt(5000); // gaps: never overlapping, so completion order does not matter
        }
        for (CompletableFuture<Void> w : writes) {
            w.get(10, TimeUnit.SECONDS);
        }
        assertSameBytes(read(d, 1, (int) (at - 1)), Arrays.copyOfRange(model, 1, (int) at), "read back (seed " + seed + ")");

        // zeros: writeZeroes and trim, both at odd offsets and longer than one request
        d.writeZeroes(100_001, 200_000, false).get(10, TimeUnit.SECONDS);
        Arrays.fill(model, 100_001, 300_001, (byte) 0);
        d.trim(1_000_003, 70_000).get(10, TimeUnit.SECONDS);
        Arrays.fill(model, 1_000_003, 1_070_003, (byte) 0);
        assertThat(read(d, 100_001, 200_000)).containsOnly((byte) 0);
        assertThat(read(d, 1_000_003, 70_000)).containsOnly((byte) 0);
        assertThat(read(d, 100_000, 1)[0]).isEqualTo(model[100_000]);
        assertThat(read(d, 300_001, 1)[0]).isEqualTo(model[300_001]);

        // flush; a FUA write is a write then a FLUSH, and both show in the exporter's counters
        long flushes = counter(exp, "flushes");
        d.flush().get(10, TimeUnit.SECONDS);
        assertThat(counter(exp, "flushes")).isEqualTo(flushes + 1);
        byte[] fua = new byte[K64 + 7];
        rnd.nextBytes(fua);
        System.arraycopy(fua, 0, model, 5_000_000, fua.length);
        long writesBefore = counter(exp, "writes");
        d.write(5_000_000, buf(fua), true).get(10, TimeUnit.SECONDS);
        assertThat(counter(exp, "flushes")).isEqualTo(flushes + 2);
        assertThat(counter(exp, "writes")).isEqualTo(writesBefore + 2); // split in two
        assertSameBytes(readAll(d), model, "the whole device (seed " + seed + ")");
        assertSameBytes(Files.readAllBytes(file), model, "the exported file (seed " + seed + ")");

        // refused here, without a round trip: out of range (PARAM); the buffer is released (LeakDetector)
        long requests = counter(exp, "reads") + counter(exp, "writes");
        BlockException past = failure(d.read(SIZE - 100, 200), T);
        assertThat(past.error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(past.getMessage()).isEqualTo("export exp/disk0: read at " + (SIZE - 100) + " of 200 bytes is outside 0.."
            + SIZE);
        assertThat(failure(d.write(-1, buf(new byte[10]), false), T).error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(failure(d.write(SIZE, buf(new byte[1]), false), T).error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(failure(d.writeZeroes(SIZE - 1, 2, false), T).error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(counter(exp, "reads") + counter(exp, "writes")).isEqualTo(requests);

        // read-only: reads work, writes, zeroing and trims are refused (PERM)
        RemoteBlockDevice ro = open(far, "exp/disk0", false, RemoteBlockDevice.Options.defaults());
        assertThat(ro.readOnly()).isTrue();
        assertThat(read(ro, 5_000_000, fua.length)).isEqualTo(fua);
        BlockException perm = failure(ro.write(0, buf(new byte[512]), false), T);
        assertThat(perm.error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(perm.getMessage()).isEqualTo("export exp/disk0: write at 0: opened read-only");
        assertThat(failure(ro.trim(0, 512), T).error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(failure(ro.writeZeroes(0, 512, true), T).error()).isEqualTo(Dmsg.ERR_PERM);
        long flushesNow = counter(exp, "flushes");
        ro.flush().get(10, TimeUnit.SECONDS); // nothing written through it: done here, not refused by the server
        assertThat(counter(exp, "flushes")).isEqualTo(flushesNow);
        assertThat(export0(exp).get("refused").asLong()).isZero();
        cluster.await(() -> export0(exp).get("opens").asInt() == 2, "two opens at exp");
        ro.close();
        cluster.await(() -> export0(exp).get("opens").asInt() == 1, "the read-only open gone at exp");
        assertSameBytes(readAll(d), model, "unchanged by the refusals");
    }

    @Test
    void aTrimOfTheWholeDiskIsOneQueueEntryCarvedIntoRequestsAndALaterWriteLandsAfterIt() throws Exception {
        Path file = disk("disk0.img");
        Node exp = start("exp", Node.Export.of("disk0", file));
        Node far = start("far");
        link(far, exp);
        cluster.await(() -> listed(far, "exp/disk0") != null, "far lists exp/disk0");
        // 128 pieces of 64 KiB through a window of 4, behind a queue of 2: queued one by one, it would be LIMIT
        RemoteBlockDevice d = open(far, "exp/disk0", true, options(Duration.ofSeconds(30), 4, 2));
        byte[] before = new byte[K64];
        Arrays.fill(before, (byte) 7);
        d.write(SIZE - K64, buf(before), false).get(10, TimeUnit.SECONDS);
        byte[] after = new byte[4096];
        Arrays.fill(after, (byte) 9);
        CompletableFuture<Void> trim = d.trim(0, SIZE);
        CompletableFuture<Void> write = d.write(SIZE - 4096, buf(after), false); // issued after: lands after
        trim.get(10, TimeUnit.SECONDS);
        write.get(10, TimeUnit.SECONDS);
        cluster.await(() -> export0(exp).get("trims").asLong() == SIZE / K64, "every piece a BLK_FREEBLKS");
        assertThat(read(d, 0, (int) SIZE - 4096)).containsOnly((byte) 0);
        assertThat(read(d, SIZE - 4096, 4096)).containsOnly((byte) 9);
        d.close();
    }

    @Test
    void closeFailsWhatIsOutstandingAndTheExporterForgetsTheOpen() throws Exception {
        Node exp = start("exp", Node.Export.of("disk0", disk("disk0.img")));
        Node far = start("far");
        link(far, exp);
        cluster.await(() -> listed(far, "exp/disk0") != null, "far lists exp/disk0");
        // one request at a time: 300 reads take 300 round trips, far longer than issuing them and closing
        RemoteBlockDevice d = open(far, "disk0", true, options(Duration.ofSeconds(30), 1, 8192));
        cluster.await(() -> export0(exp).get("opens").asInt() == 1, "one open at exp");
        List<CompletableFuture<ByteBuf>> reads = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            reads.add(d.read((long) (i % 64) * K64, K64));
        }
        d.close();
        int closed = 0;
        for (CompletableFuture<ByteBuf> r : reads) {
            try {
                r.get(10, TimeUnit.SECONDS).release();
            } catch (ExecutionException e) {
                BlockException be = (BlockException) e.getCause();
                assertThat(be.error()).isEqualTo(Dmsg.ERR_IO);
                assertThat(be.getMessage()).startsWith("export exp/disk0: closed; failed: read at ");
                closed++;
            }
        }
        assertThat(closed).as("queued reads failed by close").isGreaterThan(200);
        cluster.await(() -> export0(exp).get("opens").asInt() == 0, "the open forgotten at exp");
        BlockException after = failure(d.write(0, buf(new byte[512]), false), T);
        assertThat(after.error()).isEqualTo(Dmsg.ERR_IO);
        assertThat(after.getMessage()).isEqualTo("export exp/disk0: closed");
        d.close(); // twice: nothing
        cluster.await(() -> far.mesh().circuits().isEmpty() && exp.mesh().circuits().isEmpty(), "no circuit left");
    }

    @Test
    void anOpenThatIsNeverAnsweredFailsWithinTheWaitInsteadOfHanging() throws Exception {
        Node mute = start("mute");
        mute.services().accept(Dmsg.BLK_OPEN, (txn, create) -> (t, m) -> {}); // takes the open, never answers
        Node far = start("far");
        link(far, mute);
        cluster.await(() -> {
            try {
                far.resolve("mute");
                return true;
            } catch (Exception e) {
                return false;
            }
        }, "far knows mute");
        long t0 = System.nanoTime();
        BlockException e = failure(RemoteBlockDevice.open(far.mesh(), far.resolve("mute"), "mute/x", SIZE, 4096, true,
            new RemoteBlockDevice.Options(Duration.ofSeconds(30), Duration.ofSeconds(1), 64, 8192)), T);
        long millis = (System.nanoTime() - t0) / 1_000_000;
        assertThat(e.error()).isEqualTo(Dmsg.ERR_LOSTLINK);
        assertThat(e.getMessage()).matches("export mute/x: no answer to BLK_OPEN within \\d+ ms");
        assertThat(millis).isBetween(RemoteBlockDevice.OPEN_ANSWER_MIN_MILLIS - 100, 5_000L);
        cluster.await(() -> far.mesh().circuits().isEmpty() && mute.mesh().circuits().isEmpty(), "the circuit closed");
    }

    // ------------------------------------------------------------------------------------------
    // Failover

    /** How the relay on the circuit's path goes. */
    enum Cut {
        /** Its links dropped at once, no DELETE sent: what its neighbours see when the process dies. */
        CRASH,
        /** Node.close(): its spans withdrawn first, then its links closed in order. */
        CLOSE
    }

    static String originLink(Node client) {
        return client.mesh().circuits().stream().filter(v -> v.role().equals("origin")).map(MeshNode.CircuitView::link)
            .findFirst().orElse(null);
    }

    @ParameterizedTest
    @EnumSource(Cut.class)
    void aWriteWorkloadSurvivesTheRelayOnItsPathGoingAndEveryWriteIsThereInIssueOrder(Cut cut) throws Exception {
        Path file = disk("disk0.img");
        Node exp = start("exp", Node.Export.of("disk0", file));
        Node r1 = start("r1");
        Node r2 = start("r2");
        Node client = start("client");
        link(r1, exp);
        link(r2, exp);
        link(client, r1);
        link(client, r2);
        cluster.await(() -> {
            JsonNode s = span(client, "exp/disk0");
            return s != null && s.get("links").size() == 2;
        }, "two paths from client to exp/disk0");

        RemoteBlockDevice d = open(client, "exp/disk0", true, options(Duration.ofSeconds(20), 64, 8192));
        List<String> events = new CopyOnWriteArrayList<>();
        d.onFailover(events::add);
        String via = originLink(client);
        assertThat(via).isIn("r1", "r2");
        Node onPath = via.equals("r1") ? r1 : r2;
        String other = via.equals("r1") ? "r2" : "r1";

        long seed = System.nanoTime();
        WriteModel w = new WriteModel(Blocks.writes(d), d.sizeBytes(), seed, 96);
        Thread writer = new Thread(w, "workload");
        writer.start();
        try {
            cluster.await(() -> w.acked() >= 300, "300 writes acknowledged before the cut");
            long beforeCut = w.acked();
            if (cut == Cut.CRASH) {
                onPath.endpoint().abort("crashed by the test");
            } else {
                cluster.stop(onPath);
            }
            cluster.await(() -> d.failoverStats().failovers() >= 1 && !d.failoverStats().waiting(), "re-opened");
            long reopened = w.acked();
            cluster.await(() -> w.acked() >= reopened + 300, "300 more writes after the re-open");
            assertThat(w.acked()).isGreaterThan(beforeCut);
        } finally {
            w.stop();
            writer.join(T.toMillis());
        }
        w.awaitAll(Duration.ofSeconds(30));
        assertThat(w.errors()).as("every write succeeded (seed %d)", seed).isEmpty();
        assertThat(originLink(client)).isEqualTo(other);

        RemoteBlockDevice.FailoverStats st = d.failoverStats();
        assertThat(st.failovers()).isEqualTo(1);
        assertThat(st.waiting()).isFalse();
        assertThat(st.maxPauseMillis()).isEqualTo(st.lastPauseMillis()).isLessThan(10_000);
        assertThat(events).hasSize(2);
        assertThat(events.get(0)).startsWith("export exp/disk0: the circuit").contains("for another path");
        Matcher m = Pattern.compile("export exp/disk0: re-opened via " + other + " \\(2 hops\\) after a (\\d+) ms pause; "
            + "re-sending \\d+ request\\(s\\)").matcher(events.get(1));
        assertThat(m.matches()).as(events.get(1)).isTrue();
        assertThat(Long.parseLong(m.group(1))).isEqualTo(st.lastPauseMillis());
        System.out.printf("failover (%s): pause %d ms, %d writes (seed %d)%n", cut, st.lastPauseMillis(),
            w.issuedCount(), seed);

        d.flush().get(10, TimeUnit.SECONDS);
        assertSameBytes(readAll(d), w.model(), "read back through the client (seed " + seed + ")");
        assertSameBytes(Files.readAllBytes(file), w.model(), "the exported file (seed " + seed + ")");
    }

    // ------------------------------------------------------------------------------------------
    // The export's file changing size under the node

    /**
     * Truncated under a running node: a read past the new end fails with IO (not zeros), counted
     * in the export's errors, and the export is re-advertised at its new size; grown, the
     * periodic look at the size re-advertises it without any I/O.
     */
    @Test
    void aFileTruncatedUnderTheNodeFailsReadsPastItsEndAndIsReadvertisedAtItsSize() throws Exception {
        Path file = disk("disk0.img");
        Node exp = start("exp", Node.Export.of("disk0", file));
        Node far = start("far");
        link(far, exp);
        cluster.await(() -> listed(far, "exp/disk0") != null, "far lists exp/disk0");
        RemoteBlockDevice d = open(far, "exp/disk0", false, options(T, 64, 1024));
        assertThat(d.sizeBytes()).isEqualTo(SIZE);

        try (FileChannel other = FileChannel.open(file, StandardOpenOption.WRITE)) {
            other.truncate(2 << 20); // someone else shrinks the file under the node
        }
        BlockException past = failure(d.read(4 << 20, 4096), T);
        assertThat(past.error()).isEqualTo(Dmsg.ERR_IO);
        // found by the read (the file ends early) or by the node's look at its size a moment before
        assertThat(past.getMessage()).startsWith("export exp/disk0: read at 4194304 (4096 bytes): export disk0: read at "
            + "4194304: file shrank to 2097152 bytes (");
        assertThat(read(d, 0, 4096)).hasSize(4096); // what is left is still served
        assertThat(counter(exp, "errors")).isEqualTo(1);
        // re-advertising withdraws the span and adds it again: between the two it is not listed
        cluster.await(() -> listedSize(far, "exp/disk0") == 2 << 20, "exp/disk0 advertised at 2 MiB");
        assertThat(counter(exp, "size")).isEqualTo(2 << 20);
        assertThat(listed(far, "exp/disk0").serial()).as("the same disk, smaller").isEqualTo(
            export0(exp).get("serial").asText());
        assertThat(failure(d.read(6 << 20, 512), T).error()).as("below the old size").isEqualTo(Dmsg.ERR_IO);
        assertThat(counter(exp, "errors")).isEqualTo(2);

        try (FileChannel other = FileChannel.open(file, StandardOpenOption.WRITE)) {
            other.write(ByteBuffer.wrap(new byte[] {7}), (16 << 20) - 1); // grown, no I/O through the node
        }
        cluster.await(() -> listedSize(far, "exp/disk0") == 16 << 20, "exp/disk0 advertised at 16 MiB");
        RemoteBlockDevice bigger = open(far, "exp/disk0", false, options(T, 64, 1024));
        assertThat(bigger.sizeBytes()).isEqualTo(16 << 20);
        assertThat(read(bigger, (16 << 20) - 512, 512)[511]).isEqualTo((byte) 7);
    }

    /** The size {@code node} lists {@code spec} at, or -1 while it is not listed. */
    private static long listedSize(Node node, String spec) {
        BlkClient.RemoteExport x = listed(node, spec);
        return x == null ? -1 : x.sizeBytes();
    }

    // ------------------------------------------------------------------------------------------
    // The exporting node gone

    @Test
    void whenTheExporterGoesEverythingFailsWithinTheWaitThenNewRequestsAtOnceUntilItIsBack() throws Exception {
        Node exp = start("exp", Node.Export.of("disk0", disk("disk0.img")));
        Node relay = start("relay");
        Node far = start("far");
        link(relay, exp);
        link(far, relay);
        cluster.await(() -> listed(far, "exp/disk0") != null, "far lists exp/disk0");
        Duration wait = Duration.ofSeconds(2);
        int maxQueued = 400;
        RemoteBlockDevice d = open(far, "exp/disk0", true, options(wait, 64, maxQueued));
        List<String> events = new CopyOnWriteArrayList<>();
        d.onFailover(events::add);

        // 400 requests, 26 MiB: far more than can be answered before the exporter stops
        List<CompletableFuture<?>> io = new ArrayList<>();
        byte[] data = new byte[K64];
        new Random(1).nextBytes(data);
        for (int i = 0; i < 400; i++) {
            long at = (long) (i % 128) * K64;
            io.add(i % 2 == 0 ? d.read(at, K64) : d.write(at, buf(data), false));
        }
        long t0 = System.nanoTime();
        cluster.stop(exp);
        int lost = Blocks.lostLinks(io, wait.plusSeconds(10), "export exp/disk0: no path for 2 s (");
        long tookMillis = (System.nanoTime() - t0) / 1_000_000;
        assertThat(lost).as("requests outstanding when the exporter went").isGreaterThan(0);
        assertThat(tookMillis).as("waited for a path, boundedly").isBetween(wait.toMillis() - 200, wait.toMillis() + 10_000);
        assertThat(events).hasSize(2);
        assertThat(events.get(1)).startsWith("export exp/disk0: no path for 2 s (").contains("; failing ");
        RemoteBlockDevice.FailoverStats st = d.failoverStats();
        assertThat(st.failovers()).isEqualTo(1);
        assertThat(st.waiting()).isTrue();

        // a wait expired with no path: new requests fail at once (a client flushing on exit is
        // not held a whole wait per request), each with LOSTLINK and why
        for (int i = 0; i < 3; i++) {
            long t1 = System.nanoTime();
            CompletableFuture<Void> flush = d.flush();
            BlockException again = failure(flush, T);
            long againMillis = (System.nanoTime() - t1) / 1_000_000;
            assertThat(again.error()).isEqualTo(Dmsg.ERR_LOSTLINK);
            assertThat(again.getMessage()).startsWith("export exp/disk0: no path since a wait of 2 s for one ended (no path "
                + "to node ").endsWith("; failed: flush at 0");
            assertThat(againMillis).as("no new wait").isLessThan(wait.toMillis() / 2);
        }
        System.out.printf("exporter gone: outstanding I/O failed after %d ms%n", tookMillis);

        // the path returns: the next request is served, over a new open
        Node back = cluster.restart(exp);
        link(relay, back);
        cluster.await(() -> listed(far, "exp/disk0") != null, "far lists exp/disk0 again");
        assertThat(read(d, 0, 4096)).hasSize(4096);
        assertThat(events).hasSize(3);
        assertThat(events.get(2)).startsWith("export exp/disk0: a path is back: re-opened via relay");
        assertThat(d.failoverStats().waiting()).isFalse();

        // lost again: this loss gets its whole wait, and the queue is bounded meanwhile (LIMIT, at once)
        cluster.stop(back);
        cluster.await(() -> d.failoverStats().waiting(), "the device notices the loss");
        CompletableFuture<ByteBuf> waiting = d.read(0, 512);
        List<CompletableFuture<ByteBuf>> queued = new ArrayList<>();
        for (int i = 1; i < maxQueued; i++) {
            queued.add(d.read((long) i * 512, 512));
        }
        BlockException limit = failure(d.read(0, 512), Duration.ofMillis(100));
        assertThat(limit.error()).isEqualTo(Dmsg.ERR_LIMIT);
        assertThat(limit.getMessage()).isEqualTo("export exp/disk0: 400 requests queued; refused");

        // closing while I/O waits for a path fails it at once, not at the end of the wait
        long t2 = System.nanoTime();
        d.close();
        BlockException closed = failure(waiting, T);
        assertThat(closed.error()).isEqualTo(Dmsg.ERR_IO);
        assertThat(closed.getMessage()).isEqualTo("export exp/disk0: closed; failed: read at 0 (512 bytes)");
        assertThat(System.nanoTime() - t2).isLessThan(TimeUnit.MILLISECONDS.toNanos(wait.toMillis() / 2));
        for (CompletableFuture<ByteBuf> q : queued) {
            assertThat(failure(q, T).error()).isEqualTo(Dmsg.ERR_IO);
        }
    }
}
