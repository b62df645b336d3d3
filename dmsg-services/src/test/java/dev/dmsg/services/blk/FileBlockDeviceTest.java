package dev.dmsg.services.blk;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
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
}
