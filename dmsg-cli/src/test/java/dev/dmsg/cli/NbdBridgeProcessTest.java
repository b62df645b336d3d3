package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.testing.Blocks;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.DebianTools;
import dev.dmsg.testkit.Processes;
import dev.dmsg.testkit.TempFiles;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * {@code dmsg nbd} between real NBD clients and a real mesh: three {@code dmsg node} processes in a
 * line n0 – n1 – n2, n2 exporting a 256 MiB file (on tmpfs), and {@code dmsg nbd --export disk0
 * --node n0}: every NBD request crosses the bridge's guest node, n0 and n1 to reach n2. qemu-img,
 * nbdcopy, nbdinfo and fio (Debian's, installed on demand by {@link DebianTools}) use it; the data
 * is checked by sha256 of the source, of the exported file on n2's disk and of what is read back.
 * Then the command's errors (n2 also exports a read-only {@code iso}), a read-only bridge, a relay
 * killed mid-copy (failover through a fourth node), and SIGTERM with a client connected.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class NbdBridgeProcessTest {
    static final long DISK_BYTES = 256L << 20;
    static final Duration START = Duration.ofSeconds(60);
    static final Duration TOOL_TIMEOUT = Duration.ofSeconds(90);
    static final ObjectMapper JSON = new ObjectMapper();
    static final Pattern SERVING = Pattern.compile("dmsg nbd: serving (\\S+) \\((\\d+) bytes, (read-write|read-only)\\) "
        + "on 127\\.0\\.0\\.1:(\\d+): nbd://127\\.0\\.0\\.1:(\\d+)/(\\S+)");

    Path dir;
    Path disk0;
    NodeProcess n0;
    NodeProcess n1;
    NodeProcess n2;
    NodeProcess n3;
    NodeProcess bridge;
    int nbdPort;
    final List<NodeProcess> others = new ArrayList<>();

    @BeforeAll
    void startMeshAndBridge() throws Exception {
        DebianTools.require("qemu-img", "nbdinfo", "nbdcopy", "fio");
        dir = TempFiles.tmpfsDir("nbd-bridge");
        disk0 = dir.resolve("disk0.img");
        TempFiles.sized(disk0, DISK_BYTES);
        Path iso = dir.resolve("iso.img");
        Files.write(iso, new byte[1 << 20]);
        NodeProcess.prepareMesh(dir, "n0", "n1", "n2", "n3"); // n3 joins later, for the failover test
        n0 = NodeProcess.startNode("n0", dir.resolve("n0"), 0, null, START);
        n1 = NodeProcess.startNode("n1", dir.resolve("n1"), 0, n0.port(), START);
        n2 = NodeProcess.startNode("n2", dir.resolve("n2"), 0, n1.port(), START, "--export", "disk0=" + disk0
            + ",allow=member", "--export", "iso=" + iso + ",ro,allow=member");
        awaitStatus(n0, "n0", s -> hasSpan(s, "n2/disk0"), "n0 sees the export n2/disk0");
        long t0 = System.nanoTime();
        bridge = NodeProcess.start("nbd", "nbd", "--export", "disk0", "--node", "127.0.0.1:" + n0.port(),
            "--identity", dir.resolve("n0").toString(), "--listen", "127.0.0.1:0");
        Matcher m = serving(bridge);
        log("bridge up (JVM start, join, find, open, listen) in %d ms", ms(t0));
        assertThat(m.group(1)).isEqualTo("n2/disk0");
        assertThat(Long.parseLong(m.group(2))).isEqualTo(DISK_BYTES);
        assertThat(m.group(3)).isEqualTo("read-write");
        assertThat(m.group(5)).isEqualTo(m.group(4));
        assertThat(m.group(6)).isEqualTo("disk0");
        nbdPort = Integer.parseInt(m.group(4));
    }

    @AfterAll
    void stopAll() throws Exception {
        for (NodeProcess p : others) {
            p.close();
        }
        for (NodeProcess p : new NodeProcess[] {bridge, n3, n2, n1, n0}) {
            if (p != null) {
                p.close();
            }
        }
        if (dir != null) {
            TempFiles.deleteTree(dir);
        }
    }

    // ------------------------------------------------------------------------------------------

    @Test
    @Order(10)
    void nbdinfoShowsTheExportItsSizeAndTheList() throws Exception {
        JsonNode e = JSON.readTree(tool("nbdinfo", "--json", uri()).output()).path("exports").get(0);
        assertThat(e.path("export-name").asText()).isEqualTo("disk0");
        assertThat(e.path("export-size").asLong()).isEqualTo(DISK_BYTES);
        assertThat(e.path("is_read_only").asBoolean()).isFalse();
        assertThat(e.path("block_size_preferred").asInt()).isEqualTo(4096);
        assertThat(e.path("can_flush").asBoolean()).isTrue();
        assertThat(e.path("can_trim").asBoolean()).isTrue();

        // the empty name is the default export: the only one
        JsonNode d = JSON.readTree(tool("nbdinfo", "--json", "nbd://127.0.0.1:" + nbdPort).output()).path("exports").get(0);
        assertThat(d.path("export-size").asLong()).isEqualTo(DISK_BYTES);

        JsonNode list = JSON.readTree(tool("nbdinfo", "--list", "--json", "nbd://127.0.0.1:" + nbdPort).output());
        List<String> names = new ArrayList<>();
        list.path("exports").forEach(x -> names.add(x.path("export-name").asText()));
        assertThat(names).containsExactly("disk0");
    }

    @Test
    @Order(20)
    void qemuImgWritesAnImageInAndReadsItBackThroughTwoHops() throws Exception {
        Path src = randomImage("qemu-src.img", 0x71656d75L);
        Path back = dir.resolve("qemu-back.img");
        long t0 = System.nanoTime();
        tool("qemu-img", "convert", "-n", "-W", "-f", "raw", "-O", "raw", src.toString(), uri());
        long in = ms(t0);
        t0 = System.nanoTime();
        tool("qemu-img", "convert", "-f", "raw", "-O", "raw", uri(), back.toString());
        long out = ms(t0);
        log("qemu-img 256 MiB in: %d ms (%.1f MB/s), out: %d ms (%.1f MB/s)", in, mbps(in), out, mbps(out));
        String want = Blocks.sha256(src);
        assertThat(Blocks.sha256(disk0)).as("the exported file on n2's disk").isEqualTo(want);
        assertThat(Blocks.sha256(back)).as("read back through the bridge").isEqualTo(want);
        Files.delete(src);
        Files.delete(back);
    }

    @Test
    @Order(30)
    void nbdcopyCopiesBothWaysUnchanged() throws Exception {
        Path src = randomImage("nbdcopy-src.img", 0x6e6264636fL);
        Path back = dir.resolve("nbdcopy-back.img");
        Files.createFile(back);
        long t0 = System.nanoTime();
        // the bridge says CAN_MULTI_CONN: nbdcopy opens 4 connections, all onto the one remote device
        tool("nbdcopy", "--flush", src.toString(), uri());
        long in = ms(t0);
        t0 = System.nanoTime();
        tool("nbdcopy", uri(), back.toString());
        long out = ms(t0);
        log("nbdcopy 256 MiB in: %d ms (%.1f MB/s), out: %d ms (%.1f MB/s)", in, mbps(in), out, mbps(out));
        String want = Blocks.sha256(src);
        assertThat(Blocks.sha256(disk0)).as("the exported file on n2's disk").isEqualTo(want);
        assertThat(Blocks.sha256(back)).as("read back through the bridge").isEqualTo(want);
        Files.delete(src);
        Files.delete(back);
    }

    @Test
    @Order(40)
    void fioVerifyJobsPass() {
        // fio writes a crc32c header into every block, reads them all back and checks them;
        // verify_fatal: the first bad block ends the job with an error and "verify: bad …"
        long t0 = System.nanoTime();
        Processes.Result random = tool("fio", "--name=rand", "--ioengine=nbd", "--uri=" + uri(), "--rw=randwrite",
            "--bs=4k", "--size=64m", "--iodepth=16", "--verify=crc32c", "--verify_fatal=1", "--verify_state_save=0",
            "--output-format=normal");
        log("fio 4k randwrite 64 MiB + verify, iodepth 16: %d ms", ms(t0));
        assertIssued(random, 16384, 16384);
        t0 = System.nanoTime();
        Processes.Result seq = tool("fio", "--name=seq", "--ioengine=nbd", "--uri=" + uri(), "--rw=write",
            "--bs=1m", "--offset=128m", "--size=64m", "--iodepth=8", "--verify=crc32c", "--verify_fatal=1",
            "--verify_state_save=0", "--output-format=normal");
        log("fio 1m sequential write 64 MiB + verify, iodepth 8: %d ms", ms(t0));
        assertIssued(seq, 64, 64);
    }

    static void assertIssued(Processes.Result r, long reads, long writes) {
        assertThat(r.output()).doesNotContain("verify: bad").contains("err= 0");
        Matcher issued = Pattern.compile("issued rwts: total=(\\d+),(\\d+)").matcher(r.output());
        assertThat(issued.find()).as("fio's summary:%n%s", r.output()).isTrue();
        assertThat(Long.parseLong(issued.group(2))).as("blocks written").isEqualTo(writes);
        assertThat(Long.parseLong(issued.group(1))).as("blocks read back and verified").isEqualTo(reads);
    }

    @Test
    @Order(50)
    void startupErrorsAreOneLineAndExitOne() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort(); // nothing listens there once closed
        }
        Path stranger = dir.resolve("stranger");
        NodeKeys keys = NodeKeys.generate("stranger");
        keys.write(stranger, false);
        // the stranger trusts n0, so the refusal is n0's: it does not know the stranger's key
        TrustStore.open(stranger).add("n0",
            NodeKeys.loadOrCreate(dir.resolve("n0"), "n0").fingerprint(), Role.MEMBER, 0);
        String node = "127.0.0.1:" + n0.port();
        String n0Identity = dir.resolve("n0").toString();
        long t0 = System.nanoTime();
        // the unknown export as a real process; the other cases in this JVM while it runs (the same
        // code, without four more JVM starts)
        NodeProcess unknown = other("nope", "nbd", "--export", "nope", "--node", node, "--identity", n0Identity,
            "--listen", "127.0.0.1:0");
        assertThat(inProcess("nbd", "--export", "disk0", "--node", "127.0.0.1:" + closedPort, "--identity",
            n0Identity, "--listen", "127.0.0.1:0"))
            .startsWith("1 dmsg nbd: cannot reach node 127.0.0.1:" + closedPort + ": ");
        assertThat(inProcess("nbd", "--export", "disk0", "--node", node, "--identity", stranger.toString(),
            "--listen", "127.0.0.1:0"))
            .startsWith("1 dmsg nbd: cannot reach node " + node + ": TLS handshake with ")
            .contains("the peer refused our certificate").contains("dmsg trust add stranger " + keys.fingerprint());
        assertThat(inProcess("nbd", "--export", "n2/iso", "--node", node, "--identity", n0Identity,
            "--listen", "127.0.0.1:0"))
            .isEqualTo("1 dmsg nbd: export n2/iso: open refused: export 'iso' is read-only "
                + "(--read-only to open it for reading)");
        assertThat(inProcess("nbd", "--export", "disk0", "--node", node, "--identity", n0Identity,
            "--listen", "127.0.0.1:" + nbdPort))
            .startsWith("1 dmsg nbd: cannot listen on 127.0.0.1:" + nbdPort + ": ");
        assertExitsOne(unknown, "dmsg nbd: no export 'nope' in the mesh (known: n2/disk0 (");
        log("five failing starts (one process, four in this JVM): %d ms", ms(t0));

        assertThat(inProcess("nbd", "--export", "disk0", "--node", node, "--identity", n0Identity,
            "--listen", "0.0.0.0:0"))
            .isEqualTo("1 dmsg nbd: refusing plaintext NBD on 0.0.0.0:0: anyone who reaches it could read and write "
                + "the export; use --tls require --tls-dir DIR, a Unix socket (--listen unix:PATH), or "
                + "--insecure-plaintext to insist");
        Path regular = Files.writeString(dir.resolve("not-a-socket"), "x");
        assertThat(inProcess("nbd", "--export", "disk0", "--node", node, "--identity", n0Identity,
            "--listen", "unix:" + regular))
            .isEqualTo("1 dmsg nbd: cannot listen on unix:" + regular + ": " + regular
                + ": exists and is not a socket (a regular file); not replaced");

        // usage errors: picocli's status 2, before anything is started
        assertThat(Main.run("nbd", "--node", node)).as("no --export").isEqualTo(2);
        assertThat(Main.run("nbd", "--export", "disk0", "--tls", "require")).as("no --tls-dir").isEqualTo(2);
        assertThat(Main.run("nbd", "--export", "disk0", "--tls", "maybe")).isEqualTo(2);
        assertThat(Main.run("nbd", "--export", "disk0", "--failover-wait", "soon")).isEqualTo(2);
    }

    /**
     * Runs {@code dmsg ARGS} in this JVM: its exit status and its one {@code dmsg nbd:} line on
     * stderr, as {@code "STATUS LINE"}; fails if it said more or less than one such line.
     */
    static String inProcess(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream saved = System.err;
        int status;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            status = Main.run(args);
        } finally {
            System.setErr(saved);
        }
        String text = err.toString(StandardCharsets.UTF_8);
        List<String> said = text.lines().filter(l -> l.startsWith("dmsg nbd:")).toList();
        assertThat(said).as("stderr of dmsg %s:%n%s", String.join(" ", args), text).hasSize(1);
        return status + " " + said.get(0);
    }

    NodeProcess other(String name, String... args) throws IOException {
        NodeProcess p = NodeProcess.start(name, args);
        others.add(p);
        return p;
    }

    /**
     * Exit status 1, and exactly one line starting "dmsg nbd:", the one expected. The command gives
     * up by itself within seconds (an unknown export: 5 s after joining); the bound here is for a
     * JVM starting on a loaded machine.
     */
    static void assertExitsOne(NodeProcess p, String line) throws InterruptedException {
        assertThat(p.waitFor(Duration.ofSeconds(90))).as("exit status; output:%n%s", p.output()).isEqualTo(1);
        List<String> said = p.output().lines().filter(l -> l.startsWith("dmsg nbd:")).toList();
        assertThat(said).as("output:%n%s", p.output()).hasSize(1);
        assertThat(said.get(0)).startsWith(line);
    }

    @Test
    @Order(60)
    void aReadOnlyBridgeRefusesWrites() throws Exception {
        String before = Blocks.sha256(disk0);
        NodeProcess ro = other("nbd-ro", "nbd", "--export", "n2/disk0", "--read-only", "--node",
            "127.0.0.1:" + n0.port(), "--identity", dir.resolve("n0").toString(), "--listen", "127.0.0.1:0");
        Matcher m = serving(ro);
        assertThat(m.group(3)).isEqualTo("read-only");
        String roUri = "nbd://127.0.0.1:" + m.group(4) + "/disk0";
        JsonNode e = JSON.readTree(tool("nbdinfo", "--json", roUri).output()).path("exports").get(0);
        assertThat(e.path("is_read_only").asBoolean()).isTrue();
        assertThat(e.path("can_trim").asBoolean()).isFalse();

        Path src = randomImage("ro-src.img", 0x726fL, 1 << 20);
        List<String> cmd = List.of(DebianTools.path("qemu-img").toString(), "convert", "-n", "-f", "raw", "-O", "raw",
            src.toString(), roUri);
        Processes.Result w = Processes.run(TOOL_TIMEOUT, cmd);
        assertThat(w.ok()).as("writing to a read-only bridge: %s", w.describe()).isFalse();
        assertThat(Blocks.sha256(disk0)).as("n2's file untouched").isEqualTo(before);
        assertThat(ro.terminate(Duration.ofSeconds(30))).as(ro.output()).isIn(0, 143);
        Files.delete(src);
    }

    /**
     * n3 joins, linked to n0 and n2: a second path. n1, the relay the bridge's circuit runs
     * through, is killed while qemu-img writes; the bridge re-opens over n3 and re-sends what was
     * in flight, and the image arrives whole.
     */
    @Test
    @Order(70)
    void aRelayKilledMidCopyFailsOverAndNoWriteIsLost() throws Exception {
        n3 = NodeProcess.startNode("n3", dir.resolve("n3"), 0, n0.port(), START, "--connect", "127.0.0.1:" + n2.port());
        awaitStatus(n2, "n2", s -> hasLink(s, "n3"), "n2 linked to n3");
        awaitStatus(n0, "n0", s -> hasLink(s, "n3"), "n0 linked to n3");
        Path src = randomImage("failover-src.img", 0x6661696cL);
        Path back = dir.resolve("failover-back.img");
        long written0 = bytesWritten();
        CompletableFuture<Processes.Result> copy = CompletableFuture.supplyAsync(() -> Processes.run(TOOL_TIMEOUT,
            List.of(DebianTools.path("qemu-img").toString(), "convert", "-n", "-W", "-f", "raw", "-O", "raw",
                src.toString(), uri())));
        // a quarter of the image through n1, then n1 dies (SIGKILL: its links just drop)
        awaitStatus(n2, "n2", s -> exportsBytesWritten(s) - written0 >= DISK_BYTES / 4, "a quarter written");
        long t0 = System.nanoTime();
        n1.kill();
        Processes.Result r = copy.get(TOOL_TIMEOUT.toSeconds() + 10, TimeUnit.SECONDS);
        r.requireOk();
        log("qemu-img 256 MiB in, n1 killed after a quarter: the rest took %d ms", ms(t0));
        Matcher lost = Pattern.compile("dmsg nbd: export n2/disk0: .*; (\\d+) request\\(s\\) wait up to 30 s")
            .matcher(bridge.output());
        assertThat(lost.find()).as("bridge output:%n%s", bridge.output()).isTrue();
        assertThat(Integer.parseInt(lost.group(1))).as("requests caught in flight or queued").isPositive();
        String reopened = bridge.await("re-opened via", Duration.ofSeconds(5));
        log("%s", reopened);
        assertThat(reopened).contains("dmsg nbd: export n2/disk0: re-opened via n0");

        Files.createFile(back);
        tool("nbdcopy", uri(), back.toString());
        String want = Blocks.sha256(src);
        assertThat(Blocks.sha256(disk0)).as("the exported file on n2's disk").isEqualTo(want);
        assertThat(Blocks.sha256(back)).as("read back through the bridge, now via n3").isEqualTo(want);
        Files.delete(src);
        Files.delete(back);
    }

    /**
     * SIGTERM with an NBD client in transmission: the client is disconnected, the process exits,
     * the open on n2 is closed and the guest's link to n0 is gone.
     */
    @Test
    @Order(80)
    void sigtermDisconnectsClientsClosesTheOpenAndLeaves() throws Exception {
        awaitStatus(n2, "n2", s -> s.path("exports").get(0).path("opens").asInt() == 1, "the bridge's open on n2");
        awaitStatus(n0, "n0", s -> guestLinks(s) == 1, "the bridge's guest linked to n0");
        try (Socket s = new Socket("127.0.0.1", nbdPort)) {
            s.setSoTimeout(30_000);
            DataInputStream in = new DataInputStream(s.getInputStream());
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            // fixed newstyle (proto.md): NBDMAGIC, IHAVEOPT, handshake flags
            assertThat(in.readLong()).isEqualTo(0x4e42444d41474943L);
            assertThat(in.readLong()).isEqualTo(0x49484156454f5054L);
            in.readUnsignedShort();
            out.writeInt(3); // client flags: C_FIXED_NEWSTYLE | C_NO_ZEROES
            byte[] name = "disk0".getBytes(StandardCharsets.UTF_8);
            out.writeLong(0x49484156454f5054L); // IHAVEOPT
            out.writeInt(1);                    // NBD_OPT_EXPORT_NAME
            out.writeInt(name.length);
            out.write(name);
            out.flush();
            assertThat(in.readLong()).as("export size").isEqualTo(DISK_BYTES);
            in.readUnsignedShort(); // transmission flags; no zeros (C_NO_ZEROES): now in transmission

            long t0 = System.nanoTime();
            assertThat(bridge.terminate(Duration.ofSeconds(30))).as(bridge.output()).isIn(0, 143);
            assertThat(in.read()).as("the bridge closed our connection").isEqualTo(-1);
            log("SIGTERM to exit: %d ms", ms(t0));
        }
        bridge.await("stopped", Duration.ofSeconds(5));
        awaitStatus(n2, "n2", st -> st.path("exports").get(0).path("opens").asInt() == 0, "the open closed on n2");
        awaitStatus(n0, "n0", st -> guestLinks(st) == 0, "the guest's link to n0 gone");
    }

    /**
     * The attack of issue 13 item 5 on the running bridge: 128 idle connections from 127.0.0.3
     * and 64 connections from 127.0.0.4 each sending four 32 MiB reads and never reading, while
     * nbdcopy (from 127.0.0.1) copies 32 MiB in and out. The caps hold 16 of each, the rest are
     * refused at once; the readers wait inside the memory budget; the bridge's RSS is read from
     * /proc before, during and after, and printed.
     */
    @Test
    @Order(45)
    void theBridgeServesAnHonestClientWhileIdleAndUnreadConnectionsAttackIt() throws Exception {
        long pid = bridgePid();
        long rss0 = rssBytes(pid);
        List<Socket> idle = new ArrayList<>();
        List<Socket> readers = new ArrayList<>();
        try {
            int held = 0;
            for (int i = 0; i < 128; i++) {
                Socket s = new Socket();
                idle.add(s);
                s.bind(new InetSocketAddress("127.0.0.3", 0));
                held += greeted(s) ? 1 : 0;
            }
            assertThat(held).as("idle connections held from 127.0.0.3").isEqualTo(16);
            int readersHeld = 0;
            for (int i = 0; i < 64; i++) {
                Socket s = new Socket();
                readers.add(s);
                s.setReceiveBufferSize(16 << 10);
                s.bind(new InetSocketAddress("127.0.0.4", 0));
                if (greeted(s)) {
                    readersHeld++;
                    DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream()));
                    out.writeInt(3);                      // C_FIXED_NEWSTYLE | C_NO_ZEROES
                    byte[] name = "disk0".getBytes(StandardCharsets.UTF_8);
                    out.writeLong(0x49484156454f5054L);   // IHAVEOPT
                    out.writeInt(1);                      // NBD_OPT_EXPORT_NAME
                    out.writeInt(name.length);
                    out.write(name);
                    for (int k = 0; k < 4; k++) {         // NBD_CMD_READ of 32 MiB, never read back
                        out.writeInt(0x25609513);
                        out.writeShort(0);
                        out.writeShort(0);
                        out.writeLong(k);
                        out.writeLong((long) k * (32 << 20));
                        out.writeInt(32 << 20);
                    }
                    out.flush();
                }
            }
            assertThat(readersHeld).isEqualTo(16);
            Path src = randomImage("attack-src.img", 0x61747461L, 32 << 20);
            Path back = dir.resolve("attack-back.img");
            Files.createFile(back);
            long t0 = System.nanoTime();
            tool("nbdcopy", "--flush", src.toString(), uri());
            tool("nbdcopy", uri(), back.toString()); // the whole export: this nbdcopy has no --length
            long ms = ms(t0);
            long rssDuring = rssBytes(pid);
            try (var in = Files.newInputStream(back)) {
                byte[] head = in.readNBytes(32 << 20);
                assertThat(Arrays.equals(head, Files.readAllBytes(src))).as("the first 32 MiB read back").isTrue();
            }
            assertThat(rssDuring - rss0).as("the bridge's RSS growth under attack").isLessThan(256L << 20);
            for (Socket s : idle) {
                s.close();
            }
            for (Socket s : readers) {
                s.close();
            }
            long rssAfter = rssBytes(pid);
            log("attack: 128 idle (16 held) + 64 x 4 unread 32 MiB reads (16 held); nbdcopy 32 MiB in+out in %d ms; "
                + "bridge RSS %d -> %d -> %d MiB", ms, rss0 >> 20, rssDuring >> 20, rssAfter >> 20);
            Files.delete(src);
            Files.delete(back);
        } finally {
            for (Socket s : idle) {
                s.close();
            }
            for (Socket s : readers) {
                s.close();
            }
        }
    }

    /**
     * A second bridge on a Unix socket with TLS required: mode 0600, nbdinfo and nbdcopy through
     * nbds+unix:// with a client certificate from 'dmsg nbd tls-client', plaintext refused, and the
     * socket gone after SIGTERM.
     */
    @Test
    @Order(46)
    void aTlsBridgeOnAUnixSocket() throws Exception {
        Path tlsDir = dir.resolve("nbd-tls");
        assertThat(Main.run("nbd", "tls-init", tlsDir.toString(), "--host", "localhost")).isZero();
        assertThat(Main.run("nbd", "tls-client", tlsDir.toString(), "alice")).isZero();
        Path sock = dir.resolve("nbd.sock");
        NodeProcess tlsBridge = other("nbd-tls", "nbd", "--export", "disk0", "--node", "127.0.0.1:" + n0.port(),
            "--identity", dir.resolve("n0").toString(), "--listen", "unix:" + sock, "--tls", "require",
            "--tls-dir", tlsDir.toString());
        String line = tlsBridge.await("dmsg nbd: serving", START);
        String uri = "nbds+unix:///disk0?socket=" + sock;
        assertThat(line).endsWith("on unix:" + sock + ": " + uri);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock)))
            .isEqualTo("rw-------");
        String withCerts = uri + "&tls-certificates=" + tlsDir.resolve("clients/alice");
        JsonNode e = JSON.readTree(tool("nbdinfo", "--json", withCerts).output()).path("exports").get(0);
        assertThat(e.path("export-size").asLong()).isEqualTo(DISK_BYTES);
        tool("nbdcopy", withCerts, "null:"); // all 256 MiB through TLS; this nbdcopy has no --length
        Processes.Result plain = Processes.run(TOOL_TIMEOUT, List.of(DebianTools.path("nbdinfo").toString(),
            "nbd+unix:///disk0?socket=" + sock));
        assertThat(plain.ok()).as("plaintext: %s", plain.describe()).isFalse();
        assertThat(tlsBridge.terminate(Duration.ofSeconds(30))).as(tlsBridge.output()).isIn(0, 143);
        assertThat(tlsBridge.output()).contains("TLS required 1");
        assertThat(Files.exists(sock)).as("the socket removed on exit").isFalse();
    }

    /** Connects {@code s} to the bridge; whether it was greeted (admitted) rather than closed or reset. */
    boolean greeted(Socket s) throws IOException {
        try {
            s.connect(new InetSocketAddress("127.0.0.1", nbdPort), 5000);
            s.setSoTimeout(10_000);
            DataInputStream in = new DataInputStream(s.getInputStream());
            in.readLong();
            in.readLong();
            in.readUnsignedShort();
            return true;
        } catch (EOFException | SocketException e) {
            return false;
        }
    }

    /** The bridge process's pid: our child whose command line runs {@code nbd --export disk0 … --listen 127.0.0.1:0}. */
    static long bridgePid() {
        return ProcessHandle.current().children()
            .filter(h -> commandLine(h.pid()).contains(" nbd --export disk0 --node "))
            .findFirst().orElseThrow(() -> new AssertionError("no bridge process")).pid();
    }

    static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")), StandardCharsets.UTF_8)
                .replace('\0', ' ');
        } catch (IOException e) {
            return ""; // gone meanwhile
        }
    }

    static long rssBytes(long pid) throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (l.startsWith("VmRSS:")) {
                return Long.parseLong(l.replaceAll("[^0-9]", "")) << 10;
            }
        }
        throw new AssertionError("no VmRSS for " + pid);
    }

    // ------------------------------------------------------------------------------------------

    String uri() {
        return "nbd://127.0.0.1:" + nbdPort + "/disk0";
    }

    static Matcher serving(NodeProcess p) throws InterruptedException {
        String line = p.await("dmsg nbd: serving", START);
        Matcher m = SERVING.matcher(line);
        assertThat(m.find()).as("'%s' is the serving line", line).isTrue();
        return m;
    }

    static Processes.Result tool(String... command) {
        return DebianTools.run(TOOL_TIMEOUT, command).requireOk();
    }

    Path randomImage(String name, long seed) throws IOException {
        return randomImage(name, seed, DISK_BYTES);
    }

    Path randomImage(String name, long seed, long bytes) throws IOException {
        return Blocks.randomFile(dir.resolve(name), seed, bytes);
    }

    JsonNode status(NodeProcess p, String label) throws Exception {
        try (ShellClient c = NodeProcess.client(p.port(), dir.resolve(label))) {
            return JSON.readTree(c.call("status --json", Duration.ofSeconds(5)));
        }
    }

    /** Polls a node's status document until {@code ok}, for at most 30 s. */
    void awaitStatus(NodeProcess p, String label, Predicate<JsonNode> ok, String what) throws Exception {
        Await.atMost(Duration.ofSeconds(30)).every(Duration.ofMillis(50)).untilValue(() -> status(p, label), ok,
            what + " (status of " + label + ")");
    }

    long bytesWritten() throws Exception {
        return exportsBytesWritten(status(n2, "n2"));
    }

    static long exportsBytesWritten(JsonNode s) {
        return s.path("exports").get(0).path("bytes_written").asLong();
    }

    static boolean hasSpan(JsonNode s, String clLabel) {
        for (JsonNode span : s.path("spans")) {
            if (span.path("cl_label").asText().equals(clLabel)) {
                return true;
            }
        }
        return false;
    }

    static boolean hasLink(JsonNode s, String peer) {
        for (JsonNode l : s.path("links")) {
            if (l.path("peer").asText().equals(peer) && l.path("state").asText().equals("UP")) {
                return true;
            }
        }
        return false;
    }

    /** Links from a {@code dmsg nbd} guest node (label {@code IDENTITY.nbd.PID}). */
    static long guestLinks(JsonNode s) {
        long n = 0;
        for (JsonNode l : s.path("links")) {
            if (l.path("peer").asText().contains(".nbd.")) {
                n++;
            }
        }
        return n;
    }

    static long ms(long t0) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    static double mbps(long millis) {
        return DISK_BYTES / 1e6 / (millis / 1000.0);
    }

    static void log(String format, Object... args) {
        System.out.println("[NbdBridgeProcessTest] " + String.format(format, args));
    }
}
