package dev.dmsg.services.blk.copy;

import dev.dmsg.services.blk.BlockDevice;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Copies between a local file and a block device from offset 0, hashing the bytes as they stream
 * (docs/BLK.md "Tools", {@code dmsg blk cp}): {@link #CHUNK_BYTES} chunks, at most
 * {@link #CHUNKS_IN_FLIGHT} in flight, chunks from the device hashed and written in order as they
 * arrive. Every copy returns the SHA-256 (lower-case hex) of the bytes copied: to the device as
 * read from the file, from it as received.
 *
 * <p>Errors name the export ({@code label}) and, where there is one, the offset: a device's own
 * {@link BlockException} is thrown as it is; a chunk with no answer within {@code chunkTimeout}
 * becomes one (IO). The static checks ({@link #uploadBytes}, {@link #checkFits},
 * {@link #downloadBytes}) refuse a copy before anything is opened or written.
 *
 * <p>Threads: one caller at a time drives a copy and {@link Progress} is called on that thread.
 * Buffers: every chunk read is released, also when an error stops the copy early (also the
 * answer to a chunk that timed out, should it come after all; {@code dmsg blk cp} before this
 * class held that one forever).
 */
public final class BlockCopy {
    public static final int CHUNK_BYTES = 1 << 20;
    public static final int CHUNKS_IN_FLIGHT = 16;

    /** Told of every chunk done, in order, on the copying thread. */
    @FunctionalInterface
    public interface Progress {
        void advance(long bytes);

        Progress NONE = bytes -> { };
    }

    private final BlockDevice device;
    private final String label;
    private final long chunkTimeoutMillis;

    /**
     * @param label        how errors name the device, e.g. the export's {@code NODE/NAME}
     * @param chunkTimeout how long one chunk may take at most (a remote device fails a chunk by
     *                     itself after its failover wait; this bounds the rest)
     */
    public BlockCopy(BlockDevice device, String label, Duration chunkTimeout) {
        this.device = device;
        this.label = label;
        this.chunkTimeoutMillis = chunkTimeout.toMillis();
    }

    // ------------------------------------------------------------------------------------------
    // Checks before a copy

    /** The bytes to send from {@code file}: all of it, or {@code length} (null: all) if it has them. */
    public static long uploadBytes(Path file, Long length) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": " + (Files.exists(file) ? "not a regular file" : "no such file"));
        }
        long fileBytes = Files.size(file);
        if (length != null && length > fileBytes) {
            throw new IOException(file + " is " + fileBytes + " bytes; --length " + length + " is more");
        }
        return length != null ? length : fileBytes;
    }

    /** Refuses {@code n} bytes of {@code file} that would not fit an export of {@code exportBytes}. */
    public static void checkFits(Path file, long n, String label, long exportBytes) throws IOException {
        if (n > exportBytes) {
            throw new IOException(file + " is " + n + " bytes (" + ByteSizes.human(n) + "); export " + label
                + " is " + exportBytes + " bytes (" + ByteSizes.human(exportBytes) + "): it does not fit");
        }
    }

    /** A download's target must not be a directory. */
    public static void checkTarget(Path file) throws IOException {
        if (Files.isDirectory(file)) {
            throw new IOException(file + ": is a directory");
        }
    }

    /** The bytes to fetch from an export of {@code exportBytes}: all, or {@code length} (null: all) if it has them. */
    public static long downloadBytes(Long length, String label, long exportBytes) throws IOException {
        if (length != null && length > exportBytes) {
            throw new IOException("--length " + length + " is more than export " + label + " holds ("
                + exportBytes + " bytes)");
        }
        return length != null ? length : exportBytes;
    }

    // ------------------------------------------------------------------------------------------
    // Copies

    /**
     * Writes the first {@code n} bytes of {@code file} to the device at offset 0, then flushes:
     * on return they are durable. Returns their SHA-256.
     */
    public String upload(Path file, long n, Progress progress) throws Exception {
        MessageDigest sha = sha256();
        ArrayDeque<CompletableFuture<Void>> window = new ArrayDeque<>();
        ArrayDeque<Integer> sizes = new ArrayDeque<>();
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            for (long at = 0; at < n; at += CHUNK_BYTES) {
                if (window.size() == CHUNKS_IN_FLIGHT) {
                    await(window.poll(), at);
                    progress.advance(sizes.poll());
                }
                int len = (int) Math.min(CHUNK_BYTES, n - at);
                ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(len, len);
                try {
                    readFully(in, buf, at, len, file);
                    sha.update(buf.nioBuffer(0, len));
                } catch (IOException | RuntimeException e) {
                    buf.release();
                    throw e;
                }
                window.add(device.write(at, buf, false)); // the device owns buf now
                sizes.add(len);
            }
        }
        while (!window.isEmpty()) {
            await(window.poll(), -1);
            progress.advance(sizes.poll());
        }
        await(device.flush(), -1);
        return HexFormat.of().formatHex(sha.digest());
    }

    /**
     * Writes the device's first {@code n} bytes to {@code file}: a regular file (or none yet) is
     * created or truncated and synced at the end; a device or FIFO ({@code /dev/null}) is written
     * as it is. Returns their SHA-256.
     */
    public String download(Path file, long n, Progress progress) throws Exception {
        boolean regular = !Files.exists(file) || Files.isRegularFile(file);
        try (FileChannel out = regular
            ? FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)
            : FileChannel.open(file, StandardOpenOption.WRITE)) {
            String hex = read(n, out, progress);
            if (regular) {
                out.force(false);
            }
            return hex;
        }
    }

    /**
     * Reads the device's first {@code n} bytes, 16 chunks in flight, in order: hashes them and
     * writes them to {@code out} when given (null: hash only). Returns their SHA-256.
     */
    public String read(long n, FileChannel out, Progress progress) throws Exception {
        MessageDigest sha = sha256();
        ArrayDeque<CompletableFuture<ByteBuf>> window = new ArrayDeque<>();
        long issued = 0;
        long done = 0;
        try {
            while (done < n) {
                while (issued < n && window.size() < CHUNKS_IN_FLIGHT) {
                    int len = (int) Math.min(CHUNK_BYTES, n - issued);
                    window.add(device.read(issued, len));
                    issued += len;
                }
                // peek, not poll: a chunk that times out stays in the window, so that its answer
                // is released if it still comes
                ByteBuf b = await(window.peek(), done);
                window.poll();
                try {
                    int len = b.readableBytes();
                    for (ByteBuffer part : b.nioBuffers()) {
                        if (out != null) {
                            ByteBuffer w = part.duplicate();
                            while (w.hasRemaining()) {
                                out.write(w);
                            }
                        }
                        sha.update(part);
                    }
                    done += len;
                    progress.advance(len);
                } finally {
                    b.release();
                }
            }
        } finally {
            for (CompletableFuture<ByteBuf> f : window) { // an error stopped us early: free what still arrives
                f.thenAccept(ByteBuf::release);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    // ------------------------------------------------------------------------------------------
    // --verify: the far side read back

    /** Reads the device's first {@code n} bytes back; throws unless their SHA-256 is {@code hex}. */
    public void verifyDevice(long n, String hex) throws Exception {
        String back = read(n, null, Progress.NONE);
        if (!back.equals(hex)) {
            throw new IOException("verify failed: export " + label + " holds sha256 " + back
                + " over 0.." + n + ", the file " + hex);
        }
    }

    /** Reads {@code file}'s first {@code n} bytes back; throws unless their SHA-256 is {@code hex}. */
    public void verifyFile(Path file, long n, String hex) throws IOException {
        String back = hashFile(file, n);
        if (!back.equals(hex)) {
            throw new IOException("verify failed: " + file + " holds sha256 " + back + ", export "
                + label + " sent " + hex);
        }
    }

    /** The SHA-256 of the first {@code n} bytes of {@code file} (fewer if it is shorter). */
    public static String hashFile(Path file, long n) throws IOException {
        MessageDigest sha = sha256();
        ByteBuffer b = ByteBuffer.allocateDirect(CHUNK_BYTES);
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            long at = 0;
            while (at < n) {
                b.clear().limit((int) Math.min(b.capacity(), n - at));
                int got = in.read(b, at);
                if (got < 0) {
                    break;
                }
                b.flip();
                sha.update(b);
                at += got;
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    // ------------------------------------------------------------------------------------------

    private <T> T await(CompletableFuture<T> f, long offset) throws Exception {
        try {
            return f.get(chunkTimeoutMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable c = unwrap(e);
            throw c instanceof Exception ex ? ex : e; // BlockException: names the export and offset
        } catch (TimeoutException e) {
            throw new BlockException("export " + label + ": no answer" + (offset >= 0 ? " at offset " + offset
                : "") + " within " + chunkTimeoutMillis / 1000 + " s", Dmsg.ERR_IO);
        }
    }

    /** The cause behind a future's wrapping. */
    private static Throwable unwrap(Throwable e) {
        while ((e instanceof ExecutionException || e instanceof CompletionException)
            && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    /** A file read short (it shrank while being copied) is an error naming the offset, not a shorter copy. */
    private static void readFully(FileChannel in, ByteBuf buf, long at, int len, Path file) throws IOException {
        while (buf.writerIndex() < len) {
            int got = buf.writeBytes(in, at + buf.writerIndex(), len - buf.writerIndex());
            if (got < 0) {
                throw new IOException(file + ": shorter than expected at offset " + (at + buf.writerIndex())
                    + " (did it change while copying?)");
            }
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
