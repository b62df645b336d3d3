package dev.dmsg.services.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.services.testing.TestCluster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13: a node started with a data directory others may write (0777), or another user's,
 * started without a word. It now refuses to start, naming the directory, its mode or owner and
 * the fix, before it reads or writes anything there (docs/SECURITY.md §2).
 */
@Timeout(30)
class DataDirCheckTest {
    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp);

    @Test
    void aNodeRefusesADataDirectoryOthersCanWrite() throws IOException {
        Path data = tmp.resolve("alpha");
        Files.createDirectory(data);
        Files.setPosixFilePermissions(data, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertThatThrownBy(() -> cluster.start("alpha")).isInstanceOf(IOException.class)
            .hasMessage("data directory " + data + " is writable by group and others (mode rwxrwxrwx), who could replace"
                + " the node's trust store, key and VOLCONF table in it; make it writable by its owner only: chmod go-w "
                + data);
        try (Stream<Path> s = Files.list(data)) {
            assertThat(s).isEmpty(); // no key made, no table written
        }
    }

    @Test
    void aNodeRefusesADataDirectoryAnotherUserOwns() throws IOException {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "chown needs root");
        Path data = tmp.resolve("alpha");
        Files.createDirectory(data);
        Files.setAttribute(data, "unix:uid", 65534);
        String owner = Files.getOwner(data).getName();
        assertThatThrownBy(() -> cluster.start("alpha"))
            .hasMessage("data directory " + data + " is owned by " + owner + " (uid 65534), not by this node's user"
                + " (root, uid 0) or root; " + owner + " could replace the node's trust store, key and VOLCONF table in"
                + " it; chown root " + data);
    }
}
