package dev.dmsg.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.BlkClient.RemoteExport;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.blk.copy.BlockCopy;
import dev.dmsg.services.blk.copy.ByteSizes;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.shell.ShellClient;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dmsg blk}: the mesh's block exports from the command line (docs/BLK.md "Tools"). Each
 * subcommand joins the mesh as a short-lived {@link GuestNode} through {@code --node}, does its
 * work over circuits, and leaves. Exit 0 done, 1 failed (one line on stderr saying why), 2 usage.
 * The copy itself (chunks in flight, SHA-256, --verify, the checks before it) is
 * {@link BlockCopy}; {@code cp} parses, joins, opens the export and prints ({@link CopyProgress}).
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
    abstract static class Guest extends GuestOptions {
        GuestNode join(Duration wait) throws IOException, InterruptedException, ShellClient.ShellException {
            return join("blk", wait);
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
    static final class Ls extends Guest implements Callable<Integer> {
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
                rows.add(new String[] {x.node(), x.name(), ByteSizes.human(x.sizeBytes()), Integer.toString(x.blockSize()),
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

    @Command(name = "cp", mixinStandardHelpOptions = true,
        description = {"Copies a local file to an export or an export to a local file. The export side is "
            + "mesh:NODE/NAME, mesh:NAME (one node exports that name) or mesh:SERIAL; the other side is a path.",
            "To an export: the file must fit; it is written at offset 0 (the rest of the export is untouched), "
                + "then flushed. From an export: the whole export (or --length bytes) is written to the file.",
            "1 MiB chunks, 16 in flight. Prints 'sha256 HEX  N bytes' of the bytes copied. Exit 0 done, 1 failed, "
                + "2 usage."})
    static final class Cp extends Guest implements Callable<Integer> {
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
            CopyProgress progress = new CopyProgress(System.err, quiet, System.console() != null);
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
        private Duration chunkTimeout() {
            return failoverWait.plusSeconds(60);
        }

        private static RemoteExport find(GuestNode g, String spec, long deadline) throws Exception {
            settledExports(g.mesh(), deadline);
            return BlkClient.find(g.mesh(), spec, Duration.ZERO).get(5, TimeUnit.SECONDS);
        }

        /** Local file to export; returns the SHA-256 of the bytes sent. */
        private String upload(Path file, String exportSpec, CopyProgress progress) throws Exception {
            long n = BlockCopy.uploadBytes(file, length);
            try (GuestNode g = join(wait)) {
                RemoteExport x = find(g, exportSpec, deadlineNanos);
                BlockCopy.checkFits(file, n, x.label(), x.sizeBytes());
                try (RemoteBlockDevice dev = BlkClient.open(g.mesh(), x, true, options()).get(
                    wait.toMillis() + 10_000, TimeUnit.MILLISECONDS)) {
                    long token = fenceToken();
                    if (token != 0) { // under dmsg lock: present the token before writing (docs/CAC.md §6)
                        dev.fence(token);
                        dev.flush().get(wait.toMillis() + 10_000, TimeUnit.MILLISECONDS);
                    }
                    dev.onFailover(progress::println);
                    progress.start(x.label(), n);
                    BlockCopy copy = new BlockCopy(dev, x.label(), chunkTimeout());
                    String hex = copy.upload(file, n, progress);
                    progress.finish();
                    if (verify) {
                        progress.note("verifying: reading " + n + " bytes back from " + x.label());
                        copy.verifyDevice(n, hex);
                        progress.note("verified: export " + x.label() + " holds the same " + n + " bytes");
                    }
                    return hex;
                }
            }
        }

        /** Export to local file; returns the SHA-256 of the bytes received. */
        private String download(String exportSpec, Path file, CopyProgress progress) throws Exception {
            BlockCopy.checkTarget(file);
            try (GuestNode g = join(wait)) {
                RemoteExport x = find(g, exportSpec, deadlineNanos);
                long n = BlockCopy.downloadBytes(length, x.label(), x.sizeBytes());
                try (RemoteBlockDevice dev = BlkClient.open(g.mesh(), x, false, options()).get(
                    wait.toMillis() + 10_000, TimeUnit.MILLISECONDS)) {
                    dev.onFailover(progress::println);
                    progress.start(x.label(), n);
                    BlockCopy copy = new BlockCopy(dev, x.label(), chunkTimeout());
                    String hex = copy.download(file, n, progress);
                    progress.finish();
                    if (verify && Files.isRegularFile(file)) { // a device (/dev/null) or pipe is not read back
                        copy.verifyFile(file, n, hex);
                        progress.note("verified: " + file + " holds the same " + n + " bytes");
                    }
                    return hex;
                }
            }
        }
    }

    /** Byte counts like {@code 1048576}, {@code 512K}, {@code 24M}, {@code 2G} (binary): {@link ByteSizes#parse}. */
    static final class Sizes implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String s) {
            try {
                return ByteSizes.parse(s);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /**
     * The fencing token {@code dmsg lock} put in {@code DMSG_FENCE_TOKEN} (docs/CAC.md §6), or 0:
     * writes of {@code blk cp} and {@code nbd} under a lock carry it to a fenced export.
     *
     * @throws IllegalArgumentException if it is set but not a token
     */
    static long fenceToken() {
        return fenceToken(System.getenv("DMSG_FENCE_TOKEN"));
    }

    /** {@link #fenceToken()} of the value {@code v} ({@code null}: unset). */
    static long fenceToken(String v) {
        if (v == null || v.isBlank()) {
            return 0;
        }
        try {
            long t = Long.parseLong(v.strip());
            if (t <= 0) {
                throw new NumberFormatException();
            }
            return t;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("DMSG_FENCE_TOKEN='" + v + "' is not a fencing token (a positive number)");
        }
    }
}
