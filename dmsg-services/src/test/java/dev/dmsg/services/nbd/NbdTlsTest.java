package dev.dmsg.services.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.services.blk.FileBlockDevice;
import dev.dmsg.services.testing.Blocks;
import dev.dmsg.testkit.DebianTools;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.Processes;
import dev.dmsg.testkit.TempFiles;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

/**
 * NBD over TLS (NBD_OPT_STARTTLS) with the real clients: libnbd's nbdinfo and nbdcopy
 * ({@code nbds://…?tls-certificates=DIR}), qemu-img ({@code tls-creds-x509}), fio's nbd engine
 * (libnbd underneath); and the refusals: a client whose key is not pinned, a client with no
 * certificate, plaintext when TLS is required — each beside a trusted client that keeps working.
 * Certificates come from {@link NbdCertificates}, as {@code dmsg nbd tls-init} makes them.
 */
@ExtendWith(LeakDetector.class)
@Timeout(180)
class NbdTlsTest {
    static final Duration TOOL_TIMEOUT = Duration.ofSeconds(90);
    static final int DISK_BYTES = 32 << 20;
    static final ObjectMapper JSON = new ObjectMapper();

    Path dir;
    Path tlsDir;
    Path alice;
    ExecutorService io;
    FileBlockDevice disk0;
    NbdServer server;
    ListAppender<ILoggingEvent> logged;

    @BeforeAll
    static void tools() {
        DebianTools.require("qemu-img", "nbdinfo", "nbdcopy", "fio");
    }

    @BeforeEach
    void start() throws Exception {
        dir = TempFiles.tmpfsDir("nbd-tls");
        tlsDir = dir.resolve("tls");
        NbdCertificates.init(tlsDir, List.of("localhost", "127.0.0.1"));
        alice = NbdCertificates.addClient(tlsDir, "alice", Role.CLIENT, Grants.BLK_RW);
        io = Executors.newFixedThreadPool(4);
        Path d0 = dir.resolve("disk0.img");
        TempFiles.sized(d0, DISK_BYTES);
        disk0 = FileBlockDevice.open("disk0", d0, false, 4096, io);
        logged = new ListAppender<>();
        logged.start();
        ((Logger) LoggerFactory.getLogger(NbdConnection.class)).addAppender(logged);
        server = newServer();
    }

    NbdServer newServer() throws Exception {
        return NbdServer.builder().export("disk0", disk0)
            .tls(NbdTls.fromDirectory(tlsDir, NbdTls.Provider.JDK)).bind("127.0.0.1", 0);
    }

    /** A server that has read the trusted file as it is now (a running one looks at it at most once a second). */
    void restart() throws Exception {
        server.close();
        server = newServer();
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        ((Logger) LoggerFactory.getLogger(NbdConnection.class)).detachAppender(logged);
        disk0.close();
        io.shutdownNow();
        TempFiles.deleteTree(dir);
    }

    String nbds(Path clientDir) {
        return "nbds://127.0.0.1:" + server.localAddress().getPort() + "/disk0?tls-certificates=" + clientDir;
    }

    static Processes.Result run(String... command) {
        return DebianTools.run(TOOL_TIMEOUT, command);
    }

    List<String> lines(String containing) {
        return logged.list.stream().map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains(containing)).toList();
    }

    // ------------------------------------------------------------------ the real clients

    @Test
    void nbdinfoAndNbdcopyOverTlsWithAPinnedClientCertificate() throws Exception {
        JsonNode e = JSON.readTree(run("nbdinfo", "--json", nbds(alice)).requireOk().output()).path("exports").get(0);
        assertThat(e.path("export-size").asLong()).isEqualTo(DISK_BYTES);
        assertThat(e.path("is_read_only").asBoolean()).isFalse();

        Path src = Blocks.randomFile(dir.resolve("src.img"), 0x746c73L, DISK_BYTES);
        Path back = dir.resolve("back.img");
        Files.createFile(back);
        run("nbdcopy", "--flush", src.toString(), nbds(alice)).requireOk();
        run("nbdcopy", nbds(alice), back.toString()).requireOk();
        assertThat(Blocks.sha256(back)).isEqualTo(Blocks.sha256(src)).isEqualTo(Blocks.sha256(disk0.path()));
        assertThat(server.stats().tlsSessions()).isGreaterThanOrEqualTo(3);
        assertThat(server.stats().tlsFailed()).isZero();
    }

    @Test
    void qemuImgOverTlsWithTlsCredsX509() throws Exception {
        Path src = Blocks.randomFile(dir.resolve("src.img"), 0x71656d75L, 8 << 20);
        String opts = "driver=nbd,host=127.0.0.1,port=" + server.localAddress().getPort() + ",export=disk0,tls-creds=tls0";
        String creds = "tls-creds-x509,id=tls0,endpoint=client,dir=" + alice;
        Processes.Result info = run("qemu-img", "info", "--object", creds, "--image-opts", opts).requireOk();
        assertThat(info.output()).contains("virtual size: 32 MiB");
        run("qemu-img", "convert", "-n", "--object", creds, "-f", "raw", src.toString(), "--target-image-opts", opts)
            .requireOk();
        Path back = dir.resolve("back.img");
        run("qemu-img", "convert", "--object", creds, "--image-opts", opts, "-O", "raw", back.toString()).requireOk();
        byte[] want = Files.readAllBytes(src);
        byte[] got = Files.readAllBytes(back);
        assertThat(Arrays.equals(Arrays.copyOf(got, want.length), want)).isTrue();
    }

    /**
     * fio's nbd engine refuses {@code tls-certificates} in the URI (libnbd's "local file access
     * is not allowed"), so it uses libnbd's default directory: {@code $HOME/.pki/libnbd}, or for
     * root {@code /etc/pki/libnbd}. The test runs fio as nobody with a HOME of its own rather
     * than touch /etc (it runs as root here, as the project's machines do).
     */
    @Test
    void fioNbdEngineOverTls() throws Exception {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "needs root to run fio as another user");
        Path home = dir.resolve("home");
        Path pki = Files.createDirectories(home.resolve(".pki/libnbd"));
        for (String f : new String[] {NbdTls.CA_CERT, NbdTls.CLIENT_CERT, NbdTls.CLIENT_KEY}) {
            Files.copy(alice.resolve(f), pki.resolve(f));
        }
        Processes.run(TOOL_TIMEOUT, List.of("chown", "-R", "65534:65534", home.toString())).requireOk();
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        String uri = "nbds://127.0.0.1:" + server.localAddress().getPort() + "/disk0";
        Processes.Result r = Processes.run(TOOL_TIMEOUT, List.of("setpriv", "--reuid=65534", "--regid=65534",
            "--clear-groups", "env", "HOME=" + home, DebianTools.path("fio").toString(), "--name=tls",
            "--ioengine=nbd", "--uri=" + uri, "--rw=randwrite", "--bs=4k", "--size=8m", "--iodepth=8",
            "--verify=crc32c", "--verify_fatal=1", "--verify_state_save=0", "--output-format=normal",
            "--directory=" + home)).requireOk();
        assertThat(r.output()).doesNotContain("verify: bad").contains("err= 0");
        assertThat(server.stats().tlsSessions()).isGreaterThanOrEqualTo(1);
    }

    // ------------------------------------------------------------------ refusals

    @Test
    void aClientWhoseKeyIsNotPinnedIsRefusedWhileATrustedOneWorks() throws Exception {
        Path mallory = NbdCertificates.addClient(tlsDir, "mallory", Role.CLIENT, Grants.BLK_RW);
        TrustStore.open(tlsDir).remove("mallory"); // a certificate from our own CA, but its key is not pinned
        restart();
        String fp = Fingerprints.of(NbdCertificates.readCertificate(
            mallory.resolve(NbdTls.CLIENT_CERT)).getPublicKey());
        Processes.Result r = run("nbdinfo", "--json", nbds(mallory));
        assertThat(r.ok()).as("mallory: %s", r.describe()).isFalse();
        assertThat(lines("TLS: refused: unknown key " + fp + " presented by 127.0.0.1:")).hasSize(1);
        assertThat(lines("(CN 'mallory'); trust it with 'dmsg trust add NAME " + fp + " --data-dir " + tlsDir
            + " --role client --grant blk-rw'")).hasSize(1);
        assertThat(server.stats().tlsFailed()).isEqualTo(1);
        run("nbdinfo", "--json", nbds(alice)).requireOk();
    }

    @Test
    void aClientWithoutACertificateIsRefused() throws Exception {
        Path anonymous = Files.createDirectory(dir.resolve("anonymous"));
        Files.copy(tlsDir.resolve(NbdTls.CA_CERT), anonymous.resolve(NbdTls.CA_CERT));
        Processes.Result r = run("nbdinfo", "--json", nbds(anonymous));
        assertThat(r.ok()).as("no client certificate: %s", r.describe()).isFalse();
        assertThat(lines("the client presented no certificate")).hasSize(1);
        assertThat(server.stats().tlsFailed()).isEqualTo(1);
    }

    @Test
    void plaintextIsRefusedWhenTlsIsRequired() throws Exception {
        Processes.Result r = run("nbdinfo", "--json", "nbd://127.0.0.1:" + server.localAddress().getPort() + "/disk0");
        assertThat(r.ok()).as("plaintext nbdinfo: %s", r.describe()).isFalse();
        assertThat(r.output()).containsIgnoringCase("TLS");
        try (RawNbdClient c = new RawNbdClient(server.localAddress())) {
            c.handshake();
            c.sendOption(Nbd.OPT_GO, RawNbdClient.infoRequest("disk0"));
            RawNbdClient.OptionReply reply = c.readOptionReply();
            assertThat(reply.type()).isEqualTo(Nbd.REP_ERR_TLS_REQD);
            assertThat(reply.text()).isEqualTo("TLS is required: send NBD_OPT_STARTTLS first (an nbds:// URI)");
            c.sendOption(Nbd.OPT_LIST, new byte[0]);
            assertThat(c.readOptionReply().type()).isEqualTo(Nbd.REP_ERR_TLS_REQD);
            c.sendOption(Nbd.OPT_EXPORT_NAME, "disk0".getBytes(StandardCharsets.UTF_8));
            assertThat(c.closedByServer()).as("EXPORT_NAME cannot carry an error: closed").isTrue();
        }
        assertThat(server.stats().tlsRequired()).isEqualTo(2);
        run("nbdinfo", "--json", nbds(alice)).requireOk();
    }

    @Test
    void aClientGrantedBlkReadOnlyGetsAReadOnlyExport() throws Exception {
        Path reader = NbdCertificates.addClient(tlsDir, "reader", Role.CLIENT, Grants.BLK_READ);
        Path nobody = NbdCertificates.addClient(tlsDir, "nobody", Role.CLIENT, 0);
        restart();
        JsonNode e = JSON.readTree(run("nbdinfo", "--json", nbds(reader)).requireOk().output()).path("exports").get(0);
        assertThat(e.path("is_read_only").asBoolean()).isTrue();
        assertThat(run("nbdinfo", "--json", nbds(nobody)).ok()).isFalse();
        assertThat(lines("'nobody' is trusted as a client without blk-read or blk-rw")).hasSize(1);
    }
}
