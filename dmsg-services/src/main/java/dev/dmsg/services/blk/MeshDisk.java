package dev.dmsg.services.blk;

import dev.dmsg.services.node.GuestNode;
import dev.dmsg.wire.Dmsg;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * An export of the mesh opened by a tool that joined it ({@link GuestNode}): what {@code dmsg nbd}
 * and {@code dmsg blk} share. {@link #open} finds the export ({@link BlkClient#find}, waiting for
 * the spans to arrive) and opens it ({@link RemoteBlockDevice}), blocking, with every failure one
 * {@link BlockException} whose message is a line for the user. Closing it closes the device (the
 * exporting node forgets the open), not the guest.
 */
public final class MeshDisk implements AutoCloseable {
    /** The BLK_OPEN answer, beyond finding a path: the exporting node answers at once unless it is dying. */
    private static final Duration OPEN_ANSWER = Duration.ofSeconds(10);

    private final BlkClient.RemoteExport export;
    private final RemoteBlockDevice device;

    private MeshDisk(BlkClient.RemoteExport export, RemoteBlockDevice device) {
        this.export = export;
        this.device = device;
    }

    /**
     * Finds the export {@code spec} names ({@code NODE/NAME}, a bare {@code NAME} when one node
     * exports it, or the serial) within {@code options.openWait()}, and opens it, for writing too
     * if {@code writable}.
     *
     * @throws BlockException PARAM: no such export, or several (the message lists those known);
     *     PERM: refused (the role, or a read-only export opened for writing, as the exporting node
     *     says); LOSTLINK or CANTCIRC: no path; IO: no answer in time
     */
    public static MeshDisk open(GuestNode guest, String spec, boolean writable, RemoteBlockDevice.Options options)
            throws BlockException, InterruptedException {
        BlkClient.RemoteExport x = await(BlkClient.find(guest.mesh(), spec, options.openWait()),
            options.openWait().plus(OPEN_ANSWER), "finding export '" + spec + "'");
        CompletableFuture<RemoteBlockDevice> opening = BlkClient.open(guest.mesh(), x, writable, options);
        RemoteBlockDevice d;
        try {
            d = await(opening, options.openWait().plus(OPEN_ANSWER), "opening export " + x.label());
        } catch (BlockException e) {
            opening.thenAccept(RemoteBlockDevice::close); // if it is opened after all, let it go
            throw e;
        }
        return new MeshDisk(x, d);
    }

    private static <T> T await(CompletableFuture<T> f, Duration wait, String what)
            throws BlockException, InterruptedException {
        try {
            return f.get(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            if (c instanceof BlockException be) {
                throw be;
            }
            throw new BlockException(what + ": " + (c.getMessage() != null ? c.getMessage() : c.toString()),
                Dmsg.ERR_IO, c);
        } catch (TimeoutException e) {
            throw new BlockException(what + ": no answer within " + wait.toSeconds() + " s", Dmsg.ERR_IO);
        }
    }

    public BlkClient.RemoteExport export() {
        return export;
    }

    public RemoteBlockDevice device() {
        return device;
    }

    @Override
    public void close() {
        device.close();
    }
}
