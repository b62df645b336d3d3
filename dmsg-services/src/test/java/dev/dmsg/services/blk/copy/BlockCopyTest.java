package dev.dmsg.services.blk.copy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.services.blk.BlockDevice;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The copy pipeline of {@code dmsg blk cp} (docs/BLK.md "Tools") against an in-memory device, no
 * mesh and no CLI: checksums equal {@code sha256sum} of the bytes, ranges end where asked,
 * short files and failing or silent devices stop the copy with an error naming the export and the
 * offset, progress adds up, and no buffer leaks on any path.
 */
@Timeout(60)
@ExtendWith(LeakDetector.class)
class BlockCopyTest {
    private static final int MIB = 1 << 20;
    private static final Duration CHUNK_TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    /**
     * A device over a byte array. Completes every request at once unless told otherwise:
     * {@code failWriteAt}/{@code failReadAt} fail the request at that offset with a
     * BlockException; {@code silentReadAt} leaves that read unanswered.
     */
    static final class MemoryDevice implements BlockDevice {
        final byte[] bytes;
        final List<Long> readOffsets = new ArrayList<>();
        final List<CompletableFuture<ByteBuf>> pending = new ArrayList<>();
        long failWriteAt = -1;
        long failReadAt = -1;
        long silentReadAt = -1;
        int flushes;
        int maxWritesInFlight;

        MemoryDevice(int sizeBytes) {
            bytes = new byte[sizeBytes];
        }

        @Override
        public String name() {
            return "disk";
        }

        @Override
        public long sizeBytes() {
            return bytes.length;
        }

        @Override
        public int blockSize() {
            return 4096;
        }

        @Override
        public boolean readOnly() {
            return false;
        }

        @Override
        public CompletableFuture<ByteBuf> read(long offset, int length) {
            readOffsets.add(offset);
            if (offset == failReadAt) {
                return CompletableFuture.failedFuture(new BlockException("export n2/disk: read at " + offset
                    + " (" + length + " bytes): EIO", Dmsg.ERR_IO));
            }
            CompletableFuture<ByteBuf> f = new CompletableFuture<>();
            if (offset == silentReadAt) {
                pending.add(f);
                return f;
            }
            // two components: the copy must hash and write every part of a composite buffer
            int half = length / 2;
            ByteBuf b = Unpooled.compositeBuffer().addComponent(true, Unpooled.copiedBuffer(bytes, (int) offset, half))
                .addComponent(true, Unpooled.copiedBuffer(bytes, (int) offset + half, length - half));
            f.complete(b);
            return f;
        }

        @Override
        public CompletableFuture<Void> write(long offset, ByteBuf data, boolean fua) {
            try {
                if (offset == failWriteAt) {
                    return CompletableFuture.failedFuture(new BlockException("export n2/disk: write at " + offset
                        + " (" + data.readableBytes() + " bytes): EIO", Dmsg.ERR_IO));
                }
                data.getBytes(data.readerIndex(), bytes, (int) offset, data.readableBytes());
                return CompletableFuture.completedFuture(null);
            } finally {
                data.release(); // the device owns data
            }
        }

        @Override
        public CompletableFuture<Void> flush() {
            flushes++;
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletableFuture<Void> trim(long offset, long length) {
            throw new UnsupportedOperationException();
        }

        @Override
        public CompletableFuture<Void> writeZeroes(long offset, long length, boolean fua) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void close() {
        }
    }

    /** Counts what a copy reports, in order. */
    static final class Steps implements BlockCopy.Progress {
        final List<Long> steps = new ArrayList<>();

        @Override
        public void advance(long bytes) {
            steps.add(bytes);
        }

        long total() {
            return steps.stream().mapToLong(Long::longValue).sum();
        }
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static String sha256(byte[] b, int from, int to) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        d.update(b, from, to - from);
        return HexFormat.of().formatHex(d.digest());
    }

    Path file(byte[] data) throws IOException {
        Path f = tmp.resolve("src.img");
        Files.write(f, data);
        return f;
    }

    @Test
    void uploadWritesAtOffsetZeroFlushesAndReturnsTheSha256OfTheFile() throws Exception {
        long seed = System.nanoTime();
        int n = 20 * MIB + 12345; // more chunks than fit in flight, the last one short
        byte[] data = random(n, seed);
        MemoryDevice dev = new MemoryDevice(24 * MIB);
        Steps steps = new Steps();
        String hex = new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT).upload(file(data), n, steps);
        assertThat(hex).as("seed %d", seed).isEqualTo(sha256(data, 0, n));
        assertThat(Arrays.copyOf(dev.bytes, n)).as("seed %d", seed).isEqualTo(data);
        assertThat(Arrays.copyOfRange(dev.bytes, n, dev.bytes.length)).containsOnly(0); // the rest untouched
        assertThat(dev.flushes).isEqualTo(1);
        assertThat(steps.steps).hasSize(21).startsWith((long) MIB).endsWith(12345L);
        assertThat(steps.total()).isEqualTo(n);
    }

    @Test
    void uploadOfAPrefixSendsOnlyThoseBytes() throws Exception {
        byte[] data = random(3 * MIB, 7);
        MemoryDevice dev = new MemoryDevice(4 * MIB);
        String hex = new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT).upload(file(data), MIB + 1, BlockCopy.Progress.NONE);
        assertThat(hex).isEqualTo(sha256(data, 0, MIB + 1));
        assertThat(Arrays.copyOf(dev.bytes, MIB + 1)).isEqualTo(Arrays.copyOf(data, MIB + 1));
        assertThat(dev.bytes[MIB + 1]).isZero();
    }

    @Test
    void anEmptyCopyIsTheSha256OfNothing() throws Exception {
        MemoryDevice dev = new MemoryDevice(MIB);
        BlockCopy copy = new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT);
        String empty = sha256(new byte[0], 0, 0);
        assertThat(copy.upload(file(new byte[0]), 0, BlockCopy.Progress.NONE)).isEqualTo(empty);
        assertThat(copy.read(0, null, BlockCopy.Progress.NONE)).isEqualTo(empty);
        assertThat(dev.readOffsets).isEmpty();
    }

    @Test
    void downloadWritesTheDevicesBytesInOrderAndHashesThem() throws Exception {
        long seed = System.nanoTime();
        MemoryDevice dev = new MemoryDevice(18 * MIB);
        byte[] data = random(dev.bytes.length, seed);
        System.arraycopy(data, 0, dev.bytes, 0, data.length);
        Path out = tmp.resolve("out.img");
        Files.write(out, random(20 * MIB, 1)); // longer than the copy: truncated
        Steps steps = new Steps();
        String hex = new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT).download(out, data.length, steps);
        assertThat(hex).as("seed %d", seed).isEqualTo(sha256(data, 0, data.length));
        assertThat(Files.readAllBytes(out)).as("seed %d", seed).isEqualTo(data);
        assertThat(steps.total()).isEqualTo(data.length);
        assertThat(steps.steps).hasSize(18);
        List<Long> offsets = new ArrayList<>();
        for (long at = 0; at < data.length; at += MIB) {
            offsets.add(at);
        }
        assertThat(dev.readOffsets).containsExactlyElementsOf(offsets);
    }

    @Test
    void readOfAPrefixAsksForNoMoreThanThatAndEqualsTheHashOfTheFile() throws Exception {
        MemoryDevice dev = new MemoryDevice(4 * MIB);
        byte[] data = random(dev.bytes.length, 11);
        System.arraycopy(data, 0, dev.bytes, 0, data.length);
        int n = 2 * MIB + 100;
        String hex = new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT).read(n, null, BlockCopy.Progress.NONE);
        assertThat(hex).isEqualTo(sha256(data, 0, n)).isEqualTo(BlockCopy.hashFile(file(data), n));
        assertThat(dev.readOffsets).containsExactly(0L, (long) MIB, 2L * MIB);
    }

    @Test
    void aDownloadToADeviceFileIsWrittenAsItIs() throws Exception {
        Path devNull = Path.of("/dev/null");
        Assumptions.assumeTrue(Files.exists(devNull));
        MemoryDevice dev = new MemoryDevice(2 * MIB);
        String hex = new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT).download(devNull, 2 * MIB, BlockCopy.Progress.NONE);
        assertThat(hex).isEqualTo(sha256(new byte[2 * MIB], 0, 2 * MIB));
        assertThat(Files.exists(devNull)).isTrue();
    }

    @Test
    void aFileShorterThanAskedIsAnErrorNamingTheOffset() throws Exception {
        Path f = file(random(MIB + 10, 3));
        MemoryDevice dev = new MemoryDevice(4 * MIB);
        assertThatThrownBy(() -> new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT).upload(f, 2 * MIB, BlockCopy.Progress.NONE))
            .isInstanceOf(IOException.class)
            .hasMessage(f + ": shorter than expected at offset " + (MIB + 10) + " (did it change while copying?)");
        assertThat(dev.flushes).isZero();
    }

    @Test
    void hashFileOfAShortFileHashesWhatThereIs() throws Exception {
        byte[] data = random(1000, 5);
        assertThat(BlockCopy.hashFile(file(data), 5000)).isEqualTo(sha256(data, 0, 1000));
    }

    @Test
    void aFailedWriteStopsTheUploadWithTheDevicesOwnError() throws Exception {
        MemoryDevice dev = new MemoryDevice(8 * MIB);
        dev.failWriteAt = 3L * MIB;
        Path f = file(random(8 * MIB, 9));
        assertThatThrownBy(() -> new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT).upload(f, 8 * MIB, BlockCopy.Progress.NONE))
            .isInstanceOf(BlockException.class).hasMessage("export n2/disk: write at 3145728 (1048576 bytes): EIO")
            .extracting(e -> ((BlockException) e).error()).isEqualTo(Dmsg.ERR_IO);
        assertThat(dev.flushes).isZero(); // not flushed: exit 1, nothing claimed durable
    }

    @Test
    void aFailedReadStopsTheDownloadAndReleasesWhatIsStillInFlight() throws Exception {
        MemoryDevice dev = new MemoryDevice(20 * MIB);
        dev.failReadAt = 2L * MIB;
        assertThatThrownBy(() -> new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT).download(tmp.resolve("out"), 20 * MIB,
            BlockCopy.Progress.NONE))
            .isInstanceOf(BlockException.class).hasMessage("export n2/disk: read at 2097152 (1048576 bytes): EIO");
        // 16 in flight, one more issued as each of chunks 0 and 1 is done, then chunk 2 fails: the 15
        // still in flight are released as they arrive (the LeakDetector would report them)
        assertThat(dev.readOffsets).hasSize(BlockCopy.CHUNKS_IN_FLIGHT + 2);
        assertThat(Files.size(tmp.resolve("out"))).isEqualTo(2L * MIB); // a partial DST is left as it is
    }

    @Test
    void aChunkWithNoAnswerFailsNamingTheExportAndTheOffset() throws Exception {
        MemoryDevice dev = new MemoryDevice(4 * MIB);
        dev.silentReadAt = MIB;
        BlockCopy copy = new BlockCopy(dev, "n2/disk", Duration.ofMillis(300));
        assertThatThrownBy(() -> copy.read(4 * MIB, null, BlockCopy.Progress.NONE))
            .isInstanceOf(BlockException.class).hasMessage("export n2/disk: no answer at offset 1048576 within 0 s")
            .extracting(e -> ((BlockException) e).error()).isEqualTo(Dmsg.ERR_IO);
        ByteBuf late = Unpooled.buffer(MIB).writeZero(MIB);
        dev.pending.get(0).complete(late); // the answer after all: released, not leaked
        assertThat(late.refCnt()).isZero();
    }

    @Test
    void verifyComparesTheFarSideAndNamesBothSums() throws Exception {
        byte[] data = random(2 * MIB, 13);
        MemoryDevice dev = new MemoryDevice(2 * MIB);
        BlockCopy copy = new BlockCopy(dev, "n2/disk", CHUNK_TIMEOUT);
        String hex = copy.upload(file(data), data.length, BlockCopy.Progress.NONE);
        copy.verifyDevice(data.length, hex); // the same bytes: passes
        dev.bytes[MIB] ^= 1;
        String now = sha256(dev.bytes, 0, data.length);
        assertThatThrownBy(() -> copy.verifyDevice(data.length, hex)).isInstanceOf(IOException.class)
            .hasMessage("verify failed: export n2/disk holds sha256 " + now + " over 0.." + data.length + ", the file "
                + hex);
        Path out = tmp.resolve("back.img");
        String down = copy.download(out, data.length, BlockCopy.Progress.NONE);
        copy.verifyFile(out, data.length, down);
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {(byte) (dev.bytes[0] ^ 1)}), 0); // one bit differs
        }
        assertThatThrownBy(() -> copy.verifyFile(out, data.length, down)).isInstanceOf(IOException.class)
            .hasMessageStartingWith("verify failed: " + out + " holds sha256 ")
            .hasMessageEndingWith(", export n2/disk sent " + down);
    }

    @Test
    void checksBeforeACopyNameWhatIsWrong() throws Exception {
        Path f = file(random(1000, 1));
        assertThat(BlockCopy.uploadBytes(f, null)).isEqualTo(1000);
        assertThat(BlockCopy.uploadBytes(f, 10L)).isEqualTo(10);
        assertThatThrownBy(() -> BlockCopy.uploadBytes(f, 1001L)).hasMessage(f + " is 1000 bytes; --length 1001 is more");
        assertThatThrownBy(() -> BlockCopy.uploadBytes(tmp.resolve("nope"), null))
            .hasMessage(tmp.resolve("nope") + ": no such file");
        assertThatThrownBy(() -> BlockCopy.uploadBytes(tmp, null)).hasMessage(tmp + ": not a regular file");
        BlockCopy.checkFits(f, 32 * MIB, "n2/disk", 32 * MIB);
        assertThatThrownBy(() -> BlockCopy.checkFits(f, 32 * MIB + 1, "n2/disk", 32 * MIB))
            .hasMessage(f + " is 33554433 bytes (32.0 MiB); export n2/disk is 33554432 bytes (32.0 MiB): it does not fit");
        assertThatThrownBy(() -> BlockCopy.checkTarget(tmp)).hasMessage(tmp + ": is a directory");
        assertThat(BlockCopy.downloadBytes(null, "n2/ro", MIB)).isEqualTo(MIB);
        assertThat(BlockCopy.downloadBytes(512L, "n2/ro", MIB)).isEqualTo(512);
        assertThatThrownBy(() -> BlockCopy.downloadBytes(2L * MIB, "n2/ro", MIB))
            .hasMessage("--length 2097152 is more than export n2/ro holds (1048576 bytes)");
    }

    @Test
    void byteSizesParseAndPrintInBinaryUnits() {
        assertThat(ByteSizes.parse("1048576")).isEqualTo(MIB);
        assertThat(ByteSizes.parse("512K")).isEqualTo(512 * 1024);
        assertThat(ByteSizes.parse("24MiB")).isEqualTo(24L * MIB);
        assertThat(ByteSizes.parse(" 2g ")).isEqualTo(2L << 30);
        assertThatThrownBy(() -> ByteSizes.parse("lots")).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("expected a byte count like 1048576, 512K or 24M, got 'lots'");
        assertThatThrownBy(() -> ByteSizes.parse("-1")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ByteSizes.parse("99999999999T")).isInstanceOf(IllegalArgumentException.class);
        assertThat(ByteSizes.human(1023)).isEqualTo("1023 B");
        assertThat(ByteSizes.human(32 * MIB + 1)).isEqualTo("32.0 MiB");
        assertThat(ByteSizes.human(1536)).isEqualTo("1.5 KiB");
    }
}
