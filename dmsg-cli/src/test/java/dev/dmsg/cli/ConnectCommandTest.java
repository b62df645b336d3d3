package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.VolconfTable;
import dev.dmsg.services.testing.TestCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dmsg connect}/{@code disconnect} against an in-process node: a change the node cannot
 * write (its data directory refuses the table) or may not make (a member's key) is reported at
 * once with the node's reason, not after the 10 s wait with a guess.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ConnectCommandTest extends CliCapture {
    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp);

    Node start() throws Exception {
        return cluster.start(Node.Settings.builder("127.0.0.1", 0, tmp.resolve("alpha"), TestCluster.identity("alpha"))
            .build());
    }

    static String addr(Node n) {
        return "127.0.0.1:" + n.address().getPort();
    }

    /** No answer needed from the far side: nothing listens at this address, the slot is what counts. */
    static final String PEER = "127.0.0.1:9";

    @Test
    void aTableTheNodeCannotWriteIsReportedAtOnceWithTheNodesReason() throws Exception {
        Node n = start();
        String id = tmp.resolve("alpha").toString(); // the node's own key: an admin of it
        // where the node writes its table first is taken by a directory: the write fails, as on a full disk
        Path tmpFile = tmp.resolve("alpha").resolve(VolconfTable.FILE + ".tmp");
        Files.createDirectories(tmpFile);

        long t0 = System.nanoTime();
        assertThat(run("connect", PEER, "--node", addr(n), "--identity", id)).isEqualTo(1);
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(err()).contains("dmsg connect: node " + addr(n) + " did not apply the change: IO(0x22): "
            + "cannot write the table: ").contains("volconf.bin.tmp").doesNotContain("allowed");
        assertThat(millis).as("answered, not waited out").isLessThan(AdminCommands.TIMEOUT.toMillis() / 2);
        assertThat(tmpFile).doesNotExist(); // cleaned up after the failed write
        assertThat(n.volconf().slots().stream().filter(v -> v.path().equals("span:" + PEER))).isEmpty();

        // the disk is usable again: the same command goes through, and so does its undoing
        assertThat(run("connect", PEER, "--node", addr(n), "--identity", id)).isZero();
        assertThat(out()).contains("keeps span:" + PEER);
        assertThat(run("disconnect", PEER, "--node", addr(n), "--identity", id)).isZero();
        assertThat(out()).contains("no longer keeps span:" + PEER);
        assertThat(n.volconf().slots().stream().filter(v -> v.copyid() != 0)).isEmpty();
    }

    /** The lesser role: a member may read the table but not change it; told so at once. */
    @Test
    void aMembersChangeIsRefusedAtOnceWithPerm() throws Exception {
        Node n = start();
        Path member = tmp.resolve("member");
        NodeKeys keys = NodeKeys.generate("member1");
        keys.write(member, false);
        TrustStore.open(member).add("alpha", n.keys().fingerprint(), Role.MEMBER, 0);
        n.trust().add("member1", keys.fingerprint(), Role.MEMBER, 0);

        long t0 = System.nanoTime();
        assertThat(run("connect", PEER, "--node", addr(n), "--identity", member.toString())).isEqualTo(1);
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(err()).contains("did not apply the change: PERM(0x25): LNK_VOLCONF from ")
            .contains("changing the table needs the admin role");
        assertThat(millis).isLessThan(AdminCommands.TIMEOUT.toMillis() / 2);
        assertThat(n.volconf().slots().stream().filter(v -> v.copyid() != 0)).isEmpty();
    }
}
