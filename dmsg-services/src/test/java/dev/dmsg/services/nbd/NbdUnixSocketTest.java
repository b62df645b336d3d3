package dev.dmsg.services.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.blk.FileBlockDevice;
import dev.dmsg.testkit.DebianTools;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.Processes;
import dev.dmsg.testkit.TempFiles;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The Unix-socket listener: its mode and group, what it refuses to replace, its removal on
 * close, nbdinfo and qemu-img through {@code nbd+unix:///EXPORT?socket=PATH}, TLS on it, and the
 * per-client cap counted per local user (SO_PEERCRED).
 */
@ExtendWith(LeakDetector.class)
@Timeout(120)
class NbdUnixSocketTest {
    static final Duration TOOL_TIMEOUT = Duration.ofSeconds(60);
    static final int DISK_BYTES = 8 << 20;

    Path dir;
    Path sock;
    ExecutorService io;
    FileBlockDevice disk0;
    NbdServer server;

    @BeforeAll
    static void tools() {
        DebianTools.require("qemu-img", "nbdinfo");
    }

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory("nbd-unix");
        sock = dir.resolve("nbd.sock");
        io = Executors.newFixedThreadPool(2);
        Path d0 = dir.resolve("disk0.img");
        TempFiles.sized(d0, DISK_BYTES);
        disk0 = FileBlockDevice.open("disk0", d0, false, 4096, io);
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        disk0.close();
        io.shutdownNow();
        TempFiles.deleteTree(dir);
    }

    NbdServer serve(UnixSocketFile socket) throws InterruptedException {
        return NbdServer.builder().export("disk0", disk0).bindUnix(socket);
    }

    static Processes.Result run(String... command) {
        return DebianTools.run(TOOL_TIMEOUT, command);
    }

    @Test
    void servesNbdUnixUrisWithMode0600AndRemovesTheSocketOnClose() throws Exception {
        server = serve(new UnixSocketFile(sock, UnixSocketFile.parseMode("600"), null));
        PosixFileAttributes a = Files.readAttributes(sock, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        assertThat(a.isOther()).as("a socket").isTrue();
        assertThat(PosixFilePermissions.toString(a.permissions())).isEqualTo("rw-------");
        assertThat(server.socketPath()).isEqualTo(sock);
        try (var entries = Files.list(dir)) {
            assertThat(entries.map(p -> p.getFileName().toString()))
                .as("no temporary bind directory left").containsExactlyInAnyOrder("nbd.sock", "disk0.img");
        }

        String uri = "nbd+unix:///disk0?socket=" + sock;
        JsonNode e = new ObjectMapper().readTree(run("nbdinfo", "--json", uri).requireOk().output())
            .path("exports").get(0);
        assertThat(e.path("export-size").asLong()).isEqualTo(DISK_BYTES);
        assertThat(run("qemu-img", "info", uri).requireOk().output()).contains("virtual size: 8 MiB");
        try (RawNbdClient c = new RawNbdClient(sock)) {
            c.handshake();
            c.go("disk0");
            NbdAttackTest.writeAndReadBack(c, 5, 3, DISK_BYTES);
        }

        server.close();
        server = null;
        assertThat(Files.exists(sock, LinkOption.NOFOLLOW_LINKS)).as("removed on close").isFalse();
    }

    @Test
    void modeAndGroupAreSetBeforeTheSocketAppears() throws Exception {
        server = serve(new UnixSocketFile(sock, UnixSocketFile.parseMode("0660"), "nogroup"));
        PosixFileAttributes a = Files.readAttributes(sock, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        assertThat(PosixFilePermissions.toString(a.permissions())).isEqualTo("rw-rw----");
        assertThat(a.group().getName()).isEqualTo("nogroup");
        assertThatThrownBy(() -> UnixSocketFile.parseMode("0x1ff"))
            .hasMessage("socket mode '0x1ff': three octal digits such as 600 or 0660");
    }

    @Test
    void refusesToReplaceAFileOrALiveSocketAndReplacesAStaleOne() throws Exception {
        Files.writeString(sock, "precious");
        UnixSocketFile file = new UnixSocketFile(sock, UnixSocketFile.parseMode("600"), null);
        assertThatThrownBy(() -> serve(file)).isInstanceOf(FileAlreadyExistsException.class)
            .hasMessage(sock + ": exists and is not a socket (a regular file); not replaced");
        assertThat(Files.readString(sock)).isEqualTo("precious");
        Files.delete(sock);

        server = serve(file);
        assertThatThrownBy(() -> serve(new UnixSocketFile(sock, UnixSocketFile.parseMode("600"), null)))
            .isInstanceOf(FileAlreadyExistsException.class)
            .hasMessage(sock + ": a server is listening on it already");
        server.close();
        server = null;

        // a stale socket: bound, then its server gone without removing it
        try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            s.bind(UnixDomainSocketAddress.of(sock));
        }
        assertThat(Files.exists(sock, LinkOption.NOFOLLOW_LINKS)).isTrue();
        server = serve(new UnixSocketFile(sock, UnixSocketFile.parseMode("600"), null));
        try (RawNbdClient c = new RawNbdClient(sock)) {
            c.handshake();
            assertThat(c.go("disk0").sizeBytes()).isEqualTo(DISK_BYTES);
        }
        assertThatThrownBy(() -> new UnixSocketFile(dir.resolve("x".repeat(120)), UnixSocketFile.parseMode("600"), null))
            .hasMessageContaining("bytes > max 107 (sun_path)");
    }

    @Test
    void tlsOverTheUnixSocket() throws Exception {
        Path tls = dir.resolve("tls");
        NbdCertificates.init(tls, List.of("localhost"));
        Path alice = NbdCertificates.addClient(tls, "alice", Role.CLIENT, Grants.BLK_RW);
        server = NbdServer.builder().export("disk0", disk0).tls(NbdTls.fromDirectory(tls, NbdTls.Provider.JDK))
            .bindUnix(new UnixSocketFile(sock, UnixSocketFile.parseMode("600"), null));
        String uri = "nbds+unix:///disk0?socket=" + sock + "&tls-certificates=" + alice;
        JsonNode e = new ObjectMapper().readTree(run("nbdinfo", "--json", uri).requireOk().output())
            .path("exports").get(0);
        assertThat(e.path("export-size").asLong()).isEqualTo(DISK_BYTES);
        assertThat(run("nbdinfo", "--json", "nbd+unix:///disk0?socket=" + sock).ok()).as("plaintext").isFalse();
        assertThat(server.stats().tlsSessions()).isEqualTo(1);
        assertThat(server.stats().tlsRequired()).isEqualTo(1);
    }

    /** On a Unix socket the per-client cap counts connections of one local user (SO_PEERCRED uid). */
    @Test
    void thePerClientCapCountsALocalUser() throws Exception {
        server = NbdServer.builder().export("disk0", disk0).maxConnectionsPerClient(2)
            .bindUnix(new UnixSocketFile(sock, UnixSocketFile.parseMode("600"), null));
        try (RawNbdClient a = new RawNbdClient(sock); RawNbdClient b = new RawNbdClient(sock);
             RawNbdClient c = new RawNbdClient(sock)) {
            a.handshake();
            b.handshake();
            assertThat(c.closedByServer()).as("a third from the same user").isTrue();
        }
        assertThat(server.stats().refusedPerClientCap()).isEqualTo(1);
    }
}
