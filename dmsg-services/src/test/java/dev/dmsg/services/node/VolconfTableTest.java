package dev.dmsg.services.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.VolData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The persisted VOLCONF table when its disk is full: the old table stays, no temporary file is left. */
class VolconfTableTest {
    @TempDir
    Path dir;

    static VolData slot(int index, String path) {
        return new VolData(index, 0, 0, 0, Dmsg.VOLF_ENABLED, 0, 0, 0, new UUID(0, 0), "", path);
    }

    /** A disk that fills up: the file is created, then writing it fails as ENOSPC does. */
    final class FullDisk implements VolconfTable.FileWriter {
        boolean full;
        final List<Path> written = new ArrayList<>();

        @Override
        public void write(Path path, byte[] bytes) throws IOException {
            written.add(path);
            if (full) {
                Files.createFile(path); // what the kernel leaves: a 0-byte file
                throw new IOException(path + ": No space left on device");
            }
            Files.write(path, bytes);
        }
    }

    @Test
    void aFullDiskKeepsTheOldTableLeavesNoTempFileAndSaysWhy() throws Exception {
        FullDisk disk = new FullDisk();
        VolconfTable t = VolconfTable.open(dir, disk);
        List<Integer> told = new ArrayList<>();
        t.onChange((i, v) -> told.add(i));
        t.set(1, slot(1, "span:10.0.0.1:987"));
        byte[] before = Files.readAllBytes(dir.resolve(VolconfTable.FILE));

        disk.full = true;
        assertThatThrownBy(() -> t.set(2, slot(2, "span:10.0.0.2:987"))).isInstanceOf(IOException.class)
            .hasMessageEndingWith("volconf.bin.tmp: No space left on device");
        assertThat(disk.written).last().isEqualTo(dir.resolve("volconf.bin.tmp"));
        assertThat(dir.resolve("volconf.bin.tmp")).doesNotExist();
        assertThat(Files.readAllBytes(dir.resolve(VolconfTable.FILE))).isEqualTo(before);
        assertThat(t.get(2)).isEqualTo(VolData.EMPTY); // in memory as on disk
        assertThat(told).containsExactly(1);           // no listener heard of the change that failed
        assertThat(VolconfTable.open(dir).get(1).path()).isEqualTo("span:10.0.0.1:987");

        disk.full = false; // space again: the same change goes through
        t.set(2, slot(2, "span:10.0.0.2:987"));
        assertThat(VolconfTable.open(dir).get(2).path()).isEqualTo("span:10.0.0.2:987");
        assertThat(told).containsExactly(1, 2);
    }
}
