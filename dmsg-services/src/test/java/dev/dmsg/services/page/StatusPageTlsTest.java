package dev.dmsg.services.page;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PinnedTrustManager;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.http.ListenerStats;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.Security;
import dev.dmsg.services.testing.TestCluster;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.SecureRandom;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The status page beyond loopback (docs/STATUS-PAGE.md "Who can reach it"): HTTPS with the node's
 * key, a client key required. A key the node trusts to read gets the graph; a stranger's key fails
 * the handshake; a trusted client without {@code shell-ro} is closed unanswered and counted; a
 * node without TLS refuses to serve it there at all.
 */
@Timeout(60)
class StatusPageTlsTest {
    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    /** GET {@code path} over TLS as {@code keys}, trusting the server by {@code trust}'s pins; what came back. */
    static String get(int port, NodeKeys keys, PinnedTrustManager trust, String path) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        char[] pw = "x".toCharArray();
        ks.setKeyEntry("k", keys.privateKey(), pw, keys.chain());
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, pw);
        SSLContext ctx = SSLContext.getInstance("TLSv1.3");
        ctx.init(kmf.getKeyManagers(), new TrustManager[] {trust}, new SecureRandom());
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void onlyKeysTrustedToReadGetThePage() throws Exception {
        Node a = cluster.start("a");
        Node b = cluster.start("b");
        TestCluster.link(b, a);
        cluster.awaitSpans(a, 2);
        StatusPageServer page = cluster.closing(StatusPageServer.start(a, "0.0.0.0", 0, StatusPageServer.defaults()));
        int port = page.address().getPort();
        PinnedTrustManager bTrusts = new PinnedTrustManager(b.trustPolicy()); // b pins a's key

        // b, a member of a: the graph
        String answer = get(port, b.keys(), bTrusts, "/graph.json");
        assertThat(answer).startsWith("HTTP/1.1 200").contains("\"label\":\"b\",\"state\":\"up\"");

        // a stranger: a refuses its key in the handshake
        NodeKeys mallory = NodeKeys.generate("mallory");
        assertThatThrownBy(() -> get(port, mallory, bTrusts, "/graph.json")).isInstanceOf(IOException.class);

        // a client a trusts, but not to read its shell: closed before its request is read
        NodeKeys cli = NodeKeys.generate("cli");
        a.trust().add("cli", cli.fingerprint(), Role.CLIENT, 0);
        String refused;
        try {
            refused = get(port, cli, bTrusts, "/graph.json");
        } catch (IOException e) {
            refused = "";
        }
        assertThat(refused).isEmpty();
        assertThat(page.stats().get(ListenerStats.KEY_REFUSED)).isEqualTo(1);

        // plain HTTP to the HTTPS port: no answer
        try (java.net.Socket plain = new java.net.Socket("127.0.0.1", port)) {
            plain.setSoTimeout(10_000);
            plain.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            byte[] got = plain.getInputStream().readAllBytes();
            assertThat(new String(got, StandardCharsets.ISO_8859_1)).doesNotContain("HTTP/1.1 200");
        } catch (IOException e) {
            // reset: as good as closed
        }
        assertThat(get(port, b.keys(), bTrusts, "/")).startsWith("HTTP/1.1 200").contains("<svg id=\"graph\"");
    }

    @Test
    void aNodeWithoutTlsServesThePageOnLoopbackOnly() throws Exception {
        Node p = cluster.startUnpinned(cluster.settings("p").withSecurity(Security.plaintextForTests()));
        assertThatThrownBy(() -> StatusPageServer.start(p, "0.0.0.0", 0, StatusPageServer.defaults()))
            .isInstanceOf(IOException.class).hasMessageContaining("not a loopback address")
            .hasMessageContaining("no TLS key");
        cluster.closing(StatusPageServer.start(p, "127.0.0.1", 0, StatusPageServer.defaults()));
    }
}
