package dev.dmsg.services.blk;

import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.LongConsumer;

/**
 * A regular file (or a block device node) as a {@link BlockDevice}. Positional reads and writes
 * on one {@link FileChannel} from a bounded pool of I/O threads (the caller's executor), so many
 * requests run at once and no event loop ever waits for the disk. FLUSH is
 * {@link FileChannel#force}; TRIM writes zeros (Java has no portable hole punch; the contents
 * are what the NBD and BLK contracts promise either way).
 *
 * <p><b>Files in memory.</b> A file on tmpfs or ramfs is read and written in the call itself, on
 * the caller's thread (an event loop), and its future is complete when the call returns: its I/O
 * is a memory copy that never waits for a disk, and on two cores the two thread hand-offs per
 * request cost more than the copy — the exporting node spent about a third of its CPU in them
 * (docs/BENCHMARKS.md, "Block devices"). This is what nbdkit's file plugin does for every file.
 * A tmpfs that swaps could still wait; {@code -Ddmsg.blk.inlineMemoryFiles=false} sends such files
 * through the pool too.
 *
 * <p><b>A file that changes size under the export</b> (truncated, or grown, by someone else):
 * the device notices when a read finds the end of the file early, or when {@link #checkSize()}
 * is called (the node does so every second). It then takes the file's size as its own and tells
 * {@link #onResize} (the node re-advertises the export at that size, docs/BLK.md). A request
 * past the end of a file that shrank fails with IO — never zeros — and one past the largest
 * size the export ever had with PARAM, as before.
 */
public final class FileBlockDevice implements BlockDevice {
    /** Zeros are written in pieces of this size. */
    static final int ZERO_CHUNK = 64 * 1024;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();

    private final String name;
    private final Path path;
    private final FileChannel channel;
    /** The file's size as last seen; guarded by {@code this} for changes, read without. */
    private volatile long sizeBytes;
    /** The largest size the export has had: a request below it is in range for some client's open. */
    private volatile long largestBytes;
    private volatile LongConsumer onResize = size -> {};
    private final int blockSize;
    private final boolean readOnly;
    private final ExecutorService io;
    /** I/O in the caller's thread: the file is in memory (see the class comment). */
    private final boolean inline;

    /** File systems whose files live in memory: their I/O never waits for a disk. */
    static final Set<String> MEMORY_FILE_SYSTEMS = Set.of("tmpfs", "ramfs");

    private FileBlockDevice(String name, Path path, FileChannel channel, long sizeBytes, int blockSize, boolean readOnly,
                            ExecutorService io, boolean inline) {
        this.name = name;
        this.path = path;
        this.channel = channel;
        this.sizeBytes = sizeBytes;
        this.largestBytes = sizeBytes;
        this.blockSize = blockSize;
        this.readOnly = readOnly;
        this.io = io;
        this.inline = inline;
    }

    /**
     * Opens {@code path} (which must exist) for export as {@code name}.
     *
     * @param io where the I/O runs; bounded by its owner (the BLK server's pool)
     * @throws IOException naming the file and what is wrong (missing, not readable or writable, empty)
     */
    public static FileBlockDevice open(String name, Path path, boolean readOnly, int blockSize, ExecutorService io)
            throws IOException {
        if (!Files.exists(path)) {
            throw new IOException("export " + name + ": " + path + " does not exist");
        }
        if (Files.isDirectory(path)) {
            throw new IOException("export " + name + ": " + path + " is a directory, not a file or a block device");
        }
        if (blockSize < 512 || blockSize > 65536 || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("block size must be a power of two in 512..65536, not " + blockSize);
        }
        FileChannel ch;
        try {
            ch = FileChannel.open(path, readOnly ? EnumSet.of(StandardOpenOption.READ)
                : EnumSet.of(StandardOpenOption.READ, StandardOpenOption.WRITE));
        } catch (IOException e) {
            throw new IOException("export " + name + ": cannot open " + path + (readOnly ? "" : " for writing") + ": "
                + e.getMessage(), e);
        }
        long size = ch.size();
        if (size == 0) {
            ch.close();
            throw new IOException("export " + name + ": " + path + " is empty (a block device node needs a size: "
                + "export a file, or give the device's size)");
        }
        boolean inline = !"false".equals(System.getProperty("dmsg.blk.inlineMemoryFiles")) && inMemory(path);
        return new FileBlockDevice(name, path, ch, size, blockSize, readOnly, io, inline);
    }

    /** Whether {@code path} is on a file system held in memory (tmpfs, ramfs). */
    static boolean inMemory(Path path) {
        try {
            return MEMORY_FILE_SYSTEMS.contains(Files.getFileStore(path).type());
        } catch (IOException | RuntimeException e) {
            return false; // unknown: the pool is always safe
        }
    }

    /** Whether its I/O runs in the caller's thread (a file in memory) rather than on the pool. */
    public boolean inline() {
        return inline;
    }

    @Override
    public String name() {
        return name;
    }

    public Path path() {
        return path;
    }

    @Override
    public long sizeBytes() {
        return sizeBytes;
    }

    /** {@code listener} gets the new size each time the file is found to have changed size (any thread). */
    public void onResize(LongConsumer listener) {
        this.onResize = listener;
    }

    /**
     * Looks at the file's size now; if it changed, the device takes it as its size and tells the
     * {@link #onResize} listener (on this thread, outside any lock). Returns the size. Any thread.
     */
    public long checkSize() {
        long now;
        try {
            now = channel.size();
        } catch (IOException e) {
            return sizeBytes; // closed, or the disk is gone: the next I/O says so
        }
        synchronized (this) {
            if (now == sizeBytes) {
                return now;
            }
            sizeBytes = now;
            largestBytes = Math.max(largestBytes, now);
        }
        onResize.accept(now);
        return now;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public CompletableFuture<ByteBuf> read(long offset, int length) {
        return submit("read", offset, length, false, () -> {
            ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(length, length);
            try {
                ByteBuffer nio = buf.nioBuffer(0, length);
                long pos = offset;
                while (nio.hasRemaining()) {
                    int n = channel.read(nio, pos);
                    if (n < 0) {
                        // the file ends before the export does: it shrank under us (zeros would
                        // pass for data)
                        long was = sizeBytes;
                        long now = checkSize();
                        // the reason first: a BLK_ERROR carries only its first 63 bytes
                        throw new IOException("file shrank to " + now + " bytes (export was " + was + "): " + path);
                    }
                    pos += n;
                }
                buf.writerIndex(length);
                return buf;
            } catch (IOException | RuntimeException e) {
                buf.release();
                throw e;
            }
        });
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuf data, boolean fua) {
        int length = data.readableBytes();
        boolean[] ran = new boolean[1]; // seen through the future's completion, which follows it
        CompletableFuture<Void> f = submit("write", offset, length, true, () -> {
            ran[0] = true;
            try {
                // Piece by piece: the data is often a composite (a frame's aux behind TLS comes as
                // 16 KiB records), whose nioBuffer() would copy it into a heap buffer that
                // FileChannel then copies again into a direct one (~7 % of the exporting node's
                // CPU at 64 KiB writes). A direct piece is written from where it lies.
                long pos = offset;
                for (ByteBuffer nio : data.nioBuffers()) {
                    while (nio.hasRemaining()) {
                        pos += channel.write(nio, pos);
                    }
                }
                if (fua) {
                    channel.force(false);
                }
                return null;
            } finally {
                data.release();
            }
        });
        if (f.isCompletedExceptionally() && !ran[0]) {
            data.release(); // refused before it ran
        }
        return f;
    }

    @Override
    public CompletableFuture<Void> flush() {
        return submit("flush", 0, 0, false, () -> {
            channel.force(true);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long length) {
        return writeZeroes(offset, length, false);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long length, boolean fua) {
        return submit("write zeroes", offset, length, true, () -> {
            long pos = offset;
            long end = offset + length;
            while (pos < end) {
                ByteBuffer z = ZEROS.duplicate();
                z.limit((int) Math.min(ZERO_CHUNK, end - pos));
                while (z.hasRemaining()) {
                    pos += channel.write(z, pos);
                }
            }
            if (fua) {
                channel.force(false);
            }
            return null;
        });
    }

    @FunctionalInterface
    private interface Io<T> {
        T run() throws IOException;
    }

    private <T> CompletableFuture<T> submit(String op, long offset, long length, boolean writes, Io<T> work) {
        CompletableFuture<T> f = new CompletableFuture<>();
        if (writes && readOnly) {
            f.completeExceptionally(new BlockException("export " + name + ": " + op + " at " + offset
                + ": the export is read-only", Dmsg.ERR_PERM));
            return f;
        }
        long size = sizeBytes;
        if (offset < 0 || length < 0 || offset + length > size) {
            boolean shrank = offset >= 0 && length >= 0 && offset + length <= largestBytes;
            // the reason first: a BLK_ERROR carries only its first 63 bytes
            f.completeExceptionally(shrank
                ? new BlockException("export " + name + ": " + op + " at " + offset + ": file shrank to " + size
                    + " bytes (" + length + " bytes asked; " + path + ")", Dmsg.ERR_IO)
                : new BlockException("export " + name + ": " + op + " at " + offset + " of " + length
                    + " bytes is outside 0.." + size, Dmsg.ERR_PARAM));
            return f;
        }
        Runnable run = () -> {
            try {
                f.complete(work.run());
            } catch (IOException | RuntimeException e) {
                f.completeExceptionally(new BlockException("export " + name + ": " + op + " at " + offset + ": "
                    + e.getMessage(), Dmsg.ERR_IO, e));
            }
        };
        if (inline) {
            run.run();
            return f;
        }
        try {
            io.execute(run);
        } catch (RejectedExecutionException e) {
            f.completeExceptionally(new BlockException("export " + name + ": " + op + " at " + offset
                + ": I/O pool shut down or full", Dmsg.ERR_IO, e));
        }
        return f;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // closing: nothing left to report to
        }
    }
}
