package dev.dmsg.services.node;

import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.services.blk.BlkServer;
import dev.dmsg.services.blk.ByOriginator;
import dev.dmsg.services.blk.ExportAccess;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkSpan;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's BLK exports as a {@link NodeService} (docs/BLK.md "Exports"): opens each export on
 * the node's block I/O pool, serves them with a {@link BlkServer}, advertises each as its own span
 * {@code LABEL/NAME}, and adds {@code blk} (with exports only) and {@code exports} to the status
 * document. Without exports there is no BLK server: BLK_OPEN is answered NOSUPP by the link.
 *
 * <p>An export's file that changes size under the node (found by a read past its end, or by a
 * look at every file's size each {@link #SIZE_CHECK_MILLIS} ms) is re-advertised at its new size
 * (docs/BLK.md "Exports"): a client that opens it from then on sees that size; one that holds it
 * open gets IO for what lies past the end.
 */
final class BlkNodeService implements NodeService {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");
    private final List<Node.Export> configured;
    private final String label;
    /** Each export's span key, to tell which export a circuit ending here was forged to. */
    private final Map<NodeKey, String> exportKeys = new ConcurrentHashMap<>();
    private volatile Exports exports;
    private volatile BlkServer blk;
    /** How often every export's file size is looked at. */
    static final long SIZE_CHECK_MILLIS = 1000;
    /** Each export's span as advertised now, by name: written on the mesh thread. */
    private final Map<String, SpanEngine.SpanLink> spans = new ConcurrentHashMap<>();
    private volatile ScheduledFuture<?> sizeChecks;

    /**
     * @throws IllegalArgumentException if an export's {@code LABEL/NAME} does not fit a cl_label
     *     (checked before the node opens anything)
     */
    BlkNodeService(Node.Settings settings) {
        this.configured = settings.exports();
        this.label = settings.identity().label();
        for (Node.Export e : configured) {
            int bytes = (label + "/" + e.name()).getBytes(StandardCharsets.UTF_8).length;
            if (bytes > LnkSpan.LABEL_BYTES - 1) {
                throw new IllegalArgumentException("export " + e.name() + ": its cl_label '" + label
                    + "/" + e.name() + "' is " + bytes + " bytes; max " + (LnkSpan.LABEL_BYTES - 1));
            }
        }
    }

    @Override
    public String name() {
        return "blk";
    }

    @Override
    public void start(NodeContext ctx) throws IOException {
        Exports ex = Exports.open(ctx.dataDir(), configured, ctx.executors().blkIo());
        exports = ex;
        if (ex.served.isEmpty()) {
            return;
        }
        Map<String, ExportAccess> acls = new HashMap<>();
        ex.served.forEach((n, e) -> acls.put(n, new ExportAccess(e.export().allow())));
        Map<String, String> fences = new HashMap<>();
        ex.served.forEach((n, e) -> {
            if (e.export().fence() != null) {
                fences.put(n, e.export().fence());
            }
        });
        BlkServer server = new BlkServer(ctx.access(), ex.devices(), acls, fences, (link, circuit) -> {
            NodeKey k = ctx.mesh().circuitTarget(link, circuit);
            return k == null ? null : exportKeys.get(k);
        });
        server.register(ctx.services());
        blk = server;
        for (Exports.Served e : ex.served.values()) {
            LnkSpan es = exportSpan(label, e);
            exportKeys.put(NodeKey.of(es), e.export().name());
            ctx.advertise(es, advertised -> spans.put(e.export().name(), advertised));
            e.device().onResize(size -> resized(ctx, e, size));
        }
        sizeChecks = ctx.executors().admin().scheduleWithFixedDelay(() -> ex.served.values()
            .forEach(e -> e.device().checkSize()), SIZE_CHECK_MILLIS, SIZE_CHECK_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** An export's file has a new size: advertised at it from now on (any thread; the work is on the mesh thread). */
    private void resized(NodeContext ctx, Exports.Served e, long sizeBytes) {
        log.warn("export {}: {} is now {} bytes: re-advertised at that size; reads past it fail (IO)",
            e.export().name(), e.export().path(), sizeBytes);
        // looked up, made and replaced in one task on the mesh thread: two quick changes end
        // with the span of the last size
        ctx.executors().mesh().execute(() -> {
            SpanEngine.SpanLink now = ctx.replace(spans.get(e.export().name()), exportSpan(label, e));
            if (now != null) {
                spans.put(e.export().name(), now);
            }
        });
    }

    /**
     * An export's span (docs/BLK.md "Exports", docs/REFERENCE.md §3.3): PEER_BLOCK, PFSTYPE_SERVER,
     * cl_label {@code LABEL/NAME}, fs_label the serial, the media union's bytes and blksize; the
     * UUIDs nil, as the C disk export sent them.
     */
    static LnkSpan exportSpan(String label, Exports.Served e) {
        UUID nil = new UUID(0, 0);
        return new LnkSpan(nil, nil, Dmsg.PFSTYPE_SERVER, Dmsg.PEER_BLOCK, Dmsg.SPAN_PROTO_1, 0, 0, 0, 0,
            e.device().sizeBytes(), e.device().blockSize(), label + "/" + e.export().name(), e.serial());
    }

    /** The BLK server, or {@code null} without exports. */
    BlkServer server() {
        return blk;
    }

    /** {@code blk}: the server's counters. */
    record BlkInfo(long opens, long refused, long repliesDiscarded) {}

    /** One of {@code exports[]}: what it serves, its serial, its traffic, by originator (docs/IDENTITY.md §5). */
    record ExportInfo(String name, String path, long size, int blksize, boolean readOnly, String clLabel,
                      String serial, int opens, long reads, long writes, long bytesRead, long bytesWritten,
                      long flushes, long trims, long errors, long refused, String allow,
                      Map<String, ByOriginator.Stats> byOriginator) {}

    @Override
    public List<StatusSection> status() {
        BlkServer server = blk;
        Exports ex = exports;
        List<StatusSection> out = new ArrayList<>();
        if (server != null) {
            out.add(new StatusSection("blk", new BlkInfo(server.opens(), server.refusals(), server.discardedReplies())));
        }
        Map<String, BlkServer.ExportStats> stats = new HashMap<>();
        if (server != null) {
            server.stats().forEach(st -> stats.put(st.name(), st));
        }
        List<ExportInfo> list = new ArrayList<>();
        for (Exports.Served e : ex == null ? List.<Exports.Served>of() : ex.served.values()) {
            BlkServer.ExportStats st = stats.get(e.export().name());
            list.add(new ExportInfo(e.export().name(), e.export().path().toString(), e.device().sizeBytes(),
                e.device().blockSize(), e.device().readOnly(), label + "/" + e.export().name(), e.serial(),
                st.opens(), st.reads(), st.writes(), st.bytesRead(), st.bytesWritten(), st.flushes(), st.trims(),
                st.errors(), st.refused(), st.allow(), st.byOriginator()));
        }
        out.add(new StatusSection("exports", list));
        return out;
    }

    /** Closes the files; the node has drained the block I/O pool by then. */
    @Override
    public void stop() {
        ScheduledFuture<?> checks = sizeChecks;
        if (checks != null) {
            checks.cancel(false);
        }
        Exports ex = exports;
        if (ex != null) {
            ex.close();
        }
    }
}
