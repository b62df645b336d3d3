package dev.dmsg.services.node;

import static dev.dmsg.services.testing.TestCluster.call;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.wire.Dmsg;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13, items 1 and 3, as the attacks were made: real nodes over TLS in a line
 * alpha - beta - gamma, attacked from a {@code member} and a {@code client} with {@code shell-ro}
 * trusted by beta. {@code @SELF COMMAND} used to run COMMAND with no caller (as the node itself):
 * the attackers added VOLCONF slots. Chains of {@code @beta @gamma @beta …} blocked both shells.
 * Each attack now fails with its own refusal while the operators' {@code status} keeps answering.
 */
@Timeout(90)
class ShellAttackTest {
    static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);
    Node alpha;
    Node beta;
    Node gamma;

    @BeforeEach
    void line() throws Exception {
        List<Node> line = cluster.line("alpha", "beta", "gamma");
        alpha = line.get(0);
        beta = line.get(1);
        gamma = line.get(2);
        for (Node n : line) {
            cluster.awaitSpans(n, 3);
        }
    }

    /** A shell client with its own key, trusted by {@code at} as {@code role} with {@code grants}. */
    ShellClient attacker(Node at, String name, Role role, int grants) throws Exception {
        return cluster.shellAs(at, name, role, grants);
    }

    ShellClient operator(Node n) throws Exception {
        return cluster.operator(n);
    }

    /** VOLCONF slots in use on {@code n}. */
    static int slots(Node n) throws Exception {
        return n.status().get("volconf").size();
    }

    @Test
    void atSelfRunsWithTheCallersRightsSoNoLesserRoleChangesTheTable() throws Exception {
        int slots = slots(beta);
        ShellClient member = attacker(beta, "mal", Role.MEMBER, 0);
        ShellClient client = attacker(beta, "peek", Role.CLIENT, Grants.SHELL_RO);
        for (ShellClient c : List.of(member, client)) {
            ShellService.Result a = call(c, "@beta span 127.0.0.1:1");
            assertThat(a.status()).as(a.output()).isEqualTo(Dmsg.ERR_PERM);
            assertThat(a.output()).contains("span: refused: needs the admin role (it changes this node)");
            assertThat(call(c, "@beta @beta @beta span 127.0.0.1:2").status()).isEqualTo(Dmsg.ERR_PERM);
            assertThat(call(c, "@beta tree").status()).as("reading through @self still works").isZero();
        }
        ShellService.Result who = call(client, "@beta span 127.0.0.1:1");
        assertThat(who.output()).contains("'peek' (client) may not");
        assertThat(slots(beta)).as("no slot was added").isEqualTo(slots);
        // the operator of beta may: @self is the caller's own rights, not less either
        assertThat(call(operator(beta), "@beta span 127.0.0.1:3").status()).isZero();
        assertThat(slots(beta)).isEqualTo(slots + 1);
    }

    @Test
    void atTheFarNodeOnItselfRunsForTheCallerNotAsThatNode() throws Exception {
        int slots = slots(gamma);
        ShellClient member = attacker(beta, "mal", Role.MEMBER, 0);
        ShellService.Result a = call(member, "@gamma @gamma span 127.0.0.1:1");
        assertThat(a.status()).as(a.output()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(a.output()).contains("span: refused: needs the admin role").contains("for 'mal' via beta");
        assertThat(call(member, "@gamma @gamma links").status()).as("reading is allowed").isZero();
        assertThat(slots(gamma)).as("gamma's table unchanged").isEqualTo(slots);
        // beta's own operator is an admin of beta, but beta is only a member of gamma: gamma refuses too
        assertThat(call(operator(beta), "@gamma span 127.0.0.1:1").status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(slots(gamma)).isEqualTo(slots);
    }

    @Test
    void deepChainsAreRefusedAtOnceAndNeverBlockTheOperators() throws Exception {
        ShellClient member = attacker(beta, "mal", Role.MEMBER, 0);
        StringBuilder deep = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            deep.append(i % 2 == 0 ? "@gamma " : "@beta ");
        }
        long t0 = System.nanoTime();
        ShellService.Result a = call(member, deep + "tree");
        assertThat(a.status()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(a.output()).contains("refused: @ nesting deeper than 4");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
        assertThat(call(member, "@gamma @beta @gamma @beta tree").status()).as("depth 4 is allowed").isZero();

        // A flood of the deepest chains allowed, from one member on many connections at once: it gets
        // at most its share, the rest are answered busy, and every node's operator is answered meanwhile.
        List<ShellClient> floods = new ArrayList<>();
        NodeKeys malKeys = NodeKeys.generate("mal2");
        beta.trust().add("mal2", malKeys.fingerprint(), Role.MEMBER, 0);
        TrustPolicy pins = TrustPolicy.of(List.of(new PeerIdentity("beta", beta.keys().fingerprint(), Role.MEMBER, 0)));
        for (int i = 0; i < 12; i++) {
            ShellClient c = ShellClient.connect("127.0.0.1", beta.address().getPort(), TlsConfig.of(malKeys, pins), T);
            cluster.closing(c);
            floods.add(c);
        }
        ExecutorService pool = Executors.newFixedThreadPool(floods.size());
        try {
            List<Future<ShellService.Result>> answers = new ArrayList<>();
            for (ShellClient c : floods) {
                answers.add(pool.submit(() -> call(c, "@gamma @beta @gamma @beta ping alpha 200")));
            }
            for (Node n : cluster.nodes()) {
                ShellClient op = operator(n);
                long s0 = System.nanoTime();
                ShellService.Result st = call(op, "status");
                assertThat(st.status()).isZero();
                assertThat(Duration.ofNanos(System.nanoTime() - s0)).as("status on %s during the flood",
                    n.identity().label()).isLessThan(Duration.ofSeconds(3));
            }
            int busy = 0;
            int ran = 0;
            for (Future<ShellService.Result> f : answers) {
                ShellService.Result x = f.get(60, TimeUnit.SECONDS);
                if (x.status() == Dmsg.ERR_LIMIT) {
                    assertThat(x.output()).startsWith("busy: 'mal2' (member").contains("has 4 shell commands in progress");
                    busy++;
                } else {
                    assertThat(x.status()).as(x.output()).isZero();
                    ran++;
                }
            }
            assertThat(ran).as("the caller's share ran").isBetween(1, 12);
            assertThat(busy + ran).isEqualTo(12);
        } finally {
            pool.shutdownNow();
        }
        CompletableFuture<Void> none = CompletableFuture.completedFuture(null);
        assertThat(none).isDone();
    }
}
