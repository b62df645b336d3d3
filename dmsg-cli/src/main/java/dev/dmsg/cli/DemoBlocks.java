package dev.dmsg.cli;

import dev.dmsg.link.tls.Role;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.blk.copy.BlockCopy;
import dev.dmsg.services.blk.copy.ByteSizes;
import dev.dmsg.services.node.Node;
import io.netty.buffer.Unpooled;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/** Part four of {@code dmsg demo}: a block device used through a relay (docs/BLK.md). */
final class DemoBlocks {
    private final DemoNarrator narrator;
    private final PrintStream out;

    DemoBlocks(DemoNarrator narrator) {
        this.narrator = narrator;
        this.out = narrator.out;
    }

    private void say(String who, String fmt, Object... args) {
        narrator.say(who, fmt, args);
    }

    /** Part four's image: small, so the demo stays a few seconds. */
    static final int IMAGE_BYTES = 16 << 20;

    /**
     * Part four: block devices. b3 exports a 16 MiB image; b1, two hops away through b2, finds it
     * in its span table, opens it over a circuit, writes a pattern, reads it back and checks the
     * checksum, and b3's status shows what the export served.
     */
    int run(Path dir) throws Exception {
        out.println("Part four: block devices. b1 - b2 - b3 in a line; b3 exports a 16 MiB image, b1 uses it through b2.");
        out.println();
        Path image = dir.resolve("b3-disk0.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
        }
        List<Node> nodes = new ArrayList<>();
        try {
            for (int i = 1; i <= 3; i++) {
                var settings = Node.Settings.of("127.0.0.1", 0, dir.resolve("b" + i),
                    Node.Identity.of("b" + i, "demo"));
                nodes.add(Node.start(i < 3 ? settings
                    : settings.withExports(List.of(Node.Export.of("disk0", image)
                        .withAllow("b1"))))); // the export admits admins and b1 (docs/IDENTITY.md §5)
            }
            var b1 = nodes.get(0);
            var b3 = nodes.get(2);
            for (int i = 0; i < 2; i++) {
                Node.trustEachOther(nodes.get(i), nodes.get(i + 1), Role.MEMBER);
                nodes.get(i).shell().execute("span 127.0.0.1:" + nodes.get(i + 1).address().getPort());
            }
            // end to end: b3 authorises b1 itself, by its own pin, not because b2 vouches (docs/IDENTITY.md §4)
            Node.trustEachOther(b1, b3, Role.MEMBER);
            var served = b3.status().get("exports").get(0);
            say("b3", "exports disk0 (%s, %d bytes) as span b3/disk0: peer_type BLOCK, pfs_type SERVER, serial %s",
                image.getFileName(), served.get("size").asLong(), served.get("serial").asText());

            BlkClient.RemoteExport x;
            try {
                x = BlkClient.find(b1.mesh(), "b3/disk0", Duration.ofSeconds(10))
                    .get(15, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                say("demo", "b1 did not learn of b3/disk0: %s", e.getCause().getMessage());
                return 1;
            }
            say("b1", "finds it in its span table (what `dmsg blk ls` shows):");
            for (var e : BlkClient.list(b1.mesh()).get(5, TimeUnit.SECONDS)) {
                out.printf("           %-10s %s  blksize %d  dist %d  serial %s%n", e.label(),
                    ByteSizes.human(e.sizeBytes()), e.blockSize(), e.dist(), e.serial());
            }

            long start = System.nanoTime();
            try (RemoteBlockDevice disk = BlkClient.open(b1.mesh(), x, true,
                    RemoteBlockDevice.Options.defaults()).get(15, TimeUnit.SECONDS)) {
                say("b1", "opened it read-write in %d ms: a circuit through b2 whose two ends authenticated each other "
                    + "(sealed end to end; b2 relays what it cannot read), then BLK_OPEN, answered with a keyid "
                    + "(b3 pins b1's key and its export admits b1: docs/IDENTITY.md)",
                    (System.nanoTime() - start) / 1_000_000);

                byte[] pattern = new byte[IMAGE_BYTES];
                new Random(20131103).nextBytes(pattern);
                String want = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(pattern));
                start = System.nanoTime();
                List<CompletableFuture<Void>> writes = new ArrayList<>();
                for (int at = 0; at < IMAGE_BYTES; at += 1 << 20) {
                    writes.add(disk.write(at, Unpooled.wrappedBuffer(pattern, at, 1 << 20), false));
                }
                CompletableFuture.allOf(writes.toArray(new CompletableFuture[0])).get(30, TimeUnit.SECONDS);
                disk.flush().get(30, TimeUnit.SECONDS);
                say("b1", "wrote a 16 MiB pattern (sha256 %s…) and flushed it: %d BLK_WRITEs of 64 KiB, 64 in flight, "
                    + "%.0f ms", want.substring(0, 16), IMAGE_BYTES / RemoteBlockDevice.MAX_IO,
                    (System.nanoTime() - start) / 1e6);

                start = System.nanoTime();
                // 16 chunks of 1 MiB, all in flight at once, hashed in order (what `dmsg blk cp` does)
                String got = new BlockCopy(disk, x.label(), Duration.ofSeconds(30))
                    .read(IMAGE_BYTES, null, BlockCopy.Progress.NONE);
                say("b1", "read it back in %.0f ms: sha256 %s… %s", (System.nanoTime() - start) / 1e6,
                    got.substring(0, 16), got.equals(want) ? "— the same bytes" : "— DIFFERENT");
                String onDisk = BlockCopy.hashFile(image, IMAGE_BYTES);
                say("b3", "its image file hashes to %s… %s", onDisk.substring(0, 16),
                    onDisk.equals(want) ? "too" : "— DIFFERENT");
                if (!got.equals(want) || !onDisk.equals(want)) {
                    return 1;
                }
            }
            var e = b3.status().get("exports").get(0);
            say("b3", "`status` counts what disk0 served: %d reads (%d bytes), %d writes (%d bytes), %d flush(es), "
                + "%d errors, %d refused", e.get("reads").asLong(), e.get("bytes_read").asLong(), e.get("writes").asLong(),
                e.get("bytes_written").asLong(), e.get("flushes").asLong(), e.get("errors").asLong(),
                e.get("refused").asLong());
            out.println();
            say("demo", "from a shell: `dmsg blk ls` and `dmsg blk cp FILE mesh:b3/disk0` (docs/BLK.md \"Tools\")");
            return 0;
        } finally {
            for (var n : nodes) {
                n.close();
            }
        }
    }
}
