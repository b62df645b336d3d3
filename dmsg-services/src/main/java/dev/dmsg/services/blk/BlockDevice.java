package dev.dmsg.services.blk;

import io.netty.buffer.ByteBuf;
import java.util.concurrent.CompletableFuture;

/**
 * A block device as the BLK server exports it and the NBD bridge serves it (docs/BLK.md): a local
 * file ({@link FileBlockDevice}) or a remote export reached over the mesh. Every call returns at
 * once; completion comes on the future, on a thread of the device's choosing (never blocking an
 * event loop). Ranges are in bytes; callers check them against {@link #sizeBytes()} first, and a
 * device answers an out-of-range request with {@link BlockException} (PARAM).
 *
 * <p>Ordering: a write completes only when its data is where a later read sees it; a completed
 * {@link #flush()} means every write completed before it was issued is durable (on stable
 * storage). {@code fua} asks for that for one write.
 */
public interface BlockDevice extends AutoCloseable {
    /** The export's name (its label without the host). */
    String name();

    long sizeBytes();

    /** The preferred block size: 512 .. 65536, a power of two. */
    int blockSize();

    boolean readOnly();

    /** {@code length} bytes at {@code offset}; holes read as zeros. The caller releases the buffer. */
    CompletableFuture<ByteBuf> read(long offset, int length);

    /** Writes {@code data} (owned by the device from now on) at {@code offset}; {@code fua}: durable before completing. */
    CompletableFuture<Void> write(long offset, ByteBuf data, boolean fua);

    /** Makes every write completed so far durable. */
    CompletableFuture<Void> flush();

    /** The range's contents are no longer needed: they read as zeros afterwards (BLK_FREEBLKS, NBD TRIM). */
    CompletableFuture<Void> trim(long offset, long length);

    /** Writes zeros over the range ({@code fua}: durable before completing). */
    CompletableFuture<Void> writeZeroes(long offset, long length, boolean fua);

    @Override
    void close();
}
