package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dmsg node --new-cluster NAME [--tokens N]} and {@code --join}: the refusals that stop a
 * node before it starts (a node that starts runs until killed: CaProcessTest runs them whole).
 */
@Timeout(30)
class NodeClusterOptionTest extends CliCapture {
    @TempDir
    Path tmp;

    String[] node(String... more) {
        return nodeArgs(tmp.resolve("x"), more);
    }

    @Test
    void joiningAndStartingAClusterAtOnceAndTokensAloneAreUsageErrors() {
        assertThat(run(node("--new-cluster", "prod", "--join", "dmsgjoin1.a.b.c@127.0.0.1:1"))).isEqualTo(2);
        assertThat(err()).contains("--join and --new-cluster: a node joins a cluster or starts one, not both");
        assertThat(run(node("--tokens", "3"))).isEqualTo(2);
        assertThat(err()).contains("--tokens N: 0..1000, with --new-cluster");
        assertThat(run(node("--new-cluster", "prod", "--tokens", "5000"))).isEqualTo(2);
        assertThat(tmp.resolve("x").resolve("ca-root")).as("nothing made").doesNotExist();
    }
}
