package dev.dmsg.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.BlkClient.RemoteExport;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dmsg blk}: the mesh's block exports from the command line (docs/BLK.md "Tools"). Each
 * subcommand joins the mesh as a short-lived {@link GuestNode} through {@code --node}, does its
 * work over circuits, and leaves. Exit 0 done, 1 failed (one line on stderr saying why), 2 usage.
 */
@Command(name = "blk", mixinStandardHelpOptions = true,
    description = {"Remote block devices (BLK exports) of the mesh: list them, copy to and from them.",
        "Joins the mesh through --node for the length of the command (docs/BLK.md \"Tools\")."},
    subcommands = {BlkCommand.Ls.class, BlkCommand.Cp.class})
final class BlkCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /**
     * How long the span table must stay the same before the export list counts as complete: a
     * joining node gets its neighbour's whole table in one burst once the LNK_CONNs are answered,
     * and each relay passes a span on as it arrives, so a quarter second without change is the
     * end of that burst on any sane mesh.
     */
    static final Duration SETTLE_TICK = Duration.ofMillis(250);

    /** The options every blk subcommand shares: where to join, as whom. */
    abstract static class GuestOptions extends AdminCommands.NodeOption {
        /**
         * When the wait for the link and the spans ends: {@code wait} after the guest node has
         * started (its own start-up, a JVM's first TLS context, is not waiting for the mesh).
         */
        long deadlineNanos;

        /**
         * Joins through {@code --node} (returns once the link is up, or throws naming why not: the
         * handshake timeout bounds it) and sets {@link #deadlineNanos} for the span wait.
         */
        GuestNode join(Duration wait) throws IOException, InterruptedException, ShellClient.ShellException {
            // The guest's own log would only repeat what the command prints (dial retries: the error
            // line says why; failover: printed as it happens) or be noise at close (a circuit's last
            // DELETE crossing ours is dropped as UNKNOWN_CIRCUIT).
            Logging.setLevel("dev.dmsg", "ERROR");
            Logging.setLevel("dmsg.node", "ERROR");
            Path id = null;
            if (!plaintext) {
                id = identity != null ? identity : AdminCommands.defaultIdentity();
                AdminCommands.clientTls(id); // makes ~/.dmsg on first use, with the notice saying what to trust
            }
            GuestNode g = GuestNode.join("blk", node.host(), node.port(), id, plaintext, TlsConfig.Provider.AUTO);
            deadlineNanos = System.nanoTime() + wait.toNanos(); // join returned with the link up
            return g;
        }
    }

    /**
     * The exports once the guest's span table has settled: the first remote span has arrived and
     * nothing changed for {@link #SETTLE_TICK}, or {@code deadlineNanos} passed (then what is
     * known by then).
     */
    static List<RemoteExport> settledExports(MeshNode mesh, long deadlineNanos) throws Exception {
        List<RemoteExport> last = null;
        int lastSpans = -1;
        long changedAt = System.nanoTime();
        while (true) {
            int spans = remoteSpans(mesh);
            List<RemoteExport> now = BlkClient.list(mesh).get(5, TimeUnit.SECONDS);
            long t = System.nanoTime();
            if (!now.equals(last) || spans != lastSpans) {
                last = now;
                lastSpans = spans;
                changedAt = t;
            } else if (spans > 0 && t - changedAt >= SETTLE_TICK.toNanos()) {
                return now;
            }
            if (t - deadlineNanos >= 0) {
                return now;
            }
            Thread.sleep(50); // the span table has no change notification; a tool's start-up
        }
    }

    /** Spans learnt from the mesh (not the guest's own). */
    private static int remoteSpans(MeshNode mesh) throws Exception {
        CompletableFuture<Integer> f = new CompletableFuture<>();
        mesh.execute(() -> f.complete((int) mesh.engine().snapshot().stream()
            .filter(v -> v.links().stream().anyMatch(l -> !l.via().equals("local"))).count()));
        return f.get(5, TimeUnit.SECONDS);
    }

    /** {@code 24.0 MiB}: binary units, one decimal; plain bytes below 1 KiB. */
    static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    static Throwable unwrap(Throwable e) {
        while ((e instanceof ExecutionException || e instanceof CompletionException)
            && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    // ----------------------------------------------------------------------------------------------

    @Command(name = "ls", mixinStandardHelpOptions = true,
        description = {"Lists the block exports the mesh advertises: NODE, NAME, SIZE, BLKSIZE, DIST (as in status: "
            + "0 for exports of the --node itself, 1 for its neighbours', ...), SERIAL.",
            "Waits until the span table stops changing (or --wait). Exit 0 (also with no exports), 1 if the node "
                + "cannot be reached."})
    static final class Ls extends GuestOptions implements Callable<Integer> {
        @Option(names = "--json", description = "a JSON array of {node, name, label, serial, bytes, blksize, dist}")
        boolean json;

        @Option(names = "--wait", paramLabel = "DURATION", converter = Durations.class, defaultValue = "3s",
            description = "how long to wait for the link and the spans (default: ${DEFAULT-VALUE})")
        Duration wait;

        @Override
        public Integer call() {
            List<RemoteExport> exports;
            try (GuestNode g = join(wait)) {
                exports = settledExports(g.mesh(), deadlineNanos);
            } catch (Exception e) {
                System.err.println("dmsg blk ls: " + unwrap(e).getMessage());
                return 1;
            }
            PrintStream out = System.out;
            if (json) {
                ObjectMapper m = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
                ArrayNode a = m.createArrayNode();
                for (RemoteExport x : exports) {
                    a.addObject().put("node", x.node()).put("name", x.name()).put("label", x.label())
                        .put("serial", x.serial()).put("bytes", x.sizeBytes()).put("blksize", x.blockSize())
                        .put("dist", x.dist());
                }
                out.println(a.toPrettyString());
                return 0;
            }
            if (exports.isEmpty()) {
                out.println("no exports");
                return 0;
            }
            List<String[]> rows = new ArrayList<>();
            rows.add(new String[] {"NODE", "NAME", "SIZE", "BLKSIZE", "DIST", "SERIAL"});
            for (RemoteExport x : exports) {
                rows.add(new String[] {x.node(), x.name(), human(x.sizeBytes()), Integer.toString(x.blockSize()),
                    Integer.toString(x.dist()), x.serial()});
            }
            int[] w = new int[6];
            for (String[] r : rows) {
                for (int i = 0; i < r.length; i++) {
                    w[i] = Math.max(w[i], r[i].length());
                }
            }
            for (String[] r : rows) {
                StringBuilder b = new StringBuilder();
                for (int i = 0; i < r.length; i++) {
                    b.append(i == r.length - 1 ? r[i] : String.format("%-" + (w[i] + 2) + "s", r[i]));
                }
                out.println(b);
            }
            return 0;
        }
    }

    // ----------------------------------------------------------------------------------------------

    /** The prefix that makes an argument of {@code blk cp} an export rather than a local path. */
    static final String MESH = "mesh:";
    static final int CHUNK_BYTES = 1 << 20;
    static final int CHUNKS_IN_FLIGHT = 16;

    @Command(name = "cp", mixinStandardHelpOptions = true,
        description = {"Copies a local file to an export or an export to a local file. The export side is "
            + "mesh:NODE/NAME, mesh:NAME (one node exports that name) or mesh:SERIAL; the other side is a path.",
            "To an export: the file must fit; it is written at offset 0 (the rest of the export is untouched), "
                + "then flushed. From an export: the whole export (or --length bytes) is written to the file.",
            "1 MiB chunks, 16 in flight. Prints 'sha256 HEX  N bytes' of the bytes copied. Exit 0 done, 1 failed, "
                + "2 usage."})
    static final class Cp extends GuestOptions implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Parameters(index = "0", paramLabel = "SRC", description = "a local file, or mesh:EXPORT")
        String src;

        @Parameters(index = "1", paramLabel = "DST", description = "mesh:EXPORT, or a local file")
        String dst;

        @Option(names = "--length", paramLabel = "BYTES", converter = Sizes.class,
            description = "copy only the first BYTES (suffixes K, M, G: KiB, MiB, GiB)")
        Long length;

        @Option(names = "--failover-wait", paramLabel = "DURATION", converter = Durations.class, defaultValue = "30s",
            description = "how long I/O waits for another path when the circuit is lost (default: ${DEFAULT-VALUE})")
        Duration failoverWait;

        @Option(names = "--wait", paramLabel = "DURATION", converter = Durations.class, defaultValue = "5s",
            description = "how long to wait for the link and for the export to be advertised "
                + "(default: ${DEFAULT-VALUE})")
        Duration wait;

        @Option(names = "--verify", description = "to an export: read the bytes back and compare their SHA-256; "
            + "from an export: read the written file back and compare")
        boolean verify;

        @Option(names = {"-q", "--quiet"}, description = "no progress and no summary line (errors, failover lines and "
            + "the sha256 line are still printed)")
        boolean quiet;

        @Override
        public Integer call() {
            boolean fromMesh = src.startsWith(MESH);
            boolean toMesh = dst.startsWith(MESH);
            if (fromMesh == toMesh) {
                throw new CommandLine.ParameterException(spec.commandLine(), fromMesh
                    ? "both SRC and DST are exports; one side must be a local file"
                    : "neither SRC nor DST is an export; name one as mesh:NODE/NAME or mesh:NAME");
            }
            String exportSpec = (fromMesh ? src : dst).substring(MESH.length());
            if (exportSpec.isEmpty()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "'" + MESH + "' names no export");
            }
            Path local = Path.of(fromMesh ? dst : src);
            Progress progress = new Progress(System.err, quiet, System.console() != null);
            try {
                String sha = toMesh ? upload(local, exportSpec, progress) : download(exportSpec, local, progress);
                System.out.println("sha256 " + sha + "  " + progress.done + " bytes");
                return 0;
            } catch (Exception e) {
                progress.clear();
                System.err.println("dmsg blk cp: " + unwrap(e).getMessage());
                return 1;
            }
        }

        private RemoteBlockDevice.Options options() {
            return new RemoteBlockDevice.Options(failoverWait, wait, 64, 8192);
        }

        /** How long one chunk may take at most: the device fails it by itself after failoverWait. */
        private long chunkTimeoutMillis() {
            return failoverWait.toMillis() + 60_000;
        }

        private static RemoteExport find(GuestNode g, String spec, long deadline) throws Exception {
            settledExports(g.mesh(), deadline);
            return BlkClient.find(g.mesh(), spec, Duration.ZERO).get(5, TimeUnit.SECONDS);
        }

        /** Local file to export; returns the SHA-256 of the bytes sent. */
        private String upload(Path file, String exportSpec, Progress progress) throws Exception {
            if (!Files.isRegularFile(file)) {
                throw new IOException(file + ": " + (Files.exists(file) ? "not a regular file" : "no such file"));
            }
            long fileBytes = Files.size(file);
            if (length != null && length > fileBytes) {
                throw new IOException(file + " is " + fileBytes + " bytes; --length " + length + " is more");
            }
            long n = length != null ? length : fileBytes;
            try (GuestNode g = join(wait)) {
                RemoteExport x = find(g, exportSpec, deadlineNanos);
                if (n > x.sizeBytes()) {
                    throw new IOException(file + " is " + n + " bytes (" + human(n) + "); export " + x.label()
                        + " is " + x.sizeBytes() + " bytes (" + human(x.sizeBytes()) + "): it does not fit");
                }
                try (RemoteBlockDevice dev = BlkClient.open(g.mesh(), x, true, options()).get(
                    wait.toMillis() + 10_000, TimeUnit.MILLISECONDS)) {
                    dev.onFailover(progress::println);
                    progress.start(x.label(), n);
                    MessageDigest sha = sha256();
                    ArrayDeque<CompletableFuture<Void>> window = new ArrayDeque<>();
                    ArrayDeque<Integer> sizes = new ArrayDeque<>();
                    try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
                        for (long at = 0; at < n; at += CHUNK_BYTES) {
                            if (window.size() == CHUNKS_IN_FLIGHT) {
                                await(window.poll(), x, at);
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
                            window.add(dev.write(at, buf, false)); // the device owns buf now
                            sizes.add(len);
                        }
                    }
                    while (!window.isEmpty()) {
                        await(window.poll(), x, -1);
                        progress.advance(sizes.poll());
                    }
                    await(dev.flush(), x, -1);
                    progress.finish();
                    String hex = HexFormat.of().formatHex(sha.digest());
                    if (verify) {
                        progress.note("verifying: reading " + n + " bytes back from " + x.label());
                        String back = readRemote(dev, x, n, null, null);
                        if (!back.equals(hex)) {
                            throw new IOException("verify failed: export " + x.label() + " holds sha256 " + back
                                + " over 0.." + n + ", the file " + hex);
                        }
                        progress.note("verified: export " + x.label() + " holds the same " + n + " bytes");
                    }
                    return hex;
                }
            }
        }

        /** Export to local file; returns the SHA-256 of the bytes received. */
        private String download(String exportSpec, Path file, Progress progress) throws Exception {
            if (Files.isDirectory(file)) {
                throw new IOException(file + ": is a directory");
            }
            try (GuestNode g = join(wait)) {
                RemoteExport x = find(g, exportSpec, deadlineNanos);
                if (length != null && length > x.sizeBytes()) {
                    throw new IOException("--length " + length + " is more than export " + x.label() + " holds ("
                        + x.sizeBytes() + " bytes)");
                }
                long n = length != null ? length : x.sizeBytes();
                try (RemoteBlockDevice dev = BlkClient.open(g.mesh(), x, false, options()).get(
                    wait.toMillis() + 10_000, TimeUnit.MILLISECONDS)) {
                    dev.onFailover(progress::println);
                    progress.start(x.label(), n);
                    // a regular file is replaced; a device (/dev/null) or pipe is written as it is
                    boolean regular = !Files.exists(file) || Files.isRegularFile(file);
                    String hex;
                    try (FileChannel out = regular
                        ? FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                            StandardOpenOption.TRUNCATE_EXISTING)
                        : FileChannel.open(file, StandardOpenOption.WRITE)) {
                        hex = readRemote(dev, x, n, out, progress);
                        if (regular) {
                            out.force(false);
                        }
                    }
                    progress.finish();
                    if (verify && regular) {
                        String back = hashFile(file, n);
                        if (!back.equals(hex)) {
                            throw new IOException("verify failed: " + file + " holds sha256 " + back + ", export "
                                + x.label() + " sent " + hex);
                        }
                        progress.note("verified: " + file + " holds the same " + n + " bytes");
                    }
                    return hex;
                }
            }
        }

        /**
         * Reads {@code n} bytes of the export from offset 0, 16 chunks in flight, in order: hashes
         * them and writes them to {@code out} when given. Returns the SHA-256.
         */
        private String readRemote(RemoteBlockDevice dev, RemoteExport x, long n, FileChannel out, Progress progress)
                throws Exception {
            MessageDigest sha = sha256();
            ArrayDeque<CompletableFuture<ByteBuf>> window = new ArrayDeque<>();
            long issued = 0;
            long done = 0;
            try {
                while (done < n) {
                    while (issued < n && window.size() < CHUNKS_IN_FLIGHT) {
                        int len = (int) Math.min(CHUNK_BYTES, n - issued);
                        window.add(dev.read(issued, len));
                        issued += len;
                    }
                    ByteBuf b = await(window.poll(), x, done);
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
                        if (progress != null) {
                            progress.advance(len);
                        }
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

        private <T> T await(CompletableFuture<T> f, RemoteExport x, long offset) throws Exception {
            try {
                return f.get(chunkTimeoutMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                Throwable c = unwrap(e);
                throw c instanceof Exception ex ? ex : e; // BlockException: names the export and offset
            } catch (TimeoutException e) {
                throw new BlockException("export " + x.label() + ": no answer" + (offset >= 0 ? " at offset " + offset
                    : "") + " within " + chunkTimeoutMillis() / 1000 + " s", Dmsg.ERR_IO);
            }
        }

        private static void readFully(FileChannel in, ByteBuf buf, long at, int len, Path file) throws IOException {
            while (buf.writerIndex() < len) {
                int got = buf.writeBytes(in, at + buf.writerIndex(), len - buf.writerIndex());
                if (got < 0) {
                    throw new IOException(file + ": shorter than expected at offset " + (at + buf.writerIndex())
                        + " (did it change while copying?)");
                }
            }
        }

        private static String hashFile(Path file, long n) throws IOException {
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
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    /**
     * Progress on stderr: a bar redrawn in place on a terminal (at most 5 times a second), else a
     * line every 5 s; nothing with {@code --quiet}. Other lines (failover) go through
     * {@link #println} so they do not land in the middle of the bar. Main thread, except println.
     */
    static final class Progress {
        static final long BAR_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
        static final long LINE_NANOS = TimeUnit.SECONDS.toNanos(5);

        private final PrintStream err;
        private final boolean quiet;
        private final boolean terminal;
        private String label = "";
        private long total;
        private long startNanos;
        private long lastNanos;
        private boolean barShown;
        volatile long done;

        Progress(PrintStream err, boolean quiet, boolean terminal) {
            this.err = err;
            this.quiet = quiet;
            this.terminal = terminal;
        }

        void start(String label, long total) {
            this.label = label;
            this.total = total;
            this.startNanos = System.nanoTime();
            this.lastNanos = startNanos;
        }

        void advance(long bytes) {
            done += bytes;
            long now = System.nanoTime();
            if (quiet || now - lastNanos < (terminal ? BAR_NANOS : LINE_NANOS)) {
                return;
            }
            lastNanos = now;
            synchronized (this) {
                if (terminal) {
                    err.print("\r" + bar(now));
                    barShown = true;
                } else {
                    err.println("dmsg blk cp: " + label + ": " + line(now));
                }
                err.flush();
            }
        }

        private String line(long now) {
            double secs = Math.max(1e-9, (now - startNanos) / 1e9);
            return String.format(Locale.ROOT, "%s of %s (%d%%), %.1f MiB/s", human(done), human(total),
                total == 0 ? 100 : done * 100 / total, done / secs / (1 << 20));
        }

        private String bar(long now) {
            int width = 30;
            int filled = total == 0 ? width : (int) (done * width / total);
            return label + " [" + "#".repeat(filled) + ".".repeat(width - filled) + "] " + line(now) + "   ";
        }

        /** A line of its own on stderr (always printed, also with --quiet). */
        synchronized void println(String line) {
            if (barShown) {
                err.println();
                barShown = false;
            }
            err.println("dmsg blk cp: " + line);
        }

        /** A line of its own on stderr, not with --quiet. */
        void note(String line) {
            if (!quiet) {
                println(line);
            }
        }

        /** Ends the bar's line (an error follows). */
        synchronized void clear() {
            if (barShown) {
                err.println();
                barShown = false;
            }
        }

        /** The copy is done (flushed): prints the summary, from {@link #start} to now. */
        void finish() {
            long elapsedNanos = System.nanoTime() - startNanos;
            if (quiet) {
                return;
            }
            synchronized (this) {
                if (terminal) {
                    err.print("\r" + bar(System.nanoTime()));
                    barShown = true;
                }
                clear();
                double secs = Math.max(1e-9, elapsedNanos / 1e9);
                err.println(String.format(Locale.ROOT, "dmsg blk cp: %s: %d bytes in %.2f s (%.1f MiB/s)", label, done,
                    secs, done / secs / (1 << 20)));
            }
        }
    }

    /** Byte counts like {@code 1048576}, {@code 512K}, {@code 24M}, {@code 2G} (binary). */
    static final class Sizes implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String s) {
            String t = s.trim().toUpperCase(Locale.ROOT).replace("IB", "").replace("B", "");
            long mult = 1;
            if (!t.isEmpty() && "KMGT".indexOf(t.charAt(t.length() - 1)) >= 0) {
                mult = 1L << (10 * ("KMGT".indexOf(t.charAt(t.length() - 1)) + 1));
                t = t.substring(0, t.length() - 1);
            }
            try {
                long v = Math.multiplyExact(Long.parseLong(t.trim()), mult);
                if (v < 0) {
                    throw new NumberFormatException();
                }
                return v;
            } catch (NumberFormatException | ArithmeticException e) {
                throw new CommandLine.TypeConversionException("expected a byte count like 1048576, 512K or 24M, got '"
                    + s + "'");
            }
        }
    }
}
