package dev.dmsg.services.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.services.blk.FileBlockDevice;
import dev.dmsg.services.testing.Blocks;
import dev.dmsg.testkit.DebianTools;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.Processes;
import dev.dmsg.testkit.TempFiles;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The NBD bridge against real NBD clients (qemu-img, nbdinfo, nbdcopy, fio's nbd engine) over TCP
 * on loopback, serving {@link FileBlockDevice}s on tmpfs. The tools are installed on first use
 * ({@link DebianTools}).
 */
@ExtendWith(LeakDetector.class)
@Timeout(120)
class NbdServerTest {
    static final Duration TOOL_TIMEOUT = Duration.ofSeconds(90);
    static final int DISK_BYTES = 64 << 20;
    static final long SEED = 0x6e6264L;

    Path dir;
    ExecutorService io;
    FileBlockDevice disk0;
    FileBlockDevice golden;
    NbdServer server;

    @BeforeAll
    static void tools() {
        DebianTools.require("qemu-img", "nbdinfo", "nbdcopy", "fio");
    }

    @BeforeEach
    void start() throws Exception {
        dir = TempFiles.tmpfsDir("nbd-test");
        io = Executors.newFixedThreadPool(4);
        Path d0 = dir.resolve("disk0.img");
        Path g = dir.resolve("golden.img");
        TempFiles.sized(d0, DISK_BYTES);
        Files.write(g, "golden, read-only\n".repeat(1000).getBytes(StandardCharsets.UTF_8));
        try (var f = new RandomAccessFile(g.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        disk0 = FileBlockDevice.open("disk0", d0, false, 4096, io);
        golden = FileBlockDevice.open("golden", g, true, 512, io);
        server = NbdServer.builder().export("disk0", disk0).export("golden", golden).bind("127.0.0.1", 0);
    }

    @AfterEach
    void stop() throws IOException {
        if (server != null) {
            server.close();
        }
        disk0.close();
        golden.close();
        io.shutdownNow();
        TempFiles.deleteTree(dir);
    }

    String uri(String export) {
        return "nbd://127.0.0.1:" + server.localAddress().getPort() + "/" + export;
    }

    static Processes.Result tool(String... command) {
        return DebianTools.run(TOOL_TIMEOUT, command).requireOk();
    }

    Path randomImage(String name, long seed) throws IOException {
        return Blocks.randomFile(dir.resolve(name), seed, DISK_BYTES);
    }

    @Test
    void nbdinfoShowsSizeBlockSizesFlagsAndTheExportList() throws Exception {
        ObjectMapper json = new ObjectMapper();
        JsonNode info = json.readTree(tool("nbdinfo", "--json", uri("disk0")).output());
        assertThat(info.path("protocol").asText()).isEqualTo("newstyle-fixed");
        assertThat(info.path("structured").asBoolean()).as("simple replies only").isFalse();
        JsonNode e = info.path("exports").get(0);
        assertThat(e.path("export-name").asText()).isEqualTo("disk0");
        assertThat(e.path("export-size").asLong()).isEqualTo(DISK_BYTES);
        assertThat(e.path("block_size_minimum").asInt()).isEqualTo(1);
        assertThat(e.path("block_size_preferred").asInt()).isEqualTo(4096);
        assertThat(e.path("block_size_maximum").asInt()).isEqualTo(NbdServer.MAX_PAYLOAD_BYTES);
        assertThat(e.path("is_read_only").asBoolean()).isFalse();
        assertThat(e.path("can_flush").asBoolean()).isTrue();
        assertThat(e.path("can_fua").asBoolean()).isTrue();
        assertThat(e.path("can_trim").asBoolean()).isTrue();
        assertThat(e.path("can_zero").asBoolean()).isTrue();
        assertThat(e.path("can_multi_conn").asBoolean()).isTrue();

        JsonNode ro = json.readTree(tool("nbdinfo", "--json", uri("golden")).output()).path("exports").get(0);
        assertThat(ro.path("export-size").asLong()).isEqualTo(1 << 20);
        assertThat(ro.path("is_read_only").asBoolean()).isTrue();
        assertThat(ro.path("block_size_preferred").asInt()).isEqualTo(512);
        assertThat(ro.path("can_trim").asBoolean()).isFalse();
        assertThat(ro.path("can_zero").asBoolean()).isFalse();

        JsonNode list = json.readTree(tool("nbdinfo", "--list", "--json", uri("")).output());
        List<String> names = new ArrayList<>();
        list.path("exports").forEach(x -> names.add(x.path("export-name").asText()));
        assertThat(names).containsExactlyInAnyOrder("disk0", "golden");
    }

    @Test
    void qemuImgConvertsAnImageInAndBackOutUnchanged() throws Exception {
        Path src = randomImage("src.img", SEED);
        Path back = dir.resolve("back.img");
        // -n: the target exists (the export); -W: out-of-order writes, many in flight
        tool("qemu-img", "convert", "-n", "-W", "-f", "raw", "-O", "raw", src.toString(), uri("disk0"));
        tool("qemu-img", "convert", "-f", "raw", "-O", "raw", uri("disk0"), back.toString());
        assertThat(Blocks.sha256(back)).isEqualTo(Blocks.sha256(src)).isEqualTo(Blocks.sha256(disk0.path()));
    }

    @Test
    void nbdcopyCopiesBothWaysUnchanged() throws Exception {
        Path src = randomImage("src.img", SEED + 1);
        Path back = dir.resolve("back.img");
        Files.createFile(back);
        // nbdcopy opens 4 connections at once (the export says CAN_MULTI_CONN), up to 64 requests in
        // flight on each; it deals out 128 MiB pieces, so here one carries the data and all flush
        tool("nbdcopy", "--flush", "--connections=4", "--threads=4", src.toString(), uri("disk0"));
        tool("nbdcopy", "--connections=4", "--threads=4", uri("disk0"), back.toString());
        assertThat(Blocks.sha256(back)).isEqualTo(Blocks.sha256(src)).isEqualTo(Blocks.sha256(disk0.path()));
    }

    @Test
    void fioRandomReadWriteWithVerifyPasses() {
        // randrw with verify: fio checks the crc32c header of every block it reads back; any
        // mismatch exits non-zero (verify_fatal) and prints "verify: bad …"
        Processes.Result r = tool("fio", "--name=nbd-verify", "--ioengine=nbd", "--uri=" + uri("disk0"),
            "--rw=randrw", "--bs=4k", "--iodepth=32", "--size=32m", "--verify=crc32c",
            "--verify_fatal=1", "--verify_state_save=0", "--runtime=5", "--output-format=normal");
        assertThat(r.output()).doesNotContain("verify: bad").contains("err= 0");
        Matcher issued = Pattern.compile("issued rwts: total=(\\d+),(\\d+)").matcher(r.output());
        assertThat(issued.find()).as("fio's summary:%n%s", r.output()).isTrue();
        long reads = Long.parseLong(issued.group(1));
        long writes = Long.parseLong(issued.group(2));
        assertThat(writes).as("writes").isGreaterThan(1000);
        assertThat(reads).as("reads, the verifying ones included").isGreaterThan(writes);
    }
}
