package dev.dmsg.services.blk;

import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.wire.Dmsg;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The client side of BLK (docs/BLK.md "Client and failover"): which exports the mesh advertises
 * (PEER_BLOCK / PFSTYPE_SERVER spans, cl_label {@code NODE/NAME}), and opening one as a
 * {@link RemoteBlockDevice} over the best circuit.
 */
public final class BlkClient {
    private BlkClient() {}

    /**
     * One export the mesh advertises.
     *
     * @param node the exporting node's label (cl_label before the '/')
     * @param name the export's name (after it)
     * @param key the span's key: what a circuit to the export targets
     * @param serial the export's stable serial (fs_label)
     * @param dist the best path's distance in hops, 0 for an export of the node asking
     * @param trustRank how well its span is known here: 0 verified (or ours), 1 legacy, 2
     *     unverified (docs/IDENTITY.md §3.5)
     */
    public record RemoteExport(String node, String name, NodeKey key, String serial, long sizeBytes, int blockSize,
                               int dist, int trustRank) {
        /** {@code node/name}: the span's cl_label. */
        public String label() {
            return key.clLabel();
        }
    }

    /** The exports {@code mesh} knows of now, by label. */
    public static CompletableFuture<List<RemoteExport>> list(MeshNode mesh) {
        CompletableFuture<List<RemoteExport>> f = new CompletableFuture<>();
        mesh.execute(() -> {
            try {
                f.complete(exports(mesh.engine().snapshot()));
            } catch (RuntimeException e) {
                f.completeExceptionally(e);
            }
        });
        return f;
    }

    static List<RemoteExport> exports(List<SpanEngine.NodeView> spans) {
        List<RemoteExport> out = new ArrayList<>();
        for (SpanEngine.NodeView v : spans) {
            NodeKey k = v.key();
            if (k.peerType() != Dmsg.PEER_BLOCK || v.pfsType() != Dmsg.PFSTYPE_SERVER || v.links().isEmpty()) {
                continue;
            }
            boolean local = v.links().stream().anyMatch(l -> l.via().equals("local"));
            int dist = local ? 0 : v.links().stream().filter(SpanEngine.LinkView::feasible)
                .mapToInt(SpanEngine.LinkView::dist).min().orElse(-1);
            if (dist < 0) {
                continue; // no usable path
            }
            String cl = k.clLabel();
            int slash = cl.lastIndexOf('/');
            out.add(new RemoteExport(slash < 0 ? "" : cl.substring(0, slash), cl.substring(slash + 1), k, k.fsLabel(),
                v.mediaBytes(), v.mediaBlksize(), dist, v.trustRank()));
        }
        out.sort(Comparator.comparing(RemoteExport::label).thenComparing(RemoteExport::serial));
        return out;
    }

    /**
     * The export {@code spec} names: {@code NODE/NAME}, or {@code NAME} when one node exports that
     * name, or the serial. Waits up to {@code wait} for it to be advertised (a node just joining
     * the mesh learns the spans within a second or so).
     *
     * @return a future failing with a {@link BlockException} (PARAM) that lists the exports known
     *     when none or several match
     */
    public static CompletableFuture<RemoteExport> find(MeshNode mesh, String spec, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        CompletableFuture<RemoteExport> f = new CompletableFuture<>();
        attempt(mesh, spec, deadline, f);
        return f;
    }

    private static void attempt(MeshNode mesh, String spec, long deadline, CompletableFuture<RemoteExport> f) {
        list(mesh).whenComplete((all, e) -> {
            if (e != null) {
                f.completeExceptionally(e);
                return;
            }
            List<RemoteExport> match = match(spec, all);
            if (match.size() == 1) {
                f.complete(match.get(0));
            } else if (match.size() > 1) {
                f.completeExceptionally(new BlockException("'" + spec + "' names " + match.size() + " exports: "
                    + names(match) + "; use NODE/NAME", Dmsg.ERR_PARAM));
            } else if (System.nanoTime() - deadline >= 0) {
                f.completeExceptionally(new BlockException("no export '" + spec + "' in the mesh (known: " + names(all)
                    + ")", Dmsg.ERR_PARAM));
            } else {
                CompletableFuture.delayedExecutor(100, TimeUnit.MILLISECONDS).execute(() -> attempt(mesh, spec, deadline, f));
            }
        });
    }

    /** What {@code spec} names, among the best-known exports that fit (docs/IDENTITY.md §3.5). */
    static List<RemoteExport> match(String spec, List<RemoteExport> all) {
        List<RemoteExport> exact = all.stream().filter(x -> x.label().equals(spec) || x.serial().equals(spec)).toList();
        List<RemoteExport> fit = exact.isEmpty() ? all.stream().filter(x -> x.name().equals(spec)).toList() : exact;
        int best = fit.stream().mapToInt(RemoteExport::trustRank).min().orElse(0);
        return fit.stream().filter(x -> x.trustRank() == best).toList();
    }

    static String names(List<RemoteExport> exports) {
        if (exports.isEmpty()) {
            return "none";
        }
        List<String> out = new ArrayList<>();
        for (RemoteExport x : exports) {
            out.add(x.label() + " (" + x.serial() + ")");
        }
        return String.join(", ", out);
    }

    /**
     * Opens {@code export} over the best circuit, for writing too if {@code writable}; see
     * {@link RemoteBlockDevice} for failover. Fails with a {@link BlockException}: no path, refused
     * by role (PERM), a read-only export opened for writing (PERM).
     */
    public static CompletableFuture<RemoteBlockDevice> open(MeshNode mesh, RemoteExport export, boolean writable,
                                                            RemoteBlockDevice.Options options) {
        return RemoteBlockDevice.open(mesh, export.key(), export.label(), export.sizeBytes(), export.blockSize(),
            writable, options);
    }

    /** {@link #find} then {@link #open}: the one call most users need. */
    public static CompletableFuture<RemoteBlockDevice> open(MeshNode mesh, String spec, boolean writable,
                                                            RemoteBlockDevice.Options options) {
        return find(mesh, spec, options.openWait()).thenCompose(x -> open(mesh, x, writable, options));
    }
}
