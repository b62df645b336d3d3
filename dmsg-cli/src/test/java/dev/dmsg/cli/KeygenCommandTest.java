package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.NodeKeys;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code dmsg keygen}: makes a node's keys once, shows them, refuses to replace them without --force. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class KeygenCommandTest extends CliCapture {
    @TempDir
    Path tmp;

    static final Pattern FINGERPRINT = Pattern.compile("fingerprint (SHA256:[A-Za-z0-9+/]{43})\n");

    String madeFingerprint() {
        Matcher m = FINGERPRINT.matcher(out());
        assertThat(m.find()).as("fingerprint line in:\n%s", out()).isTrue();
        return m.group(1);
    }

    @Test
    void keygenThenShowPrintTheSameFingerprint() throws Exception {
        Path dir = tmp.resolve("alpha");
        assertThat(run("keygen", "--data-dir", dir.toString(), "--label", "alpha")).isZero();
        String fp = madeFingerprint();
        assertThat(out()).startsWith("made a node key for 'alpha' in " + dir + "\n")
            .contains(dir.resolve("node.key") + "  private key (PKCS#8 PEM, mode 0600)")
            .contains("dmsg trust add alpha " + dir.resolve("node.crt"));
        assertThat(err()).isEmpty();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("node.key")))).isEqualTo("rw-------");
        assertThat(NodeKeys.load(dir).fingerprint()).isEqualTo(fp);

        assertThat(run("keygen", "--show", "--data-dir", dir.toString())).isZero();
        assertThat(out()).isEqualTo(fp + " alpha\n");
    }

    @Test
    void withoutALabelTheCertificateIsNamedAfterTheDirectory() {
        Path dir = tmp.resolve("beta");
        assertThat(run("keygen", "--data-dir", dir.toString())).isZero();
        assertThat(run("keygen", "--data-dir", dir.toString(), "--show")).isZero();
        assertThat(out()).endsWith(" beta\n");
    }

    @Test
    void aSecondKeygenExitsOneUnlessForcedAndForceSaysWhatPeersMustDo() throws Exception {
        Path dir = tmp.resolve("alpha");
        assertThat(run("keygen", "--data-dir", dir.toString(), "--label", "alpha")).isZero();
        String first = madeFingerprint();

        assertThat(run("keygen", "--data-dir", dir.toString(), "--label", "alpha")).isEqualTo(1);
        assertThat(out()).isEmpty();
        assertThat(err()).isEqualTo("dmsg keygen: " + dir + " already holds a node key (" + first + "); not replaced, "
            + "since peers trust it. --show prints it; --force makes a new one\n");
        assertThat(NodeKeys.load(dir).fingerprint()).isEqualTo(first);

        assertThat(run("keygen", "--data-dir", dir.toString(), "--label", "alpha", "--force")).isZero();
        String second = madeFingerprint();
        assertThat(second).isNotEqualTo(first);
        assertThat(out()).contains("replaced the old key " + first + ": peers that trusted it refuse this node until "
            + "they run 'dmsg trust remove alpha' and 'dmsg trust add alpha " + second + "'");
        assertThat(NodeKeys.load(dir).fingerprint()).isEqualTo(second);
    }

    @Test
    void showWithoutKeysOrWithAKeyOthersCanReadExitsOneSayingWhy() throws Exception {
        Path dir = tmp.resolve("gamma");
        assertThat(run("keygen", "--show", "--data-dir", dir.toString())).isEqualTo(1);
        assertThat(err()).startsWith("dmsg keygen: " + dir.resolve("node.key") + " is missing");

        assertThat(run("keygen", "--data-dir", dir.toString())).isZero();
        Files.setPosixFilePermissions(dir.resolve("node.key"), PosixFilePermissions.fromString("rw-r--r--"));
        assertThat(run("keygen", "--show", "--data-dir", dir.toString())).isEqualTo(1);
        assertThat(err()).contains("is readable by others (mode rw-r--r--)", "chmod 600");
        assertThat(out()).isEmpty();
    }

    @Test
    void usageErrorsExitTwo() {
        assertThat(run("keygen")).isEqualTo(2);
        assertThat(err()).startsWith("say which node: --data-dir DIR, or --label NAME for dmsg-data/NAME\n")
            .contains("Usage: dmsg keygen");
        assertThat(run("keygen", "--show", "--force", "--data-dir", tmp.toString())).isEqualTo(2);
        assertThat(err()).startsWith("--show reads the existing keys; it does not go with --force");
    }

    @Test
    void theDefaultDataDirectoryIsDmsgNodes() {
        assertThat(DataDirOption.defaultDir("alpha")).isEqualTo(Path.of("dmsg-data", "alpha"));
        assertThat(DataDirOption.defaultDir("127.0.0.1:9870")).isEqualTo(Path.of("dmsg-data", "127.0.0.1_9870"));
    }
}
