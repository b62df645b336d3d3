package dev.dmsg.services.blk;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A file as a block device: what is written is read back, zeros where asked, refusals named. */
@Timeout(30)
class FileBlockDeviceTest {
    @TempDir
    Path tmp;

    final ExecutorService io = Executors.newFixedThreadPool(2);

    @AfterEach
    void stop() {
        io.shutdownNow();
    }

    FileBlockDevice device(boolean readOnly) throws Exception {
        Path f = tmp.resolve("disk.img");
        if (!Files.exists(f)) {
            Files.write(f, new byte[1 << 20]);
        }
        return FileBlockDevice.open("disk0", f, readOnly, 4096, io);
    }

    static <T> T get(CompletableFuture<T> f) throws Exception {
        return f.get(10, TimeUnit.SECONDS);
    }

    static int error(CompletableFuture<?> f) throws Exception {
        try {
            f.get(10, TimeUnit.SECONDS);
            throw new AssertionError("succeeded");
        } catch (ExecutionException e) {
            return ((BlockException) e.getCause()).error();
        }
    }

    @Test
    void writesAreReadBackAndZeroesAndTrimClearThem() throws Exception {
        try (FileBlockDevice d = device(false)) {
            assertThat(d.sizeBytes()).isEqualTo(1 << 20);
            byte[] data = new byte[8192];
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) (i * 7 + 1);
            }
            get(d.write(4096, Unpooled.wrappedBuffer(data), true));
            ByteBuf back = get(d.read(4096, 8192));
            assertThat(ByteBufUtil.getBytes(back)).isEqualTo(data);
            back.release();
            get(d.writeZeroes(4096, 4096, false));
            get(d.trim(8192, 4096));
            get(d.flush());
            ByteBuf zeros = get(d.read(4096, 8192));
            assertThat(ByteBufUtil.getBytes(zeros)).containsOnly((byte) 0);
            zeros.release();
        }
    }

    @Test
    void aCompositeWriteLandsPieceByPiece() throws Exception {
        try (FileBlockDevice d = device(false)) {
            byte[] a = new byte[5000];
            byte[] b = new byte[3192];
            Arrays.fill(a, (byte) 0x5a);
            Arrays.fill(b, (byte) 0xa5);
            CompositeByteBuf data = Unpooled.compositeBuffer()
                .addComponent(true, Unpooled.directBuffer(a.length).writeBytes(a))
                .addComponent(true, Unpooled.wrappedBuffer(b));
            get(d.write(12288, data, false));
            assertThat(data.refCnt()).isZero();
            ByteBuf back = get(d.read(12288, 8192));
            byte[] want = new byte[8192];
            System.arraycopy(a, 0, want, 0, a.length);
            System.arraycopy(b, 0, want, a.length, b.length);
            assertThat(ByteBufUtil.getBytes(back)).isEqualTo(want);
            back.release();
        }
    }

    @Test
    void outOfRangeAndReadOnlyAreRefusedWithTheirCodes() throws Exception {
        device(false).close();
        try (FileBlockDevice d = device(true)) {
            ByteBuf data = Unpooled.buffer(512).writeZero(512);
            assertThat(error(d.write(0, data, false))).isEqualTo(Dmsg.ERR_PERM);
            assertThat(data.refCnt()).as("the device took the buffer, refused or not").isZero();
            assertThat(error(d.read((1 << 20) - 100, 512))).isEqualTo(Dmsg.ERR_PARAM);
            try {
                d.read(-1, 512).get(10, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                assertThat(e.getCause()).hasMessageContaining("export disk0: read at -1 of 512 bytes is outside");
            }
        }
    }

    /** Truncated under the device: no zeros at the old size; an IO error, the new size taken and told. */
    @Test
    void aFileTruncatedUnderTheDeviceFailsReadsPastItsEndWithIoAndTakesItsNewSize() throws Exception {
        try (FileBlockDevice d = device(false)) {
            List<Long> told = new CopyOnWriteArrayList<>();
            d.onResize(told::add);
            try (FileChannel other = FileChannel.open(tmp.resolve("disk.img"), StandardOpenOption.WRITE)) {
                other.truncate(256 * 1024); // someone else shrinks the file
            }
            assertThat(d.sizeBytes()).as("not noticed yet").isEqualTo(1 << 20);
            CompletableFuture<ByteBuf> past = d.read(512 * 1024, 4096);
            assertThat(error(past)).isEqualTo(Dmsg.ERR_IO);
            assertThat(message(past)).startsWith("export disk0: read at 524288: file shrank to 262144 bytes (export was "
                + "1048576): ").endsWith("disk.img");
            assertThat(message(d.read(512 * 1024, 4096))).startsWith("export disk0: read at 524288: file shrank to "
                + "262144 bytes (4096 bytes asked; ");
            assertThat(told).containsExactly(256L * 1024);
            assertThat(d.sizeBytes()).isEqualTo(256 * 1024);
            // from now on caught before any I/O: IO up to the old size, PARAM beyond any size it had
            assertThat(error(d.read(512 * 1024, 4096))).isEqualTo(Dmsg.ERR_IO);
            ByteBuf one = Unpooled.buffer(512).writeZero(512);
            assertThat(error(d.write(1000 * 1024, one, false))).isEqualTo(Dmsg.ERR_IO);
            assertThat(error(d.read(1 << 20, 512))).isEqualTo(Dmsg.ERR_PARAM);
            ByteBuf head = get(d.read(0, 4096)); // what is left is served
            head.release();
            // the straddling read: the part past the end is not made up
            assertThat(error(d.read(256 * 1024 - 2048, 4096))).isEqualTo(Dmsg.ERR_IO);

            // grown back, noticed by a look at the size (the node's periodic check)
            try (FileChannel other = FileChannel.open(tmp.resolve("disk.img"), StandardOpenOption.WRITE)) {
                other.write(ByteBuffer.wrap(new byte[] {1}), (2 << 20) - 1);
            }
            assertThat(d.checkSize()).isEqualTo(2 << 20);
            assertThat(d.checkSize()).isEqualTo(2 << 20);
            assertThat(told).containsExactly(256L * 1024, 2L << 20); // once per change
            ByteBuf tail = get(d.read((2 << 20) - 4096, 4096));
            assertThat(tail.getByte(4095)).isEqualTo((byte) 1);
            tail.release();
        }
    }

    /** The message of the BlockException {@code f} failed with. */
    static String message(CompletableFuture<?> f) throws Exception {
        try {
            f.get(10, TimeUnit.SECONDS);
            throw new AssertionError("succeeded");
        } catch (ExecutionException e) {
            return e.getCause().getMessage();
        }
    }

    @Test
    void aFileInMemoryDoesItsIoInTheCallAndAFileOnDiskOnThePool() throws Exception {
        Path shm = Path.of("/dev/shm");
        Assumptions.assumeTrue(Files.isDirectory(shm) && FileBlockDevice.inMemory(shm),
            "no tmpfs at /dev/shm");
        AtomicInteger pooled = new AtomicInteger();
        ExecutorService counting = new AbstractExecutorService() {
            @Override
            public void execute(Runnable r) {
                pooled.incrementAndGet();
                io.execute(r);
            }

            @Override
            public void shutdown() {}

            @Override
            public List<Runnable> shutdownNow() {
                return List.of();
            }

            @Override
            public boolean isShutdown() {
                return false;
            }

            @Override
            public boolean isTerminated() {
                return false;
            }

            @Override
            public boolean awaitTermination(long t, TimeUnit u) {
                return true;
            }
        };
        Path dir = Files.createTempDirectory(shm, "fbd-test");
        Path f = dir.resolve("mem.img");
        Files.write(f, new byte[1 << 16]);
        try (FileBlockDevice d = FileBlockDevice.open("mem", f, false, 4096, counting)) {
            assertThat(d.inline()).isTrue();
            CompletableFuture<Void> w = d.write(0, Unpooled.wrappedBuffer(new byte[] {1, 2, 3}), false);
            assertThat(w).as("complete when the call returns").isDone();
            CompletableFuture<ByteBuf> r = d.read(0, 3);
            assertThat(r).isDone();
            assertThat(ByteBufUtil.getBytes(r.join())).containsExactly(1, 2, 3);
            r.join().release();
            assertThat(pooled.get()).as("nothing went to the pool").isZero();
        } finally {
            Files.deleteIfExists(f);
            Files.deleteIfExists(dir);
        }
        Assumptions.assumeFalse(FileBlockDevice.inMemory(tmp), "the temp dir is in memory too");
        Path g = tmp.resolve("disk.img");
        Files.write(g, new byte[1 << 16]);
        try (FileBlockDevice d = FileBlockDevice.open("disk", g, false, 4096, counting)) {
            assertThat(d.inline()).isFalse();
            get(d.write(0, Unpooled.wrappedBuffer(new byte[] {4, 5}), false));
            ByteBuf back = get(d.read(0, 2));
            assertThat(ByteBufUtil.getBytes(back)).containsExactly(4, 5);
            back.release();
            assertThat(pooled.get()).isEqualTo(2);
        }
    }
}
