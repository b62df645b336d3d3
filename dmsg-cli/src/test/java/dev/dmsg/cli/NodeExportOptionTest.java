package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dmsg node --export NAME=PATH[,ro]} (and {@code export=} in a config file): a path that
 * does not exist stops the node at start with exit 1, a malformed value is a usage error (2).
 * A node that starts runs until killed, so only the refusals are tested here; the served
 * exports are BlkServerTest's, the parsing itself ExportSpecTest's (dmsg-services).
 */
@Timeout(30)
class NodeExportOptionTest extends CliCapture {
    @TempDir
    Path tmp;

    String[] node(String... more) {
        return nodeArgs(tmp.resolve("x"), more);
    }

    @Test
    void aMissingPathIsExit1() {
        Path missing = tmp.resolve("nope.img");
        assertThat(run(node("--export", "disk0=" + missing + ",ro"))).isEqualTo(1);
        assertThat(err()).contains("export disk0: " + missing + " does not exist");
    }

    @Test
    void aMalformedExportIsAUsageError() {
        assertThat(run(node("--export", "disk0"))).isEqualTo(2);
        assertThat(err()).contains("export 'disk0': expected NAME=PATH[,ro][,blksize=N]");
        assertThat(run(node("--export", "disk0=/x,fast"))).isEqualTo(2);
        assertThat(err()).contains("unknown option 'fast' (options: ro, rw, blksize=N, allow=ROLE|LABEL[+…], fence=KEY)");
        assertThat(run(node("--export", "disk0=/x,blksize=1000"))).isEqualTo(2);
        assertThat(err()).contains("blksize must be a power of two in 512..65536, not 1000");
        assertThat(run(node("--export", "disk0=/x,allow=alpha+bad/name"))).isEqualTo(2);
        assertThat(err()).contains("allow: 'bad/name' is neither a role nor a node label");
    }

    @Test
    void theConfigFileTakesSeveralExportsWithTheirOptions() throws Exception {
        Path img = tmp.resolve("a.img");
        Files.write(img, new byte[4096]);
        Path cfg = tmp.resolve("node.properties");
        // a's options stay with a; b's path is missing: the node stops at start
        Files.writeString(cfg, "export=a=" + img + ",ro,blksize=512,b=" + tmp.resolve("missing.img") + "\n");
        assertThat(run(node("--config", cfg.toString()))).isEqualTo(1);
        assertThat(tmp.resolve("x").resolve("exports").resolve("a.serial")).exists();
        assertThat(tmp.resolve("x").resolve("exports").resolve("b.serial")).doesNotExist();

        Files.writeString(cfg, "export=a=" + img + ",turbo\n");
        assertThat(run(node("--config", cfg.toString()))).isEqualTo(2);
    }
}
