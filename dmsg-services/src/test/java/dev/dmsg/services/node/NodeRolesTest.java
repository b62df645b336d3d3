package dev.dmsg.services.node;

import static dev.dmsg.services.testing.TestCluster.call;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.LnkVolconf;
import dev.dmsg.wire.VolData;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Roles on a real node over TLS (docs/SECURITY.md §5): each protected request from a peer whose
 * trusted role lacks the right gets a specific refusal (PERM 0x25) and is counted, and the link
 * stays up; the roles that have the right are served.
 */
@Timeout(60)
class NodeRolesTest {
    static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp);
    Node alpha;

    Node alpha() throws Exception {
        alpha = cluster.start("alpha");
        return alpha;
    }

    /** A peer named {@code name} with its own key, trusted by alpha with {@code role}; it pins alpha's key. */
    ShellClient as(String name, Role role, int grants) throws Exception {
        return cluster.shellAs(alpha, name, role, grants);
    }

    static long denied(Link l) throws Exception {
        CompletableFuture<Long> f = new CompletableFuture<>();
        l.execute(() -> f.complete(l.stats().denied()));
        return f.get(5, TimeUnit.SECONDS);
    }

    /** alpha's side of the link from the peer it trusts as {@code name}. */
    Link alphaSide(String name) {
        return alpha.endpoint().links().stream().filter(l -> l.peer() != null && l.peer().name().equals(name))
            .findFirst().orElseThrow();
    }

    @Test
    void aClientWithoutShellReadOnlyIsRefusedEvenStatusAndTheLinkStaysUp() throws Exception {
        alpha();
        ShellClient c = as("ops", Role.CLIENT, Grants.BLK_READ);
        ShellService.Result a = call(c, "status");
        assertThat(a.status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(a.output()).isEqualTo("status: refused: needs the admin or member role, or a client granted shell-ro; "
            + "'ops' (client) may not\n");
        assertThat(denied(alphaSide("ops"))).isEqualTo(1);
        assertThat(c.link().state()).isEqualTo(LinkState.UP);
    }

    @Test
    void aClientWithShellReadOnlyReadsButMayNotChangeTheNode() throws Exception {
        alpha();
        ShellClient c = as("ops", Role.CLIENT, Grants.SHELL_RO);
        assertThat(call(c, "tree").status()).isZero();
        ShellService.Result a = call(c, "span 127.0.0.1:1");
        assertThat(a.status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(a.output()).contains("span: refused: needs the admin role (it changes this node); 'ops' (client) may not");
        assertThat(alpha.volconf().firstFree()).as("no slot was taken").isEqualTo(1);
    }

    @Test
    void aMemberReadsAndRelaysButMayNotChangeTheTableEvenWithVolconf() throws Exception {
        alpha();
        ShellClient c = as("beta", Role.MEMBER, 0);
        assertThat(call(c, "status").status()).isZero();
        assertThat(call(c, "span 127.0.0.1:1").status()).isEqualTo(Dmsg.ERR_PERM);
        VolData v = new VolData(5, 0, 0, 0, Dmsg.VOLF_ENABLED, 0, 0, 0, new UUID(0, 0), "", "span:127.0.0.1:1");
        c.link().conn().sendOneWay(Dmsg.LNK_VOLCONF, new LnkVolconf(v, 5, new UUID(0, 0)), null);
        Link side = alphaSide("beta");
        // the one-way VOLCONF is refused, counted, and answered PERM to a peer of ours
        ShellClient.VolconfAnswer answer = c.awaitVolconfAnswer(5, T);
        assertThat(answer).isNotNull();
        assertThat(answer.error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(answer.why()).endsWith("changing the table needs the admin role");
        assertThat(denied(side)).isEqualTo(2); // the span command and the VOLCONF
        assertThat(alpha.volconf().get(5)).isEqualTo(VolData.EMPTY);
        assertThat(c.link().state()).isEqualTo(LinkState.UP);
    }

    @Test
    void anAdminMayChangeTheNode() throws Exception {
        alpha();
        ShellClient c = as("root", Role.ADMIN, 0);
        assertThat(call(c, "span 127.0.0.1:1").output()).isEqualTo("slot 1: span:127.0.0.1:1\n");
    }

    @Test
    void aClientMayNotAdvertiseSpansOrForgeCircuits() throws Exception {
        alpha();
        ShellClient c = as("ops", Role.CLIENT, Grants.SHELL_RO);
        CompletableFuture<Integer> span = new CompletableFuture<>();
        c.link().open(Dmsg.LNK_SPAN, new LnkSpan(new UUID(0, 0), UUID.randomUUID(), Dmsg.PFSTYPE_SERVER,
            Dmsg.PEER_BLOCK, 1, 0, 0, 0, 0, 0, 0, "ops/disk", "rogue"), null, (t, m) -> {
                if (m.isDelete()) {
                    span.complete(m.error());
                }
            });
        assertThat(span.get(5, TimeUnit.SECONDS)).isEqualTo(Dmsg.ERR_PERM);
        CompletableFuture<Integer> circ = new CompletableFuture<>();
        c.link().open(Dmsg.LNK_CIRC, new LnkCirc(0, 42), null, (t, m) -> {
            if (m.isDelete()) {
                circ.complete(m.error());
            }
        });
        assertThat(circ.get(5, TimeUnit.SECONDS)).isEqualTo(Dmsg.ERR_PERM);
        assertThat(denied(alphaSide("ops"))).isEqualTo(2);
        assertThat(alpha.status().get("spans").toString()).doesNotContain("rogue");
    }
}
