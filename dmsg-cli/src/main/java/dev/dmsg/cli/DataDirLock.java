package dev.dmsg.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * {@code DATA/node.lock}: one live node per data directory (docs/OPERATIONS.md, "The data
 * directory"). Two nodes on one directory would be one identity twice in the mesh, racing on the
 * VOLCONF table and the quorum log.
 *
 * <p>The lock is an OS lock ({@link FileChannel#tryLock}, {@code fcntl} on Linux) on the file, not
 * the file's existence: the kernel drops it when the holder's process ends, however it ends
 * ({@code kill -9}, a crash, power loss), so a stale file never blocks a restart. The file holds
 * the holder's pid, for the error message only; it is left in place when the node stops (deleting
 * it would let a third process lock a new file while a second still holds the old one).
 */
final class DataDirLock implements AutoCloseable {
    static final String FILE = "node.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private DataDirLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Locks {@code dir} (made 0700 if absent) for this process.
     *
     * @throws IOException {@code data directory D is in use by another node (pid N, D/node.lock) …}
     *     if a live process holds it, or the file cannot be opened
     */
    static DataDirLock acquire(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            try {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (UnsupportedOperationException e) {
                Files.createDirectories(dir); // not a POSIX file system
            }
        }
        Path file = dir.resolve(FILE);
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
            StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null; // held by this very JVM (a test running two nodes in one process)
        } catch (IOException e) {
            ch.close();
            throw new IOException("cannot lock " + file + ": " + e.getMessage(), e);
        }
        if (lock == null) {
            String holder = readPid(ch);
            ch.close();
            throw new IOException("data directory " + dir + " is in use by another node (pid " + holder + ", " + file
                + "); stop that node first, or give this one its own --data-dir");
        }
        ByteBuffer pid = ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII));
        ch.truncate(0);
        while (pid.hasRemaining()) {
            ch.write(pid, pid.position());
        }
        ch.force(false);
        return new DataDirLock(ch, lock);
    }

    /** The pid in the lock file, or "unknown" (the holder may not have written it yet). */
    private static String readPid(FileChannel ch) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(32);
        ch.read(b, 0);
        String s = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim();
        return s.matches("\\d+") ? s : "unknown";
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
