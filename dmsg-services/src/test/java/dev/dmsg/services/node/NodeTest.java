package dev.dmsg.services.node;

import static dev.dmsg.services.testing.TestCluster.nodeSpan;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.Vectors;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.LnkVolconf;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.VolData;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.handler.ssl.OpenSsl;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node in-process on loopback: the shell and its status document, LNK_VOLCONF changing the
 * table live and persistently, bad VOLCONF ignored, and a 2013 C peer (the bytes of
 * the C-captured vectors in dmsg-testkit) whose span is accepted and relayed without our extension traffic.
 */
class NodeTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    Node start(String label) throws Exception {
        return start(label, Security.defaults());
    }

    /**
     * A node with TLS (the default) whose key every node started before trusts as a member, and
     * that trusts theirs: as operators would with {@code dmsg trust add} on each side.
     */
    Node start(String label, Security security) throws Exception {
        return cluster.start(cluster.settings(label).withSecurity(security));
    }

    /** A node that also takes 2013 C peers from 127.0.0.1 in plaintext (docs/SECURITY.md §6). */
    Node startWithLocalLegacy(String label) throws Exception {
        return start(label, Security.defaults().withLegacy(List.of(Security.LegacyPeer.parse("127.0.0.1=member"))));
    }

    /** A shell client acting as {@code n} itself (its own key: an admin of it). */
    static ShellClient client(Node n) throws Exception {
        return ShellClient.connect("127.0.0.1", n.address().getPort(), n.clientTls(), T);
    }

    static JsonNode status(Node n) throws Exception {
        try (ShellClient c = client(n)) {
            return JSON.readTree(c.call("status --json", T));
        }
    }

    /** Polls the node's own status document (in-process) until {@code p} holds. */
    JsonNode awaitStatus(Node n, Predicate<JsonNode> p) throws Exception {
        return cluster.awaitStatus(n, p, "a condition on " + n.identity().label() + "'s status");
    }

    @Test
    void theShellAnswersStatusAndRefusesUnknownCommands() throws Exception {
        Node a = start("alpha");
        try (ShellClient c = client(a)) {
            JsonNode s = JSON.readTree(c.call("status --json", T));
            assertThat(s.get("node").get("label").asText()).isEqualTo("alpha");
            assertThat(nodeSpan(s, "alpha").get("local").asBoolean()).isTrue();
            assertThat(s.get("links")).hasSize(1); // this client
            // TLS by default: the node's key, and this client known by its key (the node's own: admin)
            assertThat(s.get("node").get("fingerprint").asText()).isEqualTo(a.keys().fingerprint());
            // AUTO: BoringSSL where netty-tcnative loads (it does on linux-x86_64), else the JDK's
            String tls = "TLSv1.3 " + (OpenSsl.isAvailable() ? "OPENSSL" : "JDK");
            assertThat(s.get("node").get("tls").asText()).isEqualTo(tls);
            assertThat(s.get("links").get(0).get("identity").asText()).isEqualTo("alpha");
            assertThat(s.get("links").get(0).get("role").asText()).isEqualTo("admin");
            assertThat(s.get("links").get(0).get("denied").asLong()).isZero();
            assertThat(s.get("security").get("handshakes_completed").asLong()).isEqualTo(1);
            assertThat(s.get("security").get("keys_refused").asLong()).isZero();
            assertThat(c.call("status", T)).contains("key " + a.keys().fingerprint() + "  links " + tls);
            assertThat(c.call("help", T)).contains("status [--json]").contains("volconf");
            StringBuilder out = new StringBuilder();
            assertThat(c.run("frobnicate", out::append, T)).isEqualTo(Dmsg.ERR_PARAM);
            assertThat(out.toString()).startsWith("Unrecognized command: frobnicate");
            out.setLength(0);
            assertThat(c.run("span", out::append, T)).isEqualTo(Dmsg.ERR_PARAM);
            assertThat(out.toString()).contains("expected one HOST[:PORT]").contains("usage: span");
        }
    }

    @Test
    void aServiceRegisteredThroughTheApiIsAdvertisedAndCanBeWithdrawn() throws Exception {
        Node a = start("alpha");
        Node b = start("beta");
        try (ShellClient c = client(b)) {
            c.call("span 127.0.0.1:" + a.address().getPort(), T);
        }
        var disk = new LnkSpan(new UUID(0, 0), new UUID(0, 0), Dmsg.PFSTYPE_SERVER, Dmsg.PEER_BLOCK, 1, 0,
            0, 0, 0, 1L << 30, 512, "alpha/disk0", "serial-1");
        var handle = a.advertise(disk).get(5, TimeUnit.SECONDS);
        JsonNode s = awaitStatus(b, x -> nodeSpan(x, "serial-1") != null);
        JsonNode d = nodeSpan(s, "serial-1");
        assertThat(d.get("peer_type").asText()).isEqualTo("BLOCK");
        assertThat(d.get("pfs_type").asText()).isEqualTo("SERVER");
        assertThat(d.get("cl_label").asText()).isEqualTo("alpha/disk0");
        assertThat(d.get("dist").asInt()).isZero();
        assertThat(d.get("bytes").asLong()).isEqualTo(1L << 30);
        assertThat(d.get("blksize").asInt()).isEqualTo(512);
        a.withdraw(handle);
        awaitStatus(b, x -> nodeSpan(x, "serial-1") == null);
    }

    /**
     * hammer2 shell's framing (docs/REFERENCE.md §7.1): one-way DBG_SHELL in, one-way DBG_SHELL|REPLY
     * out, then the prompt.
     */
    @Test
    void theCShellClientFramingIsServedToo() throws Exception {
        Node a = startWithLocalLegacy("alpha"); // hammer2 shell: plaintext, no AUTH
        try (Socket s = new Socket("127.0.0.1", a.address().getPort())) {
            s.setSoTimeout(5000);
            FrameEncoder enc = new FrameEncoder();
            ByteBuf out = Unpooled.buffer();
            Message m = Message.of(Dmsg.DBG_SHELL, 0, 0, 0, null,
                Unpooled.copiedBuffer("help\0", StandardCharsets.US_ASCII));
            enc.encode(m, out); // like the C client: no LNK_CONN first
            m.release();
            s.getOutputStream().write(ByteBufUtil.getBytes(out));
            out.release();
            List<Message> got = readUntil(s, x -> x.cmd() == (Dmsg.LNK_ERROR | Dmsg.REPLY));
            StringBuilder text = new StringBuilder();
            got.stream().filter(x -> x.cmd() == (Dmsg.DBG_SHELL | Dmsg.REPLY)).forEach(x -> text.append(x.auxString()));
            assertThat(text.toString()).contains("status [--json]");
            Message prompt = got.get(got.size() - 1);
            assertThat(prompt.msgid()).isZero();
            assertThat(prompt.error()).isZero();
            got.forEach(Message::release);
        }
    }

    static List<Message> readUntil(Socket s, Predicate<Message> last) throws Exception {
        List<Message> got = new ArrayList<>();
        ByteBuf acc = Unpooled.buffer();
        FrameDecoder d = new FrameDecoder();
        byte[] buf = new byte[8192];
        try {
            while (true) {
                int n = s.getInputStream().read(buf);
                if (n < 0) {
                    throw new AssertionError("EOF before the last frame; got " + got.size());
                }
                acc.writeBytes(buf, 0, n);
                Message m;
                while ((m = d.decode(acc)) != null) {
                    got.add(m);
                    if (last.test(m)) {
                        return got;
                    }
                }
            }
        } finally {
            acc.release();
        }
    }

    @Test
    void volconfInsideLnkConnChangesTheTableLiveAndItPersists() throws Exception {
        Node a = start("alpha");
        Node b = start("beta");
        int bPort = b.address().getPort();
        try (ShellClient c = client(a)) {
            VolData v = new VolData(5, 0, 0, 0, Dmsg.VOLF_ENABLED, 0, 0, 0, new UUID(0, 0), "", "span:127.0.0.1:" + bPort);
            c.link().conn().sendOneWay(Dmsg.LNK_VOLCONF, new LnkVolconf(v, 5, new UUID(0, 0)), null);
            // ignored: index out of range, and another table's mediaid
            c.link().conn().sendOneWay(Dmsg.LNK_VOLCONF, new LnkVolconf(v, 300, new UUID(0, 0)), null);
            c.link().conn().sendOneWay(Dmsg.LNK_VOLCONF, new LnkVolconf(v, 6, UUID.randomUUID()), null);
        }
        JsonNode s = awaitStatus(a, st -> nodeSpan(st, "beta") != null);
        assertThat(nodeSpan(s, "beta").get("dist").asInt()).isZero();
        assertThat(s.get("volconf")).hasSize(1);
        assertThat(s.get("volconf").get(0).get("index").asInt()).isEqualTo(5);
        assertThat(a.volconf().get(6)).isEqualTo(VolData.EMPTY);

        byte[] file = Files.readAllBytes(tmp.resolve("alpha").resolve(VolconfTable.FILE));
        assertThat(file).hasSize(256 * 128);
        VolconfTable reread = VolconfTable.open(tmp.resolve("alpha"));
        assertThat(reread.get(5).path()).isEqualTo("span:127.0.0.1:" + bPort);
        assertThat(VolconfTable.enabled(reread.get(5))).isTrue();
    }

    @Test
    void aCorruptTableIsRefusedWithItsPath() throws Exception {
        Path dir = tmp.resolve("bad");
        Files.createDirectories(dir);
        Files.write(dir.resolve(VolconfTable.FILE), new byte[100]);
        try {
            VolconfTable.open(dir);
            throw new AssertionError("opened a 100-byte table");
        } catch (IOException e) {
            assertThat(e.getMessage()).contains(VolconfTable.FILE).contains("100 bytes");
        }
    }

    /**
     * A 2013 libdmsg peer: the first three frames of its captured stream (LNK_CONN, its answer,
     * LNK_SPAN "nodeB" in cluster "interop", no extension). The node takes the span, relays it to
     * its other links, and sends the C peer nothing of our extension: no span update and no
     * seqno request (both mid-stream LNK_SPAN), which C would answer by closing the span.
     */
    @Test
    void aCPeerSpeakingTheCapturedBytesInteroperates() throws Exception {
        Node a = startWithLocalLegacy("alpha"); // the C peer: plaintext, no AUTH
        Node b = start("beta");
        try (ShellClient c = client(a)) {
            c.call("span 127.0.0.1:" + b.address().getPort(), T);
        }
        byte[] c2s = Vectors.c2s();
        byte[] firstThree = Arrays.copyOf(c2s, 1024); // frames 0..2 end at offset 1024 (annotated.txt)
        try (Socket s = new Socket("127.0.0.1", a.address().getPort())) {
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            out.write(firstThree);
            out.flush();
            JsonNode st = awaitStatus(a, x -> nodeSpan(x, "nodeB") != null);
            JsonNode nodeB = nodeSpan(st, "nodeB");
            assertThat(nodeB.get("cl_label").asText()).isEqualTo("interop");
            assertThat(nodeB.get("peer_type").asText()).isEqualTo("HAMMER2");
            assertThat(nodeB.get("links").get(0).has("seqno")).as("a C span has no seqno").isFalse();
            awaitStatus(b, x -> nodeSpan(x, "nodeB") != null && nodeSpan(x, "nodeB").get("dist").asInt() == 1);

            // What the node sent the C peer: CONN, the answer to its CONN, spans — never mid-stream LNK_SPAN.
            List<Message> got = new ArrayList<>();
            InputStream in = s.getInputStream();
            ByteBuf acc = Unpooled.buffer();
            FrameDecoder d = new FrameDecoder();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
            byte[] buf = new byte[8192];
            while (System.nanoTime() < deadline) {
                int n;
                try {
                    n = in.read(buf);
                } catch (SocketTimeoutException e) {
                    break;
                }
                if (n < 0) {
                    break;
                }
                acc.writeBytes(buf, 0, n);
                Message m;
                while ((m = d.decode(acc)) != null) {
                    got.add(m);
                }
                if (got.stream().filter(m2 -> m2.baseCmd() == Dmsg.LNK_SPAN).count() >= 2) {
                    break;
                }
            }
            acc.release();
            assertThat(got).extracting(Message::cmd).contains(Dmsg.LNK_CONN | Dmsg.CREATE,
                Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.REPLY);
            assertThat(got).filteredOn(m -> m.baseCmd() == Dmsg.LNK_SPAN)
                .allSatisfy(m -> assertThat(m.isCreate()).as("only LNK_SPAN|CREATE to a C peer").isTrue())
                .isNotEmpty();
            got.forEach(Message::release);
        }
        // The C peer is gone: nodeB is withdrawn here and at beta.
        awaitStatus(a, x -> nodeSpan(x, "nodeB") == null);
        awaitStatus(b, x -> nodeSpan(x, "nodeB") == null);
    }
}
