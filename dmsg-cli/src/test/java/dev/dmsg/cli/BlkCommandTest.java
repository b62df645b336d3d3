package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.Await;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dmsg blk ls} and {@code dmsg blk cp} (docs/BLK.md "Tools") against real nodes in this JVM,
 * over TLS on loopback: a line n0 – n1 – n2 with n2 exporting {@code disk} (32 MiB, read-write)
 * and {@code ro} (1 MiB, read-only). The CLI joins through n0 as n0 itself (its data directory as
 * identity), so every copy crosses n0 and n1 as relays: three links, two hops of relaying.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BlkCommandTest extends CliCapture {
    static final Await WAIT = Await.atMost(Duration.ofSeconds(15));
    static final long DISK_BYTES = 32L << 20;
    static final long RO_BYTES = 1L << 20;
    static final byte FILL = (byte) 0xAB;
    static final Pattern LOG_LINE = ShellCommandTest.LOG_LINE;

    @TempDir
    static Path tmp;

    final TestCluster cluster = new TestCluster(() -> tmp);
    Node n0;
    Node n1;
    Node n2;
    Path disk;
    Path ro;

    @BeforeAll
    void mesh() throws Exception {
        disk = filled(tmp.resolve("disk.img"), DISK_BYTES);
        ro = filled(tmp.resolve("ro.img"), RO_BYTES);
        n0 = cluster.start("n0");
        n1 = cluster.start("n1");
        n2 = cluster.start(cluster.settings("n2").withExports(List.of(Node.Export.of("disk", disk).withAllow("member"),
                new Node.Export("ro", ro, true, 4096).withAllow("member"))));
        link(n0, n1);
        link(n1, n2);
        Node.trustEachOther(n0, n2, Role.MEMBER); // end to end: n2 authorises the CLI's key (n0's) itself
        WAIT.until(() -> dist(n0, "n2/disk") == 1 && dist(n0, "n2/ro") == 1, "n0 sees n2's exports at dist 1");
    }

    @AfterAll
    void stop() throws Exception {
        cluster.close();
    }

    /** {@code from} keeps a link to {@code to}, each trusting the other as a member. */
    static void link(Node from, Node to) throws Exception {
        TestCluster.link(from, to, Role.MEMBER);
    }

    static Path filled(Path f, long bytes) throws Exception {
        byte[] block = new byte[1 << 20];
        Arrays.fill(block, FILL);
        try (var out = Files.newOutputStream(f)) {
            for (long at = 0; at < bytes; at += block.length) {
                out.write(block, 0, (int) Math.min(block.length, bytes - at));
            }
        }
        return f;
    }

    /** The CLI as n0: its own key, which n0 trusts as admin (docs/OPERATIONS.md, "The CLI's identity"). */
    String[] via(String... args) {
        String[] all = Arrays.copyOf(args, args.length + 4);
        all[args.length] = "--node";
        all[args.length + 1] = "127.0.0.1:" + n0.address().getPort();
        all[args.length + 2] = "--identity";
        all[args.length + 3] = tmp.resolve("n0").toString();
        return all;
    }

    /** stderr without the in-process nodes' log lines. */
    String errLines() {
        StringBuilder b = new StringBuilder();
        err().lines().filter(l -> !LOG_LINE.matcher(l).lookingAt()).forEach(l -> b.append(l).append('\n'));
        return b.toString();
    }

    static int dist(Node n, String clLabel) {
        try {
            for (JsonNode s : n.status().get("spans")) {
                if (s.get("cl_label").asText().equals(clLabel)) {
                    return s.get("dist").asInt();
                }
            }
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        return -1;
    }

    static JsonNode export(Node n, String name) throws Exception {
        for (JsonNode e : n.status().get("exports")) {
            if (e.get("name").asText().equals(name)) {
                return e;
            }
        }
        throw new AssertionError("no export " + name);
    }

    static String sha256(Path f, long offset, long length) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] buf = new byte[1 << 20];
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "r")) {
            r.seek(offset);
            long left = length;
            while (left > 0) {
                int n = r.read(buf, 0, (int) Math.min(buf.length, left));
                assertThat(n).as("%s ends before %d", f, offset + length).isPositive();
                sha.update(buf, 0, n);
                left -= n;
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    // ------------------------------------------------------------------------------------------

    @Test
    void lsShowsTheExportsTwoRelaysAwayWithExactSizes() throws Exception {
        assertThat(run(via("blk", "ls", "--json"))).as(errLines()).isZero();
        JsonNode all = new ObjectMapper().readTree(out());
        assertThat(all.size()).as(out()).isEqualTo(2);
        JsonNode d = all.get(0);
        assertThat(d.get("label").asText()).isEqualTo("n2/disk");
        assertThat(d.get("node").asText()).isEqualTo("n2");
        assertThat(d.get("name").asText()).isEqualTo("disk");
        assertThat(d.get("bytes").asLong()).isEqualTo(DISK_BYTES);
        assertThat(d.get("blksize").asInt()).isEqualTo(4096);
        // the guest is n0's neighbour: n0 at dist 0, n1 at 1, n2 (and its exports) at 2
        assertThat(d.get("dist").asInt()).isEqualTo(2);
        assertThat(d.get("serial").asText()).isEqualTo(export(n2, "disk").get("serial").asText());
        assertThat(all.get(1).get("label").asText()).isEqualTo("n2/ro");
        assertThat(all.get(1).get("bytes").asLong()).isEqualTo(RO_BYTES);

        assertThat(run(via("blk", "ls"))).isZero();
        List<String> lines = out().lines().toList();
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).matches("NODE +NAME +SIZE +BLKSIZE +DIST +SERIAL");
        assertThat(lines.get(1)).matches("n2 +disk +32\\.0 MiB +4096 +2 +" + export(n2, "disk").get("serial").asText());
        assertThat(lines.get(2)).matches("n2 +ro +1\\.0 MiB +4096 +2 +[0-9a-f-]{36}");
    }

    @Test
    void aToolRunWithItsNodesIdentityReachesThatNodesNeighbour() throws Exception {
        // The CLI as n1 (n1's own key), through n1, to n2's export: n2 receives the circuit from the
        // node n1 and a hello signed with that same key. It must still be sealed end to end: the
        // key alone never makes a circuit direct (docs/IDENTITY.md §4.3; this once failed as
        // "the far end claims to be our neighbour").
        Path src = tmp.resolve("small.bin");
        byte[] data = new byte[1 << 20];
        new Random(11).nextBytes(data);
        Files.write(src, data);
        String[] args = {"blk", "cp", src.toString(), "mesh:n2/disk", "--verify", "--node",
            "127.0.0.1:" + n1.address().getPort(), "--identity", tmp.resolve("n1").toString()};
        assertThat(run(args)).as(errLines()).isZero();
        assertThat(errLines()).contains("verified: export n2/disk holds the same " + data.length + " bytes");
    }

    @Test
    void cpRoundTripThroughTwoRelaysKeepsEveryByte() throws Exception {
        long seed = System.nanoTime();
        realErr().println("BlkCommandTest: random data seed " + seed);
        int n = 24 << 20;
        byte[] data = new byte[n];
        new Random(seed).nextBytes(data);
        Path src = tmp.resolve("src.bin");
        Files.write(src, data);
        String want = sha256(src, 0, n);

        assertThat(run(via("blk", "cp", src.toString(), "mesh:n2/disk", "--verify"))).as("seed %d: %s", seed, errLines())
            .isZero();
        assertThat(out()).isEqualTo("sha256 " + want + "  " + n + " bytes\n");
        String upErr = errLines();
        assertThat(upErr).contains("verified: export n2/disk holds the same " + n + " bytes");
        // the exporter's file: the copy at offset 0, the rest of the export untouched
        assertThat(sha256(disk, 0, n)).as("seed %d", seed).isEqualTo(want);
        byte[] tail = new byte[(int) (DISK_BYTES - n)];
        try (RandomAccessFile r = new RandomAccessFile(disk.toFile(), "r")) {
            r.seek(n);
            r.readFully(tail);
        }
        byte[] untouched = new byte[tail.length];
        Arrays.fill(untouched, FILL);
        assertThat(Arrays.equals(tail, untouched)).as("bytes past the copy untouched").isTrue();
        assertThat(export(n2, "disk").get("flushes").asLong()).isPositive();

        Path back = tmp.resolve("back.bin");
        Files.write(back, new byte[] {1, 2, 3}); // replaced, not merged
        assertThat(run(via("blk", "cp", "mesh:disk", back.toString(), "--length", "24M"))).as(errLines()).isZero();
        assertThat(out()).isEqualTo("sha256 " + want + "  " + n + " bytes\n");
        String downErr = errLines();
        assertThat(Files.size(back)).isEqualTo(n);
        assertThat(Arrays.equals(Files.readAllBytes(back), data)).as("seed %d: the copy back equals the source", seed)
            .isTrue();

        // the whole export by default: the copy, then the untouched fill
        Path whole = tmp.resolve("whole.bin");
        assertThat(run(via("blk", "cp", "mesh:n2/disk", whole.toString(), "-q"))).as(errLines()).isZero();
        assertThat(Files.size(whole)).isEqualTo(DISK_BYTES);
        assertThat(out()).isEqualTo("sha256 " + sha256(disk, 0, DISK_BYTES) + "  " + DISK_BYTES + " bytes\n");
        assertThat(errLines()).isEmpty();

        report("to the export", upErr);
        report("from the export", downErr);
    }

    /** Prints the summary line's throughput (shown in the test log; the value is not asserted). */
    void report(String what, String err) {
        Matcher m = Pattern.compile("(\\d+) bytes in ([\\d.]+) s \\(([\\d.]+) MiB/s\\)").matcher(err);
        assertThat(m.find()).as(err).isTrue();
        realErr().println("BlkCommandTest: cp " + what + " through two relays: " + m.group(1) + " bytes in "
            + m.group(2) + " s, " + m.group(3) + " MiB/s");
    }

    /**
     * A relay dies in the middle of a copy and the copy goes on over the other way round, with the
     * failover lines on stderr. A square f0 – f1 – f2 – f3 – f0, f2 exporting; the copy goes to a
     * FIFO the test reads, so the test holds it mid-way without timing: having read 1 MiB, at
     * most 17 of the 32 chunks have been asked for; the relay the circuit crosses is killed then,
     * and the rest can only come over the other relay.
     */
    @Test
    void aRelayKilledMidCopyIsSurvivedByFailover() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/mkfifo")), "needs mkfifo");
        Path image = tmp.resolve("f2.img");
        byte[] data = new byte[(int) DISK_BYTES];
        long seed = System.nanoTime();
        new Random(seed).nextBytes(data);
        Files.write(image, data);
        try (TestCluster ring = new TestCluster(() -> tmp)) {
            for (String l : new String[] {"f0", "f1", "f2", "f3"}) {
                Node.Settings st = ring.settings(l);
                ring.start(l.equals("f2") ? st.withExports(List.of(Node.Export.of("disk", image).withAllow("member"))) : st);
            }
            List<Node> square = ring.nodes();
            Node f0 = square.get(0);
            for (int i = 0; i < 4; i++) {
                link(square.get(i), square.get((i + 1) % 4));
            }
            Node.trustEachOther(f0, square.get(2), Role.MEMBER); // end to end: f2 authorises f0's key itself
            WAIT.until(() -> dist(f0, "f2/disk") == 1 && paths(f0, "f2/disk") == 2, "f0 has two paths to f2/disk");

            Path fifo = tmp.resolve("copy.fifo");
            assertThat(new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor()).isZero();
            // read-write: opening does not wait for the writer, and a read blocked on it ends when we close it
            try (FileChannel in = FileChannel.open(fifo,
                    StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                CompletableFuture<Integer> cli = new CompletableFuture<>();
                Thread t = new Thread(() -> cli.complete(run("blk", "cp", "mesh:f2/disk", fifo.toString(), "--node",
                    "127.0.0.1:" + f0.address().getPort(), "--identity", tmp.resolve("f0").toString())), "blk-cp");
                t.start();
                cli.whenComplete((status, e) -> {
                    try {
                        in.close(); // it ended: a read still waiting fails rather than hanging
                    } catch (IOException ignored) {
                        // closing
                    }
                });
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                ByteBuffer buf = ByteBuffer.allocate(1 << 16);
                long got = readInto(in, sha, buf, 1 << 20);
                // f0 relays the guest's circuit; the second relay is f1 or f3
                Node relay = List.of(square.get(1), square.get(3)).stream().filter(n -> n.mesh().circuits().stream()
                    .anyMatch(v -> v.role().equals("relay") && v.target().clLabel().equals("f2/disk")))
                    .findFirst().orElseThrow(() -> new AssertionError("neither f1 nor f3 carries the copy's circuit"));
                relay.endpoint().abort("killed by the test");
                got += readInto(in, sha, buf, DISK_BYTES - got);
                t.join(TimeUnit.SECONDS.toMillis(60));
                assertThat(cli.getNow(-1)).as(errLines()).isZero();
                String want = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
                assertThat(HexFormat.of().formatHex(sha.digest())).as("seed %d", seed).isEqualTo(want);
                assertThat(out()).isEqualTo("sha256 " + want + "  " + DISK_BYTES + " bytes\n");
                assertThat(errLines())
                    // the loss is seen first by a request, by the circuit or by the open (RemoteBlockDevice words each)
                    .containsPattern("dmsg blk cp: export f2/disk: [^\\n]*(lost|LOSTLINK)[^\\n]*; \\d+ request\\(s\\) wait up "
                        + "to 30 s for another path")
                    .containsPattern("dmsg blk cp: export f2/disk: re-opened via f0 \\(\\d hops\\) after a \\d+ ms pause");
            }
        }
    }

    /** Reads {@code n} bytes from {@code in} into {@code sha}. */
    static long readInto(FileChannel in, MessageDigest sha, ByteBuffer buf, long n)
            throws Exception {
        long got = 0;
        while (got < n) {
            buf.clear().limit((int) Math.min(buf.capacity(), n - got));
            int r = in.read(buf);
            assertThat(r).as("the copy ended after %d bytes", got).isPositive();
            buf.flip();
            sha.update(buf);
            got += r;
        }
        return got;
    }

    static int paths(Node n, String clLabel) {
        try {
            for (JsonNode s : n.status().get("spans")) {
                if (s.get("cl_label").asText().equals(clLabel)) {
                    int feasible = 0;
                    for (JsonNode l : s.get("links")) {
                        feasible += l.get("feasible").asBoolean() ? 1 : 0;
                    }
                    return feasible;
                }
            }
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        return 0;
    }

    @Test
    void anUnknownExportIsNamedWithTheKnownOnes() throws Exception {
        Path src = Files.write(tmp.resolve("small.bin"), new byte[4096]);
        assertThat(run(via("blk", "cp", src.toString(), "mesh:nosuch"))).isEqualTo(1);
        assertThat(errLines()).matches("dmsg blk cp: no export 'nosuch' in the mesh \\(known: n2/disk \\([0-9a-f-]{36}\\), "
            + "n2/ro \\([0-9a-f-]{36}\\)\\)\n");
        assertThat(out()).isEmpty();
    }

    @Test
    void aFileLargerThanTheExportIsRefusedNamingBothSizes() throws Exception {
        Path big = tmp.resolve("big.bin");
        try (RandomAccessFile r = new RandomAccessFile(big.toFile(), "rw")) {
            r.setLength(DISK_BYTES + 1); // sparse: nothing is read before the check
        }
        long writes = export(n2, "disk").get("writes").asLong();
        assertThat(run(via("blk", "cp", big.toString(), "mesh:n2/disk"))).isEqualTo(1);
        assertThat(errLines()).isEqualTo("dmsg blk cp: " + big + " is 33554433 bytes (32.0 MiB); export n2/disk is "
            + "33554432 bytes (32.0 MiB): it does not fit\n");
        assertThat(export(n2, "disk").get("writes").asLong()).isEqualTo(writes);
    }

    @Test
    void aReadOnlyExportRefusesACopyToIt() throws Exception {
        Path src = Files.write(tmp.resolve("small.bin"), new byte[8192]);
        String before = sha256(ro, 0, RO_BYTES);
        assertThat(run(via("blk", "cp", src.toString(), "mesh:n2/ro"))).isEqualTo(1);
        assertThat(errLines()).isEqualTo("dmsg blk cp: export n2/ro: open refused: export 'ro' is read-only\n");
        assertThat(sha256(ro, 0, RO_BYTES)).isEqualTo(before);
        // reading it is fine
        assertThat(run(via("blk", "cp", "mesh:n2/ro", tmp.resolve("ro.copy").toString(), "-q"))).as(errLines()).isZero();
        assertThat(out()).isEqualTo("sha256 " + before + "  " + RO_BYTES + " bytes\n");
    }

    @Test
    void aLengthPastTheExportIsRefused() throws Exception {
        assertThat(run(via("blk", "cp", "mesh:n2/ro", tmp.resolve("x").toString(), "--length", "2M"))).isEqualTo(1);
        assertThat(errLines()).isEqualTo("dmsg blk cp: --length 2097152 is more than export n2/ro holds (1048576 bytes)\n");
        assertThat(Files.exists(tmp.resolve("x"))).isFalse();
    }

    @Test
    void bothOrNeitherSideAnExportIsAUsageError() throws Exception {
        assertThat(run(via("blk", "cp", "a", "b"))).isEqualTo(2);
        assertThat(errLines()).contains("neither SRC nor DST is an export");
        assertThat(run(via("blk", "cp", "mesh:a", "mesh:b"))).isEqualTo(2);
        assertThat(errLines()).contains("both SRC and DST are exports");
    }

    @Test
    void aMeshWithoutExportsListsNone() throws Exception {
        Node lone = cluster.start("lone");
        try {
            String[] args = {"blk", "ls", "--node", "127.0.0.1:" + lone.address().getPort(), "--identity",
                tmp.resolve("lone").toString()};
            assertThat(run(args)).as(errLines()).isZero();
            assertThat(out()).isEqualTo("no exports\n");
            String[] json = Arrays.copyOf(args, args.length + 1);
            json[args.length] = "--json";
            assertThat(run(json)).isZero();
            assertThat(new ObjectMapper().readTree(out()).isArray()).isTrue();
            assertThat(new ObjectMapper().readTree(out()).size()).isZero();
        } finally {
            cluster.stop(lone);
        }
    }

    @Test
    void aKeyTheNodeDoesNotTrustIsOneClearLineAndExitOne() throws Exception {
        Path stranger = tmp.resolve("stranger");
        NodeKeys.generate("stranger").write(stranger, false);
        assertThat(run("blk", "ls", "--node", "127.0.0.1:" + n0.address().getPort(), "--identity", stranger.toString(),
            "--wait", "1s")).isEqualTo(1);
        assertThat(out()).isEmpty();
        assertThat(errLines()).startsWith("dmsg blk ls: cannot reach node 127.0.0.1:" + n0.address().getPort() + ": ")
            .contains("SHA256:");
        assertThat(errLines().lines()).hasSize(1);
    }

    @Test
    void anUnreachableNodeIsOneClearLineAndExitOne() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // free once closed: nothing listens there
        }
        assertThat(run("blk", "ls", "--node", "127.0.0.1:" + port, "--identity", tmp.resolve("n0").toString(),
            "--wait", "500ms")).isEqualTo(1);
        assertThat(out()).isEmpty();
        assertThat(errLines()).startsWith("dmsg blk ls: cannot reach node 127.0.0.1:" + port + ": ")
            .contains("Connection refused");
        assertThat(errLines().lines()).hasSize(1);
    }

    /** Under dmsg lock, blk cp and nbd read the token from DMSG_FENCE_TOKEN (docs/CAC.md §6). */
    @Test
    void theFencingTokenComesFromTheEnvironmentOrNowhere() {
        assertThat(BlkCommand.fenceToken((String) null)).isZero();
        assertThat(BlkCommand.fenceToken(" ")).isZero();
        assertThat(BlkCommand.fenceToken("812\n")).isEqualTo(812);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> BlkCommand.fenceToken("abc"))
            .hasMessage("DMSG_FENCE_TOKEN='abc' is not a fencing token (a positive number)");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> BlkCommand.fenceToken("-3"))
            .hasMessageContaining("not a fencing token");
    }
}
