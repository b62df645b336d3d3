package dev.dmsg.services.node;

import dev.dmsg.services.blk.BlockDevice;
import dev.dmsg.services.blk.FileBlockDevice;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's exports (docs/BLK.md "Exports"): each file opened as a {@link FileBlockDevice} on the
 * node's bounded BLK I/O pool ({@link NodeExecutors#blkIo()}), with its serial — made once per export name and kept in
 * {@code DATA/exports/NAME.serial}, so a client that reconnects (even to a restarted node) finds
 * the same disk, as xdisk found {@code /dev/serno/…}.
 */
final class Exports implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");

    /** One export being served. */
    record Served(Node.Export export, FileBlockDevice device, String serial) {}

    /** By name, in the order given. */
    final Map<String, Served> served;

    private Exports(Map<String, Served> served) {
        this.served = served;
    }

    /**
     * Opens every export; on the first that fails closes what it opened.
     *
     * @throws IOException naming the export and what is wrong with its path or its serial file
     */
    static Exports open(Path dataDir, List<Node.Export> exports, ExecutorService pool) throws IOException {
        Map<String, Served> served = new LinkedHashMap<>();
        Exports ex = new Exports(served);
        try {
            for (Node.Export e : exports) {
                FileBlockDevice d = FileBlockDevice.open(e.name(), e.path(), e.readOnly(), e.blockSize(), pool);
                String serial;
                try {
                    serial = serial(dataDir, e.name());
                } catch (IOException x) {
                    d.close();
                    throw x;
                }
                served.put(e.name(), new Served(e, d, serial));
                log.info("export {}: {} ({} bytes, blksize {}{}), serial {}", e.name(), e.path(), d.sizeBytes(),
                    d.blockSize(), e.readOnly() ? ", read-only" : "", serial);
            }
        } catch (IOException | RuntimeException ex2) {
            ex.close();
            throw ex2;
        }
        return ex;
    }

    /** The serial of export {@code name}: read from {@code DATA/exports/NAME.serial}, made (a random UUID) if absent. */
    static String serial(Path dataDir, String name) throws IOException {
        Path dir = dataDir.resolve("exports");
        Path f = dir.resolve(name + ".serial");
        if (Files.exists(f)) {
            String s = Files.readString(f, StandardCharsets.UTF_8).trim();
            if (s.isEmpty() || s.getBytes(StandardCharsets.UTF_8).length > 127 || !s.matches("[\\x21-\\x7e]+")) {
                throw new IOException("export " + name + ": " + f + " does not hold a serial (1..127 printable ASCII "
                    + "characters, no spaces): '" + s + "'; remove it to make a new one (clients will see a new disk)");
            }
            return s;
        }
        Files.createDirectories(dir);
        String s = UUID.randomUUID().toString();
        Path tmp = dir.resolve(name + ".serial.tmp");
        Files.writeString(tmp, s + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        return s;
    }

    Map<String, BlockDevice> devices() {
        Map<String, BlockDevice> m = new LinkedHashMap<>();
        served.forEach((n, s) -> m.put(n, s.device()));
        return m;
    }

    /** Closes the files. Call once the links are closed and the I/O pool drained ({@link NodeExecutors#drainBlkIo}). */
    @Override
    public void close() {
        served.values().forEach(s -> s.device().close());
    }
}
