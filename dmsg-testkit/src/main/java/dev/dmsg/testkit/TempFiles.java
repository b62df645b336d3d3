package dev.dmsg.testkit;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Scratch files for tests that serve block devices: on tmpfs where there is one, because this
 * machine does not keep the page cache (docs/BENCHMARKS.md "Machine") and a disk-backed image
 * makes an I/O test time the disk instead of the code.
 */
public final class TempFiles {
    private TempFiles() {}

    /** A new directory under {@code /dev/shm} when it is writable, else under {@code java.io.tmpdir}. */
    public static Path tmpfsDir(String prefix) throws IOException {
        Path shm = Path.of("/dev/shm");
        Path parent = Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
        return Files.createTempDirectory(parent, prefix);
    }

    /** A sparse file of {@code bytes} at {@code path} (zeros when read). */
    public static Path sized(Path path, long bytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
            f.setLength(bytes);
        }
        return path;
    }

    /** Deletes {@code dir} and everything below it; a missing {@code dir} is fine. */
    public static void deleteTree(Path dir) {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
