package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.JoinToken;
import dev.dmsg.link.tls.NodeKeys;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code dmsg ca …} without a network: what each command writes and prints, and its refusals (exit 1, one line). */
class CaCommandTest extends CliCapture {
    @TempDir
    Path tmp;

    @Test
    void initIssuerSignTokenAndRevokeDoWhatTheySay() throws Exception {
        String ca = tmp.resolve("ca").toString();
        String n1 = tmp.resolve("n1").toString();
        String n2 = tmp.resolve("n2").toString();
        assertThat(run("ca", "init", "--ca-dir", ca, "--name", "prod")).as(err()).isZero();
        assertThat(out()).contains("made the cluster CA 'prod'").containsPattern("fingerprint SHA256:[A-Za-z0-9+/]{43}");
        assertThat(run("ca", "init", "--ca-dir", ca, "--name", "prod")).isEqualTo(1);
        assertThat(err()).contains("already holds a CA");

        assertThat(run("ca", "issuer", "--ca-dir", ca, "--data-dir", n1, "--label", "n1")).as(err()).isZero();
        assertThat(out()).contains("signed 'n1'").contains("as member").contains("'n1' is an issuer of cluster 'prod': maximum member");
        assertThat(NodeKeys.load(tmp.resolve("n1")).caSigned()).isTrue();

        assertThat(run("ca", "sign", "--ca-dir", ca, "--data-dir", n2, "--label", "n2", "--role", "client", "--grant",
            "shell-ro")).as(err()).isZero();
        assertThat(out()).contains("signed 'n2'").contains("as client shell-ro");
        assertThat(run("ca", "sign", "--ca-dir", ca, "--data-dir", n2, "--role", "member", "--grant", "shell-ro")).isEqualTo(2);
        assertThat(err()).contains("--grant is only for role client");

        assertThat(run("ca", "token", "--data-dir", n1, "--role", "member", "--ttl", "2h", "--count", "2")).as(err()).isZero();
        assertThat(out().lines().toList()).hasSize(2).allSatisfy(t -> assertThat(JoinToken.parse(t)).isNotNull());
        assertThat(err()).contains("2 token(s) for role member");
        Path tokens = tmp.resolve("n1/ca/tokens");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tokens))).isEqualTo("rw-------");
        String secret = out().lines().findFirst().orElseThrow().split("\\.")[2];
        assertThat(Files.readString(tokens)).doesNotContain(secret);
        assertThat(run("ca", "token", "--data-dir", n1, "--role", "admin")).isEqualTo(1);
        assertThat(err()).contains("role admin is above this issuer's maximum member");
        assertThat(run("ca", "token", "--data-dir", n2)).isEqualTo(1);
        assertThat(err()).contains("holds no issuer").contains("dmsg ca issuer");

        assertThat(run("ca", "revoke", "--ca-dir", ca, "n2", "--data-dir", n1)).as(err()).isZero();
        assertThat(out()).contains("revoked n2 " + NodeKeys.load(tmp.resolve("n2")).fingerprint())
            .contains("revocation list 2").contains("installed into");
        assertThat(run("ca", "revoke", "--ca-dir", ca, "n2")).isZero();
        assertThat(out()).contains("already revoked: n2");
        assertThat(run("ca", "revoke", "--ca-dir", ca, "nobody")).isEqualTo(1);
        assertThat(err()).contains("'nobody' is in no log");
        assertThat(Durations.parse("1h")).isEqualTo(Duration.ofHours(1));
        assertThat(Durations.parse("7d")).isEqualTo(Duration.ofDays(7));
    }

    @Test
    void aJoinWithABadTokenOrNobodyListeningExitsOneWithTheReason() {
        assertThat(run("node", "--join", "nonsense@127.0.0.1:1", "--label", "x", "--data-dir", tmp.resolve("x").toString(),
            "--listen", "127.0.0.1:0")).isEqualTo(1);
        JoinToken t = JoinToken.random("SHA256:" + "A".repeat(43));
        assertThat(run("node", "--join", t.format() + "@127.0.0.1:1", "--label", "x", "--data-dir",
            tmp.resolve("x").toString(), "--listen", "127.0.0.1:0")).isEqualTo(1);
    }
}
