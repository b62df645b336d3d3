package dev.dmsg.services.nbd;

import dev.dmsg.services.blk.BlockDevice;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transmission phase of one {@link NbdConnection} (docs/BLK.md "Transmission", "Errors"):
 * decodes each request header, checks it, hands it to the export's {@link BlockDevice} and turns
 * the device's completion into a reply, with many requests in flight (proto.md "Transmission":
 * replies may go out in any order, matched by cookie). What may be in flight is
 * {@link NbdFlowControl}'s to say; the replies are encoded and flushed by {@link NbdReplies}.
 *
 * <p>Concurrency: the connection's event loop only. Device calls are made from it and return at
 * once; their completions come back to it through {@link #deliver}. A request counts as in
 * flight from the moment its header is decoded until its reply has been written to the socket,
 * so a client that stops reading replies is also held back.
 */
final class NbdTransmission {
    /** The connection's logger: operators (and the attack tests) read one story per connection. */
    private static final Logger log = LoggerFactory.getLogger(NbdConnection.class);

    /** Error replies logged one by one per connection; the rest are counted in the closing line. */
    static final int LOGGED_ERRORS = 20;

    private final NbdConnection conn;
    private final NbdConfig config;
    final NbdFlowControl flow;
    final NbdReplies replies;

    private BlockDevice device;
    private String exportName;
    private long sizeBytes;
    private boolean readOnly;

    private long requests;
    private long errors;

    /** One request between decoding and its reply. {@code costBytes}: payload held for it (READ/WRITE length). */
    record Request(int type, int flags, long cookie, long offset, long length, long costBytes) {
        String describe() {
            return Nbd.commandName(type) + " offset=" + Long.toUnsignedString(offset) + " length=" + length
                + (flags == 0 ? "" : " flags=0x" + Integer.toHexString(flags));
        }
    }

    NbdTransmission(NbdConnection conn) {
        this.conn = conn;
        this.config = conn.config;
        this.flow = new NbdFlowControl(conn);
        this.replies = new NbdReplies(conn, this);
    }

    /** The export chosen in the handshake; {@code readOnly} also when this TLS client may only read. */
    void export(String name, BlockDevice d, boolean readOnly) {
        this.device = d;
        this.exportName = name;
        this.sizeBytes = d.sizeBytes();
        this.readOnly = readOnly;
    }

    long requests() {
        return requests;
    }

    long errors() {
        return errors;
    }

    /** One whole request from {@code in}, if it is there and may start now (false: not now, or closed). */
    boolean decodeRequest(ByteBuf in) {
        if (in.readableBytes() < Nbd.REQUEST_HEADER_BYTES) {
            return false;
        }
        int at = in.readerIndex();
        int magic = in.getInt(at);
        if (magic != Nbd.REQUEST_MAGIC) {
            conn.malformed(String.format("request magic 0x%08x, expected 0x%08x", magic, Nbd.REQUEST_MAGIC));
            return false;
        }
        int flags = in.getUnsignedShort(at + 4);
        int type = in.getUnsignedShort(at + 6);
        long cookie = in.getLong(at + 8);
        long offset = in.getLong(at + 16);
        long length = in.getUnsignedInt(at + 24);
        boolean payloadCommand = type == Nbd.CMD_READ || type == Nbd.CMD_WRITE;
        if (payloadCommand && length > config.maxPayloadBytes) {
            conn.malformed(Nbd.commandName(type) + " offset=" + Long.toUnsignedString(offset) + " length=" + length
                + " > max payload " + config.maxPayloadBytes);
            return false;
        }
        long cost = payloadCommand ? length : 0;
        if (!flow.reserveHead(cost)) {
            return false;
        }
        if (type == Nbd.CMD_WRITE && in.readableBytes() < Nbd.REQUEST_HEADER_BYTES + length) {
            return false; // the payload is still coming; its budget is held
        }
        in.skipBytes(Nbd.REQUEST_HEADER_BYTES);
        // Handed to the device as a slice of what we read: no copy (the cumulator copies instead
        // of growing a buffer a slice still points into).
        ByteBuf payload = type == Nbd.CMD_WRITE ? in.readRetainedSlice((int) length) : null;
        if (type == Nbd.CMD_DISC) {
            conn.startDraining("the client sent NBD_CMD_DISC");
            return false;
        }
        requests++;
        Request r = new Request(type, flags, cookie, offset, length, cost);
        flow.started(r.costBytes); // the request holds its budget now, until done()
        start(r, payload);
        return true;
    }

    /** Checks the request, then hands it to the device; never waits. Owns {@code payload}. */
    private void start(Request r, ByteBuf payload) {
        int error = check(r);
        if (error != 0) {
            ReferenceCountUtil.release(payload);
            reply(r, error, null, null);
            return;
        }
        boolean fua = (r.flags & Nbd.CMD_FLAG_FUA) != 0;
        if (r.length == 0 && r.type != Nbd.CMD_FLUSH) {
            // proto.md: behaviour unspecified, SHOULD NOT disconnect; nothing to do
            ReferenceCountUtil.release(payload);
            reply(r, 0, r.type == Nbd.CMD_READ ? Unpooled.EMPTY_BUFFER : null, null);
            return;
        }
        CompletableFuture<?> f;
        try {
            f = switch (r.type) {
                case Nbd.CMD_READ -> device.read(r.offset, (int) r.length);
                case Nbd.CMD_WRITE -> {
                    ByteBuf p = payload;
                    payload = null; // the device owns it now, even if it throws
                    yield device.write(r.offset, p, fua);
                }
                case Nbd.CMD_FLUSH -> readOnly ? CompletableFuture.completedFuture(null) : device.flush();
                case Nbd.CMD_TRIM -> fua ? device.trim(r.offset, r.length).thenCompose(v -> device.flush())
                    : device.trim(r.offset, r.length);
                case Nbd.CMD_WRITE_ZEROES -> device.writeZeroes(r.offset, r.length, fua);
                default -> throw new IllegalStateException("check() let " + Nbd.commandName(r.type) + " through");
            };
        } catch (RuntimeException e) {
            ReferenceCountUtil.release(payload);
            reply(r, Nbd.EIO, null, "the device threw " + e);
            return;
        }
        f.whenComplete((result, failure) -> deliver(r, result, failure));
    }

    /**
     * The request's error before it reaches the device, or 0. proto.md "Error values": EINVAL for
     * an unknown command or flag and for a read or trim past the end, ENOSPC for a write past the
     * end, EPERM for a write to a read-only export.
     */
    private int check(Request r) {
        boolean writes = r.type == Nbd.CMD_WRITE || r.type == Nbd.CMD_TRIM || r.type == Nbd.CMD_WRITE_ZEROES;
        if (!writes && r.type != Nbd.CMD_READ && r.type != Nbd.CMD_FLUSH) {
            return reject(r, Nbd.EINVAL, "command not supported");
        }
        int allowedFlags = Nbd.CMD_FLAG_FUA | (r.type == Nbd.CMD_WRITE_ZEROES ? Nbd.CMD_FLAG_NO_HOLE : 0);
        if ((r.flags & ~allowedFlags) != 0) {
            return reject(r, Nbd.EINVAL, "flags 0x" + Integer.toHexString(r.flags & ~allowedFlags)
                + " not supported for this command");
        }
        if (writes && readOnly) {
            return reject(r, Nbd.EPERM, "the export is read-only");
        }
        if (r.type == Nbd.CMD_FLUSH) {
            return 0; // offset and length are reserved; not checked
        }
        if (r.offset < 0 || r.offset > sizeBytes - r.length) {
            int error = r.type == Nbd.CMD_WRITE || r.type == Nbd.CMD_WRITE_ZEROES ? Nbd.ENOSPC : Nbd.EINVAL;
            return reject(r, error, "outside the export's " + sizeBytes + " bytes");
        }
        return 0;
    }

    private int reject(Request r, int error, String why) {
        logError(r, error, why);
        return error;
    }

    /** A device completion, on whatever thread it came: back to the event loop. */
    private void deliver(Request r, Object result, Throwable failure) {
        EventExecutor loop = conn.ctx.executor();
        if (loop.inEventLoop()) {
            complete(r, result, failure);
            return;
        }
        try {
            loop.execute(() -> complete(r, result, failure));
        } catch (RejectedExecutionException e) {
            ReferenceCountUtil.release(result); // the loop is gone: so is the connection
        }
    }

    private void complete(Request r, Object result, Throwable failure) {
        if (failure != null) {
            ReferenceCountUtil.release(result);
            Throwable cause = unwrap(failure);
            int error = errorFor(cause);
            reply(r, error, null, cause.getMessage() == null ? cause.toString() : cause.getMessage());
            return;
        }
        if (r.type != Nbd.CMD_READ) {
            reply(r, 0, null, null);
            return;
        }
        if (!(result instanceof ByteBuf data) || data.readableBytes() != r.length) {
            // never send a payload of the wrong size: the client would lose the framing
            String got = result instanceof ByteBuf b ? b.readableBytes() + " bytes" : String.valueOf(result);
            ReferenceCountUtil.release(result);
            reply(r, Nbd.EIO, null, "the device returned " + got + " for a read of " + r.length);
            return;
        }
        reply(r, 0, data, null);
    }

    /**
     * Writes the simple reply (header, then the data of a successful READ) and counts the request
     * done once it is on the socket. Owns {@code data}. {@code why}: the device's failure, logged.
     */
    private void reply(Request r, int error, ByteBuf data, String why) {
        if (error != 0 && why != null) {
            logError(r, error, why);
        }
        if (conn.phase == NbdConnection.Phase.CLOSED || !conn.ctx.channel().isActive()) {
            ReferenceCountUtil.release(data);
            done(r);
            return;
        }
        replies.write(r, error, data);
    }

    /** The reply is written (or the connection is gone): the request no longer counts. */
    void done(Request r) {
        flow.finished(r.costBytes);
        if (conn.phase == NbdConnection.Phase.DRAINING) {
            if (flow.inFlight() == 0) {
                conn.closeAfterFlush();
            }
            return;
        }
        flow.repliesWent(); // decodeRequest looks again
        conn.resume();
    }

    private void logError(Request r, int error, String why) {
        errors++;
        config.stats.errorReplies.increment();
        if (errors <= LOGGED_ERRORS) {
            String more = config.misbehaviourLog.admit();
            if (more != null) {
                log.warn("nbd client {}: export {}: {} -> {}: {}{}", conn.client, exportName, r.describe(),
                    Nbd.errorName(error), why, more);
            }
        }
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** Our error codes as NBD's: PERM → EPERM, PARAM → EINVAL, anything else (IO, LOSTLINK …) → EIO. */
    static int errorFor(Throwable t) {
        if (t instanceof BlockException b) {
            return switch (b.error()) {
                case Dmsg.ERR_PERM -> Nbd.EPERM;
                case Dmsg.ERR_PARAM -> Nbd.EINVAL;
                default -> Nbd.EIO;
            };
        }
        return Nbd.EIO;
    }
}
