package dev.dmsg.services.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.services.blk.BlockDevice;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.testkit.WriteModel;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/** Block-device helpers shared by the BLK tests in-process and against processes. */
public final class Blocks {
    private Blocks() {}

    /** {@code bytes} (a multiple of 1 MiB) of seeded random data in {@code p}: a disk image to export or copy. */
    public static Path randomFile(Path p, long seed, long bytes) throws IOException {
        Random random = new Random(seed);
        byte[] chunk = new byte[1 << 20];
        try (var out = Files.newOutputStream(p)) {
            for (long done = 0; done < bytes; done += chunk.length) {
                random.nextBytes(chunk);
                out.write(chunk);
            }
        }
        return p;
    }

    /** The SHA-256 of a whole file, in hex: an image compared after a copy. */
    public static String sha256(Path p) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(p)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** {@code d} as testkit's write model drives it. */
    public static WriteModel.Device writes(BlockDevice d) {
        return (offset, length, data) -> data == null ? d.writeZeroes(offset, length, false)
            : d.write(offset, Unpooled.wrappedBuffer(data), false);
    }

    /**
     * Waits for every request in {@code io}, at most {@code within} each; a read's buffer is
     * released. Every failure must be a LOSTLINK {@link BlockException} whose message starts with
     * {@code lostPrefix} and names what failed (docs/BLK.md "Client and failover"). Returns how
     * many failed so.
     */
    public static int lostLinks(List<CompletableFuture<?>> io, Duration within, String lostPrefix) throws Exception {
        int lost = 0;
        for (CompletableFuture<?> f : io) {
            try {
                Object v = f.get(within.toMillis(), TimeUnit.MILLISECONDS);
                if (v instanceof ByteBuf b) {
                    b.release();
                }
            } catch (ExecutionException e) {
                BlockException be = (BlockException) e.getCause();
                assertThat(be.error()).as(be.getMessage()).isEqualTo(Dmsg.ERR_LOSTLINK);
                assertThat(be.getMessage()).startsWith(lostPrefix).contains("; failed: ");
                lost++;
            }
        }
        return lost;
    }
}
